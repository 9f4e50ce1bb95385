#!/usr/bin/env bash
# Builds every Go component of the real GitOps loop at once: kube-apiserver and etcd
# (build.sh), kube-controller-manager and kube-scheduler (controllers/), KWOK (kwok/) and Flux
# (flux/). Each is a module of its own with its own lock and cache folder, so the four builds
# run side by side and a cold machine waits for the slowest rather than the sum; the harness
# does the same from `gitopshq_testenv::ensure_real_loop_binaries`. Components already built
# cost nothing. Prints each bin folder on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
scripts=(build.sh controllers/build.sh kwok/build.sh flux/build.sh)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

start=$SECONDS
pids=()
for i in "${!scripts[@]}"; do
    bash "$here/${scripts[$i]}" >"$out/$i" &
    pids+=($!)
done
failed=0
for i in "${!scripts[@]}"; do
    if wait "${pids[$i]}"; then
        tail -n 1 "$out/$i"
    else
        echo "build-all.sh: ${scripts[$i]} failed; its output is above" >&2
        failed=1
    fi
done
echo "build-all.sh: every component ready after $((SECONDS - start))s" >&2
exit "$failed"
