//go:build tools

// Package tools pins the sops CLI, so `go build` finds it in this module's go.sum.
package tools

import _ "github.com/getsops/sops/v3/cmd/sops"
