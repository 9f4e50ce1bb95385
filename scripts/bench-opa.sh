#!/usr/bin/env bash
# Compares regorus (through gitopshq's PolicyEngine) with OPA on the same policies and inputs:
# the seed policy on one Deployment, 50 workload policies on that Deployment, and the release
# review: the 50 policies on each of the release's 20 Deployments (1,000 policy × object
# judgements, every `deny` and `warn` message per object), in one run.
#
# OPA is built from the Go module proxy with `go install` into
# ~/.cache/gitopshq/opa/<version>/ (binary, build cache and module cache), once per version.
# The regorus figures come from `engine/benches/policy.rs --percentiles` (release profile), OPA's
# from `opa bench` (Go's benchmark loop over a prepared query). Both are evaluations without any
# result cache. OPA evaluates the review as one query, `data.gitopshq_review.results`, which
# evaluates `data.gitopshq` (every policy package) `with input as` each object of
# `input.objects`; gitopshq evaluates each policy once over the release's objects
# (`PolicyEngine::evaluate_release`, inputs built from the rendered manifests inside the timing).
# Usage: scripts/bench-opa.sh   (OPA_VERSION=v1.x.y to try another pinned release)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> load: $(uptime)"

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
# whole prepared evaluation with its input) and OPA's own histogram of query evaluation times
# (median, p99). --v0-compatible: the seed is Rego v0; the v1 policies say `import rego.v1`,
# which that mode accepts too.
opa_bench() {
  local input=$1
  shift
  "$opa" bench --v0-compatible --format json --count 1 -i "$input" "$@" \
    | jq -r '"\(.T / .N | floor) \(.Extra["histogram_timer_rego_query_eval_ns_median"] | floor) \(.Extra["histogram_timer_rego_query_eval_ns_99%"] | floor)"'
}

echo "==> OPA (opa bench, prepared query, no cache)"
read -r opa_seed opa_seed_p50 opa_seed_p99 < <(opa_bench "$work/input.json" \
  -d "$work/seed.rego" 'data.gitopshq.workload.deny')
read -r opa_fifty opa_fifty_p50 opa_fifty_p99 < <(opa_bench "$work/input.json" \
  -d "$work/policies" 'data.gitopshq')
read -r opa_review opa_review_p50 opa_review_p99 < <(opa_bench "$work/review.json" \
  -d "$work/policies" -d "$work/review.rego" 'data.gitopshq_review.results')
for line in "seed-one-object $opa_seed $opa_seed_p50 $opa_seed_p99" \
  "fifty-policies-one-object $opa_fifty $opa_fifty_p50 $opa_fifty_p99" \
  "release-50x20 $opa_review $opa_review_p50 $opa_review_p99"; do
  read -r name mean p50 p99 <<<"$line"
  printf 'opa     %-42s mean_ns=%-10s p50_ns=%-10s p99_ns=%s\n' "$name" "$mean" "$p50" "$p99"
done
# `opa eval` itself, once: its own query evaluation timer (parsing and compiling excluded).
opa_eval_ns=$("$opa" eval --v0-compatible --metrics --format json -i "$work/review.json" \
  -d "$work/policies" -d "$work/review.rego" 'data.gitopshq_review.results' \
  | jq -r '.metrics.timer_rego_query_eval_ns')
echo "opa eval release-50x20 (one run)                   eval_ns=$opa_eval_ns"
# The same messages on both sides: OPA's review, counted (regorus's is printed above).
"$opa" eval --v0-compatible --format json -i "$work/review.json" -d "$work/policies" \
  -d "$work/review.rego" 'data.gitopshq_review.results' \
  | jq -r '[.result[0].expressions[0].value[] | .[] | .workload | (.deny // []) + (.warn // [])
      | length] | add | "    OPA review messages: \(.)"'

field() {
  grep "regorus $1 " "$work/regorus.txt" | sed -E "s/.* $2=([0-9]+).*/\1/"
}

echo
echo "==> time per evaluation, µs (ratio OPA / regorus: above 1 means regorus is faster)"
printf '%-30s %9s %9s %6s %9s %9s %6s %9s %9s %6s\n' case "rg mean" "OPA mean" ratio \
  "rg p50" "OPA p50" ratio "rg p99" "OPA p99" ratio
row() {
  awk -v name="$1" -v rm="$2" -v om="$3" -v r5="$4" -v o5="$5" -v rp="$6" -v op="$7" 'BEGIN {
    printf "%-30s %9.1f %9.1f %6.2f %9.1f %9.1f %6.2f %9.1f", name,
      rm / 1000, om / 1000, om / rm, r5 / 1000, o5 / 1000, o5 / r5, rp / 1000
    if (op > 0) printf " %9.1f %6.2f\n", op / 1000, op / rp; else printf " %9s %6s\n", "-", "-" }'
}
regorus_row() { # name, regorus case, OPA mean, median, p99
  row "$1" "$(field "$2" mean_ns)" "$3" "$(field "$2" p50_ns)" "$4" "$(field "$2" p99_ns)" "$5"
}
regorus_row "seed policy, one object" seed-one-object-cold "$opa_seed" "$opa_seed_p50" \
  "$opa_seed_p99"
regorus_row "50 policies, one object" fifty-policies-one-object-cold "$opa_fifty" \
  "$opa_fifty_p50" "$opa_fifty_p99"
regorus_row "review 50 × 20, 2 threads" release-50x20-cold "$opa_review" "$opa_review_p50" \
  "$opa_review_p99"
regorus_row "review 50 × 20, 1 thread" release-50x20-cold-one-thread "$opa_review" \
  "$opa_review_p50" "$opa_review_p99"
# OPA without `with`: 20 queries of all 50 policies, one per object (20 × its one-object
# figures; p99 of a sum is not the sum of p99s, so only mean and median).
regorus_row "review, 1 thread / 20 OPA q." release-50x20-cold-one-thread "$((opa_fifty * 20))" \
  "$((opa_fifty_p50 * 20))" 0
echo "==> load: $(uptime)"
