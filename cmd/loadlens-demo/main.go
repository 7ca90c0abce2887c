// Command loadlens-demo is the loadlens demo service: a users-and-posts
// JSON API on PostgreSQL and Redis that k6 loads and the HPA scales on.
//
//	loadlens-demo [flags]                         serve (see --help)
//	loadlens-demo seed --users N --posts M        load the tables with COPY
package main

import (
	"os"

	"github.com/loadlens/loadlens/internal/demo"
)

func main() { os.Exit(demo.Main(os.Args[1:], os.Stdout, os.Stderr)) }
