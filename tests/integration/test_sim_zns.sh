#!/usr/bin/env bash
# The Zalo ZNS stand-in as Zalo documents the service (sim/zns.c), checked
# with curl, jq and openssl here, not with the server's code: the OA token
# refresh (secret_key header, form body, single-use refresh tokens), the
# send API (access_token header, phone in 84 form, known template id,
# template data, Zalo's error codes, tracking_id deduplication, numbers
# without a Zalo account), failure injection, and the delivery webhook
# received by the `sink` stand-in in our server's place with its
# X-ZEvent-Signature recomputed here. Ends with a clean stop.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

mkdir -p "$CDS_BUILD_DIR/Testing"
tmp=$(mktemp -d "$CDS_BUILD_DIR/Testing/zns_XXXXXX")
ports=()
while ((${#ports[@]} < 2)); do
    p=$(th_free_port)
    [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
done
Z=http://127.0.0.1:${ports[0]}
S=http://127.0.0.1:${ports[1]}
APP=test-zalo-app
APP_SECRET=test-zalo-app-secret
OA_SECRET=test-zalo-oa-secret
CDS_SIM_ONLY=zns,sink CDS_SIM_THREADS=2 CDS_SIM_ZNS_PORT=${ports[0]} CDS_SIM_SINK_PORT=${ports[1]} \
    CDS_SIM_ZNS_WEBHOOK_URL=$S/v1/callbacks/zns CDS_SIM_SMS_DLR_DELAY_MS=50 \
    CDS_SIM_ZNS_APP_ID=$APP CDS_SIM_ZNS_SECRET_KEY=$APP_SECRET CDS_SIM_ZNS_OA_SECRET_KEY=$OA_SECRET \
    CDS_SIM_ZNS_REFRESH_TOKEN=first-refresh CDS_SIM_ZNS_TEMPLATES=tpl-a,tpl-b \
    "$CDS_BUILD_DIR/cds-sim" >"$tmp/sim.out" 2>&1 &
pid=$!
th_pids+=("$pid")
for u in "$Z" "$S"; do
    check "healthy $u" th_wait_for 20 curl -fso /dev/null "$u/_sim/health"
done
check "prints zns" grep -q "^standin zns $Z" "$tmp/sim.out"

not() { ! "$@"; }
jqe() { jq -e "$@" >/dev/null; }
# refresh RT [SECRET]: the token endpoint's answer
refresh() {
    curl -s -H "secret_key: ${2:-$APP_SECRET}" --data-urlencode "refresh_token=$1" \
        --data-urlencode "app_id=$APP" --data-urlencode "grant_type=refresh_token" \
        "$Z/v4/oa/access_token"
}
# send TOKEN BODY: the send API's answer
send() {
    curl -s -H "access_token: $1" -H 'Content-Type: application/json' -d "$2" "$Z/message/template"
}
err() { jq -r .error <<<"$1"; }

# ---------------------------------------------------------------- token
a=$(send "" '{"phone":"84912345678","template_id":"tpl-a","template_data":{"x":"1"}}')
check_eq "no token: -124" "$(err "$a")" -124
a=$(refresh first-refresh wrong-secret)
check "wrong app secret refused" jqe '.error != 0 and (.access_token | not)' <<<"$a"
a=$(refresh first-refresh)
check "refresh: access_token, refresh_token, expires_in as a string" \
    jqe '(.access_token | length > 0) and (.refresh_token | length > 0) and (.expires_in | type == "string")' <<<"$a"
AT=$(jq -r .access_token <<<"$a")
RT=$(jq -r .refresh_token <<<"$a")
a=$(refresh first-refresh)
check "a refresh token is good once" jqe '.error == -14014' <<<"$a"

# ---------------------------------------------------------------- sending
body='{"phone":"84912345678","template_id":"tpl-a","template_data":{"dossier_code":"HS-1","message":"Hồ sơ đã hoàn thành"},"tracking_id":"t-1"}'
a=$(send "$AT" "$body")
check "accepted: error 0 and a msg_id" jqe '.error == 0 and (.data.msg_id | length > 0) and (.data.sent_time | length > 0)' <<<"$a"
MSG=$(jq -r .data.msg_id <<<"$a")
b=$(send "$AT" "$body")
check_eq "tracking_id repeat: the first answer" "$(jq -r .data.msg_id <<<"$b")" "$MSG"
check_eq "counted once" "$(curl -s "$Z/_sim/messages" | jq '[.items[] | select(.key == "t-1")] | .[0].times_seen')" 2
check_eq "national form refused: -108" \
    "$(err "$(send "$AT" '{"phone":"0912345678","template_id":"tpl-a","template_data":{"x":"1"}}')")" -108
check_eq "unknown template: -109" \
    "$(err "$(send "$AT" '{"phone":"84912345678","template_id":"tpl-z","template_data":{"x":"1"}}')")" -109
check_eq "empty data: -111" \
    "$(err "$(send "$AT" '{"phone":"84912345678","template_id":"tpl-b","template_data":{}}')")" -111
check_eq "no-zalo control" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"no_zalo":["84900000001"]}' "$Z/_sim/zalo")" 200
check_eq "no Zalo account: -118" \
    "$(err "$(send "$AT" '{"phone":"84900000001","template_id":"tpl-a","template_data":{"x":"1"}}')")" -118
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"mode":"error","count":1,"error":"-115"}' "$Z/_sim/fail"
check_eq "injected: -115 out of quota" \
    "$(err "$(send "$AT" '{"phone":"84912345679","template_id":"tpl-a","template_data":{"x":"1"}}')")" -115
check "then accepted again" jqe '.error == 0' \
    <<<"$(send "$AT" '{"phone":"84912345679","template_id":"tpl-a","template_data":{"x":"1"}}')"
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"expire":true}' "$Z/_sim/token"
check_eq "expired token: -124" \
    "$(err "$(send "$AT" '{"phone":"84912345678","template_id":"tpl-a","template_data":{"x":"1"}}')")" -124
a=$(refresh "$RT")
check "the rotated refresh token works" jqe '.access_token | length > 0' <<<"$a"

# ---------------------------------------------------------------- webhook
check "webhooks arrived at the sink" th_wait_for 10 bash -c \
    "[[ \$(curl -s '$S/_sim/requests' | jq '[.items[] | select(.kind == \"request\" and .path == \"/v1/callbacks/zns\")] | length') -ge 2 ]]"
it=$(curl -s "$S/_sim/requests" | jq -c --arg m "$MSG" \
    '[.items[] | select(.kind == "request" and .path == "/v1/callbacks/zns") | select(.body | fromjson | .message.msg_id == $m)][0]')
ev=$(jq -r .body <<<"$it")
check "event: user_received_message for the message, with our tracking_id" \
    jqe --arg a "$APP" '.event_name == "user_received_message" and .app_id == $a and .message.tracking_id == "t-1" and (.timestamp | test("^[0-9]+$"))' <<<"$ev"
ts=$(jq -r .timestamp <<<"$ev")
want=$(printf '%s%s%s%s' "$APP" "$ev" "$ts" "$OA_SECRET" | openssl dgst -sha256 -r | cut -d' ' -f1)
check_eq "X-ZEvent-Signature = mac=SHA-256(app id + body + timestamp + OA secret)" \
    "$(jq -r '.headers["x-zevent-signature"]' <<<"$it")" "mac=$want"
check "no partner-style signature" jqe '.headers["x-signature"] == null' <<<"$it"
check "the send carried access_token as a header" jqe --arg t "$AT" \
    '[.items[] | select(.kind == "request" and .path == "/message/template") | .headers.access_token] | index($t) != null' \
    <<<"$(curl -s "$Z/_sim/requests")"

kill -TERM "$pid"
st=0
wait "$pid" || st=$?
check_eq "sim stops cleanly" "$st" 0
check "no sanitizer report" not grep -q "ERROR: AddressSanitizer\|runtime error:" "$tmp/sim.out"
rm -rf "$tmp"
th_done
