#!/usr/bin/env bash
# Builds kube-controller-manager and kube-scheduler from the Go module proxy, from the same
# k8s.io/kubernetes release as kube-apiserver (../go.mod).
#
# A module of its own, so the servers' go.sum (part of their cache key) does not change when
# these commands add their dependencies (cadvisor, containerd's API …); Go's build cache still
# shares every package the servers already compiled. The last stdout line is the bin folder.
#
# Environment:
#   GITOPSHQ_CONTROLLERS_BIN  use this folder instead of the per-version default
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
TESTENV_COMPONENT=kube-controllers
# shellcheck source-path=SCRIPTDIR
. ../lib.sh
testenv_require_go "kube-controller-manager and kube-scheduler"

k8s_version="$(testenv_pin k8s.io/kubernetes)"
servers_version="$(testenv_pin k8s.io/kubernetes ../go.mod)"
[ "$k8s_version" = "$servers_version" ] ||
    testenv_fail "go.mod pins k8s.io/kubernetes $k8s_version but ../go.mod pins $servers_version; move both together (and the replace blocks)"

bin="${GITOPSHQ_CONTROLLERS_BIN:-$HOME/.cache/gitopshq/testenv/kube-controllers-${k8s_version}/bin}"
# Version stamping as the Kubernetes release build does it (hack/lib/version.sh), like ../build.sh.
minor="${k8s_version#v1.}"; minor="${minor%%.*}"
version_pkg=k8s.io/component-base/version
stamp_flags="-X ${version_pkg}.gitVersion=${k8s_version} -X ${version_pkg}.gitMajor=1 -X ${version_pkg}.gitMinor=${minor} -X ${version_pkg}.gitTreeState=clean"
want="kube-controller-manager kube-scheduler ${k8s_version} $(sha256sum go.sum | cut -c1-16) $(echo "$stamp_flags" | sha256sum | cut -c1-8)"
binaries=(kube-controller-manager kube-scheduler)

testenv_begin "$bin" "$want" "${binaries[@]}"

testenv_say "downloading modules for k8s.io/kubernetes ${k8s_version}…"
go mod download
testenv_build "$bin" "k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler" \
    -trimpath -ldflags "-s -w ${stamp_flags}"

testenv_done "$bin" "$want"
