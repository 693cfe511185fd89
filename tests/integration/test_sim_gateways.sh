#!/usr/bin/env bash
# The message-gateway stand-ins as our dispatchers will see them: eSMS and
# SpeedSMS (send, credentials, Vietnamese phones, GSM-7 text without marks,
# deduplication by idempotency key, delivery reports sent as the gateways
# send them (unsigned, to a URL ending in our secret token) and received by
# the `sink` stand-in in our server's place, failure
# injection: provider errors, slowness, outage), FCM HTTP v1 over h2c (the
# service-account JWT grant signed here with `openssl dgst`, the send API,
# its error shapes, unregistered tokens, dedup by X-Idempotency-Key or
# data.message_id) and APNs over TLS with ALPN h2 (ES256 provider tokens
# made here with openssl, Apple's reasons, 410 Unregistered, dedup by
# apns-id). Ends with a clean stop.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

mkdir -p "$CDS_BUILD_DIR/Testing"
tmp=$(mktemp -d "$CDS_BUILD_DIR/Testing/gateways_XXXXXX")
ports=()
while ((${#ports[@]} < 5)); do
    p=$(th_free_port)
    [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
done
E=http://127.0.0.1:${ports[0]}
P=http://127.0.0.1:${ports[1]}
F=http://127.0.0.1:${ports[2]}
A=https://127.0.0.1:${ports[3]}
S=http://127.0.0.1:${ports[4]}
ESMS_TOKEN=test-esms-callback-token-0123
SPEED_TOKEN=test-speedsms-callback-token-4567
EP=/v1/callbacks/sms/esms/$ESMS_TOKEN
SP=/v1/callbacks/sms/speedsms/$SPEED_TOKEN
CDS_SIM_ONLY=sms-esms,sms-speedsms,fcm,apns,sink CDS_SIM_THREADS=2 \
    CDS_SIM_SMS_ESMS_PORT=${ports[0]} CDS_SIM_SMS_SPEEDSMS_PORT=${ports[1]} \
    CDS_SIM_FCM_PORT=${ports[2]} CDS_SIM_APNS_PORT=${ports[3]} CDS_SIM_SINK_PORT=${ports[4]} \
    CDS_SIM_SMS_CALLBACK_BASE=$S/v1/callbacks/sms CDS_SIM_SMS_DLR_DELAY_MS=100 \
    CDS_SIM_SMS_CALLBACK_RETRY_MS=100 CDS_SIM_ESMS_CALLBACK_TOKEN=$ESMS_TOKEN \
    CDS_SIM_SPEEDSMS_CALLBACK_TOKEN=$SPEED_TOKEN \
    CDS_DEV_CERT_DIR="$CDS_BUILD_DIR/Testing" "$CDS_BUILD_DIR/cds-sim" >"$tmp/sim.out" 2>&1 &
pid=$!
th_pids+=("$pid")
for u in "$E" "$P" "$F" "$S"; do
    check "healthy $u" th_wait_for 20 curl -fso /dev/null "$u/_sim/health"
done
check "apns healthy" th_wait_for 20 curl -kfso /dev/null "$A/_sim/health"
for n in sms-esms sms-speedsms fcm sink; do
    check "prints $n" grep -q "^standin $n http://127.0.0.1:" "$tmp/sim.out"
done
check "prints apns over https" grep -q "^standin apns $A" "$tmp/sim.out"

# ---------------------------------------------------------------- helpers
not() { ! "$@"; }
jqe() { jq -e "$@" >/dev/null; }
ans() { jq -c "$1" "$tmp/ans"; }
hdr() { jq -r --arg h "$2" '.headers[$h] // ""' <<<"$1"; }
# resp_hdr NAME: a header of the last answer saved with -D "$tmp/hdrs".
resp_hdr() { tr -d '\r' <"$tmp/hdrs" | awk -v h="$1" 'BEGIN{IGNORECASE=1} index(tolower($0), tolower(h) ":") == 1 {sub(/^[^:]*: */, ""); print; exit}'; }
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
sink_items() { curl -s "$S/_sim/requests" | jq -c '[.items[] | select(.kind == "request")]'; }
sink_clear() { curl -s -o /dev/null -X DELETE "$S/_sim/requests"; }
# sink_count PATH N: at least N requests to PATH arrived at the sink.
sink_count() { [[ $(sink_items | jq --arg p "$1" '[.[] | select(.path == $p)] | length') -ge $2 ]]; }
# unsigned ITEM: the recorded request carries no signature headers (neither
# gateway signs its reports; the token in the path is the whole credential).
unsigned() { [[ -z $(hdr "$1" x-signature)$(hdr "$1" x-client-id)$(hdr "$1" x-timestamp) ]]; }
# qparam ITEM NAME: a (still encoded) query parameter of a recorded request.
qparam() { jq -r '.query' <<<"$1" | tr '&' '\n' | awk -F= -v n="$2" '$1 == n {print substr($0, length(n) + 2); exit}'; }

# ================================================================ eSMS
ESMS_PATH=/MainService.svc/json/SendMultipleMessage_V4_post_json/
esms() { # esms JSON-MEMBERS: posts a send with the dev credentials plus the members
    curl -s -o "$tmp/ans" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "{\"ApiKey\":\"cds-dev-esms-apikey\",\"SecretKey\":\"cds-dev-esms-secretkey\",$1}" \
        "$E$ESMS_PATH"
}
GOOD='"Phone":"0912345678","Content":"Ho so 000.00.01.H29-240506-0001 da duoc tiep nhan","Brandname":"CONGDANSO","SmsType":"2"'

sink_clear
check_eq "esms: accepted" "$(esms "$GOOD,\"RequestId\":\"outbox-1\"")" 200
check_eq "esms: CodeResult 100" "$(ans .CodeResult)" '"100"'
check_eq "esms: CountRegenerate" "$(ans .CountRegenerate)" 0
smsid=$(jq -r .SMSID "$tmp/ans")
check "esms: SMSID given" grep -Eq '^[0-9a-f]{32}[0-9]{3}$' <<<"$smsid"
first=$(cat "$tmp/ans")
esms "$GOOD,\"RequestId\":\"outbox-1\"" >/dev/null
check_eq "esms: repeat gets the first answer" "$(cat "$tmp/ans")" "$first"
esms "$GOOD,\"RequestId\":\"outbox-1\"" >/dev/null
msgs=$(curl -s "$E/_sim/messages")
check_eq "esms: one distinct message" "$(jq .distinct <<<"$msgs")" 1
check_eq "esms: three accepted sends" "$(jq .accepted_total <<<"$msgs")" 3
check_eq "esms: two duplicates" "$(jq .duplicates <<<"$msgs")" 2
check "esms: the message as recorded" jqe --arg id "$smsid" '.items[0] | .key == "outbox-1" and
    .provider_id == $id and .times_seen == 3 and .phone == "0912345678" and .segments == 1 and
    .content == "Ho so 000.00.01.H29-240506-0001 da duoc tiep nhan" and .brandname == "CONGDANSO"
    and .telco == 3' <<<"$msgs"
check "esms: report arrives" th_wait_for 10 sink_count "$EP" 1
sleep 0.3
items=$(sink_items)
check_eq "esms: exactly one report for a deduplicated message" \
    "$(jq --arg p "$EP" '[.[] | select(.path == $p)] | length' <<<"$items")" 1
it=$(jq -c --arg p "$EP" '[.[] | select(.path == $p)][0]' <<<"$items")
check_eq "esms report: GET like eSMS" "$(jq -r .method <<<"$it")" GET
check_eq "esms report: SMSID" "$(qparam "$it" SMSID)" "$smsid"
check_eq "esms report: SendStatus" "$(qparam "$it" SendStatus)" 5
check_eq "esms report: SendSuccess" "$(qparam "$it" SendSuccess)" 1
check_eq "esms report: SendFailed" "$(qparam "$it" SendFailed)" 0
check_eq "esms report: RequestId" "$(qparam "$it" RequestId)" outbox-1
check_eq "esms report: phonenumber" "$(qparam "$it" phonenumber)" 0912345678
check_eq "esms report: TypeId" "$(qparam "$it" TypeId)" 2
check_eq "esms report: telcoid" "$(qparam "$it" telcoid)" 3
check "esms report: unsigned, as eSMS sends it" unsigned "$it"
check_eq "esms report: switchsmsid as in eSMS's sample" "$(jq -r .query <<<"$it" | grep -o 'switchsmsid=$')" switchsmsid=
check "esms: report state recorded" th_wait_for 5 bash -c \
    "curl -s '$E/_sim/messages' | jq -e '.items[0].dlr[\"0912345678\"] | .state == \"acknowledged\" and .last_status == 200' >/dev/null"

# refusals, as eSMS codes them
esms_raw() { # esms_raw JSON: posts this whole body (credentials or not)
    curl -s -o "$tmp/ans" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$1" "$E$ESMS_PATH"
}
CRED='"ApiKey":"cds-dev-esms-apikey","SecretKey":"cds-dev-esms-secretkey"'
esms_raw "{\"ApiKey\":\"cds-dev-esms-apikey\",\"SecretKey\":\"wrong\",$GOOD}" >/dev/null
check_eq "esms: wrong SecretKey 101" "$(ans .CodeResult)" '"101"'
esms_raw "{$GOOD}" >/dev/null
check_eq "esms: no credentials 101" "$(ans .CodeResult)" '"101"'
esms_raw "{$CRED,\"Phone\":\"0912345678\",\"Content\":\"x\",\"Brandname\":\"OTHER\",\"SmsType\":\"2\"}" >/dev/null
check_eq "esms: unknown brandname 104" "$(ans .CodeResult)" '"104"'
esms_raw "{$CRED,\"Phone\":\"0281234567\",\"Content\":\"x\",\"Brandname\":\"CONGDANSO\",\"SmsType\":\"2\"}" >/dev/null
check_eq "esms: landline 108" "$(ans .CodeResult)" '"108"'
esms_raw "{$CRED,\"Phone\":\"0912345678\",\"Content\":\"x\",\"SmsType\":\"5\"}" >/dev/null
check_eq "esms: SmsType 5 118" "$(ans .CodeResult)" '"118"'
esms_raw "{$CRED,\"Phone\":\"0912345678\",\"Content\":\"x\"}" >/dev/null
check_eq "esms: no SmsType 300" "$(ans .CodeResult)" '"300"'
for text in 'Hồ sơ' 'Ket qua: Đa xong' 'bệnh viện' 'tiếp nhận' 'café' 'à'; do
    esms_raw "{$CRED,\"Phone\":\"0912345678\",\"Content\":\"$text\",\"Brandname\":\"CONGDANSO\",\"SmsType\":\"2\"}" >/dev/null
    check_eq "esms: marks refused ($text)" "$(ans .CodeResult)" '"146"'
done
esms_raw "{$CRED,\"Phone\":\"+84 91 234 5678\",\"Content\":\"Phi 50.000 VND [le phi] {x} ~ | ^ \\\\ €\",\"SmsType\":8,\"RequestId\":\"outbox-ext\"}" >/dev/null
check_eq "esms: GSM-7 extension characters and integer SmsType accepted" "$(ans .CodeResult)" '"100"'
check "esms: extension characters count two" jqe '.items[0] | .septets == 46 and .phone == "0912345678" and .sms_type == "8"' \
    <<<"$(curl -s "$E/_sim/messages?key=outbox-ext")"
long=$(printf 'a%.0s' $(seq 1 161))
esms_raw "{$CRED,\"Phone\":\"0912345678\",\"Content\":\"$long\",\"SmsType\":\"8\",\"RequestId\":\"outbox-long\"}" >/dev/null
check "esms: 161 characters are two segments" jqe '.items[0].segments == 2' \
    <<<"$(curl -s "$E/_sim/messages?key=outbox-long")"
check_eq "esms: refusals stored nothing" "$(curl -s "$E/_sim/messages" | jq .distinct)" 3

# the request's CallbackUrl wins; sandbox sends get no report
sink_clear
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-cb\",\"CallbackUrl\":\"$S/own/hook?src=esms\"}" >/dev/null
check "esms: report to the request's CallbackUrl" th_wait_for 10 sink_count /own/hook 1
it=$(sink_items | jq -c '[.[] | select(.path == "/own/hook")][0]')
check "esms: CallbackUrl query kept" grep -q '^src=esms&SMSID=' <<<"$(jq -r .query <<<"$it")"
check "esms: CallbackUrl report unsigned" unsigned "$it"
sink_clear
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-sandbox\",\"Sandbox\":\"1\"}" >/dev/null
check_eq "esms: sandbox accepted" "$(ans .CodeResult)" '"100"'
sleep 0.5
check_eq "esms: sandbox gets no report" "$(sink_items | jq length)" 0

# delivery outcomes
sink_clear
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"outcome":"failed","count":1}' "$E/_sim/dlr"
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-f1\"}" >/dev/null
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-f2\"}" >/dev/null
check "esms: two reports" th_wait_for 10 sink_count "$EP" 2
items=$(sink_items)
f1=$(jq -c '[.[] | select(.query | contains("RequestId=outbox-f1&"))][0]' <<<"$items")
f2=$(jq -c '[.[] | select(.query | contains("RequestId=outbox-f2&"))][0]' <<<"$items")
check_eq "esms: failed report" "$(qparam "$f1" SendSuccess)/$(qparam "$f1" SendFailed)/$(qparam "$f1" SendStatus)" 0/1/5
check_eq "esms: count 1, then delivered again" "$(qparam "$f2" SendSuccess)/$(qparam "$f2" SendStatus)" 1/5
curl -s -o "$tmp/ans" -H 'Content-Type: application/json' -d '{"outcome":"none"}' "$E/_sim/dlr"
check_eq "esms: dlr settings answered" "$(ans .outcome)" '"none"'
sink_clear
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-none\"}" >/dev/null
sleep 0.4
check_eq "esms: outcome none sends no report" "$(sink_items | jq length)" 0
check "esms: not_sent recorded" jqe '.items[0].dlr["0912345678"].state == "not_sent"' \
    <<<"$(curl -s "$E/_sim/messages?key=outbox-none")"
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"outcome":"delivered"}' "$E/_sim/dlr"
check_eq "esms: bad dlr control" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"outcome":"lost"}' "$E/_sim/dlr")" 400

# a report whose target is down is retried, then given up
dead=$(th_free_port)
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-dead\",\"CallbackUrl\":\"http://127.0.0.1:$dead/x\"}" >/dev/null
check "esms: retried 5 times then given up" th_wait_for 15 bash -c \
    "curl -s '$E/_sim/messages?key=outbox-dead' | jq -e '.items[0].dlr[\"0912345678\"] | .state == \"gave_up\" and .attempts == 5' >/dev/null"
check_eq "esms: each attempt recorded" \
    "$(curl -s "$E/_sim/requests" | jq --arg u "http://127.0.0.1:$dead/x" '[.items[] | select(.kind == "callback" and (.detail.url | startswith($u)))] | length')" 5

# a report sent on demand: wrong token, unknown message, no token
sink_clear
curl -s -o "$tmp/ans" -H 'Content-Type: application/json' \
    -d "{\"provider_id\":\"$smsid\",\"token\":\"wrong\",\"outcome\":\"failed\"}" "$E/_sim/callback"
check_eq "esms callback: target's answer passed back" "$(ans .status)" 200
it=$(sink_items | jq -c '.[0]')
check_eq "esms callback: the stored message's fields" "$(qparam "$it" RequestId)/$(qparam "$it" SendFailed)" outbox-1/1
check_eq "esms callback: a wrong token in the path" "$(jq -r .path <<<"$it")" \
    "/v1/callbacks/sms/esms/wrong-$ESMS_TOKEN"
curl -s -o "$tmp/ans" -H 'Content-Type: application/json' \
    -d '{"provider_id":"no-such-sms","phone":"0987654321"}' "$E/_sim/callback"
it=$(sink_items | jq -c '.[1]')
check_eq "esms callback: unknown id sent as given" "$(qparam "$it" SMSID)/$(qparam "$it" phonenumber)" no-such-sms/0987654321
check_eq "esms callback: the right token" "$(jq -r .path <<<"$it")" "$EP"
curl -s -o "$tmp/ans" -H 'Content-Type: application/json' -d '{"provider_id":"x","token":"none"}' "$E/_sim/callback"
check_eq "esms callback: no token" "$(jq -r .path <<<"$(sink_items | jq -c '.[2]')")" /v1/callbacks/sms/esms

# failure injection
inject() { curl -s -o "$tmp/fail" -w '%{http_code}' -H 'Content-Type: application/json' -d "$2" "$1/_sim/fail"; }
check_eq "esms: fail control" "$(inject "$E" '{"mode":"error","count":2}')" 200
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-e1\"}" >/dev/null
check_eq "esms error: default is 103" "$(ans .CodeResult)" '"103"'
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-e1\"}" >/dev/null
check_eq "esms error: twice" "$(ans .CodeResult)" '"103"'
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-e1\"}" >/dev/null
check_eq "esms error: count spent, accepted" "$(ans .CodeResult)" '"100"'
check "esms error: refused sends not counted" jqe '.items[0].times_seen == 1' \
    <<<"$(curl -s "$E/_sim/messages?key=outbox-e1")"
inject "$E" '{"mode":"error","error":"99"}' >/dev/null
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-e2\"}" >/dev/null
check_eq "esms error: chosen code" "$(ans .CodeResult)" '"99"'
check_eq "esms: unknown error name refused" "$(inject "$E" '{"mode":"error","error":"QUOTA"}')" 400
inject "$E" '{"mode":"down"}' >/dev/null
check_eq "esms down: 503" "$(esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-d\"}")" 503
inject "$E" '{"mode":"slow","slow_ms":700}' >/dev/null
t=$(curl -s -o "$tmp/ans" -w '%{time_total}' -H 'Content-Type: application/json' \
    --data-binary "{$CRED,$GOOD,\"RequestId\":\"outbox-s1\"}" "$E$ESMS_PATH")
check "esms slow: answered after slow_ms" awk -v t="$t" 'BEGIN{exit !(t >= 0.65)}'
check_eq "esms slow: still accepted" "$(ans .CodeResult)" '"100"'
# a client that gives up before the slow answer and retries: one message
inject "$E" '{"mode":"slow","slow_ms":5000}' >/dev/null
curl -s -m 1 -o /dev/null -H 'Content-Type: application/json' \
    --data-binary "{$CRED,$GOOD,\"RequestId\":\"outbox-s2\"}" "$E$ESMS_PATH"
inject "$E" '{"mode":"ok"}' >/dev/null
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-s2\"}" >/dev/null
check_eq "esms slow: retry after a timeout accepted" "$(ans .CodeResult)" '"100"'
check "esms slow: timed-out send and retry are one message seen twice" \
    jqe '.items[0].times_seen == 2' <<<"$(curl -s "$E/_sim/messages?key=outbox-s2")"
check_eq "esms: fail mode ok" "$(inject "$E" '{"mode":"ok"}'; jq -r .mode "$tmp/fail")" 200ok
check_eq "esms: bad fail control" "$(inject "$E" '{"mode":"broken"}')" 400
check_eq "esms: fail control unknown key" "$(inject "$E" '{"mode":"ok","x":1}')" 400

# the real gateway's answer to a duplicate RequestId
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"duplicate_answer":"provider"}' "$E/_sim/config"
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-1\"}" >/dev/null
check_eq "esms: duplicate as eSMS answers it: 124" "$(ans .CodeResult)" '"124"'
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"duplicate_answer":"original"}' "$E/_sim/config"
esms_raw "{$CRED,$GOOD,\"RequestId\":\"outbox-1\"}" >/dev/null
check_eq "esms: back to the first answer" "$(cat "$tmp/ans")" "$first"

# ================================================================ SpeedSMS
speed() { # speed JSON [extra curl args...]
    local body=$1
    shift
    curl -s -o "$tmp/ans" -w '%{http_code}' -u cds-dev-speedsms-token:x \
        -H 'Content-Type: application/json' "$@" --data-binary "$body" "$P/index.php/sms/send"
}
sink_clear
check_eq "speedsms: accepted" "$(speed '{"to":["84912345678","0987654321","12345"],"content":"Ho so da co ket qua","sms_type":2,"sender":""}' -H 'Idempotency-Key: outbox-s-1')" 200
check_eq "speedsms: success" "$(ans '[.status,.code]')" '["success","00"]'
tran=$(jq .data.tranId "$tmp/ans")
check "speedsms: integer tranId" grep -Eq '^[0-9]+$' <<<"$tran"
check_eq "speedsms: totals" "$(ans '[.data.totalSMS,.data.totalPrice,.data.invalidPhone]')" '[2,500,["12345"]]'
first=$(cat "$tmp/ans")
speed '{"to":["84912345678","0987654321","12345"],"content":"Ho so da co ket qua","sms_type":2,"sender":""}' -H 'Idempotency-Key: outbox-s-1' >/dev/null
check_eq "speedsms: repeat gets the first answer" "$(cat "$tmp/ans")" "$first"
msgs=$(curl -s "$P/_sim/messages")
check "speedsms: one message seen twice" jqe --arg t "$tran" '.distinct == 1 and .duplicates == 1 and
    (.items[0] | .key == "outbox-s-1" and .provider_id == $t and .times_seen == 2 and
     .phones == ["84912345678","84987654321"] and .invalid_phones == ["12345"])' <<<"$msgs"
check "speedsms: a report per recipient" th_wait_for 10 sink_count "$SP" 2
sleep 0.3
items=$(sink_items | jq -c --arg p "$SP" '[.[] | select(.path == $p)]')
check_eq "speedsms: no more reports for the repeat" "$(jq length <<<"$items")" 2
it=$(jq -c '.[] | select(.body | fromjson | .phone == "84912345678")' <<<"$items")
check_eq "speedsms report: body" "$(jq -c '.body | fromjson' <<<"$it")" \
    "{\"type\":\"report\",\"tranId\":$tran,\"phone\":\"84912345678\",\"status\":0}"
check_eq "speedsms report: POST JSON" "$(jq -r .method <<<"$it") $(hdr "$it" content-type)" "POST application/json"
check "speedsms report: unsigned, as SpeedSMS sends it" unsigned "$it"
speed '{"to":"0912345678","content":"Khong co khoa","sms_type":2}' >/dev/null
speed '{"to":"0912345678","content":"Khong co khoa","sms_type":2}' >/dev/null
check_eq "speedsms: without Idempotency-Key every send is new" \
    "$(curl -s "$P/_sim/messages" | jq '[.items[] | select(.key == null)] | length')" 2
sink_clear
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"outcome":"failed","count":1}' "$P/_sim/dlr"
speed '{"to":["0912345678"],"content":"That bai","sms_type":2}' -H 'Idempotency-Key: outbox-s-f' >/dev/null
ftran=$(jq .data.tranId "$tmp/ans")
sink_has_tran() { sink_items | jqe --argjson t "$1" 'any(.[]; .body != "" and (.body | fromjson | .tranId) == $t)'; }
check "speedsms: failed report" th_wait_for 10 sink_has_tran "$ftran"
check_eq "speedsms: failed is status 64" \
    "$(sink_items | jq --argjson t "$ftran" '[.[] | select(.body != "") | .body | fromjson | select(.tranId == $t)][0].status')" 64

st=$(curl -s -o "$tmp/ans" -w '%{http_code}' -H 'Content-Type: application/json' -d '{"to":["0912345678"],"content":"x","sms_type":2}' "$P/index.php/sms/send")
check_eq "speedsms: no credentials 401" "$st" 401
check_eq "speedsms: 401 body" "$(ans .status)" '"error"'
st=$(curl -s -o /dev/null -w '%{http_code}' -u wrong-token:x -H 'Content-Type: application/json' -d '{"to":["0912345678"],"content":"x","sms_type":2}' "$P/index.php/sms/send")
check_eq "speedsms: wrong token 401" "$st" 401
speed '{"to":["0912345678"],"content":"Hồ sơ đã có kết quả","sms_type":2}' >/dev/null
check_eq "speedsms: marks refused 110" "$(ans '[.status,.code]')" '["error","110"]'
speed '{"to":["12345","0281234567"],"content":"x","sms_type":2}' >/dev/null
check_eq "speedsms: no valid phone 105" "$(ans '[.code,.invalidPhone]')" '["105",["12345","0281234567"]]'
speed '{"to":["0912345678"],"sms_type":2}' >/dev/null
check_eq "speedsms: no content 101" "$(ans .code)" '"101"'
speed '{"to":["0912345678"],"content":"x","sms_type":3,"sender":"OTHER"}' >/dev/null
check_eq "speedsms: unregistered sender 101" "$(ans .code)" '"101"'
speed '{"to":["0912345678"],"content":"x","sms_type":3,"sender":"CONGDANSO"}' -H 'Idempotency-Key: outbox-s-brand' >/dev/null
check_eq "speedsms: brandname send" "$(ans .status)" '"success"'
speed "{\"to\":[\"0912345678\"],\"content\":\"$(printf 'a%.0s' $(seq 1 1540))\",\"sms_type\":2}" >/dev/null
check_eq "speedsms: 11 segments 113" "$(ans .code)" '"113"'
st=$(curl -s -o "$tmp/ans" -w '%{http_code}' -u cds-dev-speedsms-token:x "$P/index.php/user/info")
check_eq "speedsms: user info" "$st $(ans '.data.currency')" '200 "VND"'
inject "$P" '{"mode":"error","count":1}' >/dev/null
speed '{"to":["0912345678"],"content":"x","sms_type":2}' -H 'Idempotency-Key: outbox-s-e' >/dev/null
check_eq "speedsms error: 500 code" "$(ans '[.status,.code]')" '["error","500"]'
speed '{"to":["0912345678"],"content":"x","sms_type":2}' -H 'Idempotency-Key: outbox-s-e' >/dev/null
check_eq "speedsms error: count spent" "$(ans .status)" '"success"'
inject "$P" '{"mode":"down","count":1}' >/dev/null
check_eq "speedsms down: 503" "$(speed '{"to":["0912345678"],"content":"x","sms_type":2}')" 503
check_eq "speedsms down: over after count" "$(speed '{"to":["0912345678"],"content":"x","sms_type":2}')" 200

# ================================================================ FCM
curl -s "$F/_sim/service-account.json" >"$tmp/sa.json"
check "fcm: service account shape" jqe --arg u "$F/token" '.type == "service_account" and
    .project_id == "cong-dan-so-dev" and (.private_key_id | test("^[0-9a-f]{40}$")) and
    (.private_key | startswith("-----BEGIN PRIVATE KEY-----")) and
    (.client_email | endswith(".iam.gserviceaccount.com")) and .token_uri == $u' "$tmp/sa.json"
jq -r .private_key "$tmp/sa.json" >"$tmp/sa.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/other.pem" 2>/dev/null
KID=$(jq -r .private_key_id "$tmp/sa.json")
EMAIL=$(jq -r .client_email "$tmp/sa.json")
SCOPE=https://www.googleapis.com/auth/firebase.messaging
# rs256 KEY HEADER CLAIMS: a compact JWS
rs256() {
    local input
    input="$(printf '%s' "$2" | b64url).$(printf '%s' "$3" | b64url)"
    printf '%s.%s' "$input" "$(printf '%s' "$input" | openssl dgst -sha256 -sign "$1" -binary | b64url)"
}
grant() { # grant JWT [grant_type]: the token endpoint's answer in $tmp/ans, status echoed
    curl -s -o "$tmp/ans" -w '%{http_code}' --data-urlencode "grant_type=${2:-urn:ietf:params:oauth:grant-type:jwt-bearer}" \
        --data-urlencode "assertion=$1" "$F/token"
}
now=$(date +%s)
claims() { printf '{"iss":"%s","scope":"%s","aud":"%s","iat":%s,"exp":%s}' "${1:-$EMAIL}" "${2:-$SCOPE}" "${3:-$F/token}" "${4:-$now}" "${5:-$((now + 3600))}"; }
H="{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"$KID\"}"
check_eq "fcm token: granted" "$(grant "$(rs256 "$tmp/sa.pem" "$H" "$(claims)")")" 200
check "fcm token: answer shape" jqe '(.access_token | startswith("ya29.")) and .expires_in == 3599 and .token_type == "Bearer"' "$tmp/ans"
AT=$(jq -r .access_token "$tmp/ans")
check_eq "fcm token: other key" "$(grant "$(rs256 "$tmp/other.pem" "$H" "$(claims)")")" 400
check_eq "fcm token: other key is invalid_grant" "$(ans .error_description)" '"Invalid JWT Signature."'
check_eq "fcm token: other kid" "$(grant "$(rs256 "$tmp/sa.pem" '{"alg":"RS256","typ":"JWT","kid":"0000"}' "$(claims)")") $(ans .error)" '400 "invalid_grant"'
# A good signature under a header that names another algorithm, and an
# unsigned token: the stand-in's own verifier (sim/witness_jose.c) takes
# RS256 only.
check_eq "fcm token: header alg RS512 refused" "$(grant "$(rs256 "$tmp/sa.pem" '{"alg":"RS512","typ":"JWT"}' "$(claims)")") $(ans .error)" '400 "invalid_grant"'
check_eq "fcm token: alg none refused" "$(grant "$(printf '%s' '{"alg":"none"}' | b64url).$(claims | b64url)." ) $(ans .error)" '400 "invalid_grant"'
check_eq "fcm token: no kid is fine" "$(grant "$(rs256 "$tmp/sa.pem" '{"alg":"RS256","typ":"JWT"}' "$(claims)")")" 200
check_eq "fcm token: other issuer" "$(grant "$(rs256 "$tmp/sa.pem" "$H" "$(claims other@x.iam.gserviceaccount.com)")") $(ans .error)" '400 "invalid_grant"'
grant "$(rs256 "$tmp/sa.pem" "$H" "$(claims "" "" https://oauth2.googleapis.com/token)")" >/dev/null
check "fcm token: audience check" jqe '.error == "invalid_grant" and (.error_description | contains("audience"))' "$tmp/ans"
grant "$(rs256 "$tmp/sa.pem" "$H" "$(claims "" "" "" "$now" $((now + 3601)))")" >/dev/null
check "fcm token: over an hour refused" jqe '.error == "invalid_grant" and (.error_description | contains("short-lived"))' "$tmp/ans"
grant "$(rs256 "$tmp/sa.pem" "$H" "$(claims "" "" "" $((now - 7200)) $((now - 3600)))")" >/dev/null
check_eq "fcm token: expired assertion" "$(ans .error)" '"invalid_grant"'
check_eq "fcm token: grant_type" "$(grant "$(rs256 "$tmp/sa.pem" "$H" "$(claims)")" client_credentials) $(ans .error)" '400 "unsupported_grant_type"'
grant "$(rs256 "$tmp/sa.pem" "$H" "$(printf '{"iss":"%s","aud":"%s","iat":%s,"exp":%s}' "$EMAIL" "$F/token" "$now" $((now + 600)))")" >/dev/null
check_eq "fcm token: scope required" "$(ans .error)" '"invalid_scope"'
check_eq "fcm token: form required" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{}' "$F/token")" 400
grant "$(rs256 "$tmp/sa.pem" "$H" "$(claims "" https://www.googleapis.com/auth/userinfo.email)")" >/dev/null
AT_NOSCOPE=$(jq -r .access_token "$tmp/ans")

SEND=$F/v1/projects/cong-dan-so-dev/messages:send
fcm() { # fcm JSON [curl args...]: over h2c, answer in $tmp/ans, status echoed
    local body=$1
    shift
    local auth=${FCM_AUTH-"Authorization: Bearer $AT"}
    curl -s --http2-prior-knowledge -o "$tmp/ans" -w '%{http_code}' ${auth:+-H "$auth"} \
        -H 'Content-Type: application/json' "$@" --data-binary "$body" "$SEND"
}
MSG='{"message":{"token":"dXJ0b2tlbi0x:APA91bH-device-1","notification":{"title":"Hồ sơ đã được tiếp nhận","body":"Hồ sơ 000.00.01.H29-240506-0001 đã được tiếp nhận."},"data":{"dossier_id":"42","step":"received","message_id":"outbox-p-1"},"android":{"collapse_key":"dossier-42","priority":"HIGH","ttl":"86400s"}}}'
check_eq "fcm send: accepted" "$(fcm "$MSG" -H 'X-Idempotency-Key: outbox-p-1')" 200
name=$(jq -r .name "$tmp/ans")
check "fcm send: message name" grep -Eq '^projects/cong-dan-so-dev/messages/0:[0-9]+%[0-9a-f]{16}$' <<<"$name"
check_eq "fcm send: repeat by header" "$(fcm "$MSG" -H 'X-Idempotency-Key: outbox-p-1'; jq -r .name "$tmp/ans")" "200$name"
check_eq "fcm send: repeat by data.message_id alone" "$(fcm "$MSG"; jq -r .name "$tmp/ans")" "200$name"
msgs=$(curl -s "$F/_sim/messages")
check "fcm: one message seen three times over HTTP/2" jqe --arg n "$name" '.distinct == 1 and
    (.items[0] | .key == "outbox-p-1" and .provider_id == $n and .times_seen == 3 and .proto == 2 and
     .android.collapse_key == "dossier-42" and .data.step == "received" and
     .notification.title == "Hồ sơ đã được tiếp nhận" and .key_from == "x-idempotency-key")' <<<"$msgs"
check_eq "fcm send: over HTTP/1.1 too" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT" \
    -H 'X-Idempotency-Key: outbox-p-h1' --data-binary "$MSG" "$SEND")" 200
fcm '{"message":{"token":"t1","data":{"dossier_id":42}}}' >/dev/null
check "fcm: non-string data value" jqe '.error.code == 400 and .error.status == "INVALID_ARGUMENT" and
    .error.message == "Invalid value at '"'"'message.data[0].value'"'"' (TYPE_STRING), 42" and
    .error.details[0]["@type"] == "type.googleapis.com/google.rpc.BadRequest" and
    .error.details[0].fieldViolations[0].field == "message.data[0].value"' "$tmp/ans"
check_eq "fcm: bad android priority" "$(fcm '{"message":{"token":"t1","android":{"priority":"urgent"}}}') $(ans .error.details[0].fieldViolations[0].field)" '400 "message.android.priority"'
check_eq "fcm: bad ttl" "$(fcm '{"message":{"token":"t1","android":{"ttl":"1 day"}}}')" 400
check "fcm: unknown field" jqe '.error.message | contains("Unknown name \"to\"")' <<<"$(fcm '{"message":{"to":"t1"}}' >/dev/null; cat "$tmp/ans")"
check_eq "fcm: no target" "$(fcm '{"message":{"notification":{"title":"x"}}}') $(ans .error.message)" '400 "Recipient of the message is not set."'
check_eq "fcm: two targets" "$(fcm '{"message":{"token":"t1","topic":"x"}}')" 400
fcm '{"message":{"token":"bad token!"}}' >/dev/null
check "fcm: bad registration token" jqe '.error.status == "INVALID_ARGUMENT" and .error.details[0].errorCode == "INVALID_ARGUMENT"' "$tmp/ans"
check_eq "fcm: reserved data key" "$(fcm '{"message":{"token":"t1","data":{"from":"x"}}}')" 400
check_eq "fcm: not JSON" "$(fcm '{"message":')" 400
check_eq "fcm: validate_only" "$(fcm '{"validate_only":true,"message":{"token":"t1"}}' -H 'X-Idempotency-Key: outbox-vo'; jq -r .name "$tmp/ans")" \
    "200projects/cong-dan-so-dev/messages/fake_message_id"
check_eq "fcm: validate_only stores nothing" "$(curl -s "$F/_sim/messages?key=outbox-vo" | jq '.items | length')" 0
check_eq "fcm: no token 401" "$(FCM_AUTH= fcm "$MSG"; jq -r .error.status "$tmp/ans")" 401UNAUTHENTICATED
check_eq "fcm: unknown token 401" "$(FCM_AUTH='Authorization: Bearer ya29.c.forged' fcm "$MSG")" 401
check_eq "fcm: token without the FCM scope 403" "$(FCM_AUTH="Authorization: Bearer $AT_NOSCOPE" fcm "$MSG"; jq -r .error.status "$tmp/ans")" 403PERMISSION_DENIED
check_eq "fcm: other project 403" "$(curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT" \
    --data-binary "$MSG" "$F/v1/projects/other-project/messages:send")" 403

curl -s -o "$tmp/ans2" -H 'Content-Type: application/json' -d '{"unregistered":["dXJ0b2tlbi0x:APA91bH-gone"]}' "$F/_sim/tokens"
check_eq "fcm: token marked" "$(jq .unregistered "$tmp/ans2")" 1
GONE='{"message":{"token":"dXJ0b2tlbi0x:APA91bH-gone","notification":{"title":"x","body":"y"}}}'
check_eq "fcm: unregistered 404" "$(fcm "$GONE" -H 'X-Idempotency-Key: outbox-gone')" 404
check "fcm: UNREGISTERED as FCM says it" jqe '.error.status == "NOT_FOUND" and
    .error.message == "Requested entity was not found." and
    .error.details[0]["@type"] == "type.googleapis.com/google.firebase.fcm.v1.FcmError" and
    .error.details[0].errorCode == "UNREGISTERED"' "$tmp/ans"

for e in QUOTA_EXCEEDED:429:RESOURCE_EXHAUSTED UNAVAILABLE:503:UNAVAILABLE INTERNAL:500:INTERNAL; do
    IFS=: read -r name_ code status_ <<<"$e"
    inject "$F" "{\"mode\":\"error\",\"error\":\"$name_\",\"count\":1}" >/dev/null
    check_eq "fcm inject $name_" "$(fcm "$MSG" -H 'X-Idempotency-Key: outbox-p-inj') $(ans .error.status) $(ans .error.details[0].errorCode)" \
        "$code \"$status_\" \"$name_\""
done
check_eq "fcm inject: over after count" "$(fcm "$MSG" -H 'X-Idempotency-Key: outbox-p-inj')" 200
inject "$F" '{"mode":"down"}' >/dev/null
check_eq "fcm down" "$(fcm "$MSG" -H 'X-Idempotency-Key: outbox-p-down')" 503
inject "$F" '{"mode":"ok"}' >/dev/null
check_eq "fcm: inject a name it does not know" "$(inject "$F" '{"mode":"error","error":"103"}')" 400

curl -s -o /dev/null -X POST "$F/_sim/revoke"
check_eq "fcm: revoked token 401" "$(fcm "$MSG" -H 'X-Idempotency-Key: outbox-p-rv')" 401
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"token_ttl":3}' "$F/_sim/config"
grant "$(rs256 "$tmp/sa.pem" "$H" "$(claims)")" >/dev/null
check_eq "fcm: short token lifetime" "$(ans .expires_in)" 3
AT=$(jq -r .access_token "$tmp/ans")
check_eq "fcm: fresh token works" "$(fcm "$MSG" -H 'X-Idempotency-Key: outbox-p-ttl')" 200
sleep 4
check_eq "fcm: expired token 401" "$(fcm "$MSG" -H 'X-Idempotency-Key: outbox-p-ttl2')" 401
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"token_ttl":3599,"token_down":true}' "$F/_sim/config"
check_eq "fcm: token endpoint down" "$(grant "$(rs256 "$tmp/sa.pem" "$H" "$(claims)")")" 503
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"token_down":false}' "$F/_sim/config"
check_eq "fcm: token endpoint back" "$(grant "$(rs256 "$tmp/sa.pem" "$H" "$(claims)")")" 200

# ================================================================ APNs
check_eq "apns: ALPN h2" "$(curl -sk --http2 -o /dev/null -w '%{http_version}' "$A/_sim/health")" 2
curl -sk -D "$tmp/hdrs" -o "$tmp/apns.p8" "$A/_sim/auth-key.p8"
KEY_ID=$(resp_hdr x-apns-key-id)
TEAM=$(resp_hdr x-apns-team-id)
check_eq "apns: key id" "$KEY_ID" CDSKEY0001
check_eq "apns: team id" "$TEAM" CDSTEAM001
check "apns: PKCS#8 EC key" openssl pkey -in "$tmp/apns.p8" -noout
check "apns: key json" jqe '.key_id == "CDSKEY0001" and .team_id == "CDSTEAM001" and
    .topic == "vn.gov.hochiminhcity.congdanso" and (.private_key | startswith("-----BEGIN PRIVATE KEY-----"))' \
    <<<"$(curl -sk "$A/_sim/auth-key.json")"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/other-ec.pem" 2>/dev/null
# es256 KEY HEADER CLAIMS: a compact JWS; openssl signs in DER, JWS wants R || S
es256() {
    local input r s ints
    input="$(printf '%s' "$2" | b64url).$(printf '%s' "$3" | b64url)"
    printf '%s' "$input" | openssl dgst -sha256 -sign "$1" -binary >"$tmp/sig.der"
    mapfile -t ints < <(openssl asn1parse -inform DER -in "$tmp/sig.der" | awk -F: '/INTEGER/ {print $NF}')
    r=$(printf '%064s' "${ints[0]}" | tr ' ' 0)
    s=$(printf '%064s' "${ints[1]}" | tr ' ' 0)
    printf '%s.%s' "$input" "$(printf '%s%s' "${r: -64}" "${s: -64}" | xxd -r -p | b64url)"
}
ptoken() { es256 "${3:-$tmp/apns.p8}" "{\"alg\":\"ES256\",\"kid\":\"${2:-$KEY_ID}\"}" "{\"iss\":\"$TEAM\",\"iat\":${1:-$(date +%s)}}"; }
PT=$(ptoken)
DEV=$(printf 'ab%.0s' $(seq 1 32))
TOPIC=vn.gov.hochiminhcity.congdanso
PAYLOAD='{"aps":{"alert":{"title":"Hồ sơ đã được tiếp nhận","body":"Hồ sơ 000.00.01.H29-240506-0001"},"sound":"default"},"dossier_id":"42","step":"received"}'
# apns DEVICE [curl args...]: answer body in $tmp/ans, headers in $tmp/hdrs,
# status echoed. APNS_AUTH, APNS_TOPIC, APNS_TYPE, APNS_PRIO, APNS_EXP,
# APNS_COLLAPSE replace a header (empty: left out), APNS_BODY the payload.
apns() {
    local dev=$1
    shift
    local auth=${APNS_AUTH-"bearer $PT"} topic=${APNS_TOPIC-$TOPIC} type=${APNS_TYPE-alert}
    local prio=${APNS_PRIO-10} exp=${APNS_EXP-0} coll=${APNS_COLLAPSE-dossier-42}
    curl -sk --http2 -D "$tmp/hdrs" -o "$tmp/ans" -w '%{http_code}' ${auth:+-H "authorization: $auth"} \
        ${topic:+-H "apns-topic: $topic"} ${type:+-H "apns-push-type: $type"} \
        ${prio:+-H "apns-priority: $prio"} ${exp:+-H "apns-expiration: $exp"} \
        ${coll:+-H "apns-collapse-id: $coll"} "$@" --data-binary "${APNS_BODY-$PAYLOAD}" "$A/3/device/$dev"
}
ID1=0b1e5a52-3f6c-4e2b-9a51-6c1f7d1e0001
check_eq "apns: accepted" "$(apns "$DEV" -H "apns-id: $ID1")" 200
check_eq "apns: apns-id echoed" "$(resp_hdr apns-id)" "$ID1"
check "apns: apns-unique-id" grep -Eq '^[0-9a-f-]{36}$' <<<"$(resp_hdr apns-unique-id)"
check_eq "apns: empty body" "$(wc -c <"$tmp/ans")" 0
check_eq "apns: repeat accepted" "$(apns "$DEV" -H "apns-id: $ID1") $(resp_hdr apns-id)" "200 $ID1"
check_eq "apns: without apns-id" "$(apns "$DEV")" 200
check "apns: an apns-id made up" grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' <<<"$(resp_hdr apns-id)"
msgs=$(curl -sk "$A/_sim/messages")
check "apns: one message per apns-id" jqe --arg id "$ID1" --arg d "$DEV" '.distinct == 2 and
    ([.items[] | select(.key == $id)][0] | .times_seen == 2 and .device_token == $d and
     .topic == "vn.gov.hochiminhcity.congdanso" and .push_type == "alert" and .priority == "10" and
     .expiration == "0" and .collapse_id == "dossier-42" and .payload.aps.alert.title == "Hồ sơ đã được tiếp nhận")
    and ([.items[] | select(.key == null)] | length == 1)' <<<"$msgs"

check_eq "apns: no provider token" "$(APNS_AUTH= apns "$DEV") $(ans .reason)" '403 "MissingProviderToken"'
check_eq "apns: other key" "$(PT=$(ptoken "" "" "$tmp/other-ec.pem") apns "$DEV") $(ans .reason)" '403 "InvalidProviderToken"'
check_eq "apns: a changed signature" "$(PT="${PT%?????}AAAAA" apns "$DEV") $(ans .reason)" '403 "InvalidProviderToken"'
check_eq "apns: header alg ES384 refused" "$(PT=$(es256 "$tmp/apns.p8" "{\"alg\":\"ES384\",\"kid\":\"$KEY_ID\"}" "{\"iss\":\"$TEAM\",\"iat\":$(date +%s)}") apns "$DEV") $(ans .reason)" '403 "InvalidProviderToken"'
check_eq "apns: other kid" "$(PT=$(ptoken "" OTHERKEY01) apns "$DEV") $(ans .reason)" '403 "InvalidProviderToken"'
check_eq "apns: token older than an hour" "$(PT=$(ptoken $(($(date +%s) - 3700))) apns "$DEV") $(ans .reason)" '403 "ExpiredProviderToken"'
check_eq "apns: token of 50 minutes still good" "$(PT=$(ptoken $(($(date +%s) - 3000))) apns "$DEV")" 200
check_eq "apns: token from the future" "$(PT=$(ptoken $(($(date +%s) + 600))) apns "$DEV") $(ans .reason)" '403 "InvalidProviderToken"'
check_eq "apns: errors carry apns-id" "$(APNS_AUTH= apns "$DEV" -H "apns-id: $ID1" >/dev/null; resp_hdr apns-id)" "$ID1"
check_eq "apns: bad device token" "$(apns not-hex) $(ans .reason)" '400 "BadDeviceToken"'
check_eq "apns: no topic" "$(APNS_TOPIC= apns "$DEV") $(ans .reason)" '400 "MissingTopic"'
check_eq "apns: other topic" "$(APNS_TOPIC=com.example.other apns "$DEV") $(ans .reason)" '400 "TopicDisallowed"'
check_eq "apns: bad priority" "$(APNS_PRIO=7 apns "$DEV") $(ans .reason)" '400 "BadPriority"'
check_eq "apns: bad push type" "$(APNS_TYPE=loud apns "$DEV") $(ans .reason)" '400 "InvalidPushType"'
check_eq "apns: bad expiration" "$(APNS_EXP=soon apns "$DEV") $(ans .reason)" '400 "BadExpirationDate"'
check_eq "apns: long collapse id" "$(APNS_COLLAPSE=$(printf 'c%.0s' $(seq 1 65)) apns "$DEV") $(ans .reason)" '400 "BadCollapseId"'
check_eq "apns: bad apns-id" "$(apns "$DEV" -H 'apns-id: 42') $(ans .reason)" '400 "BadMessageId"'
check_eq "apns: empty payload" "$(APNS_BODY= apns "$DEV") $(ans .reason)" '400 "PayloadEmpty"'
big="{\"aps\":{\"alert\":\"$(printf 'x%.0s' $(seq 1 4100))\"}}"
check_eq "apns: payload too large" "$(APNS_BODY=$big apns "$DEV") $(ans .reason)" '413 "PayloadTooLarge"'
check_eq "apns: wrong path" "$(curl -sk --http2 -o "$tmp/ans" -w '%{http_code}' -X POST "$A/3/devices/$DEV") $(ans .reason)" '404 "BadPath"'
check_eq "apns: HTTP/1.1 refused" "$(curl -sk --http1.1 -o /dev/null -w '%{http_code}' -H "authorization: bearer $PT" \
    -H "apns-topic: $TOPIC" --data-binary "$PAYLOAD" "$A/3/device/$DEV")" 505

GONE_DEV=$(printf 'cd%.0s' $(seq 1 32))
curl -sk -o /dev/null -H 'Content-Type: application/json' -d "{\"unregistered\":[\"$GONE_DEV\"]}" "$A/_sim/tokens"
check_eq "apns: unregistered 410" "$(apns "$GONE_DEV" -H 'apns-id: 0b1e5a52-3f6c-4e2b-9a51-6c1f7d1e0410') $(ans .reason)" '410 "Unregistered"'
check "apns: 410 timestamp in ms" jqe --argjson now "$(date +%s)" '(.timestamp | type) == "number" and (.timestamp / 1000 - $now | fabs) < 10' "$tmp/ans"
check_eq "apns: unregistered not stored" "$(curl -sk "$A/_sim/messages?key=0b1e5a52-3f6c-4e2b-9a51-6c1f7d1e0410" | jq '.items | length')" 0
curl -sk -o /dev/null -H 'Content-Type: application/json' -d '{"reset":true}' "$A/_sim/tokens"
check_eq "apns: reset tokens" "$(apns "$GONE_DEV")" 200

inject() { curl -sk -o "$tmp/fail" -w '%{http_code}' -H 'Content-Type: application/json' -d "$2" "$1/_sim/fail"; }
inject "$A" '{"mode":"error","error":"TooManyRequests","count":1}' >/dev/null
check_eq "apns inject TooManyRequests" "$(apns "$DEV") $(ans .reason)" '429 "TooManyRequests"'
inject "$A" '{"mode":"error"}' >/dev/null
check_eq "apns inject default" "$(apns "$DEV") $(ans .reason)" '503 "ServiceUnavailable"'
inject "$A" '{"mode":"down"}' >/dev/null
check_eq "apns down" "$(apns "$DEV")" 503
inject "$A" '{"mode":"slow","slow_ms":500,"count":1}' >/dev/null
t=$(curl -sk --http2 -o /dev/null -w '%{time_total}' -H "authorization: bearer $PT" -H "apns-topic: $TOPIC" \
    --data-binary "$PAYLOAD" "$A/3/device/$DEV")
check "apns slow" awk -v t="$t" 'BEGIN{exit !(t >= 0.45)}'
check_eq "apns: back to normal" "$(apns "$DEV")" 200

# many sends at once on two loop threads: every one stored, each repeated
# apns-id counted once
curls=()
for i in $(seq 1 40); do
    curl -sk --http2 -o /dev/null -H "authorization: bearer $PT" -H "apns-topic: $TOPIC" \
        -H "apns-id: 0b1e5a52-3f6c-4e2b-9a51-6c1fd0d0$(printf '%04d' $((i % 20)))" --data-binary "$PAYLOAD" "$A/3/device/$DEV" &
    curls+=($!)
done
for j in "${curls[@]}"; do wait "$j"; done
check "apns: concurrent repeats deduplicated" jqe '[.items[] | select(.key // "" | startswith("0b1e5a52-3f6c-4e2b-9a51-6c1fd0d0"))] |
    length == 20 and (map(.times_seen) | add) == 40' <<<"$(curl -sk "$A/_sim/messages")"

# ---------------------------------------------------------------- the reports' pool
# Reports go out at most CDS_SIM_SMS_CALLBACK_CONCURRENCY at a time per loop
# thread, the rest wait in order (kept-alive connections, not one each). With
# a pool of 1 and a target that holds every answer 300 ms (an eSMS stand-in
# in slow mode, recording each arrival before it waits), four reports of one
# send arrive one after the other, each at least 300 ms after the one before.
qe=$(th_free_port)
qp=$(th_free_port)
while [[ $qp == "$qe" ]]; do qp=$(th_free_port); done
CDS_SIM_ONLY=sms-esms,sms-speedsms CDS_SIM_SMS_ESMS_PORT=$qe CDS_SIM_SMS_SPEEDSMS_PORT=$qp \
    CDS_SIM_SMS_CALLBACK_CONCURRENCY=1 CDS_SIM_SMS_DLR_DELAY_MS=0 \
    CDS_SIM_SPEEDSMS_CALLBACK_URL=http://127.0.0.1:$qe$ESMS_PATH \
    "$CDS_BUILD_DIR/cds-sim" >"$tmp/pool.out" 2>&1 &
qpid=$!
th_pids+=("$qpid")
check "pool: healthy" th_wait_for 20 curl -fso /dev/null "http://127.0.0.1:$qp/_sim/health"
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"mode":"slow","slow_ms":300}' \
    "http://127.0.0.1:$qe/_sim/fail"
check_eq "pool: a send to four numbers" "$(curl -s -o /dev/null -w '%{http_code}' -u cds-dev-speedsms-token:x \
    -H 'Content-Type: application/json' \
    -d '{"to":["0912345601","0912345602","0912345603","0912345604"],"content":"x","sms_type":2}' \
    "http://127.0.0.1:$qp/index.php/sms/send")" 200
check "pool: every report acknowledged" th_wait_for 15 bash -c \
    "curl -s 'http://127.0.0.1:$qp/_sim/messages' | jq -e '[.items[0].dlr[] | select(.state == \"acknowledged\")] | length == 4' >/dev/null"
# arrival times in ms, in order
arrivals=$(curl -s "http://127.0.0.1:$qe/_sim/requests" | jq -c --arg p "$ESMS_PATH" '[.items[] |
    select(.kind == "request" and .path == $p) | .time |
    ((.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber))]')
check_eq "pool: four reports arrived" "$(jq length <<<"$arrivals")" 4
check "pool: one at a time (each >= 300 ms after the one before)" jqe \
    '[range(1; length) as $i | .[$i] - .[$i - 1]] | min >= 295' <<<"$arrivals"
kill -TERM "$qpid"
st=0
wait "$qpid" || st=$?
check_eq "pool: sim stops cleanly" "$st" 0
check "pool: no sanitizer report" not grep -q "ERROR: AddressSanitizer\|runtime error:" "$tmp/pool.out"

# ---------------------------------------------------------------- the record and the end
check "frame record kept" jqe '[.items[] | select(.kind == "request" and .path == "/3/device/'"$DEV"'")] | length > 5' \
    <<<"$(curl -sk "$A/_sim/requests")"
check_eq "clear messages" "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$E/_sim/messages")" 204
check_eq "cleared" "$(curl -s "$E/_sim/messages" | jq '[.distinct, (.items | length)]' | tr -d ' \n')" '[0,0]'

kill -TERM "$pid"
st=0
wait "$pid" || st=$?
check_eq "sim stops cleanly" "$st" 0
check "no sanitizer report" not grep -q "ERROR: AddressSanitizer\|runtime error:" "$tmp/sim.out"
rm -rf "$tmp"
th_done
