#!/usr/bin/env bash
# Installs gitopshq as a kubectl plugin: a `kubectl-gitopshq` link next to (or copy of) the
# gitopshq binary in a folder on PATH, so `kubectl gitopshq approve …` runs `gitopshq approve …`.
#
#   scripts/install-kubectl-plugin.sh                  # link to the gitopshq found on PATH
#   scripts/install-kubectl-plugin.sh --build          # build target/release/gitopshq first
#   GITOPSHQ_BIN=/path/gitopshq PLUGIN_DIR=~/.local/bin scripts/install-kubectl-plugin.sh --copy
#
# kubectl finds plugins by name on PATH (`kubectl plugin list` shows them). kubectl passes no
# global flags to plugins: use `KUBECONFIG=…` / `--kubeconfig`, `--context` and `-n` after the
# subcommand, e.g. `kubectl gitopshq status REL -n PROJECT --context prod`.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=link
build=false
for arg in "$@"; do
  case "$arg" in
    --copy) mode=copy ;;
    --build) build=true ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown option $arg (use --build, --copy)" >&2; exit 2 ;;
  esac
done

if $build; then
  cargo build --release --locked -p gitopshq
  bin=$PWD/target/release/gitopshq
else
  bin=${GITOPSHQ_BIN:-$(command -v gitopshq || true)}
  if [[ -z "$bin" && -x target/release/gitopshq ]]; then bin=$PWD/target/release/gitopshq; fi
  if [[ -z "$bin" && -x target/debug/gitopshq ]]; then bin=$PWD/target/debug/gitopshq; fi
fi
if [[ -z "${bin:-}" || ! -x "$bin" ]]; then
  echo "no gitopshq binary: put it on PATH, set GITOPSHQ_BIN, or pass --build" >&2
  exit 1
fi

dir=${PLUGIN_DIR:-$(dirname "$(command -v gitopshq 2>/dev/null || echo "$HOME/.local/bin/x")")}
mkdir -p "$dir"
target=$dir/kubectl-gitopshq
rm -f "$target"
if [[ $mode == copy ]]; then
  cp "$bin" "$target"
  chmod 0755 "$target"
else
  ln -s "$bin" "$target"
fi
echo "installed $target ($mode of $bin)"
case ":$PATH:" in
  *":$dir:"*) ;;
  *) echo "note: $dir is not on PATH; add it so kubectl finds the plugin" >&2 ;;
esac
if command -v kubectl >/dev/null; then
  kubectl gitopshq --version
fi
