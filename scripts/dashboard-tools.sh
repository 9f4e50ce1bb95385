#!/usr/bin/env bash
# Makes ready what the dashboard's build and browser tests need: the npm packages of
# dashboard/ (npm ci, again whenever package-lock.json changes) and Debian's Chromium
# (apt-get, once per machine). Prints the Chromium path on stdout.
#
# Usage: scripts/dashboard-tools.sh [--no-browser]
# Exit status: 0 ready; 2 when npm, or Chromium and a way to install it, is missing.
set -euo pipefail
cd "$(dirname "$0")/../dashboard"

command -v npm >/dev/null 2>&1 || { echo "dashboard-tools.sh: npm (Node.js 20+) is required" >&2; exit 2; }

# One preparation at a time: tests run in parallel.
mkdir -p "$HOME/.cache/gitopshq"
exec 9>"$HOME/.cache/gitopshq/dashboard-tools.lock"
flock 9

stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "dashboard-tools.sh: npm ci in dashboard/" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" >"$stamp"
fi

[[ "${1:-}" == "--no-browser" ]] && exit 0

chromium=${CHROMIUM:-/usr/bin/chromium}
if [[ ! -x "$chromium" ]]; then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "dashboard-tools.sh: $chromium is missing; install Debian's chromium package (apt-get install chromium) or set CHROMIUM" >&2
    exit 2
  fi
  echo "dashboard-tools.sh: installing Debian's chromium (once per machine)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium >&2
fi
echo "$chromium"
