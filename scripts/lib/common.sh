# scripts/lib/common.sh: helpers shared by scripts/run and scripts/test (bash).
#
#   cds_root                  print the repository root (found from this file's
#                             location, so it works from any working directory)
#   cds_log MESSAGE...        "[cds] MESSAGE" on stderr
#   cds_nproc                 print the number of CPUs to build and test with
#   cds_build DIR [ARGS...]   configure DIR with CMake (Unix Makefiles) when it
#                             is new or ARGS changed, then build it in parallel;
#                             silent on success, the tool's output on failure
#
# Functions return non-zero on failure and never exit the caller's shell.

cds_root() {
    (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
}

cds_log() {
    printf '[cds] %s\n' "$*" >&2
}

cds_nproc() {
    nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1
}

cds_build() {
    local dir=$1
    shift
    local root log args
    root=$(cds_root) || return 1
    mkdir -p "$dir" || return 1
    log="$dir/cds-build.log"
    # The arguments of the last configure; a change (say, sanitizers on)
    # must reach the cache, an unchanged one costs nothing.
    args=$(printf '%s\n' "$@")
    if [[ ! -f $dir/CMakeCache.txt || $(cat "$dir/cds-cmake-args" 2>/dev/null) != "$args" ]]; then
        if ! cmake -S "$root" -B "$dir" -G "Unix Makefiles" "$@" >"$log" 2>&1; then
            cat "$log" >&2
            cds_log "cmake configure of $dir failed"
            return 1
        fi
        printf '%s' "$args" >"$dir/cds-cmake-args"
    fi
    if ! cmake --build "$dir" -j "$(cds_nproc)" >"$log" 2>&1; then
        cat "$log" >&2
        cds_log "build of $dir failed"
        return 1
    fi
}
