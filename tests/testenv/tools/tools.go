//go:build tools

// Package tools keeps the server commands in go.mod so `go mod tidy` does not drop them;
// build.sh builds them by import path.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
