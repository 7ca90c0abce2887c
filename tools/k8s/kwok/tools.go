//go:build tools

// Package tools pins kwok for scripts/setup-k8s.sh.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
