package contract

// exporterFamilies gathers loadlens-exporter's families: the exporter's own
// self-metrics and one list per collector, each in its own file.
func exporterFamilies() []Family {
	var out []Family
	for _, g := range [][]Family{exporterCoreFamilies, exporterPostgresFamilies, exporterRedisFamilies, exporterKubernetesFamilies} {
		out = append(out, g...)
	}
	return out
}

var collectorLabel = Label{"collector", "enabled collectors of the exporter (postgres, redis, kubernetes)"}

var exporterCoreFamilies = []Family{
	{Name: "loadlens_exporter_build_info", Type: Info, Producer: Exporter,
		Help:   "A metric with a constant '1' value labeled by version, revision and Go version.",
		Labels: []Label{{"version", "one value per binary"}, {"revision", "one value per binary"}, {"goversion", "one value per binary"}}},
	{Name: "loadlens_exporter_collector_success", Type: Gauge, Producer: Exporter,
		Help: "Whether the collector's last update succeeded within the scrape budget (1) or failed or overran it (0).", Labels: []Label{collectorLabel}},
	{Name: "loadlens_exporter_collector_duration_seconds", Type: Gauge, Unit: "seconds", Producer: Exporter,
		Help: "Duration of the collector's last update (capped at the scrape budget).", Labels: []Label{collectorLabel}},
	{Name: "loadlens_exporter_collections_total", Type: Counter, Producer: Exporter,
		Help: "Collections run; concurrent scrapes share one collection, so this grows slower than the scrape count."},
}
