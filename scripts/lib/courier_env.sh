# scripts/lib/courier_env.sh: points the server's courier booking at the
# VNPost stand-in of cds-sim and the stand-in's webhooks back at the server
# (bash). Development values only; a real deployment sets its carrier's URL,
# token and webhook secret.
#
#   cds_courier_env VNPOST_URL SERVER_URL
#       exports CDS_VNPOST_URL, CDS_VNPOST_TOKEN and
#       CDS_COURIER_WEBHOOK_SECRETS for `cds serve`, and CDS_SIM_VNPOST_*
#       for `cds-sim` (call it before starting either): the stand-in plays
#       every new booking through pickup, transit and delivery, one event
#       every CDS_SIM_VNPOST_AUTO_MS (3 s) unless CDS_SIM_VNPOST_AUTO says
#       otherwise (deliver, fail_return, fail_deliver, or empty for none).

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
}
