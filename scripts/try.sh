#!/usr/bin/env bash
# First run: build gitopshq, render examples/bootstrap and deliver its release into a fresh
# local GitOps repository, then show what was committed.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${GITOPSHQ_TRY_DIR:-/tmp/gitopshq-try}

echo "==> building gitopshq (release profile; the first build takes a few minutes)"
cargo build --release --locked -p gitopshq
bin=target/release/gitopshq

rm -rf "$work" && mkdir -p "$work"
git init --quiet --bare --initial-branch=main "$work/gitops.git"

for env in development staging production; do
  echo "==> gitopshq render -f examples/bootstrap --env $env"
  "$bin" render -f examples/bootstrap --env "$env" -o "$work/rendered/$env"
done
echo "==> rendered trees under $work/rendered/"

echo "==> gitopshq diff: what release payment-api-v1-0-0-dev would change"
"$bin" diff -f examples/bootstrap --release payment-api-v1-0-0-dev --repo "$work/gitops.git"

echo "==> gitopshq deliver: one commit for the release"
"$bin" deliver -f examples/bootstrap --release payment-api-v1-0-0-dev --repo "$work/gitops.git"

echo "==> delivering again changes nothing (same inputs, same bytes, no new commit)"
"$bin" deliver -f examples/bootstrap --release payment-api-v1-0-0-dev --repo "$work/gitops.git"

echo "==> the GitOps repository now holds:"
git --git-dir "$work/gitops.git" log --format='%h %s%n%n%b' -n 1
git --git-dir "$work/gitops.git" ls-tree -r --name-only main
