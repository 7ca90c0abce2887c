// Command genk6 writes k8s/k6/load.js, the self-contained k6 script of the
// k6-operator TestRun, from loadtest/k6. Run it from the repository root:
//
//	go run ./internal/manifests/cmd/genk6
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/loadlens/loadlens/internal/manifests"
	"github.com/loadlens/loadlens/loadtest/k6"
)

func main() { os.Exit(run()) }

func run() int {
	root, err := manifests.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	body, err := manifests.BundleK6(k6.FS(), manifests.K6Scenario)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	path := filepath.Join(root, manifests.K6ScriptPath)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "genk6:", err)
		return 1
	}
	fmt.Println("wrote", manifests.K6ScriptPath)
	return 0
}
