// Package rules embeds the Prometheus rule files loadlens ships, so the
// native stack and the tests use exactly the files in this directory.
// internal/rules loads, validates and renders them; edit only the YAML.
package rules

import "embed"

// FS holds every *.yml rule file of this directory.
//
//go:embed *.yml
var FS embed.FS
