#!/usr/bin/env bash
# TLS downgrade and renegotiation attacks against `cds serve`'s TLS port, with
# the openssl CLI as the attacking client: TLS 1.0 and 1.1 offered by a
# client willing to use them (SECLEVEL=0) are refused by the server with a
# protocol_version alert; every TLS 1.2 cipher suite OpenSSL knows is offered
# alone and only ECDHE with AES-GCM or ChaCha20-Poly1305 is accepted (the
# rest get the server's handshake_failure); a client-initiated renegotiation
# is refused. After each, a normal client (curl) is answered over h2.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

th_serve T || { fail "server start"; th_done; exit 1; }
port=${T_TLS##*:}

# sc ARGS...: one handshake (and whatever stdin says), the client's whole output.
sc() { timeout 20 openssl s_client -connect "127.0.0.1:$port" -servername localhost "$@" 2>&1; }
normal_client_ok() {
    local v
    v=$(curl -sk -o /dev/null -w '%{http_code} %{http_version}' "$T_TLS/healthz")
    check_eq "after $1: a normal client over TLS" "$v" "200 2"
}

# Control: the same client, same options, at TLS 1.2 and 1.3: accepted.
out=$(sc -tls1_2 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null)
check "TLS 1.2 accepted" grep -q 'Protocol *: TLSv1.2' <<<"$out"
check "TLS 1.2 with an AEAD ECDHE suite" grep -Eq 'Cipher *: ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$' <<<"$out"
out=$(sc -tls1_3 </dev/null)
check "TLS 1.3 accepted" grep -q '^New, TLSv1.3, Cipher is TLS_' <<<"$out"

# TLS 1.0 and 1.1: the client offers them, the server refuses.
for v in tls1 tls1_1; do
    out=$(sc "-$v" -cipher 'DEFAULT:@SECLEVEL=0' </dev/null)
    check "$v: the server answers protocol_version" grep -q 'alert protocol version' <<<"$out"
    check "$v: no session" grep -q '^New, (NONE), Cipher is (NONE)' <<<"$out"
    normal_client_ok "$v"
done
# A TLS 1.2 client that says TLS 1.1 at most (max-protocol) is refused too.
out=$(sc -max_protocol TLSv1.1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null)
check "max TLS 1.1: refused" grep -q 'alert protocol version' <<<"$out"

# The cipher list: every TLS 1.2 suite alone. Suites this client cannot
# offer by themselves (PSK, SRP: "no ciphers available" on its side) send
# nothing and are not counted.
accepted=() refused_by_server=0 total=0 odd=0
for c in $(openssl ciphers -tls1_2 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' | tr ':' ' '); do
    out=$(sc -tls1_2 -cipher "$c:@SECLEVEL=0" </dev/null)
    if grep -q 'ssl_cipher_list_to_bytes\|SSL_CTX_set_cipher_list' <<<"$out"; then continue; fi
    total=$((total + 1))
    if grep -Eq "^New, TLSv1.2, Cipher is $c\$" <<<"$out"; then
        accepted+=("$c")
    elif grep -q 'alert handshake failure' <<<"$out"; then
        refused_by_server=$((refused_by_server + 1))
    else
        odd=$((odd + 1))
        echo "suite $c: neither accepted nor refused by the server:" >&2
        grep -i 'error\|alert' <<<"$out" | head -3 >&2
    fi
done
echo "TLS 1.2 suites offered: $total; accepted: ${accepted[*]}" >&2
check "many TLS 1.2 suites offered" test "$total" -ge 40
check_eq "each offered suite accepted or refused by the server" "$odd" 0
check "some suite accepted" test "${#accepted[@]}" -ge 2
bad=$(printf '%s\n' "${accepted[@]}" | grep -Ev '^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$')
check_eq "only ECDHE with AES-GCM or ChaCha20-Poly1305 accepted" "$bad" ""
check_eq "every other suite refused by the server" "$refused_by_server" "$((total - ${#accepted[@]}))"
normal_client_ok "the cipher scan"

# Client-initiated renegotiation ("R" asks s_client to renegotiate).
out=$( (sleep 1; echo R; sleep 2) | sc -tls1_2 -cipher 'DEFAULT:@SECLEVEL=0')
check "renegotiation was attempted" grep -q 'RENEGOTIATING' <<<"$out"
check "renegotiation refused by the server (no_renegotiation alert)" grep -q 'no renegotiation' <<<"$out"
normal_client_ok "a renegotiation attempt"

th_stop "$T_PID" TERM
check_eq "exit status" "$TH_STATUS" 0
th_done
