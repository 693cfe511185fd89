#!/usr/bin/env bash
# The simulator frame: `cds-sim` starts each stand-in on its own port with
# the same HTTP core (h2c and HTTP/1.1), each stand-in records what it
# receives, and a test reads that record over HTTP (/_sim/requests), can
# page through it with ?since= and clear it.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

port=$(th_free_port)
out=$CDS_BUILD_DIR/Testing/sim_$$.out
CDS_SIM_ONLY=sink CDS_SIM_SINK_PORT=$port CDS_DEV_CERT_DIR="$CDS_BUILD_DIR/Testing" \
    "$CDS_BUILD_DIR/cds-sim" >"$out" 2>&1 &
pid=$!
th_pids+=("$pid")
url=http://127.0.0.1:$port
check "sim healthy" th_wait_for 10 curl -fso /dev/null "$url/_sim/health"
check "prints its stand-ins" grep -q "^standin sink $url" "$out"

r=$(curl -s --http1.1 -H 'Content-Type: application/json' -H 'Idempotency-Key: k-1' \
    -d '{"to":"0912345678","text":"Ho so da duoc tiep nhan"}' "$url/any/path?x=1")
check "sink answers with a sequence" grep -q '"ok":true,"seq":1' <<<"$r"
curl -s --http2-prior-knowledge -X PUT -d 'second' "$url/other" >/dev/null
rec=$(curl -s --http2-prior-knowledge "$url/_sim/requests")
check "record has both" grep -q '"next":3' <<<"$rec"
check "record keeps the body" grep -q 'Ho so da duoc tiep nhan' <<<"$rec"
check "record keeps path and query" grep -q '"path":"/any/path","query":"x=1"' <<<"$rec"
check "record keeps idempotency key" grep -q '"idempotency-key":"k-1"' <<<"$rec"
check "record keeps the protocol" grep -q '"proto":2' <<<"$rec"
rec=$(curl -s --http2-prior-knowledge "$url/_sim/requests?since=1")
check "since= pages" grep -q '"path":"/other"' <<<"$rec"
check "since= skips older" bash -c "! grep -q '/any/path' <<<'$rec'"
v=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE --http2-prior-knowledge "$url/_sim/requests")
check_eq "clear" "$v" 204
rec=$(curl -s --http1.1 "$url/_sim/requests")
check "cleared" grep -q '"items":\[\]' <<<"$rec"
kill -TERM "$pid"
st=0
wait "$pid" || st=$?
check_eq "sim stops cleanly" "$st" 0
th_done
