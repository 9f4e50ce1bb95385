#!/usr/bin/env bash
# Builds KWOK (nodes and pods without a kubelet) from the Go module proxy at the version pinned
# in go.mod, and copies the upstream Stages the harness runs it with out of the module.
#
# A module of its own: KWOK builds against newer k8s.io client libraries than the servers' pin.
# The last stdout line is the bin folder; the Stages are in ../stages next to it.
#
# Environment:
#   GITOPSHQ_KWOK_BIN  use this folder instead of the per-version default
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
TESTENV_COMPONENT=kwok
# shellcheck source-path=SCRIPTDIR
. ../lib.sh
testenv_require_go kwok

kwok_version="$(testenv_pin sigs.k8s.io/kwok)"
bin="${GITOPSHQ_KWOK_BIN:-$HOME/.cache/gitopshq/testenv/kwok-${kwok_version}/bin}"
stages="$bin/../stages"
# Node set-up and heartbeat through Leases, pods Ready at once, Job pods completing, deletions
# finishing without a kubelet: KWOK's "fast" set, which its own kwokctl clusters use.
upstream_stages=(
    node/fast/node-initialize.yaml
    node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
    pod/fast/pod-ready.yaml
    pod/fast/pod-complete.yaml
    pod/fast/pod-delete.yaml
)
expected=(kwok)
for stage in "${upstream_stages[@]}"; do expected+=("../stages/$(basename "$stage")"); done
want="kwok ${kwok_version} $(sha256sum go.sum | cut -c1-16) ${upstream_stages[*]}"

testenv_begin "$bin" "$want" "${expected[@]}"

testenv_say "downloading modules for sigs.k8s.io/kwok ${kwok_version}…"
go mod download
module_dir="$(testenv_module_dir sigs.k8s.io/kwok)"
mkdir -p "$stages"
for stage in "${upstream_stages[@]}"; do
    cp -f "$module_dir/kustomize/stage/$stage" "$stages/"
done
chmod -R u+w "$stages"
testenv_build "$bin" sigs.k8s.io/kwok/cmd/kwok -trimpath -ldflags "-s -w"

testenv_done "$bin" "$want"
