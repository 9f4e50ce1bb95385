# shellcheck shell=bash
# Shared by the component build scripts next to this file (sourced, not run).
#
# Every component is a Go module of its own that pins one upstream release. Its script builds
# the binaries into a per-version folder under $HOME, records what it built in a stamp file,
# and takes a file lock so that test binaries starting at once build only once. Progress goes
# to stderr, each line prefixed with the component; the last stdout line is the bin folder.

# The name the progress lines carry; each script sets it before calling anything here.
TESTENV_COMPONENT="${TESTENV_COMPONENT:-testenv}"

testenv_say() { echo "${TESTENV_COMPONENT}: $*" >&2; }

testenv_fail() {
    testenv_say "$*"
    exit 1
}

testenv_require_go() {
    command -v go >/dev/null 2>&1 || testenv_fail "the Go toolchain (go) is required to build $1"
}

# The version go.mod (in the current folder, or $2) pins for module $1. go.mod writes a lone
# requirement as `require MODULE VERSION` and several as a block; both forms are read.
testenv_pin() {
    local version
    version="$(awk -v m="$1" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "${2:-go.mod}")"
    [ -n "$version" ] || testenv_fail "cannot read the version of $1 from ${2:-go.mod}"
    echo "$version"
}

# Whether every file named after the first two arguments exists in the bin folder and the stamp
# there says exactly what this build would produce.
#   testenv_fresh BIN WANT FILE...
testenv_fresh() {
    local bin="$1" want="$2" file
    shift 2
    for file in "$@"; do
        [ -e "$bin/$file" ] || return 1
    done
    [ "$(cat "$bin/.stamp" 2>/dev/null)" = "$want" ]
}

# Takes the bin folder's lock on file descriptor 9, held until the script exits.
testenv_lock() {
    mkdir -p "$1"
    exec 9>"$1/.lock"
    flock 9
}

# Ends the script, printing the bin folder, when it already holds this build: checked once
# without the lock and again under it (another process may have just finished the build).
# Otherwise the script goes on to build, holding the lock, with no stamp left to vouch for a
# half-replaced folder and the settings every build here uses.
#   testenv_begin BIN WANT FILE...
testenv_begin() {
    if testenv_fresh "$@"; then
        echo "$1"
        exit 0
    fi
    testenv_lock "$1"
    if testenv_fresh "$@"; then
        echo "$1"
        exit 0
    fi
    rm -f "$1/.stamp"
    export CGO_ENABLED=0
    export GOFLAGS="${GOFLAGS:-} -mod=readonly"
}

# Builds commands, timed, into the bin folder, each named after the last element of its package
# path. One `go build` for all of them: packages they share compile once, and Go already spreads
# the work over every core. A half-written binary never has the final name.
#   testenv_build BIN "PACKAGE..." [go build flags...]
testenv_build() {
    local bin="$1" start=$SECONDS package name
    local -a packages
    read -ra packages <<<"$2"
    shift 2
    local names=()
    for package in "${packages[@]}"; do names+=("${package##*/}"); done
    testenv_say "building ${names[*]} from the Go module proxy (first time only)…"
    rm -rf "$bin/.build"
    mkdir -p "$bin/.build"
    go build "$@" -o "$bin/.build/" "${packages[@]}"
    for name in "${names[@]}"; do mv -f "$bin/.build/$name" "$bin/$name"; done
    rmdir "$bin/.build"
    testenv_say "built ${names[*]} in $((SECONDS - start))s"
}

# The folder of module $1 in the module cache, after downloading it.
testenv_module_dir() {
    go mod download "$1"
    go list -m -f '{{.Dir}}' "$1"
}

# Writes the stamp last, so an interrupted build is never taken for a finished one.
testenv_done() {
    echo "$2" >"$1/.stamp"
    echo "$1"
}
