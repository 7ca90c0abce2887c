// Command loadlens runs the native load-testing stack: up, down, status.
package main

import (
	"os"

	"github.com/loadlens/loadlens/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
