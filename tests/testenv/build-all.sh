#!/usr/bin/env bash
# Builds every Go component of the real GitOps loop at once: kube-apiserver and etcd
# (build.sh), kube-controller-manager and kube-scheduler (controllers/), KWOK (kwok/), Flux
# (flux/) and Argo CD (argocd/). Each is a module of its own with its own lock and cache folder:
# the Kubernetes builds, KWOK, Flux and Argo CD run side by side, so a cold machine waits for
# the slowest rather than the sum; the harness does the same from
# `gitopshq_localplane::ensure_real_loop_binaries`. Components already built cost nothing. Prints
# each bin folder on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# kube-controller-manager and kube-scheduler share about 1,900 packages with kube-apiserver:
# built after it, they reuse them, where two concurrent builds would each compile them.
chains=("build.sh controllers/build.sh" "kwok/build.sh" "flux/build.sh" "argocd/build.sh")
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

run_chain() { # index scripts...
    local index="$1" script
    shift
    for script in "$@"; do
        bash "$here/$script" >>"$out/$index" || { echo "build-all.sh: $script failed; its output is above" >&2; return 1; }
    done
}

start=$SECONDS
pids=()
for i in "${!chains[@]}"; do
    # shellcheck disable=SC2086 # a chain is a list of script paths without spaces
    run_chain "$i" ${chains[$i]} &
    pids+=($!)
done
failed=0
for i in "${!chains[@]}"; do
    if wait "${pids[$i]}"; then
        # Each script's last stdout line is its bin folder.
        cat "$out/$i"
    else
        failed=1
    fi
done
echo "build-all.sh: every component ready after $((SECONDS - start))s" >&2
exit "$failed"
