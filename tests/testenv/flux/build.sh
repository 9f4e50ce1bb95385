#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller from the Go module proxy at the
# versions pinned in go.mod, and copies the CRDs they serve out of their modules.
#
# A module of its own: Flux builds against newer k8s.io libraries than the servers' pin, and its
# go.mod needs the replace lines the controllers' own go.mod files carry. The last stdout line is
# the bin folder; the CRDs are in ../crds next to it.
#
# Environment:
#   GITOPSHQ_FLUX_BIN  use this folder instead of the per-version default
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
TESTENV_COMPONENT=flux
# shellcheck source-path=SCRIPTDIR
. ../lib.sh
testenv_require_go "Flux's controllers"

source_version="$(testenv_pin github.com/fluxcd/source-controller)"
kustomize_version="$(testenv_pin github.com/fluxcd/kustomize-controller)"
[ "$source_version" = "$kustomize_version" ] ||
    testenv_fail "go.mod pins source-controller $source_version and kustomize-controller $kustomize_version; pin both from one Flux release"

bin="${GITOPSHQ_FLUX_BIN:-$HOME/.cache/gitopshq/testenv/flux-${source_version}/bin}"
crds="$bin/../crds"
# source-controller watches every source kind, so all six must be served, not only GitRepository.
source_crds=(buckets externalartifacts gitrepositories helmcharts helmrepositories ocirepositories)
expected=(source-controller kustomize-controller ../crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml)
for kind in "${source_crds[@]}"; do expected+=("../crds/source.toolkit.fluxcd.io_${kind}.yaml"); done
want="flux ${source_version} $(sha256sum go.sum | cut -c1-16) ${source_crds[*]}"

testenv_begin "$bin" "$want" "${expected[@]}"

# No bare `go mod download`: go.mod also lists what the controllers' own tests import, and the
# proxy refuses some of those versions; `go build` fetches exactly what the binaries need.
testenv_say "downloading the Flux ${source_version} modules…"
source_dir="$(testenv_module_dir github.com/fluxcd/source-controller)"
kustomize_dir="$(testenv_module_dir github.com/fluxcd/kustomize-controller)"
mkdir -p "$crds"
for kind in "${source_crds[@]}"; do
    cp -f "$source_dir/config/crd/bases/source.toolkit.fluxcd.io_${kind}.yaml" "$crds/"
done
cp -f "$kustomize_dir/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml" "$crds/"
chmod -R u+w "$crds"
testenv_build "$bin" "github.com/fluxcd/source-controller github.com/fluxcd/kustomize-controller" \
    -trimpath -ldflags "-s -w"

testenv_done "$bin" "$want"
