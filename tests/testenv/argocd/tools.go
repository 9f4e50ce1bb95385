//go:build tools

// Package tools pins kustomize, which the repo-server runs for kustomization.yaml sources, so
// `go build` finds it in this module's go.sum at the version Argo CD's own libraries use.
package tools

import (
	_ "sigs.k8s.io/kustomize/kustomize/v5"
)
