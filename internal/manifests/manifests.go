// Package manifests renders loadlens's Kubernetes manifests (k8s/) with the
// kustomize API, decodes every object strictly into its typed Go struct, and
// renders the prometheus-adapter rule's query for one pod. Its tests validate
// the manifests, docker-compose.yml and the Dockerfile without a cluster or
// a Docker engine.
package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// ModulePath is the Go module whose checkout RepoRoot looks for.
const ModulePath = "github.com/loadlens/loadlens"

// RepoRoot returns the root of the loadlens checkout that contains the
// working directory (the directory holding loadlens's go.mod).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("manifests: working directory: %w", err)
	}
	for {
		body, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(body), []byte("module "+ModulePath)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("manifests: no loadlens checkout (go.mod of " + ModulePath + ") above the working directory")
		}
		dir = parent
	}
}

// Object is one rendered Kubernetes object: its identity and the object
// decoded into its typed Go struct (for example *appsv1.Deployment).
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Typed      any
	JSON       []byte
}

// ID is "Kind/namespace/name".
func (o Object) ID() string { return o.Kind + "/" + o.Namespace + "/" + o.Name }

// Render builds the kustomization in dir (absolute, or relative to the
// working directory) with kustomize's default options (load restrictions to
// the kustomization root, as `kubectl apply -k` has) and decodes every
// object strictly: a field the typed struct does not know is an error.
func Render(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("manifests: kustomize build %s: %w", dir, err)
	}
	var out []Object
	for _, r := range m.Resources() {
		body, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("manifests: %s: %s: %w", dir, r.CurId(), err)
		}
		obj := Object{
			APIVersion: r.GetApiVersion(),
			Kind:       r.GetKind(),
			Name:       r.GetName(),
			Namespace:  r.GetNamespace(),
			JSON:       body,
		}
		obj.Typed, err = DecodeStrict(obj.APIVersion, obj.Kind, body)
		if err != nil {
			return nil, fmt.Errorf("manifests: %s: %s: %w", dir, obj.ID(), err)
		}
		out = append(out, obj)
	}
	return out, nil
}

// newTyped returns a pointer to the Go struct for apiVersion and kind.
func newTyped(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "rbac.authorization.k8s.io/v1 Role":
		return &rbacv1.Role{}, nil
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		return &rbacv1.RoleBinding{}, nil
	case "rbac.authorization.k8s.io/v1 ClusterRole":
		return &rbacv1.ClusterRole{}, nil
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, nil
	case "autoscaling.k8s.io/v1 VerticalPodAutoscaler":
		return &vpav1.VerticalPodAutoscaler{}, nil
	case "monitoring.coreos.com/v1 PodMonitor":
		return &monitoringv1.PodMonitor{}, nil
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}, nil
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &monitoringv1.PrometheusRule{}, nil
	case "keda.sh/v1alpha1 ScaledObject":
		return &ScaledObject{}, nil
	case "k6.io/v1alpha1 TestRun":
		return &TestRun{}, nil
	}
	return nil, fmt.Errorf("no Go type known for apiVersion %q kind %q: add it to manifests.newTyped", apiVersion, kind)
}

// DecodeStrict decodes one object's JSON into its typed struct, rejecting
// unknown fields and trailing data.
func DecodeStrict(apiVersion, kind string, body []byte) (any, error) {
	v, err := newTyped(apiVersion, kind)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("strict decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("strict decode: trailing data after the object")
	}
	return v, nil
}

// Find returns the typed objects of type T in objs.
func Find[T any](objs []Object) []T {
	var out []T
	for _, o := range objs {
		if t, ok := o.Typed.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
