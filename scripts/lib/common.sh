# scripts/lib/common.sh: helpers shared by scripts/run and scripts/test (bash).
#
#   cds_root                  print the repository root (found from this file's
#                             location, so it works from any working directory)
#   cds_log MESSAGE...        "[cds] MESSAGE" on stderr
#   cds_nproc                 print the number of CPUs to build and test with
#   cds_free_port [N]         print a TCP port of 127.0.0.1, below the kernel's
#                             ephemeral range, that nothing listens on, with
#                             the N-1 ports after it free too (default N=1)
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

cds_free_port() {
    local n=${1:-1} p i ok
    while :; do
        p=$((10000 + (RANDOM * 32768 + RANDOM) % 22000))
        ok=1
        for ((i = 0; i < n; i++)); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$((p + i))") 2>/dev/null; then ok=0; break; fi
        done
        [ $ok = 1 ] && { echo "$p"; return 0; }
    done
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
