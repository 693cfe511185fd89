#!/usr/bin/env bash
# The Debian package (issue 17, item 6; cmake/package.cmake): `cpack -G DEB`
# from this build directory, then its control data (Depends computed by
# dpkg-shlibdeps: the libraries the binary links, never listed by hand;
# conffiles; maintainer scripts that parse; apt resolves every dependency,
# simulated), its contents (the binary, the
# unit, the example environment file, no stand-ins), `systemd-analyze
# verify` and the offline security score of the unit, and finally the
# package extracted into a scratch root (dpkg -x, nothing installed on this
# machine) and its unit's ExecStart line run as systemd would: the
# installed /etc/cds/cds.env as the environment (only addresses, ports and
# file locations changed for the test), every LoadCredential= of the unit
# as a file in $CREDENTIALS_DIRECTORY, CDS_ENV=production (from the example
# file). It serves /healthz and /readyz (database URL from its credential)
# and our certificate, stops cleanly on SIGTERM; one credential missing and
# it refuses to start, naming it.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"

for tool in cpack dpkg-deb dpkg-shlibdeps; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool is not installed (scripts/bootstrap: cmake, dpkg-dev)"
        exit 77
    fi
done
for v in $(compgen -e | grep '^CDS_'); do
    case $v in CDS_BUILD_DIR | CDS_SOURCE_DIR | CDS_TEST_TMP) ;; *) unset "$v" ;; esac
done
mkdir -p "$CDS_BUILD_DIR/Testing"
work=$(mktemp -d "$CDS_BUILD_DIR/Testing/package_XXXXXX")
chmod 755 "$work"

# ---------------------------------------------------------------- build the .deb
if ! (cd "$CDS_BUILD_DIR" && cpack -G DEB -B "$work/out") >"$work/cpack.log" 2>&1; then
    fail "cpack: $(tail -5 "$work/cpack.log")"
    th_done
    exit 1
fi
deb=$(ls "$work"/out/cds_*_*.deb 2>/dev/null | head -1)
check "cpack made cds_<version>_<arch>.deb" test -f "$deb"
dpkg-deb -I "$deb" >"$work/info" 2>&1
dpkg-deb -c "$deb" >"$work/contents" 2>&1
field() { sed -n "s/^ $1: //p" "$work/info"; }
check_eq "Package" "$(field Package)" cds
check_eq "Architecture" "$(field Architecture)" "$(dpkg --print-architecture)"
depends=$(field Depends)
for lib in libc6 libssl3 libpq5 libnghttp2-14 libevent-2.1-7 libcurl4 libjansson4 libcairo2 adduser fonts-dejavu-core; do
    check "Depends names $lib" grep -q "\(^\|, \)$lib\( \|,\|$\)" <<<"$depends"
done
# Computed, not written: the hand-written part names no library.
check "only adduser and fonts are hand-written" \
    grep -q '^set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, fonts-dejavu-core")$' "$CDS_SOURCE_DIR/cmake/package.cmake"
check "Depends carries shlibdeps versions" grep -q 'libpq5 (>= ' <<<"$depends"
has() { grep -q " \./$1\$" "$work/contents"; }
check "contains /usr/bin/cds" has usr/bin/cds
check "contains the unit" has usr/lib/systemd/system/cds.service
check "contains /etc/cds/cds.env" has etc/cds/cds.env
check "contains the HAProxy example" has usr/share/doc/cds/examples/haproxy/haproxy.cfg
check "contains the pgBackRest example" has usr/share/doc/cds/examples/pgbackrest/pgbackrest.conf
check "no stand-ins (cds-sim is a development tool)" bash -c "! grep -q 'cds-sim' '$work/contents'"
check "no test binaries" bash -c "! grep -q '/test_' '$work/contents'"
check "cds.env is not world-readable" grep -q '^-rw-r----- .* \./etc/cds/cds.env$' "$work/contents"
dpkg-deb -e "$deb" "$work/control"
check_eq "conffiles" "$(cat "$work/control/conffiles")" /etc/cds/cds.env
for s in postinst prerm postrm; do
    check "$s is executable and parses" bash -c "test -x '$work/control/$s' && sh -n '$work/control/$s'"
done
check "postinst makes the cds user" grep -q 'adduser --system' "$work/control/postinst"
# Every Depends resolves from Debian 12's archive (apt's simulation: nothing
# is installed).
if command -v apt-get >/dev/null; then
    check "apt-get -s install resolves the package" bash -c \
        "apt-get -s install '$deb' 2>&1 | grep -q '^Inst cds '"
fi

# ---------------------------------------------------------------- the unit
root=$work/root
dpkg -x "$deb" "$root"
unit=$root/usr/lib/systemd/system/cds.service
for opt in 'User=cds' 'ProtectSystem=strict' 'PrivateTmp=yes' 'NoNewPrivileges=yes' \
    'CapabilityBoundingSet=' 'EnvironmentFile=/etc/cds/cds.env' 'ExecReload=/bin/kill -HUP $MAINPID'; do
    check "unit has $opt" grep -qxF "$opt" "$unit"
done
if command -v systemd-analyze >/dev/null; then
    # verify looks for the ExecStart binary on this machine: point it at the
    # extracted one (the rest of the unit unchanged).
    sed "s|/usr/bin/cds|$root/usr/bin/cds|" "$unit" >"$work/cds.service"
    check "systemd-analyze verify" bash -c "systemd-analyze verify '$work/cds.service' >'$work/verify' 2>&1"
    [ -s "$work/verify" ] && cat "$work/verify" >&2
    score=$(systemd-analyze security --offline=true "$work/cds.service" 2>/dev/null |
        sed -n 's/.*Overall exposure level for cds.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
    echo "systemd-analyze security: exposure $score"
    check "hardened: exposure level OK (< 2.0)" awk -v s="${score%% *}" 'BEGIN { exit !(s != "" && s < 2.0) }'
fi

# ---------------------------------------------------------------- run its ExecStart
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
check_eq "ExecStart" "$exec_start" "/usr/bin/cds serve"
read -r -a argv <<<"$exec_start"
argv[0]=$root${argv[0]}

creds=$work/credentials
mkdir -m 700 "$creds"
db=$(th_db_new package)
esms_token=$(openssl rand -hex 24)
mapfile -t ids < <(sed -n 's/^LoadCredential=\([A-Z0-9_]*\):.*/\1/p' "$unit")
check "the unit loads the secrets as credentials" test "${#ids[@]}" -ge 10
for id in "${ids[@]}"; do
    case $id in
        CDS_DATABASE_URL) v=$db ;;
        CDS_DATA_KEYS) v="d1:$(openssl rand -base64 32)" ;;
        CDS_PID_HASH_KEY | CDS_REFRESH_KEY | CDS_LOOKUP_KEY | CDS_CURSOR_KEY | CDS_CONSOLE_KEY) v=$(openssl rand -base64 32) ;;
        CDS_PARTNER_CLIENTS) v="tthc-hcm:$(openssl rand -hex 24)" ;;
        CDS_COURIER_WEBHOOK_SECRETS) v="vnpost:$(openssl rand -hex 24)" ;;
        CDS_ESMS_CALLBACK_TOKEN) v=$esms_token ;;
        *) v=$(openssl rand -hex 24) ;;
    esac
    printf '%s\n' "$v" >"$creds/$id"
    chmod 400 "$creds/$id"
done

# The files cds.env names, made where the test can write them.
etc=$work/etc
mkdir -p "$etc/tls" "$etc/keys" "$work/state"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=cds.example.gov.vn \
    -keyout "$etc/tls/privkey.pem" -out "$etc/tls/fullchain.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$etc/keys/k2026.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$etc/keys/receipt.pem" 2>/dev/null
echo "k2026=$etc/keys/k2026.pem" >"$etc/keys/token-keys"
echo "$etc/keys/receipt.pem" >"$etc/keys/receipt-keys"

port=$(th_free_port)
tls=$(th_free_port)
admin=$(th_free_port)
# The installed environment file as systemd reads it (NAME=value lines),
# then what differs on this machine.
mapfile -t envfile < <(grep -E '^CDS_[A-Z0-9_]+=' "$root/etc/cds/cds.env")
check "cds.env sets CDS_ENV=production" grep -qx 'CDS_ENV=production' "$root/etc/cds/cds.env"
local_env=(CDS_HOST=127.0.0.1 CDS_PORT="$port" CDS_TLS_PORT="$tls" CDS_ADMIN_PORT="$admin" CDS_THREADS=2
    CDS_TLS_CERT="$etc/tls/fullchain.pem" CDS_TLS_KEY="$etc/tls/privkey.pem"
    CDS_TOKEN_KEYS_FILE="$etc/keys/token-keys" CDS_RECEIPT_KEYS_FILE="$etc/keys/receipt-keys"
    CDS_ESMS_CALLBACK_URL="https://congdanso.tphcm.gov.vn/v1/callbacks/sms/esms/$esms_token")
log=$work/serve.log
# run_unit [CREDENTIALS_DIRECTORY]: the ExecStart line in a clean
# environment, from the state directory (the unit's WorkingDirectory).
# Called in a subshell of its own (`&`, bash -c): exec makes it the server.
run_unit() {
    cd "$work/state" || exit 1
    exec env -i PATH=/usr/bin:/bin ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
        ${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} CREDENTIALS_DIRECTORY="$1" \
        "${envfile[@]}" "${local_env[@]}" "${argv[@]}" >"$log" 2>&1
}
run_unit "$creds" &
pid=$!
th_pids+=("$pid")
healthy() { curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; }
if th_wait_for 30 healthy; then
    ok
    check_eq "/healthz" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" 200
    # Ready once every event loop's pool has connected, as a balancer waits.
    ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; }
    th_wait_for 20 ready
    check_eq "/readyz (database URL from its credential)" \
        "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" 200
    check "TLS with the configured certificate" bash -c "curl -fs --cacert '$etc/tls/fullchain.pem' \
        --resolve cds.example.gov.vn:$tls:127.0.0.1 -o /dev/null https://cds.example.gov.vn:$tls/healthz"
    check "no development key made" test ! -e "$work/state/var/keys"
    th_stop "$pid"
    check_eq "clean stop on SIGTERM" "$TH_STATUS" 0
else
    fail "the unit's ExecStart with cds.env and the credentials serves /healthz: $(tail -20 "$log")"
fi

# Without one credential: refused, named (production mode is on).
mkdir -m 700 "$work/fewer"
cp -p "$creds"/* "$work/fewer/"
rm -f "$work/fewer/CDS_VNEID_CLIENT_SECRET"
rc=0
timeout 30 bash -c "$(declare -f run_unit); $(declare -p envfile local_env argv work log); run_unit '$work/fewer'" || rc=$?
check "a missing credential: refused" test "$rc" -ne 0 -a "$rc" -ne 124
check "a missing credential: named" grep -q 'CDS_VNEID_CLIENT_SECRET' "$log"

rm -rf "$work"
th_done
