#!/usr/bin/env bash
# The two demos, scripts/demo-dossier then scripts/demo-delivery, for the
# same citizen, as README tells a newcomer to run them, against `cds serve`
# and cds-sim set up as ./scripts/run sets them up (its development
# secrets, its stand-ins) but on free ports and a fresh database. The
# per-citizen SMS limit is the default (10 an hour): the two demos send the
# citizen more than that. Issue 18, part 1: the delivery demo's own printout
# shows the "completed" SMS arriving (and "out for delivery"); no message is
# left failed; every SMS either reached the gateway or was superseded by a
# newer state of its dossier.
set -uo pipefail
source "$CDS_SOURCE_DIR/tests/lib/harness.sh"
source "$CDS_SOURCE_DIR/scripts/lib/notify_env.sh"
source "$CDS_SOURCE_DIR/scripts/lib/courier_env.sh"
for tool in jq curl psql; do
    command -v "$tool" >/dev/null || { echo "SKIPPED: $tool is not installed" >&2; exit 77; }
done

mkdir -p "$CDS_BUILD_DIR/Testing"
tmp=$(mktemp -d "$CDS_BUILD_DIR/Testing/demos_XXXXXX")
db=$(th_db_new demos) || exit 1

# Every port chosen first: the stand-ins call the server back and the server
# calls them.
declare -A P
for s in api tls admin vneid tthc bank sms_esms sms_speedsms fcm apns vnpost payos zns; do
    while :; do
        p=$(th_free_port)
        [[ " ${P[*]} " == *" $p "* ]] || break
    done
    P[$s]=$p
done
api=http://127.0.0.1:${P[api]}

# The environment of ./scripts/run (its development values), ports aside.
export CDS_DEV_CERT_DIR=$CDS_BUILD_DIR/Testing CDS_DEV_KEYS_DIR=$CDS_BUILD_DIR/Testing/keys
export CDS_PAYOS_CHECKSUM_KEY=cds-dev-payos-checksum-key CDS_CASSO_SECRET=cds-dev-casso-webhook-secret
export CDS_SEPAY_API_KEY=cds-dev-sepay-api-key CDS_SEPAY_HMAC_SECRET=cds-dev-sepay-hmac-secret
export CDS_SIM_BANK_TARGET=$api
export CDS_PAYOS_URL=http://127.0.0.1:${P[payos]} CDS_PAYOS_CLIENT_ID=cds-dev-payos-client-id
export CDS_PAYOS_API_KEY=cds-dev-payos-api-key CDS_PAYOS_RETURN_URL=$api/payos/return
export CDS_PAYOS_CANCEL_URL=$api/payos/cancel CDS_PAYOS_WEBHOOK_URL=$api/v1/webhooks/payos
export CDS_PAYOS_DESCRIPTION_MAX=25
export CDS_TTHC_URL=http://127.0.0.1:${P[tthc]} CDS_TTHC_SECRET=cds-dev-tthc-secret
export CDS_SIM_TTHC_TARGET=$api CDS_SIM_SMS_CALLBACK_BASE=$api/v1/callbacks/sms
export CDS_SIM_ZNS_WEBHOOK_URL=$api/v1/callbacks/zns
# The courier plays its plan faster than scripts/run's one event every 3 s.
export CDS_SIM_VNPOST_AUTO_MS=400
cds_courier_env "http://127.0.0.1:${P[vnpost]}" "$api"
for s in vneid tthc bank sms_esms sms_speedsms fcm apns vnpost payos zns; do
    export "CDS_SIM_${s^^}_PORT=${P[$s]}"
done
CDS_SIM_ONLY=vneid,tthc,bank,sms-esms,sms-speedsms,fcm,apns,vnpost,payos,zns CDS_SIM_THREADS=2 \
    "$CDS_BUILD_DIR/cds-sim" >"$tmp/sim.out" 2>"$tmp/sim.log" &
th_pids+=("$!")
cds_notify_env "http://127.0.0.1:${P[sms_esms]}" "http://127.0.0.1:${P[sms_speedsms]}" \
    "http://127.0.0.1:${P[fcm]}" "https://127.0.0.1:${P[apns]}" "$tmp/providers" ||
    { echo "the stand-ins did not start: $(tail -5 "$tmp/sim.log")" >&2; exit 1; }
cds_zns_env "http://127.0.0.1:${P[zns]}"
export CDS_DATABASE_URL=$db CDS_VNEID_ISSUER=http://127.0.0.1:${P[vneid]}
"$CDS_BUILD_DIR/cds" migrate >"$tmp/migrate.log" 2>&1 || { cat "$tmp/migrate.log" >&2; exit 1; }
(cd "$CDS_SOURCE_DIR" && "$CDS_BUILD_DIR/cds" catalog load >/dev/null) || exit 1
unset CDS_SMS_PER_HOUR # the default limit
CDS_PORT=${P[api]} CDS_TLS_PORT=${P[tls]} CDS_ADMIN_PORT=${P[admin]} CDS_THREADS=2 \
    "$CDS_BUILD_DIR/cds" serve >"$tmp/server.log" 2>&1 &
srv=$!
th_pids+=("$srv")
check "server healthy" th_wait_for 60 curl -fso /dev/null "$api/healthz"

demo_env=(CDS_API="$api" CDS_TTHC="http://127.0.0.1:${P[tthc]}" CDS_BANK="http://127.0.0.1:${P[bank]}"
    CDS_ESMS_SIM="http://127.0.0.1:${P[sms_esms]}" CDS_FCM_SIM="http://127.0.0.1:${P[fcm]}"
    CDS_APNS_SIM="https://127.0.0.1:${P[apns]}" CDS_ZNS_SIM="http://127.0.0.1:${P[zns]}"
    TMPDIR="$tmp")
check "demo-dossier runs" env "${demo_env[@]}" "$CDS_SOURCE_DIR/scripts/demo-dossier" >"$tmp/dossier.out" 2>&1
check "demo-delivery runs" env "${demo_env[@]}" "$CDS_SOURCE_DIR/scripts/demo-delivery" >"$tmp/delivery.out" 2>&1
cat "$tmp/dossier.out" "$tmp/delivery.out"

# The delivery demo's own printout: the dossier completed, and the SMS the
# eSMS stand-in received for it include "out for delivery" and "completed".
dcode=$(sed -n 's/^dossier \(DEMO-DL-[0-9]*\) (.*) imported from the counter$/\1/p' "$tmp/delivery.out")
check "a dossier imported" test -n "$dcode"
check "the dossier is completed" grep -q "^dossier $dcode is completed" "$tmp/delivery.out"
sms=$(sed -n '/^SMS seen by the eSMS stand-in:/,/^Zalo ZNS messages/p' "$tmp/delivery.out")
check "the completed SMS in the demo's printout" grep -q "Ho so $dcode .*da hoan thanh" <<<"$sms"
check "the out-for-delivery SMS in the demo's printout" grep -q "Buu ta dang giao ket qua ho so $dcode" <<<"$sms"
# Over the limit indeed: the citizen got more SMS than the hour allows.
phone_sms=$(curl -fs "http://127.0.0.1:${P[sms_esms]}/_sim/messages" | jq '[.items[] | select(.phone == "0912345678")] | length')
check "more than 10 SMS in the hour ($phone_sms)" test "${phone_sms:-0}" -gt 10
# Nothing failed; every SMS went out or was superseded by a newer state of
# its dossier (the courier's in-between steps over the limit).
q() { psql -qtA -d "$db" -c "$1"; }
check_eq "no message failed" "$(q "SELECT count(*) FROM outbox WHERE status IN ('permanent-failure', 'technical-failure', 'temporary-failure')")" 0
check_eq "no rate_limited error" "$(q "SELECT count(*) FROM outbox WHERE last_error LIKE 'rate_limited%'")" 0
check_eq "the completed SMS delivered" "$(q "SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE d.code = '$dcode' AND o.channel = 'sms' AND o.template = 'completed' AND o.status IN ('sent', 'delivered')")" 1
left=$(q "SELECT count(*) FROM outbox o JOIN dossiers d ON d.id = o.dossier_id WHERE d.code = '$dcode' AND o.channel = 'sms' AND o.status NOT IN ('sent', 'delivered', 'superseded')")
check_eq "every SMS of the delivered dossier out or superseded" "$left" 0

th_stop "$srv"
check_eq "server stopped cleanly" "$TH_STATUS" 0
th_done
