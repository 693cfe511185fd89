# scripts/lib/pg.sh: a private PostgreSQL cluster for development and tests.
#
# Sourced by scripts/run and scripts/test (bash). It provides:
#
#   cds_pg_start DATADIR [test]   initialise once, start, create database `cds`,
#                                 export PGHOST PGPORT PGUSER PGDATABASE and
#                                 CDS_DATABASE_URL
#   cds_pg_stop DATADIR           stop it (fast shutdown)
#
# How it works: the newest /usr/lib/postgresql/*/bin is used. The cluster
# listens on a Unix socket inside DATADIR only (no TCP port, so clusters of
# different checkouts never collide and nothing is reachable from the
# network), with trust authentication for the superuser role `cds`: only users
# who can enter DATADIR can reach the socket. PostgreSQL refuses to run as
# root, so when the caller is root DATADIR belongs to `postgres` and every
# server binary runs through `runuser -u postgres --`.
#
# Settings live in DATADIR/cds.conf, rewritten on every start and included
# from postgresql.conf, so `test` mode (durability off, for speed) never
# sticks to a cluster later started without it. Starting a cluster that is
# already running only exports the variables. Functions return non-zero on
# failure and never exit the caller's shell.

# Unix socket paths are limited to ~107 bytes by the kernel (sun_path).
CDS_PG_SOCKET_MAX=100

_cds_pg_bindir() {
    local d best=""
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] || continue
        if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$best" "$d" | sort -V | tail -n 1)" = "$d" ]
        then
            best=$d
        fi
    done
    if [ -z "$best" ]; then
        echo "pg.sh: no PostgreSQL found under /usr/lib/postgresql/*/bin" >&2
        return 1
    fi
    printf '%s\n' "$best"
}

# Runs a PostgreSQL program as the cluster's owner. From / because the
# postgres user may not be allowed into the caller's working directory.
_cds_pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# Every ancestor of DATADIR must be traversable by `postgres` (a mktemp
# directory is 0700). Only the search bit for others is added, never read.
_cds_pg_make_traversable() {
    local dir=$1
    [ "$(id -u)" -eq 0 ] || return 0
    while [ "$dir" != "/" ] && [ -n "$dir" ]; do
        dir=$(dirname "$dir")
        if ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
            chmod o+x "$dir" || return 1
        fi
    done
}

# Percent-encodes a socket directory for the query part of a libpq URI.
_cds_pg_uri_escape() {
    local s=$1 out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [A-Za-z0-9/._~-]) out+=$c ;;
            *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s\n' "$out"
}

_cds_pg_export() {
    local sock=$1
    export PGHOST=$sock PGPORT=5432 PGUSER=cds PGDATABASE=cds
    CDS_DATABASE_URL="postgresql:///cds?host=$(_cds_pg_uri_escape "$sock")&user=cds"
    export CDS_DATABASE_URL
}

_cds_pg_write_conf() {
    local datadir=$1 mode=$2 sock=$3 conf
    # Single quotes are doubled inside postgresql.conf string values.
    conf="# Written by scripts/lib/pg.sh on every start; edits are lost.
listen_addresses = ''
port = 5432
unix_socket_directories = '${sock//\'/\'\'}'
unix_socket_permissions = 0700
max_connections = 300
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
"
    if [ "$mode" = test ]; then
        conf+="# test mode: durability traded for speed
fsync = off
synchronous_commit = off
full_page_writes = off
"
    fi
    printf '%s' "$conf" > "$datadir/cds.conf" || return 1
    if ! grep -q "^include_if_exists = 'cds.conf'" "$datadir/postgresql.conf"; then
        printf "\ninclude_if_exists = 'cds.conf'\n" >> "$datadir/postgresql.conf" || return 1
    fi
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$datadir/cds.conf" || return 1
    fi
}

cds_pg_start() {
    local datadir=${1:-} mode=${2:-} bin sock out
    if [ -z "$datadir" ]; then
        echo "usage: cds_pg_start DATADIR [test]" >&2
        return 2
    fi
    if [ -n "$mode" ] && [ "$mode" != test ]; then
        echo "cds_pg_start: unknown mode '$mode' (expected 'test' or nothing)" >&2
        return 2
    fi
    # Absolute and free of symlinks: the socket path is checked before anything
    # is created, and the server sees the same path as we do.
    datadir=$(realpath -m -- "$datadir") || return 1
    sock=$datadir/sock
    local suffix=/.s.PGSQL.5432
    if [ $((${#sock} + ${#suffix})) -gt "$CDS_PG_SOCKET_MAX" ]; then
        echo "cds_pg_start: socket path $sock$suffix is longer than" \
            "$CDS_PG_SOCKET_MAX bytes; use a shorter DATADIR" >&2
        return 1
    fi
    mkdir -p "$datadir" || return 1
    bin=$(_cds_pg_bindir) || return 1

    if [ "$(id -u)" -eq 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            echo "cds_pg_start: running as root needs the 'postgres' OS user" >&2
            return 1
        fi
        _cds_pg_make_traversable "$datadir" || return 1
        chown postgres:postgres "$datadir" || return 1
    fi
    chmod 700 "$datadir" || return 1

    if _cds_pg_as_owner "$bin/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
        _cds_pg_export "$sock"
        return 0
    fi

    if [ ! -f "$datadir/PG_VERSION" ]; then
        if ! out=$(_cds_pg_as_owner "$bin/initdb" -D "$datadir" --encoding=UTF8 \
            --locale=C.UTF-8 --username=cds --auth=trust 2>&1); then
            printf '%s\n' "$out" >&2
            echo "cds_pg_start: initdb failed for $datadir" >&2
            return 1
        fi
    fi

    mkdir -p "$sock" || return 1
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$sock" || return 1
    fi
    chmod 700 "$sock" || return 1
    _cds_pg_write_conf "$datadir" "$mode" "$sock" || return 1

    if ! _cds_pg_as_owner "$bin/pg_ctl" -D "$datadir" -l "$datadir/log" -w -t 60 start \
        >/dev/null 2>&1; then
        echo "cds_pg_start: PostgreSQL did not start; end of $datadir/log:" >&2
        tail -n 30 "$datadir/log" >&2 2>/dev/null
        return 1
    fi

    local have
    have=$("$bin/psql" -X -q -A -t -h "$sock" -p 5432 -U cds -d postgres \
        -c "SELECT 1 FROM pg_database WHERE datname = 'cds'" 2>&1) || {
        printf '%s\n' "$have" >&2
        echo "cds_pg_start: cannot query the new cluster" >&2
        return 1
    }
    if [ "$have" != 1 ]; then
        if ! out=$("$bin/createdb" -h "$sock" -p 5432 -U cds cds 2>&1); then
            printf '%s\n' "$out" >&2
            echo "cds_pg_start: cannot create database cds" >&2
            return 1
        fi
    fi
    _cds_pg_export "$sock"
}

cds_pg_stop() {
    local datadir=${1:-} bin
    if [ -z "$datadir" ]; then
        echo "usage: cds_pg_stop DATADIR" >&2
        return 2
    fi
    [ -d "$datadir" ] || return 0
    datadir=$(cd "$datadir" && pwd -P) || return 1
    bin=$(_cds_pg_bindir) || return 1
    if ! _cds_pg_as_owner "$bin/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
        return 0
    fi
    if ! _cds_pg_as_owner "$bin/pg_ctl" -D "$datadir" -m fast -w -t 60 stop >/dev/null 2>&1
    then
        echo "cds_pg_stop: PostgreSQL in $datadir did not stop; end of its log:" >&2
        tail -n 30 "$datadir/log" >&2 2>/dev/null
        return 1
    fi
}
