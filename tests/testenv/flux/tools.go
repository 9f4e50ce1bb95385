//go:build tools

// Package tools pins the Flux controllers, so `go build` finds them in this module's go.sum.
package tools

import (
	_ "github.com/fluxcd/kustomize-controller"
	_ "github.com/fluxcd/source-controller"
)
