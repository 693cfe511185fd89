# scripts/lib/courier_env.sh: points the server's courier booking at the
# VNPost stand-in of cds-sim and the stand-in's webhooks back at the server
# (bash). Development values only; a real deployment sets its carrier's URL,
# token and webhook secret.
#
#   cds_courier_env VNPOST_URL SERVER_URL [GHN_URL]
#       exports CDS_VNPOST_URL, CDS_VNPOST_TOKEN and
#       CDS_COURIER_WEBHOOK_SECRETS for `cds serve`, and CDS_SIM_VNPOST_*
#       for `cds-sim` (call it before starting either): the stand-in plays
#       every new booking through pickup, transit and delivery, one event
#       every CDS_SIM_VNPOST_AUTO_MS (3 s) unless CDS_SIM_VNPOST_AUTO says
#       otherwise (deliver, fail_return, fail_deliver, or empty for none).
#       With GHN_URL (the GHN stand-in's base), the same for GHN:
#       CDS_GHN_URL (GHN_URL/shiip/public-api), CDS_GHN_TOKEN, CDS_GHN_SHOP_ID,
#       CDS_GHN_CALLBACK_TOKEN and CDS_SIM_GHN_* (CDS_SIM_GHN_AUTO: deliver,
#       fail_return or empty). Development values only.

cds_courier_env() {
    local vnpost=$1 server=$2
    export CDS_VNPOST_URL=${CDS_VNPOST_URL:-$vnpost}
    export CDS_VNPOST_TOKEN=${CDS_VNPOST_TOKEN:-cds-dev-vnpost-token}
    export CDS_COURIER_WEBHOOK_SECRETS=${CDS_COURIER_WEBHOOK_SECRETS:-vnpost:cds-dev-vnpost-webhook-secret}
    export CDS_SIM_VNPOST_TARGET=${CDS_SIM_VNPOST_TARGET:-$server}
    export CDS_SIM_VNPOST_TOKEN=$CDS_VNPOST_TOKEN
    export CDS_SIM_VNPOST_SECRET=${CDS_COURIER_WEBHOOK_SECRETS#vnpost:}
    export CDS_SIM_VNPOST_AUTO=${CDS_SIM_VNPOST_AUTO-deliver}
    export CDS_SIM_VNPOST_AUTO_MS=${CDS_SIM_VNPOST_AUTO_MS:-3000}
    if [[ -n ${3:-} ]]; then
        export CDS_GHN_URL=${CDS_GHN_URL:-$3/shiip/public-api}
        export CDS_GHN_TOKEN=${CDS_GHN_TOKEN:-cds-dev-ghn-token}
        export CDS_GHN_SHOP_ID=${CDS_GHN_SHOP_ID:-885}
        export CDS_GHN_CALLBACK_TOKEN=${CDS_GHN_CALLBACK_TOKEN:-cds-dev-ghn-callback-token}
        export CDS_SIM_GHN_TARGET=${CDS_SIM_GHN_TARGET:-$server}
        export CDS_SIM_GHN_TOKEN=$CDS_GHN_TOKEN
        export CDS_SIM_GHN_CALLBACK_TOKEN=$CDS_GHN_CALLBACK_TOKEN
        export CDS_SIM_GHN_AUTO=${CDS_SIM_GHN_AUTO-deliver}
        export CDS_SIM_GHN_AUTO_MS=${CDS_SIM_GHN_AUTO_MS:-3000}
    fi
}
