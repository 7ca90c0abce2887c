// Command benchtool is the Go side of bench/run.sh: it starts PostgreSQL
// and Redis through the stack harness, hands out free loopback ports,
// waits for HTTP endpoints, scrapes exporters, holds every PostgreSQL
// connection slot, and turns the raw results into the README's tables.
//
//	benchtool stack --dir DIR --env FILE      start postgres+redis, write FILE, run until SIGTERM
//	benchtool ports N                         print N free loopback ports
//	benchtool wait-http URL [--timeout D]     wait until URL answers 200
//	benchtool counter URL METRIC LABEL=VALUE  print the sum of a metric's matching samples
//	benchtool scrape [flags] NAME=URL@PID...  scrape the targets in turn, print one TSV line each
//	benchtool hold-postgres --dsn DSN         open connections until refused, hold until SIGTERM
//	benchtool report FILE                     print the Markdown tables of a results file
//
// Timings never decide pass or fail here: report prints ratios, and the
// targets of the issues beside them.
package main

import (
	"fmt"
	"os"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: benchtool stack|ports|wait-http|counter|scrape|hold-postgres|report ...")
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "stack":
		err = runStack(rest)
	case "ports":
		err = runPorts(rest)
	case "wait-http":
		err = runWaitHTTP(rest)
	case "counter":
		err = runCounter(rest)
	case "scrape":
		err = runScrape(rest)
	case "hold-postgres":
		err = runHoldPostgres(rest)
	case "report":
		err = runReport(rest)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtool %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
