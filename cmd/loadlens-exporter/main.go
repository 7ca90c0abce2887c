// Command loadlens-exporter exposes PostgreSQL, Redis and Kubernetes
// autoscaling metrics for load tests; see exporter/README.md.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
