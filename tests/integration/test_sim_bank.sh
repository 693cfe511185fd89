#!/usr/bin/env bash
# The stand-in bank (cds-sim `bank`) as our webhook routes will see it: it
# pays a VietQR payload by sending the payOS-, Casso- or SePay-shaped
# webhook to its target, here the `sink` stand-in in our server's place.
# Every webhook the sink received is run through our own verifier
# (`cds webhook verify`, the parsers of payment/webhook*.c): good ones are
# accepted with the payload's amount and its payment reference findable
# in the description however the bank mangled it; forged and stale ones
# are refused with the verdict the server would give. Also: duplicates,
# chosen transaction ids, wrong amounts, held transfers delivered in
# reverse order, delays, bad VietQR payloads, a target that is down.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

mkdir -p "$CDS_BUILD_DIR/Testing"
tmp=$(mktemp -d "$CDS_BUILD_DIR/Testing/bank_XXXXXX")
CDS=$CDS_BUILD_DIR/cds
bport=$(th_free_port)
sport=$(th_free_port)
while [[ $sport == "$bport" ]]; do sport=$(th_free_port); done
B=http://127.0.0.1:$bport
S=http://127.0.0.1:$sport
export CDS_PAYOS_CHECKSUM_KEY=test-payos-checksum-key-0123
export CDS_CASSO_SECRET=test-casso-webhook-secret-0123
export CDS_SEPAY_API_KEY=test-sepay-api-key-0123
export CDS_SEPAY_HMAC_SECRET=test-sepay-hmac-secret-0123
CDS_SIM_ONLY=bank,sink CDS_SIM_THREADS=2 CDS_SIM_BANK_PORT=$bport CDS_SIM_SINK_PORT=$sport \
    CDS_SIM_BANK_TARGET=$S/ CDS_DEV_CERT_DIR="$CDS_BUILD_DIR/Testing" \
    "$CDS_BUILD_DIR/cds-sim" >"$tmp/sim.out" 2>&1 &
pid=$!
th_pids+=("$pid")
check "bank healthy" th_wait_for 20 curl -fso /dev/null "$B/_sim/health"
check "sink healthy" th_wait_for 20 curl -fso /dev/null "$S/_sim/health"
check "prints bank" grep -q "^standin bank $B" "$tmp/sim.out"
check "--help names the bank's settings" bash -c \
    "'$CDS_BUILD_DIR/cds-sim' --help | grep -q 'CDS_SIM_BANK_TARGET'"

# ---------------------------------------------------------------- helpers
jqe() { jq -e "$@" >/dev/null; }
ans() { jq -c "$1" "$tmp/ans"; }
ansr() { jq -r "$1" "$tmp/ans"; }
not() { ! "$@"; }
REF=CDS7M2K9QX4P1 # a valid payment reference (payment/reference.h)
payload() {       # payload AMOUNT [PURPOSE]: a dynamic VietQR code to our account
    "$CDS" vietqr encode --bin 970436 --account 0011001234567 --amount "$1" --purpose "${2:-$REF}"
}
P150=$(payload 150000)
# pay JSON: POST /_sim/pay, answer in $tmp/ans, prints the HTTP status.
pay() {
    curl -s -o "$tmp/ans" -w '%{http_code}' -H 'Content-Type: application/json' -d "$1" "$B/_sim/pay"
}
send() {
    curl -s -o "$tmp/ans" -w '%{http_code}' -H 'Content-Type: application/json' -d "${2:-}" \
        "$B/_sim/send/$1"
}
sink_items() { curl -s "$S/_sim/requests" | jq -c '[.items[] | select(.kind == "request")]'; }
sink_clear() { curl -s -o /dev/null -X DELETE "$S/_sim/requests"; }
last_item() { sink_items | jq -c '.[-1]'; }
# verify PROVIDER ITEM: runs a recorded request through `cds webhook verify`;
# its JSON in $tmp/verified, its stderr in $tmp/verdict; returns its status.
verify() {
    local prov=$1 item=$2 h=()
    jq -j '.body' <<<"$item" >"$tmp/body"
    while IFS= read -r line; do
        [[ -n $line ]] && h+=(--header "$line")
    done < <(jq -r '.headers | to_entries[] | select(.key | test("^(x-casso-signature|x-sepay-.*|authorization)$")) | "\(.key): \(.value)"' <<<"$item")
    "$CDS" webhook verify --provider "$prov" "${h[@]}" "$tmp/body" >"$tmp/verified" 2>"$tmp/verdict"
}
vtx() { jq -r ".transactions[0].$1" "$tmp/verified"; }
verdict() { grep -o 'cds webhook: [a-z_]*' "$tmp/verdict" | cut -d' ' -f3; }

# ---------------------------------------------------------------- each provider, clean
for prov in payos casso sepay; do
    sink_clear
    st=$(pay "{\"payload\":\"$P150\",\"provider\":\"$prov\"}")
    check_eq "$prov: pay 200" "$st" 200
    check_eq "$prov: our (sink's) status passed back" "$(ans .status)" 200
    check "$prov: our answer passed back" jqe '.body.ok == true' "$tmp/ans"
    check_eq "$prov: one attempt" "$(ans '.attempts | length')" 1
    check_eq "$prov: url" "$(ansr .url)" "$S/v1/webhooks/$prov"
    item=$(last_item)
    check_eq "$prov: webhook path" "$(jq -r .path <<<"$item")" "/v1/webhooks/$prov"
    check_eq "$prov: sent body = received body" "$(jq -r .body <<<"$item")" "$(jq -r .sent.body "$tmp/ans")"
    check_eq "$prov: HTTP/1.1 like the providers" "$(jq -r .proto <<<"$item")" 1
    check "$prov: verifies" verify "$prov" "$item"
    check_eq "$prov: amount of the payload" "$(vtx amount)" 150000
    check_eq "$prov: description is the purpose" "$(vtx description)" "$REF"
    check_eq "$prov: reference found" "$(vtx payref)" "$REF"
    check_eq "$prov: our account" "$(vtx account)" 0011001234567
    check_eq "$prov: credit" "$(vtx disposition)" credit
    check_eq "$prov: idempotency key reported" "$(vtx id)" "$(jq -r .idempotency_key "$tmp/ans")"
done

# payOS: body fields and the payment link derived from the payload
sink_clear
pay "{\"payload\":\"$P150\",\"provider\":\"payos\",\"tx_id\":\"FTREPLAY0001\"}" >/dev/null
b1=$(last_item | jq -r .body)
check "payOS body {code,desc,success,data,signature}" jqe '.code == "00" and .success == true and (.signature | length) == 64 and (.data | .currency == "VND" and .code == "00" and (.orderCode | type) == "number" and .reference == "FTREPLAY0001")' <<<"$b1"
pay "{\"payload\":\"$P150\",\"provider\":\"payos\",\"tx_id\":\"FTREPLAY0001\"}" >/dev/null
b2=$(last_item | jq -r .body)
check_eq "payOS replay: same paymentLinkId:reference" "$(jq -r '.data.paymentLinkId + ":" + .data.reference' <<<"$b2")" "$(jq -r '.data.paymentLinkId + ":" + .data.reference' <<<"$b1")"
check "payOS replay verifies" verify payos "$(last_item)"
check_eq "payOS replay key" "$(vtx id)" "$(jq -r '.data.paymentLinkId + ":FTREPLAY0001"' <<<"$b1")"
pay "{\"payload\":\"$P150\",\"provider\":\"payos\"}" >/dev/null
check "payOS: a fresh reference per payment" jqe --arg r FTREPLAY0001 '.data.reference != $r and (.data.reference | startswith("FT"))' <<<"$(last_item | jq -r .body)"

# Casso/SePay: tx_id digits become the integer id
pay "{\"payload\":\"$P150\",\"provider\":\"casso\",\"tx_id\":\"777000111\"}" >/dev/null
check "casso: tx_id as integer id" jqe '.error == 0 and .data.id == 777000111' <<<"$(last_item | jq -r .body)"
pay "{\"payload\":\"$P150\",\"provider\":\"sepay\",\"tx_id\":\"sepay-tx-1\"}" >/dev/null
check "sepay: text tx_id kept" jqe '.id == "sepay-tx-1" and .transferType == "in" and .transferAmount == 150000' <<<"$(last_item | jq -r .body)"
check "sepay text id verifies" verify sepay "$(last_item)"
check_eq "sepay text id" "$(vtx id)" sepay-tx-1

# ---------------------------------------------------------------- mangled descriptions
declare -A WANT=([lower]='^cds7m2k9qx4p1$' [spaces]='^CDS 7M2K 9QX4 P1$' [punct]='^CDS-7M2K\.9QX4-P1$'
    [prefix]='^MBVCB\.[0-9]{10}\.[0-9]{6}\.CDS7M2K9QX4P1$' [suffix]='^CDS7M2K9QX4P1\.CT tu ')
for m in lower spaces punct prefix suffix; do
    for prov in payos casso sepay; do
        pay "{\"payload\":\"$P150\",\"provider\":\"$prov\",\"mangle\":\"$m\"}" >/dev/null
        check "mangle $m/$prov verifies" verify "$prov" "$(last_item)"
        [[ $(vtx description) =~ ${WANT[$m]} ]] && ok || fail "mangle $m/$prov: description '$(vtx description)'"
        check_eq "mangle $m/$prov: reference still found" "$(vtx payref)" "$REF"
    done
done
pay "{\"payload\":\"$P150\",\"mangle\":[\"lower\",\"prefix\",\"spaces\"]}" >/dev/null
check "mangles chain" verify payos "$(last_item)"
check_eq "mangles chain: reference found" "$(vtx payref)" "$REF"
pay "{\"payload\":\"$P150\",\"description\":\"chuyen tien hoc phi\"}" >/dev/null
check "description override verifies" verify payos "$(last_item)"
check_eq "description override: as given" "$(vtx description)" "chuyen tien hoc phi"
check_eq "description override: no reference" "$(vtx payref)" null
check_eq "bad mangle refused" "$(pay "{\"payload\":\"$P150\",\"mangle\":\"rot13\"}")" 400

# ---------------------------------------------------------------- amounts
for prov in payos casso sepay; do
    pay "{\"payload\":\"$P150\",\"provider\":\"$prov\",\"amount\":149000}" >/dev/null
    check "$prov: wrong amount verifies" verify "$prov" "$(last_item)"
    check_eq "$prov: wrong amount sent" "$(vtx amount)" 149000
    pay "{\"payload\":\"$P150\",\"provider\":\"$prov\",\"amount\":\"150000\"}" >/dev/null
    check "$prov: amount as a string is refused" not verify "$prov" "$(last_item)"
    check_eq "$prov: ... as bad_amount (signature fine)" "$(verdict)" bad_amount
    pay "{\"payload\":\"$P150\",\"provider\":\"$prov\",\"amount\":0}" >/dev/null
    check_eq "$prov: zero amount: bad_amount" "$(verify "$prov" "$(last_item)"; verdict)" bad_amount
done
PSTATIC=$("$CDS" vietqr encode --bin 970436 --account 0011001234567 --purpose "$REF")
check_eq "static code without amount refused" "$(pay "{\"payload\":\"$PSTATIC\"}")" 400
check_eq "static code with amount" "$(pay "{\"payload\":\"$PSTATIC\",\"amount\":20000}")" 200
check "static code with amount verifies" verify payos "$(last_item)"
check_eq "static code amount" "$(vtx amount)" 20000

# ---------------------------------------------------------------- forged, stale, API key
for prov in payos casso sepay; do
    pay "{\"payload\":\"$P150\",\"provider\":\"$prov\",\"forge\":true}" >/dev/null
    check "$prov: forged refused" not verify "$prov" "$(last_item)"
    check_eq "$prov: forged: bad_signature" "$(verdict)" bad_signature
done
for prov in casso sepay; do
    pay "{\"payload\":\"$P150\",\"provider\":\"$prov\",\"stale\":true}" >/dev/null
    check "$prov: stale refused" not verify "$prov" "$(last_item)"
    check_eq "$prov: stale: stale_timestamp" "$(verdict)" stale_timestamp
done
check_eq "payOS has no timestamp: stale refused" "$(pay "{\"payload\":\"$P150\",\"provider\":\"payos\",\"stale\":true}")" 400
check_eq "sepay API key" "$(pay "{\"payload\":\"$P150\",\"provider\":\"sepay\",\"auth\":\"apikey\"}")" 200
item=$(last_item)
check_eq "sepay API key header" "$(jq -r '.headers.authorization' <<<"$item")" "Apikey $CDS_SEPAY_API_KEY"
check "sepay API key: no signature header" jqe '.headers["x-sepay-signature"] == null' <<<"$item"
verify_key_only() { CDS_SEPAY_HMAC_SECRET= verify "$@"; } # a server with no HMAC secret
check "sepay API key verifies where no HMAC secret is set" verify_key_only sepay "$item"
check_eq "sepay API key with an HMAC secret set: missing_signature" \
    "$(verify sepay "$item"; verdict)" missing_signature
pay "{\"payload\":\"$P150\",\"provider\":\"sepay\",\"auth\":\"apikey\",\"forge\":true}" >/dev/null
check_eq "sepay forged API key: bad_signature" \
    "$(verify_key_only sepay "$(last_item)"; verdict)" bad_signature
check_eq "auth only for sepay" "$(pay "{\"payload\":\"$P150\",\"provider\":\"casso\",\"auth\":\"apikey\"}")" 400
# with other secrets than the bank's, nothing verifies
pay "{\"payload\":\"$P150\",\"provider\":\"casso\"}" >/dev/null
check_eq "another secret: bad_signature" \
    "$(CDS_CASSO_SECRET=some-other-secret-0123456 verify casso "$(last_item)"; verdict)" bad_signature

# ---------------------------------------------------------------- duplicates
for prov in payos casso sepay; do
    sink_clear
    check_eq "$prov: repeat 3" "$(pay "{\"payload\":\"$P150\",\"provider\":\"$prov\",\"repeat\":3}")" 200
    check_eq "$prov: three attempts answered" "$(ans '[.attempts[] | select(.status == 200)] | length')" 3
    check_eq "$prov: three webhooks" "$(sink_items | jq length)" 3
    check_eq "$prov: byte for byte the same" "$(sink_items | jq '[.[] | .body] | unique | length')" 1
    # (each attempt is a call of its own: its traceparent names its own span)
    check_eq "$prov: same signature headers" "$(sink_items | jq '[.[] | .headers | del(.["user-agent"], .traceparent, .tracestate)] | unique | length')" 1
done
check_eq "repeat over 100 refused" "$(pay "{\"payload\":\"$P150\",\"repeat\":101}")" 400

# ---------------------------------------------------------------- out of order
P1=$(payload 1000)
P2=$(payload 2000)
check_eq "hold A" "$(pay "{\"payload\":\"$P1\",\"provider\":\"casso\",\"hold\":true}")" 201
idA=$(ans .id)
txA=$(ansr .tx_id)
check "hold answers the transfer" jqe '.held == true and .sends == 0 and .amount == 1000' "$tmp/ans"
check_eq "hold B" "$(pay "{\"payload\":\"$P2\",\"provider\":\"casso\",\"hold\":true}")" 201
idB=$(ans .id)
sink_clear
check_eq "nothing sent while held" "$(sink_items | jq length)" 0
check_eq "send B" "$(send "$idB")" 200
check_eq "send A" "$(send "$idA")" 200
check_eq "send A again (a provider retry)" "$(send "$idA")" 200
check_eq "A's retry: same transaction" "$(ansr .tx_id)" "$txA"
items=$(sink_items)
check_eq "arrived B, A, A" "$(jq -c '[.[] | .body | fromjson | .data.amount]' <<<"$items")" "[2000,1000,1000]"
check "A's retry verifies (signed afresh)" verify casso "$(jq -c '.[2]' <<<"$items")"
check_eq "A's retry: A's id" "$(vtx id)" "$txA"
check_eq "send a forged one of A" "$(send "$idA" '{"forge":true}')" 200
check_eq "forged send: bad_signature" "$(verify casso "$(last_item)"; verdict)" bad_signature
check_eq "transfers list" "$(curl -s "$B/_sim/transfers" | jq --argjson a "$idA" '.items[] | select(.id == $a) | .sends')" 3
check_eq "send unknown transfer: 404" "$(send 999999)" 404
check_eq "send with unknown key: 400" "$(send "$idA" '{"amount":5}')" 400

# ---------------------------------------------------------------- delay
t0=$(date +%s%N)
pay "{\"payload\":\"$P150\",\"delay_ms\":400}" >/dev/null
t1=$(date +%s%N)
check "delay_ms waits" test $(((t1 - t0) / 1000000)) -ge 400
check_eq "delayed one arrived" "$(ans .status)" 200

# ---------------------------------------------------------------- bad control input
bad="${P150%????}0000"
check_eq "bad CRC: 400" "$(pay "{\"payload\":\"$bad\"}")" 400
check_eq "bad CRC: code" "$(ansr .code)" invalid_vietqr
check "bad CRC: names the VietQR error" jqe '.detail | test("crc")' "$tmp/ans"
check_eq "truncated payload: 400" "$(pay "{\"payload\":\"${P150:0:40}\"}")" 400
check "truncated: says so" jqe '.detail | test("truncated|trunc")' "$tmp/ans"
check_eq "no payload: 400" "$(pay '{}')" 400
check_eq "unknown provider: 400" "$(pay "{\"payload\":\"$P150\",\"provider\":\"momo\"}")" 400
check_eq "unknown key: 400" "$(pay "{\"payload\":\"$P150\",\"amout\":1}")" 400
check_eq "forge not boolean: 400" "$(pay "{\"payload\":\"$P150\",\"forge\":1}")" 400
check_eq "not an object: 400" "$(pay '[1]')" 400

# ---------------------------------------------------------------- introspection
check "webhook attempts recorded" jqe '[.items[] | select(.kind == "webhook")] | length > 20' \
    <(curl -s "$B/_sim/requests?limit=10000")
check "a recorded attempt names its transfer" jqe '[.items[] | select(.kind == "webhook")][0].detail | (.transfer > 0) and (.sent_body | length > 0) and .status == 200' \
    <(curl -s "$B/_sim/requests?limit=10000")

# ---------------------------------------------------------------- target down, bad config
dport=$(th_free_port)
CDS_SIM_ONLY=bank CDS_SIM_BANK_PORT=$dport CDS_SIM_BANK_TARGET=http://127.0.0.1:1 \
    CDS_DEV_CERT_DIR="$CDS_BUILD_DIR/Testing" "$CDS_BUILD_DIR/cds-sim" >"$tmp/sim2.out" 2>&1 &
pid2=$!
th_pids+=("$pid2")
check "second bank healthy" th_wait_for 20 curl -fso /dev/null "http://127.0.0.1:$dport/_sim/health"
st=$(curl -s -o "$tmp/ans" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"payload\":\"$P150\",\"repeat\":3}" "http://127.0.0.1:$dport/_sim/pay")
check_eq "target down: 502" "$st" 502
check_eq "target down: status 0" "$(ans .status)" 0
check "target down: error, one attempt" jqe '(.error | length > 0) and (.attempts | length) == 1' "$tmp/ans"
check_eq "bad target refused at start" \
    "$(CDS_SIM_ONLY=bank CDS_SIM_BANK_PORT=$dport CDS_SIM_BANK_TARGET=ftp://x "$CDS_BUILD_DIR/cds-sim" >/dev/null 2>&1; echo $?)" 1
check_eq "short secret refused at start" \
    "$(CDS_SIM_ONLY=bank CDS_SIM_BANK_PORT=$dport CDS_CASSO_SECRET=short "$CDS_BUILD_DIR/cds-sim" >/dev/null 2>&1; echo $?)" 1

# A control request that goes away during its delay: the timer is cancelled
# with it (ASan shows nothing of it is touched afterwards).
curl -s -m 0.1 -H 'Content-Type: application/json' -d "{\"payload\":\"$P150\",\"delay_ms\":2000}" \
    "$B/_sim/pay" >/dev/null 2>&1
sleep 0.2
check "still serving after a cancelled delay" curl -fso /dev/null "$B/_sim/health"

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
