//go:build tools

// Package tools pins KWOK, so `go build` finds it in this module's go.sum.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
