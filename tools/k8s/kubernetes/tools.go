//go:build tools

// Package tools pins the control-plane commands built by scripts/setup-k8s.sh.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
