/* delivery/ configuration and start-up: options (CDS_DELIVERY_*,
 * CDS_COURIER_*, CDS_VNPOST_*, CDS_GHN_*), the tariff, the carriers' webhook secrets,
 * the statements, the booking dispatcher's LISTEN thread. */
#include "internal.h"
#include "core/cidr.h"
#include "core/log.h"

#include <string.h>

cds_delivery_config g_delivery;
struct cds_cidr_list *dl_ghn_allow;

void cds_delivery_config_defaults(cds_delivery_config *c)
{
    memset(c, 0, sizeof *c);
    c->carrier = "vnpost";
    c->webhook_secrets = "vnpost:cds-dev-vnpost-webhook-secret";
    c->webhook_window_s = 300;
    c->max_failed_attempts = 3;
    c->dispatch = 1;
    c->batch = 32;
    c->poll_ms = 1000;
    c->claim_timeout_s = 120;
    c->max_attempts = 12;
    c->backoff_base_ms = 2000;
    c->backoff_max_ms = 30 * 60 * 1000;
    c->poll_carriers = "";
    c->poll_after_s = 1800;
    c->poll_every_ms = 60000;
    c->vnpost_token = "cds-dev-vnpost-token";
    c->vnpost_customer_code = "CDS-HCM";
    c->call_timeout_ms = 10000;
    c->ghn_shop_id = "885";
    c->ghn_callback_allow = "";
    c->ghn_service_type_id = 2;
    c->courier_token_ttl_s = 900;
}

size_t cds_delivery_options(cds_delivery_config *c, cds_opt *out, size_t cap)
{
    const cds_opt o[] = {
        {"delivery-tariff", "CDS_DELIVERY_TARIFF", CDS_OPT_STR, &c->tariff_file, 0, 0, "delivery tariff file; unset: the built-in db/seed/tariff.json"},
        {"delivery-carrier", "CDS_DELIVERY_CARRIER", CDS_OPT_STR, &c->carrier, 0, 0, "carrier of new shipments (vnpost)"},
        {"delivery-dispatch", "CDS_DELIVERY_DISPATCH", CDS_OPT_INT, &c->dispatch, 0, 1, "book shipments from this process"},
        {"delivery-batch", "CDS_DELIVERY_BATCH", CDS_OPT_INT, &c->batch, 1, 1000, "bookings claimed at once (and in flight) per thread"},
        {"delivery-poll-ms", "CDS_DELIVERY_POLL_MS", CDS_OPT_INT, &c->poll_ms, 10, 600000, "look for due bookings this often even without NOTIFY"},
        {"delivery-claim-timeout", "CDS_DELIVERY_CLAIM_TIMEOUT", CDS_OPT_INT, &c->claim_timeout_s, 1, 86400, "seconds before a booking with no result is claimed again"},
        {"delivery-max-attempts", "CDS_DELIVERY_MAX_ATTEMPTS", CDS_OPT_INT, &c->max_attempts, 1, 100, "booking attempts before it fails for good"},
        {"delivery-backoff-ms", "CDS_DELIVERY_BACKOFF_MS", CDS_OPT_INT, &c->backoff_base_ms, 1, 3600000, "first booking retry delay; doubles each attempt, with jitter"},
        {"delivery-backoff-max-ms", "CDS_DELIVERY_BACKOFF_MAX_MS", CDS_OPT_INT, &c->backoff_max_ms, 1, 86400000, "longest booking retry delay"},
        {"courier-webhook-secrets", "CDS_COURIER_WEBHOOK_SECRETS", CDS_OPT_SECRET, &c->webhook_secrets, 0, 0, "webhook signers carrier:secret[,...]"},
        {"courier-webhook-window", "CDS_COURIER_WEBHOOK_WINDOW", CDS_OPT_INT, &c->webhook_window_s, 10, 3600, "seconds a signed courier webhook stays valid"},
        {"courier-max-failed", "CDS_COURIER_MAX_FAILED", CDS_OPT_INT, &c->max_failed_attempts, 1, 20, "failed delivery attempts before the result returns to the agency"},
        {"courier-poll-carriers", "CDS_COURIER_POLL_CARRIERS", CDS_OPT_STR, &c->poll_carriers, 0, 0, "carriers whose tracking API is polled (vnpost[,...]); empty: none"},
        {"courier-poll-after", "CDS_COURIER_POLL_AFTER", CDS_OPT_INT, &c->poll_after_s, 1, 604800, "poll shipments not updated for this many seconds"},
        {"courier-poll-every-ms", "CDS_COURIER_POLL_EVERY_MS", CDS_OPT_INT, &c->poll_every_ms, 100, 3600000, "how often a polling round runs"},
        {"courier-timeout-ms", "CDS_COURIER_TIMEOUT_MS", CDS_OPT_INT, &c->call_timeout_ms, 100, 120000, "a carrier API call longer than this failed"},
        {"vnpost-url", "CDS_VNPOST_URL", CDS_OPT_URL, &c->vnpost_url, 0, 0, "VNPost/EMS-style API base URL; unset: bookings wait"},
        {"vnpost-token", "CDS_VNPOST_TOKEN", CDS_OPT_SECRET, &c->vnpost_token, 0, 0, "VNPost API token"},
        {"vnpost-customer-code", "CDS_VNPOST_CUSTOMER_CODE", CDS_OPT_STR, &c->vnpost_customer_code, 0, 0, "our customer code at VNPost"},
        {"ghn-url", "CDS_GHN_URL", CDS_OPT_URL | CDS_OPT_OPTIONAL, &c->ghn_url, 0, 0, "GHN API base URL (https://online-gateway.ghn.vn/shiip/public-api); unset: GHN bookings wait"},
        {"ghn-token", "CDS_GHN_TOKEN", CDS_OPT_SECRET | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &c->ghn_token, 0, 0, "GHN API token (header Token)"},
        {"ghn-callback-token", "CDS_GHN_CALLBACK_TOKEN", CDS_OPT_SECRET | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &c->ghn_callback_token, 0, 0, "secret token in the GHN callback URL /v1/webhooks/couriers/ghn/<token>"},
        {"ghn-shop-id", "CDS_GHN_SHOP_ID", CDS_OPT_STR, &c->ghn_shop_id, 0, 0, "GHN ShopId of agencies without their own (agencies.carrier_account)"},
        {"ghn-callback-allow", "CDS_GHN_CALLBACK_ALLOW", CDS_OPT_STR, &c->ghn_callback_allow, 0, 0, "addresses/CIDRs GHN callbacks may come from (a,b/24,...); empty: any"},
        {"courier-token-ttl", "CDS_COURIER_TOKEN_TTL", CDS_OPT_INT, &c->courier_token_ttl_s, 60, 43200, "seconds a courier's handheld token lasts"},
        {"ghn-service-type", "CDS_GHN_SERVICE_TYPE_ID", CDS_OPT_INT, &c->ghn_service_type_id, 1, 100, "GHN service_type_id of bookings (2: light goods)"},
    };
    size_t n = sizeof o / sizeof o[0];
    if (n > cap) n = cap;
    memcpy(out, o, n * sizeof o[0]);
    return n;
}

int cds_delivery_init(const cds_delivery_config *c, const char *db_conninfo)
{
    g_delivery = *c;
    if (g_delivery.vnpost_url && !*g_delivery.vnpost_url) g_delivery.vnpost_url = NULL;
    if (g_delivery.ghn_url && !*g_delivery.ghn_url) g_delivery.ghn_url = NULL;
    cds_cidr_free(dl_ghn_allow);
    dl_ghn_allow = NULL;
    if (g_delivery.ghn_callback_allow && *g_delivery.ghn_callback_allow) {
        char err[160];
        dl_ghn_allow = cds_cidr_parse(g_delivery.ghn_callback_allow, err, sizeof err);
        if (!dl_ghn_allow && err[0]) {
            cds_log(CDS_LOG_ERROR, "delivery", "CDS_GHN_CALLBACK_ALLOW: %s", err);
            return -1;
        }
    }
    if (g_delivery.ghn_callback_token && *g_delivery.ghn_callback_token &&
        (strlen(g_delivery.ghn_callback_token) < 16 ||
         strspn(g_delivery.ghn_callback_token,
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~") !=
             strlen(g_delivery.ghn_callback_token))) {
        cds_log(CDS_LOG_ERROR, "delivery",
                "CDS_GHN_CALLBACK_TOKEN must be at least 16 URL-safe characters (A-Z a-z 0-9 - _ . ~)");
        return -1;
    }
    if (!dl_carrier_find(g_delivery.carrier)) {
        cds_log(CDS_LOG_ERROR, "delivery", "unknown carrier %s", g_delivery.carrier);
        return -1;
    }
    if (dl_tariff_init() != 0 || dl_secrets_init() != 0) return -1;
    if (dl_events_init() != 0 || dl_choice_init() != 0 || dl_poll_init() != 0) return -1;
    if (dl_handheld_init() != 0 || dl_couriers_init() != 0) return -1;
    if (dl_requests_init(db_conninfo) != 0) return -1;
    return dl_booking_init(db_conninfo);
}

int cds_delivery_carrier_known(const char *name)
{
    return dl_carrier_find(name) != NULL;
}

void cds_delivery_shutdown(void)
{
    dl_booking_shutdown();
    dl_requests_shutdown();
    cds_cidr_free(dl_ghn_allow);
    dl_ghn_allow = NULL;
    dl_secrets_free();
    dl_tariff_free();
}
