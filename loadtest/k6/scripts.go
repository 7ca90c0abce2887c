// Package k6 embeds loadlens's k6 scenarios (one file per scenario, shared
// configuration in lib/config.js) so the loadlens binary can run them
// without a checkout.
package k6

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.js lib/*.js
var files embed.FS

// FS returns the scenario scripts: NAME.js at the root, lib/config.js.
func FS() fs.FS { return files }

// Scenarios lists the scenario names (script file names without .js), sorted.
func Scenarios() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".js") {
			out = append(out, strings.TrimSuffix(e.Name(), ".js"))
		}
	}
	sort.Strings(out)
	return out
}
