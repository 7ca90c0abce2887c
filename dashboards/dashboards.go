package dashboards

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/loadlens/loadlens/internal/grafana"
)

// RegenerateCommand rewrites the committed JSON files.
const RegenerateCommand = "go run ./cmd/loadlens-dashboards -out dashboards"

// File is one generated dashboard and the file it is written to.
type File struct {
	Name      string // file name inside the dashboards directory
	Dashboard *grafana.Dashboard
}

// All returns every dashboard loadlens provisions.
func All() []File {
	return []File{
		{Name: "load-testing.json", Dashboard: LoadTesting()},
		{Name: "autoscaling.json", Dashboard: Autoscaling()},
		{Name: "system-performance.json", Dashboard: SystemPerformance()},
	}
}

// Render returns the JSON of every dashboard by file name.
func Render() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range All() {
		b, err := f.Dashboard.JSON()
		if err != nil {
			return nil, err
		}
		out[f.Name] = b
	}
	return out, nil
}

// Write renders every dashboard into dir, rewriting only files whose
// content changed, and returns the names it wrote.
func Write(dir string) ([]string, error) {
	files, err := Render()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	var written []string
	for _, f := range All() {
		path := filepath.Join(dir, f.Name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, files[f.Name]) {
			continue
		}
		if err := os.WriteFile(path, files[f.Name], 0o644); err != nil {
			return written, fmt.Errorf("write %s: %w", path, err)
		}
		written = append(written, path)
	}
	return written, nil
}
