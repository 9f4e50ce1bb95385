#!/usr/bin/env bash
# Builds the sops CLI from the Go module proxy at the version pinned in go.mod.
#
# Tests use the real sops to prove that what GitOpsHQ commits for Flux decrypts, and that a
# tampered file does not. The binary lands in a per-version folder under $HOME so it survives
# `cargo clean` and fresh clones. Progress goes to stderr; the last line on stdout is the bin
# folder, for callers to capture.
#
# Environment:
#   GITOPSHQ_SOPS_BIN  use this folder instead of the per-version default
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

command -v go >/dev/null 2>&1 || { echo "sops/build.sh: the Go toolchain (go) is required to build sops" >&2; exit 1; }

# The pin lives in go.mod only; read it back rather than repeating it here.
# go.mod writes a lone requirement as `require MODULE VERSION`, several as a block.
sops_version="$(awk -v m=github.com/getsops/sops/v3 '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' go.mod)"
[ -n "$sops_version" ] || { echo "sops/build.sh: cannot read the pinned sops version from go.mod" >&2; exit 1; }

bin="${GITOPSHQ_SOPS_BIN:-$HOME/.cache/gitopshq/testenv/sops-${sops_version}/bin}"
stamp="$bin/.stamp"
want="sops ${sops_version} $(sha256sum go.sum | cut -c1-16)"

fresh() { [ -x "$bin/sops" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; }

if fresh; then
    echo "$bin"
    exit 0
fi

mkdir -p "$bin"
# Two test binaries starting at once must not both build into the same folder.
exec 9>"$bin/.lock"
flock 9
if fresh; then
    echo "$bin"
    exit 0
fi
rm -f "$stamp"

export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=readonly"

start=$SECONDS
echo "sops/build.sh: downloading modules for sops ${sops_version}…" >&2
go mod download
echo "sops/build.sh: building sops ${sops_version} from the Go module proxy (first time only, about 2 minutes)…" >&2
go build -trimpath -ldflags "-s -w" -o "$bin/sops.tmp" github.com/getsops/sops/v3/cmd/sops
mv -f "$bin/sops.tmp" "$bin/sops"
echo "sops/build.sh: built sops ${sops_version} in $((SECONDS - start))s" >&2

echo "$want" >"$stamp"
echo "$bin"
