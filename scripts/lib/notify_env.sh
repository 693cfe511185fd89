# scripts/lib/notify_env.sh: points the server's notification dispatcher at
# the stand-in gateways of a running cds-sim (bash).
#
#   cds_notify_env ESMS SPEEDSMS FCM APNS KEYDIR
#       base URLs of the four stand-ins and a directory for their key
#       material; fetches the FCM service-account file and the APNs signing
#       key from the stand-ins and exports the CDS_ESMS_*, CDS_SPEEDSMS_*,
#       CDS_FCM_* and CDS_APNS_* variables `cds serve` reads. The APNs
#       stand-in's TLS certificate is the development one in CDS_DEV_CERT_DIR.
#       Returns non-zero when a stand-in does not answer.
#
#   cds_zns_env ZNS
#       base URL of the Zalo ZNS stand-in: exports the CDS_ZNS_* variables
#       with the stand-in's development app id, secrets, refresh token and
#       template (sim/zns.c), for ./scripts/run and bench/run only.

cds_notify_env() {
    local esms=$1 speedsms=$2 fcm=$3 apns=$4 keys=$5 json
    mkdir -p "$keys" || return 1
    # -s without -S: a refused connection while a stand-in is still starting
    # is retried quietly; only a stand-in that never answers is reported.
    curl -fs --retry 20 --retry-connrefused --retry-delay 0 --max-time 10 \
        "$fcm/_sim/service-account.json" -o "$keys/fcm-service-account.json" ||
        { echo "cds_notify_env: the FCM stand-in at $fcm did not answer" >&2; return 1; }
    json=$(curl -fs -k --retry 20 --retry-connrefused --retry-delay 0 --max-time 10 \
        "$apns/_sim/auth-key.json") ||
        { echo "cds_notify_env: the APNs stand-in at $apns did not answer" >&2; return 1; }
    jq -r .private_key <<<"$json" >"$keys/apns-auth-key.p8" || return 1
    chmod 600 "$keys/apns-auth-key.p8" "$keys/fcm-service-account.json"
    export CDS_ESMS_URL=$esms CDS_ESMS_API_KEY=cds-dev-esms-apikey \
        CDS_ESMS_SECRET_KEY=cds-dev-esms-secretkey
    export CDS_SPEEDSMS_URL=$speedsms CDS_SPEEDSMS_TOKEN=cds-dev-speedsms-token
    export CDS_FCM_URL=$fcm CDS_FCM_SERVICE_ACCOUNT=$keys/fcm-service-account.json
    export CDS_APNS_URL=$apns CDS_APNS_KEY_FILE=$keys/apns-auth-key.p8
    CDS_APNS_KEY_ID=$(jq -r .key_id <<<"$json")
    CDS_APNS_TEAM_ID=$(jq -r .team_id <<<"$json")
    CDS_APNS_TOPIC=$(jq -r .topic <<<"$json")
    export CDS_APNS_KEY_ID CDS_APNS_TEAM_ID CDS_APNS_TOPIC
    export CDS_APNS_CA_FILE=${CDS_DEV_CERT_DIR:-var/tls}/dev-cert.pem
}

cds_zns_env() {
    export CDS_ZNS_URL=$1 CDS_ZNS_OAUTH_URL=$1 CDS_ZNS_APP_ID=cds-dev-zalo-app
    export CDS_ZNS_SECRET_KEY=cds-dev-zalo-app-secret CDS_ZNS_OA_SECRET_KEY=cds-dev-zalo-oa-secret
    export CDS_ZNS_REFRESH_TOKEN=cds-dev-zalo-refresh-token CDS_ZNS_TEMPLATE_ID=cds-dossier-step
}
