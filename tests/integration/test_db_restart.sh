#!/usr/bin/env bash
# PostgreSQL restarts under a running server: /readyz turns 503 while the
# database is unreachable, the pool reconnects by itself with backoff, and
# /readyz is 200 again without restarting the server. Uses its own cluster
# so the shared test cluster is never stopped.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"
source "$CDS_SOURCE_DIR/scripts/lib/pg.sh"

dir=$(mktemp -d /tmp/cds-pgr.XXXXXX)
cds_pg_start "$dir/pg" test || { fail "private cluster"; th_done; exit 1; }
url=$CDS_DATABASE_URL
th_serve S CDS_DATABASE_URL="$url" CDS_AUTO_MIGRATE=1 || fail "server start"

ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge "$S_URL/readyz") == "$1" ]]; }
check "ready with the database up" ready 200
cds_pg_stop "$dir/pg"
check "503 while the database is down" th_wait_for 10 ready 503
body=$(curl -s --http1.1 "$S_URL/readyz")
check "problem code not_ready" grep -q '"code":"not_ready"' <<<"$body"
v=$(curl -s -o /dev/null -w '%{http_code}' --http1.1 "$S_URL/healthz")
check_eq "healthz still 200" "$v" 200
cds_pg_start "$dir/pg" test || fail "restart cluster"
check "ready again after reconnect" th_wait_for 20 ready 200
# Each event-loop thread has its own pool, reconnecting on its own backoff:
# before measuring, every thread must be back (fresh connections land on
# either thread, so ten 200s in a row say both are).
all_ready() { for _ in $(seq 1 10); do ready 200 || return 1; done; }
check "every thread's pool reconnected" th_wait_for 20 all_ready
out=$(h2load -n 300 -c 3 -m 10 "$S_URL/readyz" 2>&1)
check "every request served after reconnect" grep -q '300 succeeded, 0 failed' <<<"$out"
th_stop "$S_PID" TERM
check_eq "SIGTERM exit status" "$TH_STATUS" 0
cds_pg_stop "$dir/pg"
rm -rf "$dir"
th_done
