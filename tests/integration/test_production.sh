#!/usr/bin/env bash
# Production mode (CDS_ENV=production, core/settings_check.c): with no
# configuration `cds serve` exits non-zero and names every missing setting
# in one message (the list is checked); with a full production
# configuration, secrets and keys given as NAME_FILE (trailing newline and
# all), it starts and serves /healthz and /readyz; a development default, a
# development value, a malformed URL (also in development mode), NAME and
# NAME_FILE both set and an unreadable NAME_FILE are each refused at start,
# named, before anything listens. Push and ZNS are optional, but a
# provider half configured (an APNs key without its team id, a ZNS URL
# alone, an FCM key whose token URI is a stand-in's) is refused, the
# missing settings named.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

# The server's settings come from this test only (scripts/test exports a
# database URL, for instance).
for v in $(compgen -e | grep '^CDS_'); do
    case $v in CDS_BUILD_DIR | CDS_SOURCE_DIR | CDS_TEST_TMP) ;; *) unset "$v" ;; esac
done
mkdir -p "$CDS_BUILD_DIR/Testing"
tmp=$(mktemp -d "$CDS_BUILD_DIR/Testing/production_XXXXXX")
chmod 700 "$tmp"
th_not() { ! "$@"; }
names() { sed -n 's/^  \(CDS_[A-Z0-9_, ]*\): .*/\1/p' "$1" | sort | tr '\n' ' '; }
# serve_once VAR=value...: runs `cds serve` in a clean environment; exit
# status and stderr (in $tmp/err) are what it did before listening.
serve_once() {
    env -i PATH="$PATH" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
        ${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} CDS_PORT="$(th_free_port)" \
        CDS_TLS_PORT="$(th_free_port)" CDS_ADMIN_PORT="$(th_free_port)" "$@" \
        timeout 20 "$CDS_BUILD_DIR/cds" serve >"$tmp/out" 2>"$tmp/err"
}

# ---------------------------------------------------------------- nothing set
serve_once CDS_ENV=production
rc=$?
check "no configuration: refused" test "$rc" -ne 0 -a "$rc" -ne 124
check "no configuration: one message" grep -q '^cds serve: CDS_ENV=production refuses to start: 25 settings to fix:$' "$tmp/err"
expected="CDS_CONSOLE_KEY CDS_COURIER_WEBHOOK_SECRETS CDS_CURSOR_KEY CDS_DATABASE_URL CDS_DATA_KEYS \
CDS_ESMS_API_KEY CDS_ESMS_CALLBACK_TOKEN CDS_ESMS_CALLBACK_URL CDS_ESMS_SECRET_KEY CDS_ESMS_URL \
CDS_LOOKUP_KEY CDS_PARTNER_CLIENTS CDS_PID_HASH_KEY CDS_PUBLIC_BASE_URL CDS_RECEIPT_KEYS \
CDS_REFRESH_KEY CDS_SPEEDSMS_CALLBACK_TOKEN CDS_SPEEDSMS_TOKEN CDS_SPEEDSMS_URL \
CDS_TLS_CERT, CDS_TLS_KEY CDS_TOKEN_KEYS CDS_VNEID_CLIENT_SECRET CDS_VNEID_ISSUER \
CDS_VNPOST_TOKEN CDS_VNPOST_URL "
check_eq "no configuration: every missing setting named" "$(names "$tmp/err")" "$expected"
check "no configuration: a key is missing" grep -q '^  CDS_TOKEN_KEYS: missing (set it, or CDS_TOKEN_KEYS_FILE)$' "$tmp/err"
check "no configuration: a default secret" grep -q '^  CDS_VNEID_CLIENT_SECRET: is the development default$' "$tmp/err"
check "no configuration: a stand-in URL" grep -q '^  CDS_VNEID_ISSUER: points at this machine' "$tmp/err"
check "no configuration: nothing listened" test ! -s "$tmp/out"
serve_once CDS_ENV=staging
check "CDS_ENV must be known" grep -q "CDS_ENV must be development or production" "$tmp/err"

# ---------------------------------------------------------------- a full production configuration
db=$(th_db_new production)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=cds.example.gov.vn \
    -keyout "$tmp/tls-key.pem" -out "$tmp/tls-cert.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/token.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/receipt.pem" 2>/dev/null
# Files as `echo` and credential stores write them: a trailing newline.
secret() { echo "$2" >"$tmp/$1" && chmod 600 "$tmp/$1" && echo "$tmp/$1"; }
rnd() { openssl rand -hex 24; }
esms_token=$(rnd)
# Push: an FCM service-account key as Google hands it out (JSON, RSA key,
# Google's token URI) and an APNs .p8 key, each given as a file.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/fcm.pem" 2>/dev/null
fcm_json() { # fcm_json TOKEN_URI
    jq -n --rawfile k "$tmp/fcm.pem" --arg uri "$1" '{type: "service_account",
        project_id: "cong-dan-so-hcm", private_key_id: "5f2c1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e",
        private_key: $k, client_email: "push@cong-dan-so-hcm.iam.gserviceaccount.com",
        client_id: "103456789012345678901", token_uri: $uri}'
}
fcm_json https://oauth2.googleapis.com/token >"$tmp/fcm.json"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/apns.p8" 2>/dev/null
chmod 600 "$tmp/fcm.json" "$tmp/apns.p8"
prod=(CDS_ENV=production CDS_THREADS=2 CDS_DEV_KEYS_DIR="$tmp/devkeys"
    CDS_DATABASE_URL_FILE="$(secret db "$db")" CDS_AUTO_MIGRATE=1
    CDS_TLS_CERT="$tmp/tls-cert.pem" CDS_TLS_KEY="$tmp/tls-key.pem"
    CDS_VNEID_ISSUER=https://vneid.example.gov.vn CDS_VNEID_CLIENT_SECRET_FILE="$(secret vneid "$(rnd)")"
    CDS_TOKEN_KEYS="k2026=$tmp/token.pem"
    CDS_DATA_KEYS_FILE="$(secret data "d1:$(openssl rand -base64 32)")"
    CDS_PID_HASH_KEY_FILE="$(secret pid "$(openssl rand -base64 32)")"
    CDS_REFRESH_KEY_FILE="$(secret refresh "$(openssl rand -base64 32)")"
    CDS_LOOKUP_KEY_FILE="$(secret lookup "$(openssl rand -base64 32)")"
    CDS_CURSOR_KEY_FILE="$(secret cursor "$(openssl rand -base64 32)")"
    CDS_CONSOLE_KEY_FILE="$(secret console "$(openssl rand -base64 32)")"
    CDS_PARTNER_CLIENTS_FILE="$(secret partner "tthc-hcm:$(rnd)")"
    CDS_PUBLIC_BASE_URL=https://congdanso.example.gov.vn
    CDS_ESMS_URL=https://rest.esms.vn CDS_ESMS_API_KEY="$(rnd)" CDS_ESMS_SECRET_KEY_FILE="$(secret esms "$(rnd)")"
    CDS_ESMS_CALLBACK_TOKEN_FILE="$(secret esms-cb "$esms_token")"
    CDS_ESMS_CALLBACK_URL="https://congdanso.example.gov.vn/v1/callbacks/sms/esms/$esms_token"
    CDS_SPEEDSMS_URL=https://api.speedsms.vn CDS_SPEEDSMS_TOKEN_FILE="$(secret speedsms "$(rnd)")"
    CDS_SPEEDSMS_CALLBACK_TOKEN="$(rnd)"
    CDS_RECEIPT_KEYS="$tmp/receipt.pem"
    CDS_COURIER_WEBHOOK_SECRETS_FILE="$(secret courier "vnpost:$(rnd)")"
    CDS_VNPOST_URL=https://vnpost.example.vn CDS_VNPOST_TOKEN_FILE="$(secret vnpost "$(rnd)")"
    CDS_FCM_SERVICE_ACCOUNT_FILE="$tmp/fcm.json"
    CDS_APNS_KEY_FILE="$tmp/apns.p8" CDS_APNS_KEY_ID=AB12CD34EF CDS_APNS_TEAM_ID=9ZY8XW7VU6
    CDS_ZNS_URL=https://business.openapi.zalo.me CDS_ZNS_APP_ID=4318803712336475021
    CDS_ZNS_SECRET_KEY_FILE="$(secret zns "$(rnd)")" CDS_ZNS_OA_SECRET_KEY="$(rnd)"
    CDS_ZNS_REFRESH_TOKEN_FILE="$(secret zns-rt "$(rnd)")" CDS_ZNS_TEMPLATE_ID=301234)

if th_serve P "${prod[@]}"; then
    ok
    check_eq "production: healthz" "$(curl -s -o /dev/null -w '%{http_code}' "$P_URL/healthz")" 200
    check_eq "production: readyz (database URL from its file)" \
        "$(curl -s -o /dev/null -w '%{http_code}' "$P_URL/readyz")" 200
    check "production: our certificate" bash -c "curl -s -v --cacert '$tmp/tls-cert.pem' --resolve cds.example.gov.vn:${P_TLS##*:}:127.0.0.1 \
        https://cds.example.gov.vn:${P_TLS##*:}/healthz 2>&1 | grep -q 'CN=cds.example.gov.vn'"
    check "production: no development key made" test ! -e "$tmp/devkeys"
    th_stop "$P_PID"
    check_eq "production: clean stop" "$TH_STATUS" 0
else
    fail "production: a full configuration starts"
fi

# The other commands read the database URL from its file too.
migrate_status() {
    env -i PATH="$PATH" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} CDS_DATABASE_URL_FILE="$tmp/db" \
        "$CDS_BUILD_DIR/cds" migrate --status 1 >/dev/null
}
check "cds migrate: CDS_DATABASE_URL_FILE" migrate_status

# ---------------------------------------------------------------- one thing wrong at a time
serve_once "${prod[@]}" CDS_CASSO_SECRET=cds-dev-casso-secret
check "dev value refused" grep -q '^  CDS_CASSO_SECRET: is a development value' "$tmp/err"
check_eq "dev value: the only one named" "$(names "$tmp/err")" "CDS_CASSO_SECRET "
# prod_without PATTERN: the production configuration less the settings matching PATTERN.
prod_without() {
    without=()
    for v in "${prod[@]}"; do [[ $v == $1 ]] || without+=("$v"); done
}
prod_without 'CDS_APNS_TEAM_ID=*'
serve_once "${without[@]}"
check_eq "APNs key without its team id: named" "$(names "$tmp/err")" "CDS_APNS_TEAM_ID "
check "APNs: why" grep -q '^  CDS_APNS_TEAM_ID: missing (CDS_APNS_KEY of the same provider is set)$' "$tmp/err"
prod_without 'CDS_APNS_KEY_FILE=*'
serve_once "${without[@]}"
check_eq "APNs ids without the key: named" "$(names "$tmp/err")" "CDS_APNS_KEY "
prod_without 'CDS_ZNS_*'
serve_once "${without[@]}" CDS_ZNS_URL=https://business.openapi.zalo.me
check_eq "a ZNS URL alone: every missing ZNS setting named" "$(names "$tmp/err")" \
    "CDS_ZNS_APP_ID CDS_ZNS_OA_SECRET_KEY CDS_ZNS_REFRESH_TOKEN CDS_ZNS_SECRET_KEY CDS_ZNS_TEMPLATE_ID "
prod_without 'CDS_ZNS_*'
serve_once "${without[@]}" CDS_ZNS_URL=https://business.openapi.zalo.me CDS_ZNS_APP_ID=4318803712336475021 \
    CDS_ZNS_SECRET_KEY=cds-dev-zalo-app-secret CDS_ZNS_OA_SECRET_KEY="$(rnd)" \
    CDS_ZNS_REFRESH_TOKEN="$(rnd)" CDS_ZNS_TEMPLATE_ID=301234
check_eq "ZNS: a development secret named" "$(names "$tmp/err")" "CDS_ZNS_SECRET_KEY "
prod_without 'CDS_FCM_*'
serve_once "${without[@]}" CDS_FCM_URL=https://fcm.googleapis.com
check_eq "an FCM URL without the key: named" "$(names "$tmp/err")" "CDS_FCM_SERVICE_ACCOUNT "
prod_without 'CDS_PAYOS_*'
serve_once "${without[@]}" CDS_PAYOS_CLIENT_ID=5f1e2d3c-payos-client
check_eq "a payOS client id alone: its keys named" "$(names "$tmp/err")" "CDS_PAYOS_API_KEY CDS_PAYOS_CHECKSUM_KEY "
# The key of the development stand-in (its token URI on this machine) is
# refused when the dispatcher reads it, before anything listens.
fcm_json http://127.0.0.1:9005/token >"$tmp/fcm-sim.json"
rc=0
serve_once "${prod[@]/#CDS_FCM_SERVICE_ACCOUNT_FILE=*/CDS_FCM_SERVICE_ACCOUNT_FILE=$tmp/fcm-sim.json}" || rc=$?
check "FCM key of a stand-in: refused" test "$rc" -ne 0 -a "$rc" -ne 124
check "FCM key of a stand-in: its token_uri named" grep -q 'token_uri points at this machine' "$tmp/err" "$tmp/out"
check "FCM key of a stand-in: nothing listened" th_not grep -q '"listening"' "$tmp/out"
without=()
for v in "${prod[@]}"; do [[ $v == CDS_PARTNER_CLIENTS_FILE=* ]] || without+=("$v"); done
serve_once "${without[@]}"
check "unset partner clients: the development default" grep -q '^  CDS_PARTNER_CLIENTS: is the development default$' "$tmp/err"
serve_once "${prod[@]}" CDS_SPEEDSMS_CALLBACK_TOKEN=cds-dev-speedsms-callback-token
check "a default token given again" grep -q '^  CDS_SPEEDSMS_CALLBACK_TOKEN: is the development default$' "$tmp/err"
serve_once "${prod[@]}" CDS_ESMS_URL='https://rest esms.vn'
check "malformed URL refused at start" grep -q '^  CDS_ESMS_URL: is not a URL' "$tmp/err"
serve_once "${prod[@]}" CDS_VNPOST_URL=http://127.0.0.1:9008
check "stand-in URL refused" grep -q '^  CDS_VNPOST_URL: points at this machine' "$tmp/err"
serve_once "${prod[@]}" CDS_VNPOST_URL=https://sim.example.vn:9008
check "stand-in port refused" grep -q '^  CDS_VNPOST_URL: points at a stand-in port' "$tmp/err"
serve_once "${prod[@]}" CDS_SPEEDSMS_TOKEN=inline-too
check "NAME and NAME_FILE both set" grep -q '^  CDS_SPEEDSMS_TOKEN: set CDS_SPEEDSMS_TOKEN or CDS_SPEEDSMS_TOKEN_FILE, not both$' "$tmp/err"
serve_once "${prod[@]}" CDS_REFRESH_KEY_FILE="$tmp/no-such-file" CDS_VNPOST_URL=ftp://vnpost.example.vn
check "unreadable NAME_FILE named" grep -q "^  CDS_REFRESH_KEY_FILE: cannot read $tmp/no-such-file" "$tmp/err"
check_eq "file and URL in one message" "$(names "$tmp/err")" "CDS_REFRESH_KEY_FILE CDS_VNPOST_URL "
rc=0
serve_once CDS_VNPOST_URL='http://[::1' || rc=$?
check "development: a malformed URL refused too" test "$rc" -ne 0 -a "$rc" -ne 124
check "development: named" grep -q '^  CDS_VNPOST_URL: is not a URL' "$tmp/err"

rm -rf "$tmp"
th_done
