package manifests

import (
	"path/filepath"
	"sync"
	"testing"
)

// Every kustomization a user can build. Components are rendered through the
// overlays that include them.
var overlays = []string{
	"k8s/overlays/dev",
	"k8s/overlays/staging",
	"k8s/overlays/production",
	"k8s/overlays/production-keda",
	"k8s/overlays/test",
}

var allKustomizations = append([]string{"k8s/base", "k8s/k6"}, overlays...)

// renderCache renders each kustomization once per test binary; tests
// read the result and never modify it.
type renderCache struct {
	mu   sync.Mutex
	objs map[string][]Object
	errs map[string]error
}

func (c *renderCache) get(t *testing.T, dir string) []Object {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.objs == nil {
		c.objs, c.errs = map[string][]Object{}, map[string]error{}
	}
	if _, ok := c.objs[dir]; !ok {
		if _, failed := c.errs[dir]; !failed {
			root := repoRoot(t)
			objs, err := Render(filepath.Join(root, dir))
			c.objs[dir], c.errs[dir] = objs, err
		}
	}
	if err := c.errs[dir]; err != nil {
		t.Fatalf("render %s: %v", dir, err)
	}
	return c.objs[dir]
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
