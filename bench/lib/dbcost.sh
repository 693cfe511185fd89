# shellcheck shell=bash
# bench/lib/dbcost.sh: deterministic database cost per event, for bench/run
# (issue 21). Sourced by bench/run after scripts/lib/pg.sh; uses PG_BIN, TMP
# and the PG* variables of the bench cluster.
#
#   dbcost_enable          pg_stat_statements in shared_preload_libraries
#                          (restarts the cluster PG_DATADIR, default TMP/pg,
#                          in mode PG_MODE once), the extension in `cds`
#   dbcost_snap NAME       remembers the counters now (TMP/dbcost-NAME.*)
#   dbcost_hook NAME       a command doing dbcost_snap NAME (for -x of the
#                          load generators: after their setup, before timing)
#   dbcost_diff NAME N     prints the cost of N events (@TABLE: as many as
#                          rows inserted into TABLE) since dbcost_snap NAME:
#       "rows R (ins I upd U hot H del D) idx X wal B bytes / W records"
#       per event, then one line per table written (per event) and the
#       statements that ran (calls and WAL bytes per event, mean ms).
#
# What the figures are: row versions = inserted + updated tuples
# (pg_stat_user_tables, all tables of database cds); index entries = for each
# table, (inserts + non-HOT updates) x its number of indexes, those of the
# partial indexes apart (an upper bound: a row outside the predicate adds no
# entry); WAL = pg_stat_wal,
# the whole cluster, so nothing else may write while a measured section runs.
# They do not depend on the machine's load: two runs of the same events give
# the same counts (WAL within a few percent: full-page images after each
# checkpoint, and the page splits of indexes).

DBCOST_ON=0
# Seconds to wait before reading the table and WAL counters. A PostgreSQL 15
# backend publishes them when it goes idle, but at most once a second, and
# when it is too early it waits PGSTAT_IDLE_INTERVAL (10 s): the server's
# pool connections may hold a second's counters that long. Backends that
# exit (pgbench's) publish at once.
DBCOST_SETTLE=${BENCH_DBCOST_SETTLE:-11}

_dbcost_psql() {
    "$PG_BIN/psql" -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 "$@"
}

dbcost_enable() {
    local have
    have=$(_dbcost_psql -c "SHOW shared_preload_libraries" 2>/dev/null || true)
    if [[ $have != *pg_stat_statements* ]]; then
        if [ ! -f "$(_cds_pg_bindir)/../lib/pg_stat_statements.so" ] &&
            [ ! -f "$("$PG_BIN/pg_config" --pkglibdir 2>/dev/null)/pg_stat_statements.so" ]; then
            log "dbcost: pg_stat_statements is not installed (postgresql-contrib); per-event costs without statements"
        else
            _dbcost_psql -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null ||
                { log "dbcost: ALTER SYSTEM failed"; return 1; }
            # PG_MODE unquoted: empty (durable) is no argument at all.
            # shellcheck disable=SC2086
            if ! cds_pg_stop "${PG_DATADIR:-$TMP/pg}" >/dev/null ||
                ! cds_pg_start "${PG_DATADIR:-$TMP/pg}" $PG_MODE >/dev/null; then
                die "PostgreSQL did not restart with pg_stat_statements"
            fi
        fi
    fi
    _dbcost_psql -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1 || true
    DBCOST_ON=1
}

# The counters' queries, shared by dbcost_snap, the hook and dbcost_diff.
DBCOST_TAB_SQL="SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del,
    (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid AND i.indpred IS NULL),
    (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid AND i.indpred IS NOT NULL)
  FROM pg_stat_user_tables t"
DBCOST_WAL_SQL="SELECT wal_records, wal_bytes, wal_fpi FROM pg_stat_wal"

dbcost_snap() {
    local name=$1
    [ "$DBCOST_ON" = 1 ] || return 0
    sleep "$DBCOST_SETTLE"
    _dbcost_psql -c "$DBCOST_TAB_SQL" >"$TMP/dbcost-$name.tab" 2>/dev/null || true
    _dbcost_psql -c "$DBCOST_WAL_SQL" >"$TMP/dbcost-$name.wal" 2>/dev/null || true
    _dbcost_psql -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true
}

# dbcost_hook NAME: prints a command that does dbcost_snap NAME, for a load
# generator's -x (run after its setup, right before its timed part).
dbcost_hook() {
    local name=$1 f=$TMP/dbcost-hook-$1.sh q
    [ "$DBCOST_ON" = 1 ] || { echo true; return 0; }
    q="\"$PG_BIN/psql\" -X -q -A -t -F ' ' -h \"$PGHOST\" -p $PGPORT -U $PGUSER -d $PGDATABASE"
    {
        echo '#!/usr/bin/env bash'
        echo "sleep $DBCOST_SETTLE"
        printf '%s -c "%s" >"%s" 2>/dev/null\n' "$q" "${DBCOST_TAB_SQL//$'\n'/ }" "$TMP/dbcost-$name.tab"
        printf '%s -c "%s" >"%s" 2>/dev/null\n' "$q" "$DBCOST_WAL_SQL" "$TMP/dbcost-$name.wal"
        printf '%s -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1\n' "$q"
        echo 'exit 0'
    } >"$f"
    chmod +x "$f"
    printf '%s\n' "$f"
}

# dbcost_diff NAME EVENTS [LABEL]: the summary line on stdout (for the
# verdicts), the details to the log (stderr) and TMP/dbcost-NAME.txt.
dbcost_diff() {
    local name=$1 n=$2 label=${3:-$1} summary
    [ "$DBCOST_ON" = 1 ] || return 0
    sleep "$DBCOST_SETTLE"
    _dbcost_psql -c "$DBCOST_TAB_SQL" >"$TMP/dbcost-$name.tab2" 2>/dev/null || return 0
    _dbcost_psql -c "$DBCOST_WAL_SQL" >"$TMP/dbcost-$name.wal2" 2>/dev/null || return 0
    [ -s "$TMP/dbcost-$name.tab" ] || return 0
    # N given as @TABLE: the rows inserted into TABLE meanwhile (one per event).
    if [[ $n == @* ]]; then
        n=$(awk -v t="${n#@}" 'FNR == 1 { f++ } $1 == t { if (f == 1) a = $2; else b = $2 } END { print b - a }' \
            "$TMP/dbcost-$name.tab" "$TMP/dbcost-$name.tab2")
    fi
    [ "${n:-0}" -gt 0 ] 2>/dev/null || return 0
    summary=$(awk -v n="$n" -v label="$label" '
        FNR == 1 { f++ }
        f == 1 { i0[$1] = $2; u0[$1] = $3; h0[$1] = $4; d0[$1] = $5; next }
        f == 2 { split($0, w0, " "); next }
        f == 3 {
            di = $2 - i0[$1]; du = $3 - u0[$1]; dh = $4 - h0[$1]; dd = $5 - d0[$1]
            if (di + du + dd == 0) next
            I += di; U += du; H += dh; D += dd; X += (di + du - dh) * $6; XP += (di + du - dh) * $7
            line = sprintf("%s", $1)
            if (di) line = line sprintf(" ins %.2f", di / n)
            if (du) line = line sprintf(" upd %.2f (hot %.2f)", du / n, dh / n)
            if (dd) line = line sprintf(" del %.2f", dd / n)
            line = line sprintf(", %d indexes", $6)
            if ($7) line = line sprintf(" + %d partial", $7)
            tables = tables "    " line "\n"
            next
        }
        f == 4 { split($0, w1, " ") }
        END {
            printf "%s: per event: row versions %.2f (ins %.2f, upd %.2f of which HOT %.2f, del %.2f), index entries %.1f (+ at most %.1f in partial indexes), WAL %.0f bytes / %.1f records (%.2f full-page images)\n",
                label, (I + U) / n, I / n, U / n, H / n, D / n, X / n, XP / n, (w1[2] - w0[2]) / n, (w1[1] - w0[1]) / n, (w1[3] - w0[3]) / n
            printf "%s", tables
        }' "$TMP/dbcost-$name.tab" "$TMP/dbcost-$name.wal" "$TMP/dbcost-$name.tab2" "$TMP/dbcost-$name.wal2")
    summary=${summary/: per event:/: per event ($n events):}
    {
        printf '%s\n' "$summary"
        _dbcost_psql -c "SELECT round(calls::numeric / $n, 2), round(mean_exec_time::numeric, 3),
                                round(wal_bytes / $n), left(regexp_replace(query, '\s+', ' ', 'g'), 110)
                         FROM pg_stat_statements WHERE calls > 0 AND query NOT LIKE '%pg_stat%' AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                         ORDER BY total_exec_time DESC LIMIT 8" 2>/dev/null |
            awk '{ c = $1; m = $2; w = $3; $1 = $2 = $3 = ""; sub(/^ +/, ""); printf "    stmt %s calls/event, %s ms mean, %s WAL bytes/event: %s\n", c, m, w, $0 }'
    } >"$TMP/dbcost-$name.txt"
    cat "$TMP/dbcost-$name.txt" >&2
    printf '%s\n' "$summary" | head -n 1
}
