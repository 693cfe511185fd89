#!/usr/bin/env bash
# The TTHC stand-in as our server would see it, with the `sink` stand-in in
# our server's place: every control endpoint (/_sim/step, import, overdue,
# procedure, raw) is driven, and what arrives at the sink is checked byte for
# byte: method, path and query, the JSON body, X-Client-Id, an X-Timestamp
# within a few seconds of now, and an X-Signature recomputed here with
# `openssl dgst -sha256 -hmac` over the canonical string of core/hmac_auth.h.
# Then repeat=n (identical requests), sign=bad/stale/future/none, as_client,
# the verbatim overrides of /_sim/raw, bad control bodies, the stand-in's own
# record, a target that is down, and a clean stop. Its inbox (ratings we
# forward) checks our signature with its own code: a call signed here with
# openssl is taken, a wrong secret, another client, a stale timestamp, a
# changed body or no signature are refused (401) and not kept.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

mkdir -p "$CDS_BUILD_DIR/Testing"
tmp=$(mktemp -d "$CDS_BUILD_DIR/Testing/tthc_XXXXXX")
SECRET=test-partner-secret-0123456789
tport=$(th_free_port)
sport=$(th_free_port)
while [[ $sport == "$tport" ]]; do sport=$(th_free_port); done
CDS_SIM_ONLY=tthc,sink CDS_SIM_TTHC_PORT=$tport CDS_SIM_SINK_PORT=$sport CDS_SIM_THREADS=2 \
    CDS_SIM_TTHC_TARGET=http://127.0.0.1:$sport/ CDS_SIM_TTHC_SECRET=$SECRET \
    CDS_DEV_CERT_DIR="$CDS_BUILD_DIR/Testing" "$CDS_BUILD_DIR/cds-sim" >"$tmp/sim.out" 2>&1 &
pid=$!
th_pids+=("$pid")
T=http://127.0.0.1:$tport
S=http://127.0.0.1:$sport
check "sim healthy" th_wait_for 20 curl -fso /dev/null "$T/_sim/health"
check "sink healthy" th_wait_for 20 curl -fso /dev/null "$S/_sim/health"
check "prints the stand-in" grep -q "^standin tthc $T" "$tmp/sim.out"

# ---------------------------------------------------------------- helpers
not() { ! "$@"; }
jqe() { jq -e "$@" >/dev/null; }
# ctl ENDPOINT JSON: POST to the stand-in's control; answer in $tmp/ans,
# HTTP status echoed.
ctl() {
    curl -s -o "$tmp/ans" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$2" "$T/_sim/$1"
}
ans() { jq -c "$1" "$tmp/ans"; }
# sink_items: every request the sink got since the last clear, as a JSON array.
sink_items() { curl -s "$S/_sim/requests" | jq -c '[.items[] | select(.kind == "request")]'; }
sink_clear() { curl -s -o /dev/null -X DELETE "$S/_sim/requests"; }
# expected_sig ITEM SECRET: the signature of a recorded request, recomputed.
expected_sig() {
    local item=$1 secret=$2 pq bh ts
    pq=$(jq -r 'if .query == "" then .path else .path + "?" + .query end' <<<"$item")
    ts=$(jq -r '.headers["x-timestamp"]' <<<"$item")
    bh=$(jq -j '.body' <<<"$item" | openssl dgst -sha256 -r | cut -d' ' -f1)
    printf '%s\n%s\n%s\n%s' "$(jq -r .method <<<"$item")" "$pq" "$ts" "$bh" |
        openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1
}
hdr() { jq -r --arg h "$2" '.headers[$h] // ""' <<<"$1"; }
# ts_near ITEM OFFSET: X-Timestamp within 5 s of now + OFFSET.
ts_near() {
    local ts now d
    ts=$(hdr "$1" x-timestamp)
    [[ $ts =~ ^[0-9]+$ ]] || return 1
    now=$(date +%s)
    d=$((ts - now - $2))
    ((d >= -5 && d <= 5))
}
# signed_ok ITEM: the usual headers of a good signature.
signed_ok() {
    [[ $(hdr "$1" x-client-id) == tthc-hcm ]] && ts_near "$1" 0 &&
        [[ $(hdr "$1" x-signature) == "$(expected_sig "$1" "$SECRET")" ]]
}

# ---------------------------------------------------------------- a step
sink_clear
st=$(ctl step '{"dossier_code":"000.00.01.H29-240506-0001","step":"fee_requested",
  "event_id":"evt-42","occurred_at":"2024-05-06T08:30:00+07:00","note":"Vui lòng nộp lệ phí",
  "fee_vnd":150000,"missing_documents":["Bản vẽ thiết kế"]}')
check_eq "step answered" "$st" 200
check_eq "step: our status passed back" "$(ans .status)" 200
check_eq "step: our answer passed back" "$(ans .body.ok)" true
check_eq "step: event id in answer" "$(ans .event_id)" '"evt-42"'
check_eq "step: request in answer" "$(ans .request)" \
    '{"method":"POST","path":"/v1/partner/dossiers/000.00.01.H29-240506-0001/steps"}'
items=$(sink_items)
check_eq "step: one request" "$(jq length <<<"$items")" 1
it=$(jq -c '.[0]' <<<"$items")
check_eq "step: method" "$(jq -r .method <<<"$it")" POST
check_eq "step: path" "$(jq -r .path <<<"$it")" /v1/partner/dossiers/000.00.01.H29-240506-0001/steps
check_eq "step: no query" "$(jq -r .query <<<"$it")" ""
check_eq "step: body" "$(jq -j .body <<<"$it")" \
    '{"event_id":"evt-42","step":"fee_requested","occurred_at":"2024-05-06T08:30:00+07:00","note":"Vui lòng nộp lệ phí","fee_vnd":150000,"missing_documents":["Bản vẽ thiết kế"]}'
check_eq "step: content type" "$(hdr "$it" content-type)" application/json
check_eq "step: client id" "$(hdr "$it" x-client-id)" tthc-hcm
check "step: timestamp is now" ts_near "$it" 0
check "step: signature 64 lower-case hex" grep -Eq '^[0-9a-f]{64}$' <<<"$(hdr "$it" x-signature)"
check_eq "step: signature recomputed" "$(hdr "$it" x-signature)" "$(expected_sig "$it" "$SECRET")"
check "step: other secret does not match" \
    not test "$(hdr "$it" x-signature)" == "$(expected_sig "$it" cds-dev-partner-secret)"

# defaults: a fresh event id, occurred_at now in +07:00; only given fields
sink_clear
ctl step '{"dossier_code":"D-1","step":"received"}' >/dev/null
ctl step '{"dossier_code":"D-1","step":"received"}' >/dev/null
items=$(sink_items)
b1=$(jq -j '.[0].body' <<<"$items")
b2=$(jq -j '.[1].body' <<<"$items")
e1=$(jq -r .event_id <<<"$b1")
check "default event id" grep -Eq '^tthc-[0-9a-f]{24}$' <<<"$e1"
check "event ids differ" not test "$e1" == "$(jq -r .event_id <<<"$b2")"
check "default occurred_at +07:00" \
    grep -Eq '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?\+07:00$' \
    <<<"$(jq -r .occurred_at <<<"$b1")"
check_eq "only the given fields" "$(jq -c 'keys_unsorted' <<<"$b1")" '["event_id","step","occurred_at"]'
check "defaults signed" signed_ok "$(jq -c '.[1]' <<<"$items")"

# a code that needs encoding is one encoded path segment, signed as sent
sink_clear
ctl step '{"dossier_code":"A B/1?x","step":"received","event_id":"e"}' >/dev/null
it=$(sink_items | jq -c '.[0]')
check_eq "encoded code" "$(jq -r .path <<<"$it")" /v1/partner/dossiers/A%20B%2F1%3Fx/steps
check "encoded path signed" signed_ok "$it"

# ---------------------------------------------------------------- repeat
sink_clear
ctl step '{"dossier_code":"D-2","step":"processing","repeat":3}' >/dev/null
check_eq "repeat: three answers" "$(ans '.responses | length')" 3
check_eq "repeat: each answered" "$(ans '[.responses[].status]')" '[200,200,200]'
items=$(sink_items)
check_eq "repeat: three requests" "$(jq length <<<"$items")" 3
check_eq "repeat: identical bodies" "$(jq '[.[].body] | unique | length' <<<"$items")" 1
check_eq "repeat: identical signed headers" \
    "$(jq '[.[].headers | [."x-timestamp", ."x-signature", ."x-client-id"]] | unique | length' <<<"$items")" 1
check_eq "repeat: same event id as answered" "$(jq -r '.[0].body | fromjson | .event_id' <<<"$items")" \
    "$(jq -r .event_id "$tmp/ans")"
check "repeat: signed" signed_ok "$(jq -c '.[2]' <<<"$items")"

# ---------------------------------------------------------------- signing modes
sink_clear
ctl step '{"dossier_code":"D-3","step":"received","sign":"bad"}' >/dev/null
it=$(sink_items | jq -c '.[0]')
check_eq "bad: client id still sent" "$(hdr "$it" x-client-id)" tthc-hcm
check "bad: timestamp now" ts_near "$it" 0
check "bad: well-formed signature" grep -Eq '^[0-9a-f]{64}$' <<<"$(hdr "$it" x-signature)"
check "bad: does not verify" not test "$(hdr "$it" x-signature)" == "$(expected_sig "$it" "$SECRET")"

sink_clear
ctl step '{"dossier_code":"D-3","step":"received","sign":"stale"}' >/dev/null
it=$(sink_items | jq -c '.[0]')
check "stale: timestamp 10 minutes old" ts_near "$it" -600
check_eq "stale: otherwise a good signature" "$(hdr "$it" x-signature)" "$(expected_sig "$it" "$SECRET")"

sink_clear
ctl step '{"dossier_code":"D-3","step":"received","sign":"future"}' >/dev/null
it=$(sink_items | jq -c '.[0]')
check "future: timestamp 10 minutes ahead" ts_near "$it" 600

sink_clear
ctl step '{"dossier_code":"D-3","step":"received","sign":"none"}' >/dev/null
it=$(sink_items | jq -c '.[0]')
check_eq "none: no signing headers" \
    "$(jq -c '.headers | [has("x-client-id"), has("x-timestamp"), has("x-signature")]' <<<"$it")" \
    '[false,false,false]'
check_eq "none: body still sent" "$(jq -j '.body | fromjson | .step' <<<"$it")" received

sink_clear
ctl step '{"dossier_code":"D-3","step":"received","as_client":"tthc-hn"}' >/dev/null
it=$(sink_items | jq -c '.[0]')
check_eq "as_client: header" "$(hdr "$it" x-client-id)" tthc-hn
check_eq "as_client: signed with our secret" "$(hdr "$it" x-signature)" "$(expected_sig "$it" "$SECRET")"
check_eq "as_client: not in the body" "$(jq -j '.body | fromjson | has("as_client")' <<<"$it")" false

# ---------------------------------------------------------------- import
sink_clear
st=$(ctl import '{"ref":"MC-2024-0001","code":"000.00.01.H29-240506-0009","procedure_code":"1.001234",
  "applicant":{"personal_id":"079201001234","full_name":"Nguyễn Thị Ánh","phone":"0912345678"},
  "due_date":"2024-05-20"}')
check_eq "import answered" "$st" 200
it=$(sink_items | jq -c '.[0]')
check_eq "import: method" "$(jq -r .method <<<"$it")" POST
check_eq "import: path" "$(jq -r .path <<<"$it")" /v1/partner/dossiers
b=$(jq -j .body <<<"$it")
check_eq "import: fields passed" \
    "$(jq -c '[.ref, .code, .procedure_code, .applicant.full_name, .applicant.personal_id, .due_date]' <<<"$b")" \
    '["MC-2024-0001","000.00.01.H29-240506-0009","1.001234","Nguyễn Thị Ánh","079201001234","2024-05-20"]'
check_eq "import: default status" "$(jq -r .status <<<"$b")" received
check "import: default submitted_at" grep -q '+07:00$' <<<"$(jq -r .submitted_at <<<"$b")"
check "import: signed" signed_ok "$it"
sink_clear
ctl import '{"ref":"MC-2","status":"processing","submitted_at":"2024-05-01T09:00:00+07:00"}' >/dev/null
b=$(sink_items | jq -j '.[0].body')
check_eq "import: given status and time kept" "$(jq -c '[.status, .submitted_at]' <<<"$b")" \
    '["processing","2024-05-01T09:00:00+07:00"]'

# ---------------------------------------------------------------- overdue
sink_clear
st=$(curl -s -o "$tmp/ans" -w '%{http_code}' -X POST "$T/_sim/overdue")
check_eq "overdue with no body" "$st" 200
it=$(sink_items | jq -c '.[0]')
check_eq "overdue: GET" "$(jq -r .method <<<"$it")" GET
check_eq "overdue: path" "$(jq -r .path <<<"$it")" /v1/partner/dossiers/overdue
check_eq "overdue: empty body" "$(jq -j .body <<<"$it")" ""
check "overdue: signed over the empty body" signed_ok "$it"
sink_clear
ctl overdue '{"query":"limit=5&cursor=abc"}' >/dev/null
it=$(sink_items | jq -c '.[0]')
check_eq "overdue: query" "$(jq -r .query <<<"$it")" "limit=5&cursor=abc"
check "overdue: query signed" signed_ok "$it"

# ---------------------------------------------------------------- procedure
sink_clear
ctl procedure '{"code":"1.001234","name":"Cấp giấy phép xây dựng","fee_vnd":75000,"processing_days":15}' >/dev/null
it=$(sink_items | jq -c '.[0]')
check_eq "procedure: PUT" "$(jq -r .method <<<"$it")" PUT
check_eq "procedure: path" "$(jq -r .path <<<"$it")" /v1/partner/procedures/1.001234
check_eq "procedure: body" "$(jq -j .body <<<"$it")" \
    '{"code":"1.001234","name":"Cấp giấy phép xây dựng","fee_vnd":75000,"processing_days":15}'
check "procedure: signed" signed_ok "$it"

# ---------------------------------------------------------------- raw
sink_clear
ctl raw '{"method":"PATCH","path":"/v1/partner/x?b=2&a=1","body":"not json at all"}' >/dev/null
it=$(sink_items | jq -c '.[0]')
check_eq "raw: method" "$(jq -r .method <<<"$it")" PATCH
check_eq "raw: path and query" "$(jq -r '.path + "?" + .query' <<<"$it")" "/v1/partner/x?b=2&a=1"
check_eq "raw: body verbatim" "$(jq -j .body <<<"$it")" "not json at all"
check "raw: signed" signed_ok "$it"
sink_clear
ctl raw '{"method":"POST","path":"/v1/partner/dossiers","body":"{}","timestamp":1700000000}' >/dev/null
it=$(sink_items | jq -c '.[0]')
check_eq "raw: given timestamp" "$(hdr "$it" x-timestamp)" 1700000000
check_eq "raw: signed over it" "$(hdr "$it" x-signature)" "$(expected_sig "$it" "$SECRET")"
sink_clear
ctl raw '{"method":"POST","path":"/p","timestamp":"-12","signature":"ABCDEF"}' >/dev/null
it=$(sink_items | jq -c '.[0]')
check_eq "raw: timestamp verbatim" "$(hdr "$it" x-timestamp)" -12
check_eq "raw: signature verbatim" "$(hdr "$it" x-signature)" ABCDEF
check_eq "raw: empty POST" "$(jq -j .body <<<"$it")" ""

# ---------------------------------------------------------------- bad control bodies
sink_clear
problem() { [[ $(jq -r .code "$tmp/ans") == invalid_control ]] && jqe '.detail | length > 0' "$tmp/ans"; }
check_eq "step without code" "$(ctl step '{"step":"received"}')" 400
check "step without code: problem" problem
check_eq "unknown sign" "$(ctl step '{"dossier_code":"D","sign":"maybe"}')" 400
check_eq "repeat 0" "$(ctl step '{"dossier_code":"D","repeat":0}')" 400
check_eq "repeat 101" "$(ctl step '{"dossier_code":"D","repeat":101}')" 400
check_eq "not an object" "$(ctl step '[1]')" 400
check_eq "not JSON" "$(ctl step '{')" 400
check_eq "raw: lower-case method" "$(ctl raw '{"method":"post","path":"/x"}')" 400
check_eq "raw: relative path" "$(ctl raw '{"method":"POST","path":"x"}')" 400
check_eq "raw: body not a string" "$(ctl raw '{"method":"POST","path":"/x","body":{}}')" 400
check_eq "raw: header injection" "$(ctl raw '{"method":"POST","path":"/x","signature":"a\r\nX-Evil: 1"}')" 400
check_eq "procedure without code" "$(ctl procedure '{"name":"x"}')" 400
check_eq "nothing sent for bad controls" "$(sink_items | jq length)" 0

# ---------------------------------------------------------------- the stand-in's record
rec=$(curl -s "$T/_sim/requests")
check "records control requests" \
    jqe '[.items[] | select(.kind == "request" and .path == "/_sim/import")] | length == 2' <<<"$rec"
check "records each call with its answer" \
    jqe '[.items[] | select(.kind == "call")] | length >= 20 and all(.detail.status == 200)' <<<"$rec"
check "call record: url, headers, body" \
    jqe --arg u "$S/v1/partner/procedures/1.001234" \
    '[.items[] | select(.kind == "call" and .detail.url == $u)][0].detail
     | .method == "PUT" and .headers["X-Client-Id"] == "tthc-hcm"
       and (.sent_body | fromjson | .fee_vnd) == 75000 and .status == 200 and .body.ok == true' <<<"$rec"
# a request our server might make to TTHC is recorded and answered
st=$(curl -s -o /dev/null -w '%{http_code}' -d '{"x":1}' "$T/api/callback")
check_eq "other paths answered" "$st" 200
check "other paths recorded" jqe '.items[-1].path == "/api/callback"' <<<"$(curl -s "$T/_sim/requests")"

# ---------------------------------------------------------------- target down
dport=$(th_free_port)
while [[ $dport == "$tport" || $dport == "$sport" ]]; do dport=$(th_free_port); done
down=$(th_free_port)
CDS_SIM_ONLY=tthc CDS_SIM_TTHC_PORT=$dport CDS_SIM_TTHC_TARGET=http://127.0.0.1:$down \
    CDS_DEV_CERT_DIR="$CDS_BUILD_DIR/Testing" "$CDS_BUILD_DIR/cds-sim" >"$tmp/sim2.out" 2>&1 &
pid2=$!
th_pids+=("$pid2")
check "second sim healthy" th_wait_for 20 curl -fso /dev/null "http://127.0.0.1:$dport/_sim/health"
st=$(curl -s -o "$tmp/ans" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"dossier_code":"D","step":"received"}' "http://127.0.0.1:$dport/_sim/step")
check_eq "target down: 502" "$st" 502
check_eq "target down: status 0" "$(ans .status)" 0
check "target down: error given" jqe '.error | length > 0' "$tmp/ans"
check_eq "bad target refused at start" \
    "$(CDS_SIM_ONLY=tthc CDS_SIM_TTHC_PORT=$dport CDS_SIM_TTHC_TARGET=ftp://x "$CDS_BUILD_DIR/cds-sim" >/dev/null 2>&1; echo $?)" 1

# A control request that goes away mid-way: its pending call is cancelled
# with it (under ASan this also shows nothing of it is touched afterwards).
# Whether the client leaves during a call is timing, so only survival is
# asserted.
curl -s -m 0.02 --http2-prior-knowledge -H 'Content-Type: application/json' -d '{"dossier_code":"D","step":"received","repeat":100}' \
    "$T/_sim/step" >/dev/null 2>&1
check "still serving after a cancelled control" curl -fso /dev/null "$T/_sim/health"

# ---------------------------------------------------------------- the inbox
# inbox SECRET CLIENT TS BODY [SIGNED_BODY]: POST /api/v1/ratings to the
# stand-in signed as our server signs (openssl here); status echoed.
inbox() {
    local bh sig
    bh=$(printf '%s' "${5-$4}" | openssl dgst -sha256 -r | cut -d' ' -f1)
    sig=$(printf 'POST\n/api/v1/ratings\n%s\n%s' "$3" "$bh" | openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1)
    curl -s -o "$tmp/ans" -w '%{http_code}' -H 'Content-Type: application/json' -H "X-Client-Id: $2" \
        -H "X-Timestamp: $3" -H "X-Signature: $sig" --data-binary "$4" "$T/api/v1/ratings"
}
RATING='{"idempotency_key":"rt-1","dossier_code":"000.00.01.H29-240506-0001","agency_code":"Q1","procedure_code":"1.001","stars":5,"version":1}'
now=$(date +%s)
check_eq "inbox: a wrong secret refused" "$(inbox wrong-secret cds-app "$now" "$RATING")" 401
check_eq "inbox: another client refused" "$(inbox cds-dev-tthc-secret other "$now" "$RATING")" 401
check_eq "inbox: stale timestamp refused" "$(inbox cds-dev-tthc-secret cds-app $((now - 600)) "$RATING")" 401
check_eq "inbox: signature over another body refused" \
    "$(inbox cds-dev-tthc-secret cds-app "$now" "$RATING" '{"stars":1}')" 401
check_eq "inbox: unsigned refused" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$RATING" "$T/api/v1/ratings")" 401
check_eq "inbox: nothing kept" "$(curl -s "$T/_sim/tthc/received" | jq '.ratings | length')" 0
check_eq "inbox: signed as documented, taken" "$(inbox cds-dev-tthc-secret cds-app "$now" "$RATING")" 201
check_eq "inbox: kept once" "$(curl -s "$T/_sim/tthc/received" | jq -c '[.ratings[].key]')" '["rt-1"]'

kill -TERM "$pid"
st=0
wait "$pid" || st=$?
check_eq "sim stops cleanly" "$st" 0
kill -TERM "$pid2"
st=0
wait "$pid2" || st=$?
check_eq "second sim stops cleanly" "$st" 0
rm -rf "$tmp"
th_done
