#!/usr/bin/env bash
# The VNeID stand-in as a relying party sees it, with nothing but curl and the
# openssl CLI: discovery, the login page and its approve links, the
# login_hint shortcut, the code exchange with PKCE and client authentication
# (Basic and client_secret_post), the RS256 ID token checked against the JWKS
# (the JWK is turned into a PEM with `openssl asn1parse -genconf`, so the
# JWKS itself is what is verified), every error a client must handle,
# /userinfo, key rotation, the userinfo-only and outage controls, each
# one-shot ID-token defect, and the request record. Runs the simulator with
# two loop threads so the stand-in's locking is exercised too.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

mkdir -p "$CDS_BUILD_DIR/Testing"
tmp=$(mktemp -d "$CDS_BUILD_DIR/Testing/vneid_XXXXXX")
port=$(th_free_port)
out=$tmp/sim.out
CDS_SIM_ONLY=vneid CDS_SIM_VNEID_PORT=$port CDS_SIM_THREADS=2 \
    CDS_DEV_CERT_DIR="$CDS_BUILD_DIR/Testing" "$CDS_BUILD_DIR/cds-sim" >"$out" 2>&1 &
pid=$!
th_pids+=("$pid")
url=http://127.0.0.1:$port
CB=cdsapp://auth/callback
CB_ENC=cdsapp%3A%2F%2Fauth%2Fcallback
check "sim healthy" th_wait_for 20 curl -fso /dev/null "$url/_sim/health"
check "prints the stand-in" grep -q "^standin vneid $url" "$out"

# ---------------------------------------------------------------- helpers
not() { ! "$@"; }
# json_str KEY / json_num KEY read the first such member of compact JSON on stdin.
json_str() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | sed 's/^"[^"]*":"//; s/"$//'; }
json_num() { grep -o "\"$1\":-\{0,1\}[0-9]*" | head -1 | sed 's/^"[^"]*"://'; }
b64url_decode() {
    local s=${1//-/+}
    s=${s//_//}
    case $((${#s} % 4)) in 2) s+="==" ;; 3) s+="=" ;; esac
    printf '%s' "$s" | base64 -d 2>/dev/null
}
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
# new_pkce: sets VERIFIER and CHALLENGE (S256).
new_pkce() {
    VERIFIER=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
    CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | b64url)
}
# authz_query NONCE STATE [EXTRA]: the query of an authorization request.
authz_query() {
    printf 'response_type=code&client_id=cds-app&redirect_uri=%s&scope=openid%%20profile' "$CB_ENC"
    printf '&state=%s&nonce=%s&code_challenge=%s&code_challenge_method=S256%s' \
        "$2" "$1" "$CHALLENGE" "${3:-}"
}
# location URL: the Location header of the answer (empty when none).
location() { curl -s -o /dev/null -D - "$1" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p'; }
param() { sed -n "s/.*[?&]$1=\([^&]*\).*/\1/p" <<<"$2"; }
# login PID NONCE: new PKCE pair and a code through login_hint; sets CODE.
login() {
    new_pkce
    local loc
    loc=$(location "$url/authorize?$(authz_query "$2" "st-$2" "&login_hint=$1")")
    CODE=$(param code "$loc")
}
# exchange CODE VERIFIER [curl args...]: POST /token with Basic auth; body to
# stdout, status in $tmp/status.
exchange() {
    local code=$1 verifier=$2
    shift 2
    curl -s -o "$tmp/body" -w '%{http_code}' -u cds-app:cds-dev-secret \
        --data-urlencode grant_type=authorization_code --data-urlencode "code=$code" \
        --data-urlencode "redirect_uri=$CB" --data-urlencode "code_verifier=$verifier" \
        "$@" "$url/token" >"$tmp/status"
    cat "$tmp/body"
}
# split TOKEN: sets HDR and PAY (decoded JSON), SIG (base64url), NPARTS.
split() {
    local IFS=.
    local -a p
    read -r -a p <<<"$1"
    NPARTS=$(awk -F. '{print NF}' <<<"$1")
    HDR=$(b64url_decode "${p[0]:-}")
    PAY=$(b64url_decode "${p[1]:-}")
    SIG=${p[2]:-}
}
# jwk_pem KID: the PEM of the JWKS key KID, built from its n and e.
jwk_pem() {
    local jwk n e
    jwk=$(curl -s "$url/jwks" | grep -o "{[^{}]*\"kid\":\"$1\"[^{}]*}")
    [[ -n $jwk ]] || return 1
    n=$(b64url_decode "$(json_str n <<<"$jwk")" | od -An -tx1 -v | tr -d ' \n')
    e=$(b64url_decode "$(json_str e <<<"$jwk")" | od -An -tx1 -v | tr -d ' \n')
    printf 'asn1=SEQUENCE:pubkey\n[pubkey]\nn=INTEGER:0x%s\ne=INTEGER:0x%s\n' "$n" "$e" \
        >"$tmp/rsa.conf"
    openssl asn1parse -genconf "$tmp/rsa.conf" -out "$tmp/rsa.der" -noout >/dev/null &&
        openssl rsa -RSAPublicKey_in -inform DER -in "$tmp/rsa.der" -pubout 2>/dev/null
}
# rs256_ok TOKEN PEMFILE: the RS256 signature verifies.
rs256_ok() {
    local tok=$1
    printf '%s' "${tok%.*}" >"$tmp/input"
    b64url_decode "${tok##*.}" >"$tmp/sig"
    openssl dgst -sha256 -verify "$2" -signature "$tmp/sig" "$tmp/input" >/dev/null 2>&1
}

# ---------------------------------------------------------------- discovery
d=$(curl -s "$url/.well-known/openid-configuration")
check_eq "issuer is the base URL" "$(json_str issuer <<<"$d")" "$url"
check_eq "authorization endpoint" "$(json_str authorization_endpoint <<<"$d")" "$url/authorize"
check_eq "token endpoint" "$(json_str token_endpoint <<<"$d")" "$url/token"
check_eq "userinfo endpoint" "$(json_str userinfo_endpoint <<<"$d")" "$url/userinfo"
check_eq "jwks_uri" "$(json_str jwks_uri <<<"$d")" "$url/jwks"
check "code flow only" grep -q '"response_types_supported":\["code"\]' <<<"$d"
check "authorization_code grant" grep -q '"grant_types_supported":\["authorization_code"\]' <<<"$d"
check "PKCE S256" grep -q '"code_challenge_methods_supported":\["S256"\]' <<<"$d"
check "RS256 ID tokens" grep -q '"id_token_signing_alg_values_supported":\["RS256"\]' <<<"$d"
check "client auth methods" grep -q \
    '"token_endpoint_auth_methods_supported":\["client_secret_basic","client_secret_post"\]' <<<"$d"
check "scopes" grep -q '"scopes_supported":\["openid","profile"\]' <<<"$d"
check "acr values" grep -q '"acr_values_supported":\["urn:vneid:ial:1","urn:vneid:ial:2"\]' <<<"$d"
check "claims listed" grep -q '"claims_supported":\[[^]]*"personal_id"[^]]*"phone_number"' <<<"$d"

# ---------------------------------------------------------------- the login page
new_pkce
page_url="$url/authorize?$(authz_query n-page st-page)"
v=$(curl -s -o "$tmp/page" -w '%{http_code} %{content_type}' "$page_url")
check_eq "login page" "$v" "200 text/html; charset=utf-8"
check "page title" grep -q '<title>Đăng nhập bằng VNeID (giả lập)</title>' "$tmp/page"
check "mobile viewport" grep -q '<meta name="viewport"' "$tmp/page"
check "lists a citizen" grep -q 'Nguyễn Văn An' "$tmp/page"
check "masks the ID (last 3 digits)" grep -q '\*\*\*\*\*\*\*\*\*234' "$tmp/page"
check "never shows a full ID in text" not grep -q '>[^<]*079085001234' "$tmp/page"
check "shows the level" grep -q 'Định danh mức 1' "$tmp/page"
check_eq "at least 6 citizens" "$(($(grep -c 'authorize/approve?' "$tmp/page") >= 6))" 1
link=$(grep -o 'href="/authorize/approve?[^"]*citizen=079192004567"' "$tmp/page" | head -1 |
    sed 's/^href="//; s/"$//; s/&amp;/\&/g')
loc=$(location "$url$link")
check "approve redirects to the client" grep -q "^$CB?code=" <<<"$loc"
check_eq "approve echoes state" "$(param state "$loc")" st-page
check_eq "approve names the issuer" "$(param iss "$loc")" "http%3A%2F%2F127.0.0.1%3A$port"
page_code=$(param code "$loc")
check_eq "code is 32 random bytes" "${#page_code}" 43
body=$(exchange "$page_code" "$VERIFIER")
split "$(json_str id_token <<<"$body")"
check_eq "page login: the chosen citizen" "$(json_str personal_id <<<"$PAY")" 079192004567
deny=$(grep -o 'href="/authorize/deny?[^"]*"' "$tmp/page" | sed 's/^href="//; s/"$//; s/&amp;/\&/g')
loc=$(location "$url$deny")
check "deny: access_denied with state" grep -q "error=access_denied.*state=st-page" <<<"$loc"

# ---------------------------------------------------------------- authorize errors
new_pkce
v=$(curl -s -o "$tmp/err" -w '%{http_code} %{redirect_url}' \
    "$url/authorize?$(authz_query n s | sed 's/client_id=cds-app/client_id=evil/')")
check_eq "unknown client: 400 page, no redirect" "$v" "400 "
check "error page is HTML" grep -q '<html lang="vi">' "$tmp/err"
v=$(curl -s -o /dev/null -w '%{http_code}' -D "$tmp/h" \
    "$url/authorize?$(authz_query n s | sed 's/auth%2Fcallback/evil/')")
check_eq "redirect_uri mismatch: 400" "$v" 400
check "redirect_uri mismatch: no Location" not grep -qi '^location:' "$tmp/h"
loc=$(location "$url/authorize?$(authz_query n s-1 | sed 's/&code_challenge=[^&]*//')")
check "no PKCE: invalid_request back to the client" grep -q "^$CB?error=invalid_request&.*state=s-1" <<<"$loc"
loc=$(location "$url/authorize?$(authz_query n s-2 | sed 's/S256/plain/')")
check "plain PKCE refused" grep -q "error=invalid_request&.*state=s-2" <<<"$loc"
loc=$(location "$url/authorize?$(authz_query n s-3 | sed 's/scope=openid%20profile/scope=profile/')")
check "scope without openid" grep -q "error=invalid_scope&.*state=s-3" <<<"$loc"
loc=$(location "$url/authorize?$(authz_query n s-4 | sed 's/response_type=code/response_type=token/')")
check "implicit flow refused" grep -q "error=unsupported_response_type&.*state=s-4" <<<"$loc"
loc=$(location "$url/authorize?$(authz_query n s-5 | sed 's/&nonce=n//')")
check "nonce required" grep -q "error=invalid_request&.*state=s-5" <<<"$loc"
loc=$(location "$url/authorize?$(authz_query n s-6 '&state=again')")
v=$(curl -s -o /dev/null -w '%{http_code}' "$url/authorize?$(authz_query n s-6 '&state=again')")
check_eq "repeated parameter: 400, no redirect" "$v$loc" 400
loc=$(location "$url/authorize?$(authz_query n s-7 '&login_hint=079000000000')")
check "unknown login_hint: access_denied" grep -q "error=access_denied&.*state=s-7" <<<"$loc"

# ---------------------------------------------------------------- code exchange
login 079085001234 nonce-an
check_eq "login_hint gives a code" "${#CODE}" 43
code_an=$CODE verifier_an=$VERIFIER
body=$(exchange "$CODE" "$VERIFIER" -D "$tmp/h")
check_eq "token: 200" "$(cat "$tmp/status")" 200
check "token: no-store" grep -qi '^cache-control: no-store' "$tmp/h"
check_eq "token_type" "$(json_str token_type <<<"$body")" Bearer
check_eq "expires_in" "$(json_num expires_in <<<"$body")" 300
check_eq "scope" "$(json_str scope <<<"$body")" "openid profile"
at=$(json_str access_token <<<"$body")
check_eq "access token is random" "${#at}" 43
idt=$(json_str id_token <<<"$body")
split "$idt"
check_eq "JWS compact: three parts" "$NPARTS" 3
check_eq "alg RS256" "$(json_str alg <<<"$HDR")" RS256
kid=$(json_str kid <<<"$HDR")
check "kid is in the JWKS" grep -q "\"kid\":\"$kid\"" <<<"$(curl -s "$url/jwks")"
check_eq "iss" "$(json_str iss <<<"$PAY")" "$url"
check_eq "aud" "$(json_str aud <<<"$PAY")" cds-app
check_eq "azp" "$(json_str azp <<<"$PAY")" cds-app
check_eq "nonce" "$(json_str nonce <<<"$PAY")" nonce-an
check_eq "personal_id" "$(json_str personal_id <<<"$PAY")" 079085001234
check_eq "name" "$(json_str name <<<"$PAY")" "Nguyễn Văn An"
check_eq "birthdate" "$(json_str birthdate <<<"$PAY")" 1985-03-14
check_eq "gender" "$(json_str gender <<<"$PAY")" male
check_eq "phone" "$(json_str phone_number <<<"$PAY")" +84912345678
check_eq "level" "$(json_num identification_level <<<"$PAY")" 2
check_eq "acr" "$(json_str acr <<<"$PAY")" urn:vneid:ial:2
check "address" grep -q '"address":{"formatted":"12 Nguyễn Huệ, Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh","street_address":"12 Nguyễn Huệ","locality":"Phường Bến Nghé","region":"Quận 1","country":"VN"}' <<<"$PAY"
sub=$(json_str sub <<<"$PAY")
check "sub is opaque" grep -qE '^vneid-[0-9a-f]{32}$' <<<"$sub"
iat=$(json_num iat <<<"$PAY") exp=$(json_num exp <<<"$PAY")
check_eq "lives 300 s" "$((exp - iat))" 300
check "iat is now" test $((iat - $(date +%s))) -le 2 -a $(($(date +%s) - iat)) -le 5
# auth_time is when the citizen authorized, iat when the code was exchanged:
# the same second, or a little earlier when a second boundary fell between.
auth_time=$(json_num auth_time <<<"$PAY")
check "auth_time at or just before iat" test "$auth_time" -le "$iat" -a $((iat - auth_time)) -le 5
at_hash=$(printf '%s' "$at" | openssl dgst -sha256 -binary | head -c 16 | b64url)
check_eq "at_hash" "$(json_str at_hash <<<"$PAY")" "$at_hash"
jwk_pem "$kid" >"$tmp/jwk.pem"
check "JWK converts to a PEM" grep -q 'BEGIN PUBLIC KEY' "$tmp/jwk.pem"
check "RS256 signature verifies against the JWKS key" rs256_ok "$idt" "$tmp/jwk.pem"
curl -s "$url/_sim/jwks.pem?kid=$kid" >"$tmp/sim.pem"
check "/_sim/jwks.pem is the same key" cmp -s "$tmp/jwk.pem" "$tmp/sim.pem"
curl -s "$url/_sim/jwks.pem" >"$tmp/cur.pem"
check "/_sim/jwks.pem defaults to the current key" cmp -s "$tmp/jwk.pem" "$tmp/cur.pem"

# ---------------------------------------------------------------- /userinfo
u=$(curl -s -H "Authorization: Bearer $at" "$url/userinfo")
check_eq "userinfo: sub matches the ID token" "$(json_str sub <<<"$u")" "$sub"
check_eq "userinfo: personal_id" "$(json_str personal_id <<<"$u")" 079085001234
check_eq "userinfo: level" "$(json_num identification_level <<<"$u")" 2
check "userinfo: address" grep -q '"locality":"Phường Bến Nghé"' <<<"$u"
v=$(curl -s -o /dev/null -D "$tmp/h" -w '%{http_code}' "$url/userinfo")
check_eq "userinfo without a token: 401" "$v" 401
check "userinfo without a token: Bearer challenge" grep -qi '^www-authenticate: Bearer realm="vneid"' "$tmp/h"
v=$(curl -s -o /dev/null -D "$tmp/h" -w '%{http_code}' -H 'Authorization: Bearer nope' "$url/userinfo")
check_eq "userinfo with a bad token: 401" "$v" 401
check "userinfo with a bad token: invalid_token" grep -qi '^www-authenticate: Bearer.*error="invalid_token"' "$tmp/h"

# ---------------------------------------------------------------- token errors
body=$(exchange "$code_an" "$verifier_an")
check_eq "code reuse: 400" "$(cat "$tmp/status")" 400
check_eq "code reuse: invalid_grant" "$(json_str error <<<"$body")" invalid_grant
v=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $at" "$url/userinfo")
check_eq "code reuse revokes the token issued from it" "$v" 401

login 079085001234 n2
body=$(exchange "$CODE" "$(openssl rand -hex 32)")
check_eq "wrong verifier: invalid_grant" "$(cat "$tmp/status") $(json_str error <<<"$body")" "400 invalid_grant"
body=$(exchange "$CODE" "$VERIFIER")
check_eq "a code is spent by a failed PKCE check" "$(json_str error <<<"$body")" invalid_grant

login 079085001234 n3
body=$(exchange "$CODE" short)
check_eq "malformed verifier: invalid_request" "$(json_str error <<<"$body")" invalid_request
body=$(exchange "$CODE" "$VERIFIER" -u cds-app:wrong -D "$tmp/h")
check_eq "wrong secret: 401 invalid_client" "$(cat "$tmp/status") $(json_str error <<<"$body")" "401 invalid_client"
check "invalid_client: WWW-Authenticate" grep -qi '^www-authenticate: Basic' "$tmp/h"
body=$(exchange "$CODE" "$VERIFIER" -u other:cds-dev-secret)
check_eq "unknown client: 401 invalid_client" "$(cat "$tmp/status") $(json_str error <<<"$body")" "401 invalid_client"
body=$(curl -s -w ' %{http_code}' -u cds-app:cds-dev-secret -d grant_type=password -d code=x \
    "$url/token")
check "unsupported grant type" grep -q '"error":"unsupported_grant_type".* 400$' <<<"$body"
body=$(curl -s -w ' %{http_code}' -u cds-app:cds-dev-secret -H 'Content-Type: application/json' \
    -d '{"grant_type":"authorization_code"}' "$url/token")
check "JSON body refused" grep -q '"error":"invalid_request".* 400$' <<<"$body"
body=$(exchange "$CODE" "$VERIFIER" --data-urlencode redirect_uri=cdsapp://other)
check "repeated form parameter: invalid_request" grep -q '"error":"invalid_request"' <<<"$body"
body=$(exchange "$CODE" "$VERIFIER" -d client_secret=cds-dev-secret)
check "two auth methods: invalid_request" grep -q '"error":"invalid_request"' <<<"$body"
# The code survived the refusals above (none of them reached it): redeem it
# with client_secret_post and a redirect_uri written with %-escapes.
body=$(curl -s -o "$tmp/body" -w '%{http_code}' \
    --data "grant_type=authorization_code&code=$CODE&redirect_uri=$CB_ENC&code_verifier=$VERIFIER&client_id=cds-app&client_secret=cds-dev-secret" \
    "$url/token")
check_eq "client_secret_post" "$body" 200
# Basic credentials are form-encoded before base64 (RFC 6749 2.3.1).
login 079178002345 n-ha
body=$(exchange "$CODE" "$VERIFIER" \
    -H "Authorization: Basic $(printf 'cds%%2Dapp:cds-dev%%2Dsecret' | base64 -w0)")
check_eq "Basic with form-encoded parts" "$(cat "$tmp/status")" 200
split "$(json_str id_token <<<"$body")"
check_eq "level 1 citizen" "$(json_num identification_level <<<"$PAY") $(json_str acr <<<"$PAY")" \
    "1 urn:vneid:ial:1"
check "no phone when none is given" not grep -q phone_number <<<"$PAY"
check_eq "female" "$(json_str gender <<<"$PAY")" female

# ---------------------------------------------------------------- rotation
old_kid=$kid
r=$(curl -s -X POST "$url/_sim/rotate")
new_kid=$(json_str kid <<<"$r")
check "rotate gives a new kid" test -n "$new_kid" -a "$new_kid" != "$old_kid"
jw=$(curl -s "$url/jwks")
check "JWKS has the new key" grep -q "\"kid\":\"$new_kid\"" <<<"$jw"
check "JWKS keeps the previous key" grep -q "\"kid\":\"$old_kid\"" <<<"$jw"
check_eq "JWKS keeps three keys" "$(grep -o '"kid"' <<<"$jw" | wc -l)" 3
check "RSA-2048 keys" test "$(b64url_decode "$(json_str n <<<"$jw")" | wc -c)" -eq 256
login 079064009876 n-rot
body=$(exchange "$CODE" "$VERIFIER")
rot_idt=$(json_str id_token <<<"$body")
split "$rot_idt"
check_eq "tokens signed with the new key" "$(json_str kid <<<"$HDR")" "$new_kid"
jwk_pem "$new_kid" >"$tmp/new.pem"
check "new signature verifies" rs256_ok "$rot_idt" "$tmp/new.pem"
check "old key does not verify it" not rs256_ok "$rot_idt" "$tmp/jwk.pem"

# ---------------------------------------------------------------- controls
c=$(curl -s -H 'Content-Type: application/json' -d '{"userinfo_only":true}' "$url/_sim/config")
check "config answers its state" grep -q '"userinfo_only":true' <<<"$c"
login 079303006543 n-uo
body=$(exchange "$CODE" "$VERIFIER")
check_eq "userinfo_only: 200" "$(cat "$tmp/status")" 200
check "userinfo_only: no id_token" not grep -q id_token <<<"$body"
u=$(curl -s -H "Authorization: Bearer $(json_str access_token <<<"$body")" "$url/userinfo")
check_eq "userinfo_only: identity from /userinfo" "$(json_str name <<<"$u")" "Huỳnh Ngọc Trâm Anh"
curl -s -H 'Content-Type: application/json' -d '{"userinfo_only":false,"jwks_down":true,"token_down":true}' \
    "$url/_sim/config" >/dev/null
check_eq "jwks_down" "$(curl -s -o /dev/null -w '%{http_code}' "$url/jwks")" 503
login 079303006543 n-down
exchange "$CODE" "$VERIFIER" >/dev/null
check_eq "token_down" "$(cat "$tmp/status")" 503
curl -s -H 'Content-Type: application/json' -d '{"jwks_down":false,"token_down":false}' \
    "$url/_sim/config" >/dev/null
check_eq "jwks back" "$(curl -s -o /dev/null -w '%{http_code}' "$url/jwks")" 200
v=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"x":1}' "$url/_sim/config")
check_eq "config refuses unknown keys" "$v" 400
v=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"defect":"bogus"}' "$url/_sim/defect")
check_eq "unknown defect refused" "$v" 400

# ---------------------------------------------------------------- defects
# defect NAME: sets it, logs in, exchanges; sets IDT, HDR, PAY, SIG, NPARTS.
defect() {
    curl -s -H 'Content-Type: application/json' -d "{\"defect\":\"$1\"}" "$url/_sim/defect" >/dev/null
    login 079090003210 "n-$1"
    IDT=$(exchange "$CODE" "$VERIFIER" | json_str id_token)
    split "$IDT"
}
cur_kid=$new_kid
now=$(date +%s)
jwk_pem "$cur_kid" >"$tmp/cur.pem"

defect tampered_signature
check_eq "tampered: well formed RS256" "$NPARTS $(json_str alg <<<"$HDR") $(json_str kid <<<"$HDR")" "3 RS256 $cur_kid"
check "tampered: claims intact" test "$(json_str nonce <<<"$PAY")" = n-tampered_signature
check "tampered: signature fails" not rs256_ok "$IDT" "$tmp/cur.pem"

defect alg_none
check_eq "alg_none: header" "$(json_str alg <<<"$HDR")" none
check_eq "alg_none: empty signature" "$NPARTS ${IDT: -1}" "3 ."

defect hs256_pubkey
check_eq "hs256_pubkey: header" "$(json_str alg <<<"$HDR") $(json_str kid <<<"$HDR")" "HS256 $cur_kid"
mac=$(printf '%s' "${IDT%.*}" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(od -An -tx1 -v "$tmp/cur.pem" | tr -d ' \n')" -binary | b64url)
check_eq "hs256_pubkey: HMAC keyed with the public key PEM" "$SIG" "$mac"

defect wrong_iss
iss=$(json_str iss <<<"$PAY")
check "wrong_iss" test -n "$iss" -a "$iss" != "$url"
check "wrong_iss: still validly signed" rs256_ok "$IDT" "$tmp/cur.pem"

defect wrong_aud
check "wrong_aud" test "$(json_str aud <<<"$PAY")" != cds-app

defect expired
exp=$(json_num exp <<<"$PAY")
check "expired: exp 10 minutes ago" test $((now - exp)) -ge 590 -a $((now - exp)) -le 620
check "expired: still validly signed" rs256_ok "$IDT" "$tmp/cur.pem"

defect iat_future
iat=$(json_num iat <<<"$PAY")
check "iat_future: iat 10 minutes ahead" test $((iat - now)) -ge 580 -a $((iat - now)) -le 620

defect nonce_mismatch
n=$(json_str nonce <<<"$PAY")
check "nonce_mismatch" test -n "$n" -a "$n" != n-nonce_mismatch

defect unknown_kid
k=$(json_str kid <<<"$HDR")
check "unknown_kid: a kid" test -n "$k"
check "unknown_kid: not in the JWKS" not grep -q "\"kid\":\"$k\"" <<<"$(curl -s "$url/jwks")"
check_eq "unknown_kid: RS256, three parts" "$NPARTS $(json_str alg <<<"$HDR")" "3 RS256"

defect oversized
check "oversized: over 16 KiB" test "${#IDT}" -gt 16384
check "oversized: still validly signed" rs256_ok "$IDT" "$tmp/cur.pem"

defect malformed
check_eq "malformed: two segments" "$NPARTS" 2
check "malformed: segments are JSON" grep -q '"alg":"RS256"' <<<"$HDR"

login 079090003210 n-after
body=$(exchange "$CODE" "$VERIFIER")
IDT=$(json_str id_token <<<"$body")
split "$IDT"
check_eq "defects are one-shot" "$(json_str nonce <<<"$PAY")" n-after
check "back to a valid token" rs256_ok "$IDT" "$tmp/cur.pem"

# ---------------------------------------------------------------- the record
rec=$(curl -s "$url/_sim/requests?limit=10000")
check "record has /authorize" grep -q '"path":"/authorize"' <<<"$rec"
check "record has /authorize/approve" grep -q '"path":"/authorize/approve"' <<<"$rec"
check "record has /token with its form" grep -q '"path":"/token".*grant_type=authorization_code' <<<"$rec"
check "record keeps the Authorization header" grep -q \
    "\"authorization\":\"Basic $(printf 'cds%%2Dapp:cds-dev%%2Dsecret' | base64 -w0)\"" <<<"$rec"
check "record has /userinfo" grep -q '"path":"/userinfo"' <<<"$rec"
check "record has /jwks" grep -q '"path":"/jwks"' <<<"$rec"
check "record has discovery" grep -q '"path":"/.well-known/openid-configuration"' <<<"$rec"

kill -TERM "$pid"
st=0
wait "$pid" || st=$?
check_eq "sim stops cleanly" "$st" 0
[[ $th_fail -eq 0 ]] && rm -rf "$tmp" # kept with the sim log on failure
th_done
