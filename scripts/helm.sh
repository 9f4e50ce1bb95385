#!/usr/bin/env bash
# Builds the helm CLI from the Go module proxy, once per version, and prints its path.
#
# helm is built with `go install` into ~/.cache/gitopshq/helm/<version>/bin, with its own Go
# build and module caches in that folder, so it survives `cargo clean` and fresh clones and a
# version bump never mixes with an older build. The last line on stdout is the binary's path,
# for callers (tests/e2e/tests/packaging.rs) to capture. Progress goes to stderr.
#
# Environment:
#   HELM_VERSION         another pinned release (default below)
#   GITOPSHQ_HELM_DIR    use this folder instead of the per-version default
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.22.0}
dir="${GITOPSHQ_HELM_DIR:-$HOME/.cache/gitopshq/helm/$HELM_VERSION}"
helm="$dir/bin/helm"

command -v go >/dev/null 2>&1 || { echo "helm.sh: the Go toolchain (go) is required to build helm" >&2; exit 1; }

built() { [ -x "$helm" ] && "$helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; }

if built; then
    echo "$helm"
    exit 0
fi

mkdir -p "$dir"
# Two test binaries starting at once must not both build into the same folder.
exec 9>"$dir/.lock"
flock 9
if built; then
    echo "$helm"
    exit 0
fi

start=$SECONDS
echo "helm.sh: building helm $HELM_VERSION from the Go module proxy (first time only, a few minutes)…" >&2
# GOTOOLCHAIN=local: use the installed Go, never download a toolchain. The version stamp is what
# helm's own Makefile sets, so `helm version` reports the release instead of a development build.
(cd "$dir" && CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN="$dir/bin" GOCACHE="$dir/gocache" \
    GOMODCACHE="$dir/gomodcache" GOFLAGS=-modcacherw \
    go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
echo "helm.sh: built helm in $((SECONDS - start))s" >&2
built || { echo "helm.sh: $helm does not report version $HELM_VERSION" >&2; exit 1; }
echo "$helm"
