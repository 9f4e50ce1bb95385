#!/usr/bin/env bash
# Builds Argo CD's application-controller and repo-server (one `argocd` binary, see main.go) and
# the kustomize CLI the repo-server runs, from the Go module proxy at the versions pinned in
# go.mod, and copies out of the argo-cd module the CRDs the controller serves and the two shell
# wrappers Argo CD's image puts next to its binaries (the repo-server runs
# git-verify-wrapper.sh on every commit it renders, signature verification on or off).
#
# A module of its own: Argo CD builds against newer k8s.io libraries (v0.37) than every other
# component, its go.mod needs the replace block argo-cd's own go.mod carries, and it needs Go
# 1.27, which the Go module proxy serves as a toolchain (GOTOOLCHAIN below, for this module
# alone). The last stdout line is the bin folder; the CRDs are in ../crds next to it.
#
# Environment:
#   GITOPSHQ_ARGOCD_BIN  use this folder instead of the per-version default
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
TESTENV_COMPONENT=argocd
# shellcheck source-path=SCRIPTDIR
. ../lib.sh
testenv_require_go "Argo CD"
# The module says `go 1.27.0`; the machine's Go fetches this toolchain once and runs it.
export GOTOOLCHAIN=go1.27.3

argocd_version="$(testenv_pin github.com/argoproj/argo-cd/v3)"
kustomize_version="$(testenv_pin sigs.k8s.io/kustomize/kustomize/v5)"
bin="${GITOPSHQ_ARGOCD_BIN:-$HOME/.cache/gitopshq/testenv/argocd-${argocd_version}/bin}"
crds="$bin/../crds"
# Applications and AppProjects only: the ApplicationSet controller is not run (and its CRD alone
# is 1.6 MB).
argocd_crds=(application appproject)
# What the image copies from hack/ into /usr/local/bin.
wrappers=(git-verify-wrapper.sh gpg-wrapper.sh)
expected=(argocd kustomize "${wrappers[@]}")
for kind in "${argocd_crds[@]}"; do expected+=("../crds/${kind}-crd.yaml"); done
# main.go is ours, so it is part of what the stamp records, next to the pins.
sources="$(cat go.sum main.go tools.go | sha256sum | cut -c1-16)"
want="argocd ${argocd_version} kustomize ${kustomize_version} ${GOTOOLCHAIN} ${sources} ${argocd_crds[*]} ${wrappers[*]}"

testenv_begin "$bin" "$want" "${expected[@]}"

testenv_say "downloading the Argo CD ${argocd_version} modules (and Go ${GOTOOLCHAIN#go} if missing)…"
argocd_dir="$(testenv_module_dir github.com/argoproj/argo-cd/v3)"
mkdir -p "$crds"
for kind in "${argocd_crds[@]}"; do
    cp -f "$argocd_dir/manifests/crds/${kind}-crd.yaml" "$crds/"
done
chmod -R u+w "$crds"
for wrapper in "${wrappers[@]}"; do
    install -m 0755 "$argocd_dir/hack/$wrapper" "$bin/$wrapper"
done

# As testenv_build, except for the names: this module's own main package is `.` and kustomize's
# path ends in its major version, so Go, not the last path element, names both binaries.
start=$SECONDS
testenv_say "building argocd and kustomize from the Go module proxy (first time only)…"
rm -rf "$bin/.build"
mkdir -p "$bin/.build"
go build -trimpath -ldflags "-s -w" -o "$bin/.build/" . sigs.k8s.io/kustomize/kustomize/v5
for name in argocd kustomize; do mv -f "$bin/.build/$name" "$bin/$name"; done
rmdir "$bin/.build"
testenv_say "built argocd and kustomize in $((SECONDS - start))s"

testenv_done "$bin" "$want"
