//go:build tools

// Package tools keeps the controller commands in go.mod so `go mod tidy` does not drop them;
// build.sh builds them by import path.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
