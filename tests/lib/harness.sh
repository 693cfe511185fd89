# tests/lib/harness.sh: shell-side test plumbing (sourced by
# tests/integration/test_*.sh): checks that count, free ports, fresh
# databases on the test cluster, and `cds serve` started and stopped.
# CDS_BUILD_DIR and CDS_SOURCE_DIR come from ctest; PG* from scripts/test.

th_pass=0
th_fail=0
th_pids=()

ok() { th_pass=$((th_pass + 1)); }
fail() {
    th_fail=$((th_fail + 1))
    echo "FAIL: $*" >&2
}
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok; else fail "$what"; fi
}
# check_eq DESCRIPTION ACTUAL EXPECTED
check_eq() {
    if [[ $2 == "$3" ]]; then ok; else fail "$1: got '$2', expected '$3'"; fi
}
th_done() {
    th_cleanup
    echo "$th_pass passed, $th_fail failed"
    [[ $th_fail -eq 0 && $th_pass -gt 0 ]]
}

# A port below the kernel's ephemeral range (so no outgoing connection takes
# it meanwhile) that nothing listens on.
th_free_port() {
    local p
    while :; do
        p=$((10000 + (RANDOM * 32768 + RANDOM) % 22000))
        if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

# th_db_new PREFIX: creates a database, prints its conninfo.
th_db_new() {
    local name="$1_$$_$RANDOM"
    psql -q -d postgres -c "CREATE DATABASE $name" >/dev/null || return 1
    echo "postgresql:///$name?host=$PGHOST&user=$PGUSER&port=$PGPORT"
}

# th_serve NAME [VAR=value...]: starts `cds serve` on free ports; sets
# ${NAME}_PID, ${NAME}_URL (cleartext), ${NAME}_TLS (https), ${NAME}_ADMIN
# (the admin listener: /metrics), ${NAME}_LOG.
th_serve() {
    local name=$1
    shift
    local port tls admin log
    port=$(th_free_port)
    tls=$(th_free_port)
    admin=$(th_free_port)
    log=$CDS_BUILD_DIR/Testing/${name}_$$.log
    mkdir -p "$CDS_BUILD_DIR/Testing"
    env CDS_PORT="$port" CDS_TLS_PORT="$tls" CDS_ADMIN_PORT="$admin" CDS_THREADS=2 CDS_DEV_KEYS_DIR="$CDS_BUILD_DIR/Testing/keys" \
        CDS_DEV_CERT_DIR="$CDS_BUILD_DIR/Testing" "$@" \
        "$CDS_BUILD_DIR/cds" serve >"$log" 2>&1 &
    local pid=$!
    th_pids+=("$pid")
    printf -v "${name}_PID" '%s' "$pid"
    printf -v "${name}_URL" 'http://127.0.0.1:%s' "$port"
    printf -v "${name}_TLS" 'https://127.0.0.1:%s' "$tls"
    printf -v "${name}_ADMIN" 'http://127.0.0.1:%s' "$admin"
    printf -v "${name}_LOG" '%s' "$log"
    # With a database the server must be ready (/readyz 200: every event
    # loop's pool has connected once), as a load balancer waits for; without
    # one, alive (/healthz 200) is all it can be.
    local probe=healthz arg
    for arg in "$@"; do
        case $arg in CDS_DATABASE_URL=?* | CDS_DATABASE_URL_FILE=?*) probe=readyz ;; esac
    done
    for _ in $(seq 1 200); do
        if curl -fs "http://127.0.0.1:$port/$probe" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "server $name exited early:" >&2
            tail -20 "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "server $name: /$probe not 200 after 20 s" >&2
    return 1
}

# th_stop PID [SIGNAL]: signals the server and waits; its exit status is left
# in TH_STATUS (not printed: `wait` must run in this shell, not a subshell).
th_stop() {
    local pid=$1 sig=${2:-TERM}
    TH_STATUS=0
    kill "-$sig" "$pid" 2>/dev/null || true
    wait "$pid" || TH_STATUS=$?
}

# th_wait_for SECONDS COMMAND...: retries the command until it succeeds.
th_wait_for() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 10; i++)); do
        if "$@" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

th_cleanup() {
    local p
    for p in "${th_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    th_pids=()
}
trap th_cleanup EXIT
