#!/usr/bin/env bash
# The VNPost stand-in in scripts/run's mode (CDS_SIM_VNPOST_AUTO=deliver):
# every new booking plays the delivery plan, sending its signed status
# webhooks to the target (here the `sink` stand-in). A booking answered and
# then planned once used the freed request: under ASan this test fails on
# that; it also checks the plan's webhooks arrive and a repeated booking
# (same client order id) does not play the plan twice.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

mkdir -p "$CDS_BUILD_DIR/Testing"
tmp=$(mktemp -d "$CDS_BUILD_DIR/Testing/vnpost_auto_XXXXXX")
vport=$(th_free_port)
sport=$(th_free_port)
while [[ $sport == "$vport" ]]; do sport=$(th_free_port); done
V=http://127.0.0.1:$vport
S=http://127.0.0.1:$sport
CDS_SIM_ONLY=vnpost,sink CDS_SIM_VNPOST_PORT=$vport CDS_SIM_SINK_PORT=$sport \
    CDS_SIM_VNPOST_TARGET=$S CDS_SIM_VNPOST_AUTO=deliver CDS_SIM_VNPOST_AUTO_MS=50 \
    CDS_SIM_VNPOST_TOKEN=test-vnpost-token CDS_DEV_CERT_DIR="$CDS_BUILD_DIR/Testing" \
    "$CDS_BUILD_DIR/cds-sim" >"$tmp/sim.out" 2>"$tmp/sim.log" &
pid=$!
th_pids+=("$pid")
check "vnpost healthy" th_wait_for 20 curl -fso /dev/null "$V/_sim/health"
check "sink healthy" th_wait_for 20 curl -fso /dev/null "$S/_sim/health"

order='{"client_order_id":"ship-auto-1","receiver":{"name":"Nguyễn Văn An","phone":"0912345678","province":"Hồ Chí Minh","district":"Quận 1","ward":"Phường Bến Nghé","street":"12 Nguyễn Huệ"},"cod_amount":18000}'
book() { curl -s -o "$tmp/ans" -w '%{http_code}' -H 'token: test-vnpost-token' \
    -H 'Content-Type: application/json' -d "$order" "$V/api/v1/orders"; }
check_eq "booking created" "$(book)" 201
tn=$(jq -r .data.tracking_number "$tmp/ans")
check "a tracking number" test -n "$tn" -a "$tn" != null
check_eq "the same booking again" "$(book)" 200
check_eq "same tracking number" "$(jq -r .data.tracking_number "$tmp/ans")" "$tn"
webhooks() { curl -fs "$S/_sim/requests" | jq --arg t "$tn" '[.items[] | select((.body // "") | tostring | contains($t))] | length'; }
delivered() { [[ $(webhooks) -ge 4 ]]; }
check "the plan's webhooks reached the target" th_wait_for 20 delivered
sleep 0.5
check_eq "the plan played once (picked up .. delivered)" "$(webhooks)" 4
check "still running" kill -0 "$pid"
th_stop "$pid" TERM
check_eq "SIGTERM exit status" "$TH_STATUS" 0
check "no sanitizer report" bash -c "! grep -q 'ERROR: AddressSanitizer\|runtime error' '$tmp/sim.log'"
rm -rf "$tmp"
th_done
