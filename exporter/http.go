package exporter

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// HandlerOptions configure the exporter's HTTP handler.
type HandlerOptions struct {
	Exporter      *Exporter
	Gatherer      prometheus.Gatherer // usually NewRegistry(Exporter)
	TelemetryPath string              // default /metrics
	Version       string
	Logger        *slog.Logger
}

// NewHandler serves the landing page, the telemetry path, /healthz (always
// 200 while the process serves) and /readyz (200 when every enabled
// collector succeeded on the last collection, else 503; JSON body listing
// the collectors).
func NewHandler(o HandlerOptions) (http.Handler, error) {
	if o.TelemetryPath == "" {
		o.TelemetryPath = "/metrics"
	}
	logger := discardLogger(o.Logger)
	mux := http.NewServeMux()
	mux.Handle("GET "+o.TelemetryPath, promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ready, st := o.Exporter.Ready()
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(struct {
			Ready      bool              `json:"ready"`
			Collectors []CollectorStatus `json:"collectors"`
		}{ready, st})
	})
	if o.TelemetryPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "loadlens-exporter",
			Description: "Prometheus exporter for PostgreSQL, Redis and Kubernetes autoscaling, for load tests",
			Version:     o.Version,
			Profiling:   "false",
			Links: []web.LandingLinks{
				{Address: o.TelemetryPath, Text: "Metrics"},
				{Address: "/healthz", Text: "Health"},
				{Address: "/readyz", Text: "Readiness", Description: "200 when every enabled collector succeeded on the last collection"},
			},
		})
		if err != nil {
			return nil, err
		}
		mux.Handle("/", landing)
	}
	return mux, nil
}
