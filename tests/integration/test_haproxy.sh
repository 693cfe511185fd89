#!/usr/bin/env bash
# Issue 17, item 2 with the real balancer: HAProxy (Debian's haproxy, from
# scripts/bootstrap) with deploy/haproxy/haproxy.cfg in front of two
# `cds serve` nodes on one database,
# `send-proxy-v2` on every connection (its health checks too) from
# 127.0.0.3, the only trusted address; checks `GET /readyz`. A client on
# 127.0.0.5 is logged as 127.0.0.5 by the node that served it, not as the
# balancer; the public lookup's per-client rate limit (burst 2 per node)
# refuses 127.0.0.5 after a few lookups while 127.0.0.6 still gets through.
# SIGTERM to node A (--drain-ms 4000): its /readyz turns 503, HAProxy marks
# it DOWN while the process still runs, and no request through the
# balancer fails meanwhile; then A exits 0.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

if ! command -v haproxy >/dev/null; then
    fail "haproxy is not installed (scripts/bootstrap installs it)"
    th_done
    exit 1
fi

db=$(th_db_new haproxy)
common=(CDS_DATABASE_URL="$db" CDS_AUTO_MIGRATE=1 CDS_PROXY_TRUSTED=127.0.0.3 CDS_LOOKUP_BURST=2
    CDS_LOOKUP_PER_MINUTE=1 CDS_DRAIN_MS=4000)
th_serve A "${common[@]}" || { fail "node A start"; th_done; exit 1; }
th_serve B "${common[@]}" || { fail "node B start"; th_done; exit 1; }

front=$(th_free_port)
stats=$(th_free_port)
# The deployed configuration itself (deploy/haproxy/haproxy.cfg), its
# addresses from the environment as /etc/default/haproxy gives them.
cfg=$CDS_SOURCE_DIR/deploy/haproxy/haproxy.cfg
hlog=$CDS_BUILD_DIR/Testing/haproxy_$$.log
export CDS_LB_BIND=127.0.0.1:$front CDS_LB_STATS=127.0.0.1:$stats CDS_LB_SOURCE=127.0.0.3 \
    CDS_LB_INTER=200 CDS_LB_FALL=2 CDS_LB_RISE=1 \
    CDS_NODE_A=${A_URL#http://} CDS_NODE_A_CHECK=${A_URL##*:} \
    CDS_NODE_B=${B_URL#http://} CDS_NODE_B_CHECK=${B_URL##*:}
haproxy -c -f "$cfg" >"$hlog" 2>&1 || { fail "haproxy config: $(tail -3 "$hlog")"; th_done; exit 1; }
haproxy -db -f "$cfg" >>"$hlog" 2>&1 &
hpid=$!
th_pids+=("$hpid")

# server_status NAME: UP, DOWN, ... from the stats CSV.
server_status() {
    curl -s "http://127.0.0.1:$stats/stats;csv" | awk -F, -v s="$1" '$1 == "cds_nodes" && $2 == s { print $18 }'
}
both_up() { [ "$(server_status a)" = UP ] && [ "$(server_status b)" = UP ]; }
check "HAProxy sees both nodes UP (checks through PROXY v2 on /readyz)" th_wait_for 15 both_up

# The real client's address, on whichever node served it.
for _ in 1 2 3 4; do
    v=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.5 "http://127.0.0.1:$front/healthz")
    check_eq "healthz through HAProxy" "$v" 200
done
check "node A logs the client, not the balancer" grep -q '"route":"/healthz","peer":"127.0.0.5"' "$A_LOG"
check "node B logs the client, not the balancer" grep -q '"route":"/healthz","peer":"127.0.0.5"' "$B_LOG"
check "no request logged as the balancer's" bash -c "! grep -q '\"route\":\"/healthz\",\"peer\":\"127.0.0.3\"' '$A_LOG' '$B_LOG'"

# One bucket per client: 127.0.0.5 runs out (burst 2 on each node), 127.0.0.6 does not.
limited=0
for _ in 1 2 3 4 5 6; do
    v=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.5 "http://127.0.0.1:$front/v1/lookup/ABCDEFGHJK?secret=X")
    [ "$v" = 429 ] && limited=1
done
check_eq "127.0.0.5 is rate-limited" "$limited" 1
v=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.6 "http://127.0.0.1:$front/v1/lookup/ABCDEFGHJK?secret=X")
check "127.0.0.6 has a bucket of its own (got $v)" test "$v" != 429 -a "$v" != 000

# Drain: SIGTERM to A; HAProxy takes it out while it still runs; nothing fails.
kill -TERM "$A_PID"
a_down() { [ "$(server_status a)" = DOWN ]; }
failed=0
t0=$(date +%s%N)
while ! a_down && [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 4000 ]; do
    v=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$front/healthz")
    [ "$v" = 200 ] || failed=$((failed + 1))
    sleep 0.05
done
check "HAProxy marked A DOWN during the drain" a_down
check "A still runs while marked DOWN" kill -0 "$A_PID"
v=$(curl -s -o /dev/null -w '%{http_code}' "$A_URL/healthz")
check_eq "A still serves /healthz during the drain" "$v" 200
v=$(curl -s -o /dev/null -w '%{http_code}' "$A_URL/readyz")
check_eq "A's /readyz is 503 during the drain" "$v" 503
for _ in 1 2 3 4 5; do
    v=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$front/healthz")
    [ "$v" = 200 ] || failed=$((failed + 1))
done
check_eq "no request through HAProxy failed" "$failed" 0
th_stop "$A_PID" TERM
check_eq "A exits 0 after the drain" "$TH_STATUS" 0

kill -TERM "$hpid" 2>/dev/null
wait "$hpid" 2>/dev/null
th_stop "$B_PID" TERM
check_eq "B exit status" "$TH_STATUS" 0
rm -f "$hlog"
th_done
