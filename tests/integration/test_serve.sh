#!/usr/bin/env bash
# `cds serve` end to end with Debian's HTTP clients: curl over h2c, HTTP/1.1
# and TLS (h2 via ALPN, and http/1.1), nghttp (SETTINGS, 413 with early
# answer), h2load; readiness with a database and without; the access log;
# /metrics on the admin listener only; the served openapi.yaml; configuration
# errors; and a graceful SIGTERM.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

db=$(th_db_new serve)
th_serve S CDS_DATABASE_URL="$db" CDS_AUTO_MIGRATE=1 || { fail "server start"; th_done; exit 1; }

# Protocols.
v=$(curl -s -o /dev/null -w '%{http_code} %{http_version}' --http2-prior-knowledge "$S_URL/healthz")
check_eq "h2c prior knowledge" "$v" "200 2"
v=$(curl -s -o /dev/null -w '%{http_code} %{http_version}' --http1.1 "$S_URL/healthz")
check_eq "http/1.1 cleartext" "$v" "200 1.1"
v=$(curl -sk -o /dev/null -w '%{http_code} %{http_version}' "$S_TLS/healthz")
check_eq "TLS, h2 via ALPN" "$v" "200 2"
v=$(curl -sk -o /dev/null -w '%{http_code} %{http_version}' --http1.1 "$S_TLS/healthz")
check_eq "TLS, http/1.1 via ALPN" "$v" "200 1.1"
v=$(curl -sk -o /dev/null -w '%{http_code}' --tlsv1.1 --tls-max 1.1 "$S_TLS/healthz" 2>/dev/null | tr -d '\0')
check_eq "TLS 1.1 refused" "$v" "000"
hdrs=$(curl -s -D - -o /dev/null --http2-prior-knowledge -H 'X-Request-Id: trace-42' "$S_URL/healthz")
check "request id echoed" grep -qi '^x-request-id: trace-42' <<<"$hdrs"

# Readiness with the database up (th_serve waited for every thread's pool).
v=$(curl -s -w ' %{http_code} %{size_download}' --http2-prior-knowledge "$S_URL/readyz")
check_eq "readyz with database" "$v" '{"status":"ready","database":"up"} 200 34'

# Errors as problem+json.
body=$(curl -s -D /tmp/h$$ --http1.1 -X POST "$S_URL/healthz")
check "405 problem" grep -q '"code":"method_not_allowed"' <<<"$body"
check "405 Allow" grep -qi '^allow: GET, HEAD' /tmp/h$$
check "problem content type" grep -qi '^content-type: application/problem+json' /tmp/h$$
rm -f /tmp/h$$
v=$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge "$S_URL/v1/nothing")
check_eq "404" "$v" 404
big=$(head -c 17000 /dev/zero | tr '\0' a)
v=$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge -H "X-Big: $big" "$S_URL/healthz")
check_eq "431 over h2" "$v" 431
v=$(curl -s -o /dev/null -w '%{http_code}' --http1.1 -H "X-Big: $big" "$S_URL/healthz")
check_eq "431 over http/1.1" "$v" 431

# nghttp: the advertised stream cap, and an upload refused early.
out=$(nghttp -nv "$S_URL/healthz" 2>&1)
check "SETTINGS_MAX_CONCURRENT_STREAMS 100" grep -q 'SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100' <<<"$out"
head -c 2000000 /dev/zero >"$CDS_BUILD_DIR/Testing/big_$$"
out=$(nghttp -nv -d "$CDS_BUILD_DIR/Testing/big_$$" "$S_URL/healthz" 2>&1)
check "upload to a GET route: 405 before the body" grep -q ':status: 405' <<<"$out"
rm -f "$CDS_BUILD_DIR/Testing/big_$$"

# h2load: many streams on few connections, all answered.
out=$(h2load -n 3000 -c 10 -m 20 "$S_URL/healthz" 2>&1)
check "h2load all succeeded" grep -q 'requests: 3000 total, 3000 started, 3000 done, 3000 succeeded' <<<"$out"
out=$(h2load -n 500 -c 5 -m 10 "$S_URL/readyz" 2>&1)
check "h2load readyz all succeeded" grep -q '500 succeeded, 0 failed' <<<"$out"

# Metrics: on the admin listener (loopback), never on the API ports.
v=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' --http1.1 "$S_URL/metrics")
check_eq "no /metrics on the cleartext API port (h1)" "$v" "404 application/problem+json"
v=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' --http2-prior-knowledge "$S_URL/metrics")
check_eq "no /metrics on the cleartext API port (h2c)" "$v" "404 application/problem+json"
v=$(curl -sk -o /dev/null -w '%{http_code} %{content_type}' "$S_TLS/metrics")
check_eq "no /metrics on the TLS API port" "$v" "404 application/problem+json"
v=$(curl -s -o /dev/null -w '%{http_code}' --http1.1 "$S_ADMIN/v1/me")
check_eq "the admin listener serves no API route" "$v" 404
m=$(curl -s --http1.1 "$S_ADMIN/metrics")
check "metrics: requests by route and status" grep -q 'cds_http_requests_total{method="GET",route="/healthz",status="200"}' <<<"$m"
check "metrics: latency histogram" grep -q 'cds_http_request_duration_seconds_bucket{method="GET",route="/readyz",le="+Inf"}' <<<"$m"
check "metrics: unmatched 404s" grep -q 'route="unmatched",status="404"' <<<"$m"
m=$(curl -s --http2-prior-knowledge "$S_ADMIN/metrics")
check "metrics over h2c; scrapes counted under their route" grep -q 'cds_http_requests_total{method="GET",route="/metrics",status="200"} 1$' <<<"$m"
check "metrics: connections" grep -q '^cds_http_connections_open ' <<<"$m"
check "metrics: streams" grep -q '^cds_http_requests_in_progress ' <<<"$m"
check "metrics: db pool" grep -q '^cds_db_queries_in_flight ' <<<"$m"
check "metrics: db waiting" grep -q '^cds_db_queries_waiting ' <<<"$m"
check "metrics: outbox depth" grep -q '^cds_outbox_depth{channel="sms"} 0$' <<<"$m"

# The served OpenAPI document is the file.
curl -s --http2-prior-knowledge "$S_URL/openapi.yaml" >"$CDS_BUILD_DIR/Testing/openapi_$$"
check "openapi.yaml served as is" cmp -s "$CDS_BUILD_DIR/Testing/openapi_$$" "$CDS_SOURCE_DIR/openapi.yaml"
rm -f "$CDS_BUILD_DIR/Testing/openapi_$$"

# Access log: one JSON line per request with the documented fields.
line=$(grep '"route":"/readyz"' "$S_LOG" | head -1)
for f in time request_id proto method route status duration_us bytes_out; do
    check "access log field $f" grep -q "\"$f\":" <<<"$line"
done

# Graceful stop.
th_stop "$S_PID" TERM
check_eq "SIGTERM exit status" "$TH_STATUS" 0
check "stopped cleanly logged" grep -q 'stopped cleanly' "$S_LOG"

# Without a database: alive but not ready.
th_serve N CDS_DATABASE_URL= || fail "server without db"
v=$(curl -s --http2-prior-knowledge -w ' %{http_code}' "$N_URL/readyz")
check "readyz without database is 503" grep -q '"code":"not_ready".* 503$' <<<"$v"
v=$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge "$N_URL/healthz")
check_eq "healthz without database" "$v" 200
th_stop "$N_PID" INT
check_eq "SIGINT exit status" "$TH_STATUS" 0

# A saturated database pool answers 503 service_busy at once instead of
# queueing without bound.
th_serve B CDS_DATABASE_URL="$db" CDS_DB_CONNS=1 CDS_DB_PIPELINE=1 CDS_DB_QUEUE=1 CDS_THREADS=1 || fail "server B"
out=$(h2load -n 2000 -c 20 -m 20 "$B_URL/readyz" 2>&1)
check "some requests refused with 503" grep -Eq 'status codes: [0-9]+ 2xx, 0 3xx, 0 4xx, [1-9][0-9]* 5xx' <<<"$out"
check "and some served" grep -Eq 'status codes: [1-9][0-9]* 2xx' <<<"$out"
m=$(curl -s --http1.1 "$B_ADMIN/metrics")
check "503s counted by route" grep -q 'route="/readyz",status="503"' <<<"$m"
th_stop "$B_PID" TERM
check_eq "B exit status" "$TH_STATUS" 0

# Migrations from the command line: apply, re-apply (nothing to do), status.
db2=$(th_db_new migrate)
CDS_DATABASE_URL=$db2 "$CDS_BUILD_DIR/cds" migrate 2>/dev/null
check_eq "cds migrate" "$?" 0
CDS_DATABASE_URL=$db2 "$CDS_BUILD_DIR/cds" migrate 2>/dev/null
check_eq "cds migrate again" "$?" 0
st=$(CDS_DATABASE_URL=$db2 "$CDS_BUILD_DIR/cds" migrate --status 1 2>&1)
check "migrate status lists 0001" grep -q '0001_core.sql' <<<"$st"
v=$(psql -At "$db2" -c 'SELECT count(*) FROM schema_migrations')
check_eq "every migration recorded once" "$v" "$(ls "$CDS_SOURCE_DIR"/db/migrations/*.sql | wc -l)"
"$CDS_BUILD_DIR/cds" migrate --database-url 'postgresql:///nope?host=/nonexistent' >/dev/null 2>&1
check_eq "migrate without a database fails" "$?" 1

# Configuration errors are clear and exit 2.
"$CDS_BUILD_DIR/cds" serve --port 99999 >/dev/null 2>"$CDS_BUILD_DIR/Testing/err_$$"
check_eq "bad port exit" "$?" 2
check "bad port message" grep -q "99999" "$CDS_BUILD_DIR/Testing/err_$$"
rm -f "$CDS_BUILD_DIR/Testing/err_$$"
"$CDS_BUILD_DIR/cds" serve --port 18080 --admin-port 18080 >/dev/null 2>"$CDS_BUILD_DIR/Testing/err_$$"
check_eq "admin port on an API port: exit" "$?" 2
check "admin port on an API port: message" grep -q "admin port" "$CDS_BUILD_DIR/Testing/err_$$"
rm -f "$CDS_BUILD_DIR/Testing/err_$$"
help=$("$CDS_BUILD_DIR/cds" serve --help)
for v in CDS_HOST CDS_PORT CDS_TLS_PORT CDS_ADMIN_HOST CDS_ADMIN_PORT CDS_DATABASE_URL CDS_THREADS CDS_MAX_STREAMS CDS_MAX_BODY; do
    check "--help lists $v" grep -q "$v" <<<"$help"
done
th_done
