# scripts/lib/ha.sh: a highly available PostgreSQL on loopback, made with
# pg_auto_failover (Debian's postgresql-15-auto-failover), for
# scripts/ha-drill and the examples of the README's deployment section.
# Source scripts/lib/pg.sh first (bash).
#
#   cds_ha_start DIR PORT   a monitor on 127.0.0.1:PORT and three data nodes
#                           n1 n2 n3 on PORT+1..PORT+3 under DIR, formation
#                           with number_sync_standbys 1 (every commit waits
#                           for one standby: synchronous_standby_names
#                           'ANY 1 (...)'); waits until n1 is primary and n2,
#                           n3 secondaries; creates the role and database
#                           `cds`; exports CDS_HA_URL, the libpq multi-host
#                           URL with target_session_attrs=read-write
#   cds_ha_state DIR        `pg_autoctl show state` (one line per node)
#   cds_ha_primary DIR      the name (n1..n3) of the node that takes writes now
#   cds_ha_healthy DIR      0 when one primary and two secondaries report so
#   cds_ha_kill DIR NODE    SIGKILL to every process of NODE (its pg_autoctl
#                           process group, the postmaster and each of its
#                           children), as when its machine dies
#   cds_ha_stop DIR         stops every node still running and removes the
#                           socket files killed nodes left behind
#
# How it works: each node is `pg_autoctl create ... --run` started with
# setsid, so a node is one process group (cds_ha_kill takes it down, with the
# postmaster's children, which PostgreSQL puts in sessions of their own)
# and DIR/NODE.pgid remembers it. As in pg.sh, PostgreSQL runs as `postgres`
# when the caller is root. pg_autoctl keeps its configuration and state
# under XDG directories, pointed into DIR so nothing leaks into a home
# directory. Everything listens on 127.0.0.1 only, with trust
# authentication and no TLS: a drill on one machine, not a deployment (see
# README "Deployment" for what a real one sets instead: scram, TLS).
#
# Timing: the monitor's health checks (pgautofailover.health_check_* and
# node_considered_unhealthy_timeout) are tightened from tens of seconds to
# one or two, and primary_demote_timeout to 5 s (the keepers'
# network_partition_timeout to 3 s, below it, so an isolated old primary
# stops taking writes before a standby is promoted: no two primaries).
# A standby's base backup starts only after a checkpoint; start-up asks for
# one every second while standbys are joining, instead of waiting minutes
# for a spread checkpoint.

# pg_autoctl reads the libpq variables too: a caller's PGHOST (scripts/test
# exports its private cluster's) must not point it elsewhere.
_cds_ha_unset=(-u PGHOST -u PGHOSTADDR -u PGPORT -u PGUSER -u PGDATABASE -u PGDATA -u PGPASSWORD
    -u PGSERVICE -u PGOPTIONS -u PGAPPNAME)

_cds_ha_autoctl() {
    local dir=$1 bin
    shift
    bin=$(_cds_pg_bindir) || return 1
    _cds_pg_as_owner env "${_cds_ha_unset[@]}" XDG_CONFIG_HOME="$dir/xdg/config" \
        XDG_DATA_HOME="$dir/xdg/data" XDG_RUNTIME_DIR="$dir/xdg/run" PATH="$bin:/usr/bin:/bin" \
        pg_autoctl "$@"
}

# Starts `pg_autoctl ARGS...` in the background as a session (and process
# group) of its own; DIR/NAME.pgid records it.
_cds_ha_spawn() {
    local dir=$1 name=$2 bin
    shift 2
    bin=$(_cds_pg_bindir) || return 1
    local env=(env "${_cds_ha_unset[@]}" XDG_CONFIG_HOME="$dir/xdg/config" XDG_DATA_HOME="$dir/xdg/data"
        XDG_RUNTIME_DIR="$dir/xdg/run" PATH="$bin:/usr/bin:/bin")
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && exec setsid runuser -u postgres -- "${env[@]}" pg_autoctl "$@") \
            >"$dir/$name.log" 2>&1 &
    else
        (cd / && exec setsid "${env[@]}" pg_autoctl "$@") >"$dir/$name.log" 2>&1 &
    fi
    # setsid forks only when it already leads a process group: the session
    # is led by $! or by its child. Disowned: a node killed on purpose is no
    # news for the caller's shell to print.
    local pid=$! i c sid=""
    disown "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        if [ "$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
            sid=$pid
        else
            for c in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
                [ "$(ps -o sid= -p "$c" 2>/dev/null | tr -d ' ')" = "$c" ] && sid=$c
            done
        fi
        [ -n "$sid" ] && break
        sleep 0.1
    done
    [ -n "$sid" ] || { echo "cds_ha_start: $name did not start" >&2; return 1; }
    printf '%s\n' "$sid" >"$dir/$name.pgid"
}

_cds_ha_sql() {
    local port=$1 db=$2
    shift 2
    psql -X -q -A -t -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

# _cds_ha_wait SECONDS COMMAND...: retries every 0.5 s.
_cds_ha_wait() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 2; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

cds_ha_state() {
    _cds_ha_autoctl "$1" show state --pgdata "$1/monitor"
}

cds_ha_healthy() {
    local s
    s=$(_cds_ha_sql "$(cat "$1/port")" pg_auto_failover -c \
        "SELECT string_agg(reportedstate::text || '/' || goalstate::text, ' ' ORDER BY nodeid)
           FROM pgautofailover.node") || return 1
    [ "$(tr ' ' '\n' <<<"$s" | grep -c '^primary/primary$')" = 1 ] &&
        [ "$(tr ' ' '\n' <<<"$s" | grep -c '^secondary/secondary$')" = 2 ]
}

cds_ha_primary() {
    local dir=$1 base i
    base=$(cat "$dir/port") || return 1
    for i in 1 2 3; do
        if [ "$(_cds_ha_sql $((base + i)) postgres -c 'SELECT NOT pg_is_in_recovery()' \
            2>/dev/null)" = t ]; then
            echo "n$i"
            return 0
        fi
    done
    return 1
}

cds_ha_start() {
    local dir=${1:-} port=${2:-} bin mon i
    if [ -z "$dir" ] || [ -z "$port" ]; then
        echo "usage: cds_ha_start DIR PORT" >&2
        return 2
    fi
    command -v pg_autoctl >/dev/null ||
        { echo "cds_ha_start: pg_autoctl missing (scripts/bootstrap installs it)" >&2; return 1; }
    bin=$(_cds_pg_bindir) || return 1
    dir=$(realpath -m -- "$dir") || return 1
    mkdir -p "$dir/xdg/config" "$dir/xdg/data" "$dir/xdg/run" || return 1
    chmod 700 "$dir/xdg/run"
    if [ "$(id -u)" -eq 0 ]; then
        _cds_pg_make_traversable "$dir" || return 1
        chown -R postgres:postgres "$dir" || return 1
    fi
    echo "$port" >"$dir/port"

    if ! _cds_ha_autoctl "$dir" create monitor --pgdata "$dir/monitor" --pgport "$port" \
        --hostname 127.0.0.1 --auth trust --no-ssl >"$dir/monitor-create.log" 2>&1 ||
        ! _cds_ha_autoctl "$dir" config set --pgdata "$dir/monitor" \
            postgresql.listen_addresses 127.0.0.1 >/dev/null; then
        echo "cds_ha_start: cannot create the monitor:" >&2
        tail -n 20 "$dir/monitor-create.log" >&2
        return 1
    fi
    _cds_ha_spawn "$dir" monitor run --pgdata "$dir/monitor" || return 1
    _cds_ha_wait 60 _cds_ha_sql "$port" pg_auto_failover -c 'SELECT 1 FROM pgautofailover.formation' ||
        { echo "cds_ha_start: the monitor did not come up:" >&2; tail -n 20 "$dir/monitor.log" >&2; return 1; }
    _cds_ha_sql "$port" pg_auto_failover >/dev/null <<'SQL' || return 1
ALTER SYSTEM SET pgautofailover.health_check_period = 1000;
ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;
ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;
ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500;
ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 2000;
ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 5000;
SELECT pg_reload_conf();
SQL
    mon="postgres://autoctl_node@127.0.0.1:$port/pg_auto_failover?sslmode=disable"

    node() {
        _cds_ha_spawn "$dir" "n$1" create postgres --pgdata "$dir/n$1" --pgport $((port + $1)) \
            --listen 127.0.0.1 --hostname 127.0.0.1 --name "n$1" --monitor "$mon" \
            --auth trust --no-ssl --dbname cds --run
    }
    node 1 || return 1
    _cds_ha_wait 60 _cds_ha_sql $((port + 1)) cds -c 'SELECT 1' ||
        { echo "cds_ha_start: n1 did not come up:" >&2; tail -n 20 "$dir/n1.log" >&2; return 1; }
    _cds_ha_sql $((port + 1)) cds -c "CREATE ROLE cds LOGIN SUPERUSER" >/dev/null || return 1
    node 2 || return 1
    node 3 || return 1
    for ((i = 0; i < 240; i++)); do
        cds_ha_healthy "$dir" && break
        _cds_ha_sql $((port + 1)) postgres -c CHECKPOINT >/dev/null 2>&1
        sleep 0.5
    done
    if ! cds_ha_healthy "$dir"; then
        echo "cds_ha_start: no primary with two secondaries after 120 s:" >&2
        cds_ha_state "$dir" >&2
        return 1
    fi
    for i in 1 2 3; do
        _cds_ha_autoctl "$dir" config set --pgdata "$dir/n$i" \
            timeout.network_partition_timeout 3 >/dev/null || return 1
    done
    export CDS_HA_URL="postgresql://cds@127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2)),127.0.0.1:$((port + 3))/cds?target_session_attrs=read-write&connect_timeout=2"
}

cds_ha_kill() {
    local dir=$1 node=$2 pgid pm kids
    pgid=$(cat "$dir/$node.pgid" 2>/dev/null) || return 1
    [ -n "$pgid" ] || return 1
    # PostgreSQL puts each child of the postmaster (backends, walsenders,
    # background workers) in a session of its own (setsid), outside the
    # node's process group: frozen postmaster (no new child), its children
    # listed, then the group and the children killed together.
    pm=$(head -n 1 "$dir/$node/postmaster.pid" 2>/dev/null) || pm=""
    kids=""
    if [ -n "$pm" ] && kill -STOP "$pm" 2>/dev/null; then
        kids=$(ps -o pid= --ppid "$pm" 2>/dev/null | tr -s ' \n' ' ')
    fi
    kill -KILL -- "-$pgid" || return 1
    # shellcheck disable=SC2086 # a list of pids
    [ -z "$pm" ] || kill -KILL "$pm" $kids 2>/dev/null || true
}

cds_ha_stop() {
    local dir=$1 n pgid i
    [ -d "$dir" ] || return 0
    for n in n1 n2 n3 monitor; do
        pgid=$(cat "$dir/$n.pgid" 2>/dev/null) || continue
        [ -n "$pgid" ] && kill -TERM -- "-$pgid" 2>/dev/null
    done
    local alive=1
    for ((i = 0; i < 40 && alive; i++)); do
        alive=0
        for n in n1 n2 n3 monitor; do
            pgid=$(cat "$dir/$n.pgid" 2>/dev/null) || continue
            [ -n "$pgid" ] && kill -0 -- "-$pgid" 2>/dev/null && alive=1
        done
        [ $alive = 1 ] && sleep 0.5
    done
    if [ $alive = 1 ]; then
        for n in n1 n2 n3 monitor; do
            pgid=$(cat "$dir/$n.pgid" 2>/dev/null) || continue
            [ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null
        done
        sleep 0.5
    fi
    _cds_ha_sweep_sockets "$dir"
    return 0
}

# A node killed with SIGKILL leaves its socket and lock file in the shared
# socket directory (pg_autoctl keeps Debian's /var/run/postgresql): remove
# those of this cluster's data directories whose postmaster is gone.
_cds_ha_sweep_sockets() {
    local dir=$1 lock pid data
    for lock in /var/run/postgresql/.s.PGSQL.*.lock; do
        [ -f "$lock" ] || continue
        pid=$(sed -n 1p "$lock" 2>/dev/null)
        data=$(sed -n 2p "$lock" 2>/dev/null)
        case $data in "$dir"/*) ;; *) continue ;; esac
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && continue
        rm -f "${lock%.lock}" "$lock"
    done
}
