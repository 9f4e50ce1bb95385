#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy at the versions pinned in go.mod.
#
# The binaries land in a per-version folder under $HOME so they survive `cargo clean` and fresh
# clones; Go's own build and module caches (also under $HOME) make a rebuild after a version bump
# cheaper than the first one. The last line on stdout is the bin folder, for callers to capture.
#
# Environment:
#   GITOPSHQ_TESTENV_BIN  use this folder instead of the per-version default
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

command -v go >/dev/null 2>&1 || { echo "build.sh: the Go toolchain (go) is required to build kube-apiserver and etcd" >&2; exit 1; }

# The pins live in go.mod only; read them back rather than repeating them here.
mod_version() { awk -v m="$1" '$1 == m { print $2; exit }' go.mod; }
k8s_version="$(mod_version k8s.io/kubernetes)"
etcd_version="$(mod_version go.etcd.io/etcd/server/v3)"
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] || { echo "build.sh: cannot read the pinned versions from go.mod" >&2; exit 1; }

bin="${GITOPSHQ_TESTENV_BIN:-$HOME/.cache/gitopshq/testenv/${k8s_version}-etcd${etcd_version#v}/bin}"
stamp="$bin/.stamp"
# Version stamping as the Kubernetes release build does it (hack/lib/version.sh): without it the
# API server reports v0.0.0-master, which clients and `Cluster.status.serverVersion` would show.
minor="${k8s_version#v1.}"; minor="${minor%%.*}"
version_pkg=k8s.io/component-base/version
stamp_flags="-X ${version_pkg}.gitVersion=${k8s_version} -X ${version_pkg}.gitMajor=1 -X ${version_pkg}.gitMinor=${minor} -X ${version_pkg}.gitTreeState=clean"
want="kube-apiserver ${k8s_version} etcd ${etcd_version} $(sha256sum go.sum | cut -c1-16) $(echo "$stamp_flags" | sha256sum | cut -c1-8)"

if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "$bin"
    exit 0
fi

mkdir -p "$bin"
# Two test binaries starting at once must not both build into the same folder.
exec 9>"$bin/.lock"
flock 9
if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "$bin"
    exit 0
fi
rm -f "$stamp"

export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=readonly"
flags=(-trimpath -ldflags "-s -w ${stamp_flags}")

build() { # name version package
    local start=$SECONDS
    echo "build.sh: building $1 $2 from the Go module proxy (first time only, takes several minutes)…" >&2
    go build "${flags[@]}" -o "$bin/$1.tmp" "$3"
    mv -f "$bin/$1.tmp" "$bin/$1"
    echo "build.sh: built $1 in $((SECONDS - start))s" >&2
}

echo "build.sh: downloading modules…" >&2
go mod download
build kube-apiserver "$k8s_version" k8s.io/kubernetes/cmd/kube-apiserver
build etcd "$etcd_version" go.etcd.io/etcd/server/v3

echo "$want" >"$stamp"
echo "$bin"
