package k8se2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"github.com/loadlens/loadlens/internal/manifests"
)

// FieldManager owns everything the tests apply.
const FieldManager = "loadlens-e2e"

// Apply server-side applies objects (JSON or YAML documents) in order.
func (c *Cluster) Apply(t testing.TB, docs ...[]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	for _, doc := range docs {
		u := &unstructured.Unstructured{}
		if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(doc), 4096).Decode(&u.Object); err != nil {
			t.Fatalf("decode object: %v", err)
		}
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("apply %s %s: %v", gvk.Kind, u.GetName(), err)
		}
		body, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var ri = c.Dynamic.Resource(m.Resource)
		force := true
		opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
		if m.Scope.Name() == "namespace" {
			_, err = ri.Namespace(u.GetNamespace()).Patch(ctx, u.GetName(), types.ApplyPatchType, body, opts)
		} else {
			_, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, body, opts)
		}
		if err != nil {
			t.Fatalf("apply %s %s/%s: %v", gvk.Kind, u.GetNamespace(), u.GetName(), err)
		}
	}
}

// Render renders a kustomization of the repo (relative to the repo root)
// with internal/manifests, as the manifest tests do, and returns its
// objects as JSON in kustomize's order (Namespaces first), each passed
// through edit (the test's live addresses) when edit is not nil.
func Render(t testing.TB, dir string, edit func(*unstructured.Unstructured)) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifests.Render(filepath.Join(RepoRoot(t), dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(o.JSON); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(u)
		}
		out = append(out, u)
	}
	return out
}

// ApplyObjects server-side applies objects in order.
func (c *Cluster) ApplyObjects(t testing.TB, objs ...*unstructured.Unstructured) {
	t.Helper()
	var docs [][]byte
	for _, u := range objs {
		b, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	c.Apply(t, docs...)
}

// InstallVPACRDs installs the VerticalPodAutoscaler CRDs shipped in the VPA
// Go module loadlens builds against (deploy/vpa-v1-crd-gen.yaml) and waits
// until they are Established.
func (c *Cluster) InstallVPACRDs(t testing.TB) {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/autoscaler/vertical-pod-autoscaler")
	cmd.Dir = RepoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("locate the VPA module: %v", err)
	}
	names := c.installCRDs(t, filepath.Join(strings.TrimSpace(string(out)), "deploy", "vpa-v1-crd-gen.yaml"))
	c.waitEstablished(t, names, "autoscaling.k8s.io/v1")
	c.mark(t, "VPA CRDs Established")
}

// installCRDs applies the CustomResourceDefinitions of a YAML file and
// returns their names.
func (c *Cluster) installCRDs(t testing.TB, path string) []string {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("CRDs: %v", err)
	}
	var docs [][]byte
	var names []string
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(body), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		if u.Object == nil || u.GetKind() != "CustomResourceDefinition" {
			continue
		}
		b, _ := u.MarshalJSON()
		docs = append(docs, b)
		names = append(names, u.GetName())
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no CRD", path)
	}
	c.Apply(t, docs...)
	return names
}

// waitEstablished waits until the CRDs are Established and discovery
// serves groupVersion.
func (c *Cluster) waitEstablished(t testing.TB, names []string, groupVersion string) {
	t.Helper()
	crds := c.Dynamic.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitFor(t, "CRDs", 30*time.Second, nil, func() error {
		for _, n := range names {
			u, err := crds.Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			ok := false
			for _, c := range conds {
				cm, _ := c.(map[string]any)
				ok = ok || (cm["type"] == "Established" && cm["status"] == "True")
			}
			if !ok {
				return fmt.Errorf("CRD %s not Established", n)
			}
		}
		// Discovery must know the kinds before Apply can map them.
		_, err := c.Client.Discovery().ServerResourcesForGroupVersion(groupVersion)
		return err
	})
}

// insecureClient is for health checks of loopback HTTPS servers whose
// certificates the test does not track.
func insecureClient() *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}
