#!/usr/bin/env bash
# Compares regorus (through gitopshq's PolicyEngine) with OPA on the same policies and input:
# the seed policy on one Deployment, and 50 workload policies on that Deployment (the unit of
# work the release benchmark repeats for each of its 20 objects).
#
# OPA is built from the Go module proxy with `go install` into
# ~/.cache/gitopshq/opa/<version>/ (binary, build cache and module cache), once per version.
# The regorus figures come from `engine/benches/policy.rs --percentiles` (release profile), OPA's
# from `opa bench` (Go's benchmark loop over a prepared query). Both are evaluations without any
# result cache. Usage: scripts/bench-opa.sh   (OPA_VERSION=v1.x.y to try another pinned release)
set -euo pipefail
cd "$(dirname "$0")/.."

OPA_VERSION=${OPA_VERSION:-v1.22.2}
opa_dir="$HOME/.cache/gitopshq/opa/$OPA_VERSION"
opa="$opa_dir/bin/opa"

if [[ -x "$opa" ]]; then
  echo "==> OPA $OPA_VERSION already built: $opa"
else
  echo "==> building OPA $OPA_VERSION from the Go module proxy (once; a few minutes)"
  mkdir -p "$opa_dir"
  # GOTOOLCHAIN=local: use the installed Go, never download a toolchain.
  (cd "$opa_dir" && GOTOOLCHAIN=local GOBIN="$opa_dir/bin" GOCACHE="$opa_dir/gocache" \
    GOMODCACHE="$opa_dir/gomodcache" GOFLAGS=-modcacherw \
    go install "github.com/open-policy-agent/opa@$OPA_VERSION")
fi
"$opa" version | head -1

work=$(mktemp -d "${TMPDIR:-/tmp}/gitopshq-bench-opa.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "==> exporting the benchmark's policies and input (engine/benches/policy.rs --export)"
cargo bench --locked -q -p gitopshq-engine --bench policy -- --export "$work" >/dev/null
ls "$work/policies" | wc -l | xargs echo "    policies:"

echo "==> regorus (gitopshq PolicyEngine, cold evaluation cache)"
cargo bench --locked -q -p gitopshq-engine --bench policy -- --percentiles | tee "$work/regorus.txt"

# opa bench --format json prints Go's benchmark result: N operations in T ns (mean = T/N, the
# whole prepared evaluation with its input) and OPA's own histogram of query evaluation times.
# --v0-compatible: the seed is Rego v0; the v1 policies say `import rego.v1`, which that mode
# accepts too.
opa_bench() {
  "$opa" bench --v0-compatible --format json --count 1 -i "$work/input.json" "$@" \
    | jq -r '"\(.T / .N | floor) \(.Extra["histogram_timer_rego_query_eval_ns_99%"] | floor)"'
}

echo "==> OPA (opa bench, prepared query, no cache)"
read -r opa_seed opa_seed_p99 < <(opa_bench -d "$work/seed.rego" 'data.gitopshq.workload.deny')
read -r opa_fifty opa_fifty_p99 < <(opa_bench -d "$work/policies" 'data.gitopshq')
echo "opa     seed-one-object                            mean_ns=$opa_seed p99_ns=$opa_seed_p99"
echo "opa     fifty-policies-one-object                  mean_ns=$opa_fifty p99_ns=$opa_fifty_p99"

field() {
  grep "regorus $1 " "$work/regorus.txt" | sed -E "s/.* $2=([0-9]+).*/\1/"
}

echo
echo "==> time per evaluation, µs (ratio OPA / regorus: above 1 means regorus is faster)"
printf '%-28s %12s %12s %8s %12s %12s %8s\n' case "regorus mean" "OPA mean" ratio \
  "regorus p99" "OPA p99" ratio
row() {
  awk -v name="$1" -v rm="$2" -v om="$3" -v rp="$4" -v op="$5" 'BEGIN {
    printf "%-28s %12.1f %12.1f %8.2f %12.1f %12.1f %8.2f\n",
      name, rm / 1000, om / 1000, om / rm, rp / 1000, op / 1000, op / rp }'
}
row "seed policy, one object" "$(field seed-one-object-cold mean_ns)" "$opa_seed" \
  "$(field seed-one-object-cold p99_ns)" "$opa_seed_p99"
row "50 policies, one object" "$(field fifty-policies-one-object-cold mean_ns)" "$opa_fifty" \
  "$(field fifty-policies-one-object-cold p99_ns)" "$opa_fifty_p99"
