// Package exporter is loadlens-exporter's library: one collector per source
// (PostgreSQL, Redis, Kubernetes autoscaling) behind one prometheus.Collector
// that runs them concurrently under a scrape budget.
package exporter

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadlens/loadlens/internal/contract"
)

// Collector is one source. Update sends the source's samples; ctx carries the scrape budget deadline.
// It must return promptly when ctx is done. It emits its own loadlens_<source>_up gauge even when it fails.
type Collector interface {
	Update(ctx context.Context, ch chan<- prometheus.Metric) error
}

// Named is a collector with the name it is reported under in the
// collector label (postgres, redis, kubernetes).
type Named struct {
	Name      string
	Collector Collector
}

// contractDesc builds the descriptor of a contract family, taking its help
// text from the contract so the two never drift. Names missing from the
// contract still get a descriptor (with the name as help); a test proves
// every family the exporter exposes is in the contract.
func contractDesc(name string, labels []string, constLabels prometheus.Labels) *prometheus.Desc {
	help := name
	if f, ok := contract.Lookup(name); ok && f.Help != "" {
		help = f.Help
	}
	return prometheus.NewDesc(name, help, labels, constLabels)
}

// discardLogger returns l, or a logger that drops everything when l is nil.
func discardLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
