// Command loadlens-dashboards regenerates loadlens's Grafana dashboards:
//
//	go run ./cmd/loadlens-dashboards -out dashboards
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/loadlens/loadlens/dashboards"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("loadlens-dashboards", flag.ContinueOnError)
	out := fs.String("out", "dashboards", "directory to write the dashboard JSON files into")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	written, err := dashboards.Write(*out)
	if err != nil {
		logger.Error("cannot write dashboards", "err", err)
		return 1
	}
	for _, p := range written {
		fmt.Println(p)
	}
	logger.Info("dashboards up to date", "dir", *out, "written", len(written))
	return 0
}
