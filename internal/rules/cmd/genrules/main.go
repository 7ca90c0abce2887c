// Command genrules renders the shipped Prometheus rules
// (prometheus/rules/*.yml) as the Prometheus Operator PrometheusRule
// committed at k8s/prometheus-operator/prometheusrule.yaml.
//
//	go run ./internal/rules/cmd/genrules   # from the repository root
//	go generate ./internal/rules           # the same, through go:generate
package main

import (
	"flag"
	"log/slog"
	"os"

	"github.com/loadlens/loadlens/internal/rules"
)

func main() { os.Exit(run()) }

func run() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	fs := flag.NewFlagSet("genrules", flag.ContinueOnError)
	out := fs.String("out", rules.PrometheusRulePath, "file to write the PrometheusRule to")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if err := rules.WritePrometheusRule(*out); err != nil {
		logger.Error("cannot generate the PrometheusRule", "err", err)
		return 1
	}
	logger.Info("wrote PrometheusRule", "path", *out)
	return 0
}
