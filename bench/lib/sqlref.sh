# shellcheck shell=bash
# bench/lib/sqlref.sh: the same-SQL and least-work references of the write
# rows (issue 21), for bench/run. Sourced after bench/lib/dbcost.sh; uses
# ROOT, TMP, PG_BIN, PGBENCH, PGDATABASE, ROUND_SECONDS, log.
#
# For each write row two pgbench references run on the same cluster, in the
# same rounds as ours:
#   same  the statement the server runs for one event, the same function
#         with the parameters the load generator's requests lead to
#         (bench/sql/<row>_same.pgbench): ours / same = the cost of
#         everything that is not the database (HTTP, signatures, JSON, the
#         pool), target >= 0.8;
#   min   the least a hand-written statement must write for the same effect
#         (bench/sql/<row>_min.pgbench): same / min = how far the SQL
#         function is from the least work.
# Each prepares its own rows first (not timed), as the load generator does.
# Functions print "RATE" (events/s) and fail when pgbench failed or not
# every event did what the server's would (a WARNING on the log).

SQLREF_CLIENTS=${BENCH_SQLREF_CLIENTS:-8}
SQLREF_INTENTS=${BENCH_SQLREF_INTENTS:-2000}
SQLREF_SHIPMENTS=${BENCH_SQLREF_SHIPMENTS:-$COURIER_SHIPMENTS_DEFAULT}

_sqlref_psql() {
    "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"
}

# sqlref_pgbench LOG SCRIPT PGBENCH_ARG...: prints "TPS TRANSACTIONS".
sqlref_pgbench() {
    local out=$1 script=$2
    shift 2
    "$PGBENCH" -M prepared -n -j 2 -f "$ROOT/bench/sql/$script" "$@" "$PGDATABASE" >"$out" 2>&1 || true
    awk '/^tps = / { tps = $3 }
         /^number of transactions actually processed:/ { split($6, a, "/"); n = a[1] }
         /aborted|^pgbench: error/ { bad = 1 }
         END { if (tps == "" || bad) exit 1; printf "%.0f %d\n", tps, n }' "$out"
}

# sqlref_tag LOG: a tag of letters and digits unique to this round and run.
sqlref_tag() {
    local t
    t=$(basename "$1" .out)
    t=${t//[^A-Za-z0-9]/}
    printf '%s%s\n' "$t" "$$"
}

# sqlref_cost NAME EVENTS LABEL: the per-event cost since the snapshot
# NAME, kept for the report in TMP/dbcost-lines (a file: the rounds run in
# command substitutions, whose variables do not come back).
sqlref_cost() {
    local line
    line=$(dbcost_diff "$1" "$2" "$3") || return 0
    [ -z "$line" ] || printf '%s\n' "$line" >>"$TMP/dbcost-lines"
    return 0
}

# sqlref_report: the kept per-event costs, as a list for the report.
sqlref_report() {
    [ -s "$TMP/dbcost-lines" ] || return 0
    echo
    echo "Database cost per event (first round of each side; bench/lib/dbcost.sh):"
    echo
    sed 's/^/- /' "$TMP/dbcost-lines"
}

# ---- f. steps (time-based rounds, like ours)

# sqlref_steps LOG same|min
sqlref_steps() {
    local out=$1 kind=$2 tag per t0 r applied prefix
    tag=$(sqlref_tag "$out")
    _sqlref_psql -v run="$tag" -v n="$STEPS_DOSSIERS" -f "$ROOT/bench/sql/steps_prep.sql" \
        >"$out.prep" 2>&1 || { cat "$out.prep" >&2; return 1; }
    per=$((STEPS_DOSSIERS / SQLREF_CLIENTS))
    [ "$per" -ge 1 ] || per=1
    # The steps' times: after the import (three days ago), one second apart.
    t0=$(($(date +%s) - 3 * 86400 + 600))
    [[ $out == *-1.out ]] && dbcost_snap "steps-$kind"
    r=$(sqlref_pgbench "$out" "steps_$kind.pgbench" -c "$SQLREF_CLIENTS" -T "$ROUND_SECONDS" \
        -D run="$tag" -D nc="$SQLREF_CLIENTS" -D per="$per" -D t0="$t0" -D k=0) || return 1
    [ "$kind" = same ] && prefix=q || prefix=m
    applied=$(_sqlref_psql -c "SELECT count(*) FILTER (WHERE applied) || ' ' || count(*) FROM dossier_events
                               WHERE event_id LIKE '$prefix$tag-%'")
    if [ "${applied% *}" != "${applied#* }" ] || [ "${applied#* }" != "${r#* }" ]; then
        log "WARNING: steps $kind: $applied of ${r#* } events applied"
    fi
    [[ $out == *-1.out ]] && sqlref_cost "steps-$kind" "${r#* }" "f. steps, $kind SQL (pgbench)"
    echo "${r% *}"
}

# ---- j. payments (count-based rounds, like ours)

# sqlref_payments LOG same|min: SQLREF_INTENTS intents, one credit each.
sqlref_payments() {
    local out=$1 kind=$2 tag acct per r paid
    # A reference letter + two digits: payment references are CDS + 10 of
    # [0-9A-HJKMNP-TV-Z].
    SQLREF_TAG_SEQ=$(($(cat "$TMP/sqlref-seq" 2>/dev/null || echo "$SQLREF_TAG_SEQ") + 1))
    echo "$SQLREF_TAG_SEQ" >"$TMP/sqlref-seq"
    tag=$(printf '%02d' $((SQLREF_TAG_SEQ % 100)))
    per=$((SQLREF_INTENTS / SQLREF_CLIENTS))
    [ "$per" -ge 1 ] || per=1
    acct=$(_sqlref_psql -v tag="$tag" -v n=$((per * SQLREF_CLIENTS)) -f "$ROOT/bench/sql/payments_prep.sql" \
        2>"$out.prep" | tail -n 1) || { cat "$out.prep" >&2; return 1; }
    [ -n "$acct" ] || { log "payments $kind: no intent prepared"; cat "$out.prep" >&2; return 1; }
    [[ $out == *-1.out ]] && dbcost_snap "payments-$kind"
    r=$(sqlref_pgbench "$out" "payments_$kind.pgbench" -c "$SQLREF_CLIENTS" -t "$per" \
        -D tag="$tag" -D nc="$SQLREF_CLIENTS" -D acct="$acct" -D k=0) || return 1
    # The prepared dossiers' intents only: the server's random references
    # (CDS + 10 characters of 32) begin with B<tag> one time in 32,768, so
    # ours' 18,000 intents of a run matched the prefix about once a run.
    paid=$(_sqlref_psql -c "SELECT count(*) FROM payments p JOIN dossiers d ON d.id = p.dossier_id
                            WHERE p.reference LIKE 'CDSB$tag%' AND d.code LIKE 'PB$tag.%' AND p.status = 'paid'")
    [ "$paid" = "${r#* }" ] || log "WARNING: payments $kind: $paid of ${r#* } intents paid"
    [[ $out == *-1.out ]] && sqlref_cost "payments-$kind" "${r#* }" "j. payment webhook, $kind SQL (pgbench)"
    echo "${r% *}"
}
SQLREF_TAG_SEQ=$((RANDOM % 50 + 10))

# ---- m. courier (count-based rounds, like ours)

SQLREF_POD='{"recipient_name":"Nguyễn Văn Bench","relation":"self","delivered_at":"2026-01-01T10:00:00+07:00","position":{"lat":10.77,"lng":106.70},"image_ref":"vnpost://pod/b.png","image_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}'

# sqlref_courier LOG same|min: SHIPMENTS shipments prepared by
# cds-bench-courier -P, four events each.
sqlref_courier() {
    local out=$1 kind=$2 tag per t0 r done_n
    tag=$(sqlref_tag "$out")
    per=$((SQLREF_SHIPMENTS / SQLREF_CLIENTS))
    [ "$per" -ge 1 ] || per=1
    "$COURIER_LOAD" -P -d "$CDS_DATABASE_URL" -n $((per * SQLREF_CLIENTS)) -r "$tag" >"$out.prep" 2>&1 ||
        { cat "$out.prep" >&2; return 1; }
    # Ten minutes ago in Vietnam's time, as cds-bench-courier dates them.
    t0=$(($(date +%s) - 600))
    [[ $out == *-1.out ]] && dbcost_snap "courier-$kind"
    r=$(sqlref_pgbench "$out" "courier_$kind.pgbench" -c "$SQLREF_CLIENTS" -t $((4 * per)) \
        -D run="$tag" -D nc="$SQLREF_CLIENTS" -D per="$per" -D t0="$t0" -D k=0 -D pod="$SQLREF_POD") || return 1
    done_n=$(_sqlref_psql -c "SELECT count(*) FROM shipments WHERE tracking_no LIKE 'BN-$tag-%' AND status = 'delivered'")
    [ "$done_n" = $((per * SQLREF_CLIENTS)) ] || log "WARNING: courier $kind: $done_n of $((per * SQLREF_CLIENTS)) shipments delivered"
    [[ $out == *-1.out ]] && sqlref_cost "courier-$kind" "${r#* }" "m. courier event, $kind SQL (pgbench)"
    echo "${r% *}"
}

# ---- g. notifications (after the drain of ours, the server stopped)

# notify_cpu_ticks PID [tree]: CPU clock ticks (user + system) of process
# PID; with "tree", of PID, its live children and those it reaped (the
# postmaster: every backend, live or gone). Row g prints CPU per message
# of the server, the stand-ins and PostgreSQL from two of these.
notify_cpu_ticks() {
    local pid=$1 tree=${2:-} t=0 c
    [ -r "/proc/$pid/stat" ] || { echo 0; return; }
    # fields after "(comm)": 14-17 are utime stime cutime cstime
    t=$(sed 's/^.*) //' "/proc/$pid/stat" | awk -v tr="$tree" '{ print $12 + $13 + (tr ? $14 + $15 : 0) }')
    if [ -n "$tree" ]; then
        for c in $(pgrep -P "$pid"); do
            [ -r "/proc/$c/stat" ] || continue
            t=$((t + $(sed 's/^.*) //' "/proc/$c/stat" | awk '{ print $12 + $13 }')))
        done
    fi
    echo "$t"
}

# notify_cpu_us TICKS MESSAGES: microseconds of CPU per message.
notify_cpu_us() {
    awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n; else print "-" }'
}


# Clients of both notify references: the server claims and records on 2
# connections (one per dispatcher thread, the claim and the record
# pipelined on it) and applies delivery receipts on the API's connections
# besides; pgbench runs its three statements one after the other on each
# client, with a round trip between them that the server's pipeline does
# not wait for. 4 clients = the server's 2 dispatcher backends plus as many
# for what runs beside them (receipts, round trips).
SQLREF_NOTIFY_CLIENTS=${BENCH_SQLREF_NOTIFY_CLIENTS:-4}

# sqlref_notify LOG same|min SINCE UNTIL: the rows the drain sent between the
# epochs SINCE and UNTIL are queued again as new rows (same channels, dossiers,
# citizens, devices, trace), then pgbench claims and records them for
# ROUND_SECONDS; msg/s from the first to the last recorded result, as ours.
# What the server stored for each (rendered text, template version) and
# whether ZNS refused it (it went again as an SMS) go to
# bench_notify_rendered under the new row's id, for the same SQL's record.
sqlref_notify() {
    local out=$1 kind=$2 since=$3 until=$4 n t0 r rate sent pfx
    # What an earlier round left unsent (a round ends after ROUND_SECONDS,
    # done or not) is closed first: each round counts only its own rows.
    _sqlref_psql -c "UPDATE outbox SET status = 'delivered', next_attempt_at = NULL, parked = false, claimed_at = NULL
        WHERE status IN ('created', 'sending', 'temporary-failure')" >/dev/null 2>"$out.prep" ||
        { cat "$out.prep" >&2; return 1; }
    n=$(_sqlref_psql -c "CREATE UNLOGGED TABLE IF NOT EXISTS bench_notify_rendered (
            id bigint PRIMARY KEY, template_version int, rendered jsonb, fallback boolean)" -c "WITH src AS (
            SELECT id, CASE WHEN fallback_from IS NOT NULL THEN 'zns' ELSE channel END AS channel, citizen_id,
                   dossier_id, template, vars, recipient_sealed, device_id, trace, template_version, rendered,
                   fallback_from IS NOT NULL AS fallback
            FROM outbox WHERE sent_at BETWEEN to_timestamp($since) AND to_timestamp($until) AND COALESCE(provider_message_id, '') NOT LIKE 'ref-%'
              AND COALESCE(provider_message_id, '') NOT LIKE 'min-%'),
        x AS (
            INSERT INTO outbox (channel, citizen_id, dossier_id, template, vars, recipient_sealed, device_id, trace)
            SELECT channel, citizen_id, dossier_id, template, vars, recipient_sealed, device_id, trace
            FROM src ORDER BY id RETURNING id),
        -- the ids are taken in the order of the originals': matched by rank
        a AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM x),
        b AS (SELECT template_version, rendered, fallback, row_number() OVER (ORDER BY id) AS k FROM src),
        m AS (INSERT INTO bench_notify_rendered SELECT a.id, b.template_version, b.rendered, b.fallback
              FROM a JOIN b USING (k) WHERE '$kind' = 'same')
        SELECT count(*) FROM x" 2>"$out.prep") || { cat "$out.prep" >&2; return 1; }
    # The insert parks each dossier's text messages behind its first, as the
    # server's queue is (0036_outbox_parked.sql); the least-work SQL leaves
    # the one-at-a-time rule out, so its round starts with every one due.
    if [ "$kind" = min ]; then
        _sqlref_psql -c "UPDATE outbox SET parked = false, next_attempt_at = now() WHERE parked" \
            >/dev/null 2>>"$out.prep" || { cat "$out.prep" >&2; return 1; }
    fi
    # as before ours' drain (bench/run): the round does not pay for the
    # vacuum and analyze of what was written before it
    _sqlref_psql -c "VACUUM ANALYZE outbox" >/dev/null 2>>"$out.prep" || { cat "$out.prep" >&2; return 1; }
    t0=$(date +%s.%N)
    dbcost_snap "notify-$kind"
    local pm pg0 nb i
    pm=$(head -n 1 "$TMP/pg/postmaster.pid")
    nb=$(pgrep -P "$pm" | wc -l)
    pg0=$(notify_cpu_ticks "$pm" tree)
    r=$(sqlref_pgbench "$out" "notify_$kind.pgbench" -c "$SQLREF_NOTIFY_CLIENTS" -T "$ROUND_SECONDS") || return 1
    # pgbench's backends counted once gone (their time joins the postmaster's)
    for ((i = 0; i < 30; i++)); do
        [ "$(pgrep -P "$pm" | wc -l)" -le "$nb" ] && break
        sleep 0.1
    done
    pg0=$(($(notify_cpu_ticks "$pm" tree) - pg0))
    [ "$kind" = same ] && pfx=ref || pfx=min
    read -r sent rate <<<"$(_sqlref_psql -F ' ' -c "SELECT count(*), CASE WHEN max(sent_at) > min(sent_at)
            THEN round(count(*) / extract(epoch FROM max(sent_at) - min(sent_at))) END
        FROM outbox WHERE sent_at >= to_timestamp($t0) AND provider_message_id LIKE '$pfx-%'")"
    [ "${sent:-0}" -ge "$n" ] || log "notify $kind: $sent of $n queued messages recorded in ${ROUND_SECONDS}s"
    log "notify $kind: CPU per message: PostgreSQL $(notify_cpu_us "$pg0" "$sent") us (over the ${ROUND_SECONDS}s round, $sent messages)"
    printf '%s\n' "g. notification, $kind SQL: CPU per message: PostgreSQL $(notify_cpu_us "$pg0" "$sent") us (the whole ${ROUND_SECONDS}s round over $sent messages; pgbench not counted)" >>"$TMP/dbcost-lines"
    if [ "$kind" = same ]; then
        sqlref_cost "notify-$kind" "$sent" "g. notification claim + record + delivery receipts, same SQL (pgbench)"
    else
        sqlref_cost "notify-$kind" "$sent" "g. notification claim + record, min SQL (pgbench)"
    fi
    echo "${rate:-0}"
}
