#!/usr/bin/env bash
# /metrics as Prometheus itself reads it: after some traffic (answers of
# several statuses, a refused webhook, database queries) a live scrape passes
# `promtool check metrics` (types, counter names, histogram series, help); the
# families the operators rely on are there with the right types; the alert
# rules in deploy/monitoring pass `promtool check rules`, the dashboard is
# valid JSON, and every metric either of them names is exposed by the server.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

mon=$CDS_SOURCE_DIR/deploy/monitoring
db=$(th_db_new metrics)
th_serve S CDS_DATABASE_URL="$db" CDS_AUTO_MIGRATE=1 || { fail "server start"; th_done; exit 1; }
# The admin listener when the server has one, else the public port.
murl=${S_ADMIN:-$S_URL}/metrics

for _ in 1 2 3; do
    curl -s -o /dev/null --http2-prior-knowledge "$S_URL/healthz"
    curl -s -o /dev/null --http2-prior-knowledge "$S_URL/readyz"
    curl -s -o /dev/null --http1.1 "$S_URL/v1/nothing"
done
curl -s -o /dev/null --http1.1 -X POST -H 'content-type: application/json' -d '{}' \
    "$S_URL/v1/webhooks/payos"
scrape=$CDS_BUILD_DIR/Testing/metrics_$$.txt
curl -s --http1.1 "$murl" >/dev/null # the first scrape asks the database
curl -s --http1.1 "$murl" >"$scrape"

out=$(promtool check metrics <"$scrape" 2>&1)
rc=$?
check_eq "promtool check metrics exit status (output: $out)" "$rc" 0

type_of() { sed -n "s/^# TYPE $1 //p" "$scrape"; }
check_eq "requests are a counter" "$(type_of cds_http_requests_total)" counter
check_eq "module counters are counters" "$(type_of cds_payment_webhooks_refused_total)" counter
check_eq "request latency histogram" "$(type_of cds_http_request_duration_seconds)" histogram
check_eq "db query histogram" "$(type_of cds_db_query_duration_seconds)" histogram
check_eq "webhook processing histogram" "$(type_of cds_webhook_processing_seconds)" histogram
check_eq "dispatch histogram" "$(type_of cds_notify_dispatch_duration_seconds)" histogram
check_eq "build info" "$(type_of cds_build_info)" gauge
check_eq "process cpu" "$(type_of process_cpu_seconds_total)" counter
for g in process_resident_memory_bytes process_open_fds process_start_time_seconds \
    cds_db_queries_in_flight cds_db_queries_waiting cds_outbox_depth cds_workpool_jobs_queued \
    cds_receipts_signer_lag_seconds; do
    check_eq "$g is a gauge" "$(type_of $g)" gauge
done
check "db queries observed" grep -qE '^cds_db_query_duration_seconds_count [1-9]' "$scrape"
check "the refused webhook observed" \
    grep -qE '^cds_webhook_processing_seconds_count\{method="POST",route="/v1/webhooks/payos"\} 1$' "$scrape"
# th_serve's readiness polls count too: at least the three here.
v=$(sed -n 's/^cds_http_requests_total{method="GET",route="\/healthz",status="200"} //p' "$scrape")
check "counter value summed over threads ($v)" test "${v:-0}" -ge 3
start=$(sed -n 's/^process_start_time_seconds //p' "$scrape")
now=$(date +%s)
check "start time is a recent epoch" awk -v s="$start" -v n="$now" 'BEGIN { exit !(s > n - 3600 && s <= n + 1) }'

# The rules and the dashboard.
out=$(promtool check rules "$mon/alerts.yml" 2>&1)
check "promtool check rules ($out)" test $? -eq 0
check "dashboard is JSON with panels" jq -e '.panels | length > 0' "$mon/grafana-dashboard.json" >/dev/null
for n in $( (grep -oE '\b(cds|process)_[a-z0-9_]+' "$mon/alerts.yml"
    jq -r '.panels[].targets[].expr' "$mon/grafana-dashboard.json" | grep -oE '\b(cds|process)_[a-z0-9_]+') |
    sed -E 's/_(bucket|sum|count)$//' | sort -u); do
    check "metric $n (alerts/dashboard) is exposed" grep -q "^# TYPE $n " "$scrape"
done

rm -f "$scrape"
th_done
