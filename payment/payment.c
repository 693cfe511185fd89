/* payment/ configuration and start-up: provider secrets (CDS_PAYOS_*,
 * CDS_CASSO_*, CDS_SEPAY_*), payOS's payment-link API (CDS_PAYOS_URL, ...),
 * the statements of every part, the payOS cancel outbox, and the periodic
 * sweep that closes intents past their expiry (a periodic job of core's on
 * thread 0 of each process, kept in payment's worker slot; the SQL takes
 * rows with SKIP LOCKED, so several processes share it safely). */
#include "internal.h"

#include "core/db.h"
#include "core/log.h"
#include "core/periodic.h"
#include "core/server.h"

#include <stdio.h>
#include <string.h>

cds_payment_config g_payment;

#define EXPIRE_BATCH "1000"

static int st_expire = -1;
static int g_slot = -1; /* thread 0: the expiry sweep (a cds_periodic) */

void cds_payment_config_defaults(cds_payment_config *c)
{
    memset(c, 0, sizeof *c);
    c->expire_every_s = 60;
    c->payos_url = "https://api-merchant.payos.vn";
    c->payos_description_max = 9;
    c->payos_timeout_ms = 10000;
    c->payos_dispatch = 1;
}

size_t cds_payment_options(cds_payment_config *c, cds_opt *out, size_t cap)
{
    const cds_opt o[] = {
        {"casso-secret", "CDS_CASSO_SECRET", CDS_OPT_SECRET | CDS_OPT_OPTIONAL, &c->casso_secret, 0, 0, "Casso webhook secure token (HMAC-SHA512); unset: Casso webhooks refused"},
        {"sepay-api-key", "CDS_SEPAY_API_KEY", CDS_OPT_SECRET | CDS_OPT_OPTIONAL, &c->sepay_api_key, 0, 0, "SePay webhook API key (Authorization: Apikey); not accepted once an HMAC secret is set"},
        {"sepay-hmac-secret", "CDS_SEPAY_HMAC_SECRET", CDS_OPT_SECRET | CDS_OPT_OPTIONAL, &c->sepay_hmac_secret, 0, 0, "SePay webhook HMAC secret; with neither, SePay webhooks refused"},
        {"payment-expire-every", "CDS_PAYMENT_EXPIRE_EVERY", CDS_OPT_INT, &c->expire_every_s, 1, 86400, "seconds between sweeps closing expired payment intents"},
        {"payos-url", "CDS_PAYOS_URL", CDS_OPT_URL | CDS_OPT_OPTIONAL, &c->payos_url, 0, 0, "payOS payment-request API base URL"},
        {"payos-client-id", "CDS_PAYOS_CLIENT_ID", CDS_OPT_STR | CDS_OPT_WITH_PREV, &c->payos_client_id, 0, 0, "payOS channel client id (x-client-id); unset: no payOS links"},
        {"payos-api-key", "CDS_PAYOS_API_KEY", CDS_OPT_SECRET | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &c->payos_api_key, 0, 0, "payOS channel API key (x-api-key); unset: no payOS links"},
        {"payos-checksum-key", "CDS_PAYOS_CHECKSUM_KEY", CDS_OPT_SECRET | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &c->payos_checksum_key, 0, 0, "payOS checksum key (webhook signatures); unset: payOS webhooks refused"},
        {"payos-return-url", "CDS_PAYOS_RETURN_URL", CDS_OPT_URL | CDS_OPT_OPTIONAL, &c->payos_return_url, 0, 0, "where payOS's checkout sends the citizen after paying"},
        {"payos-cancel-url", "CDS_PAYOS_CANCEL_URL", CDS_OPT_URL | CDS_OPT_OPTIONAL, &c->payos_cancel_url, 0, 0, "where payOS's checkout sends the citizen who cancels"},
        {"payos-webhook-url", "CDS_PAYOS_WEBHOOK_URL", CDS_OPT_URL | CDS_OPT_OPTIONAL, &c->payos_webhook_url, 0, 0, "our public payOS webhook URL, for `cds payments payos-confirm-webhook`"},
        {"payos-description-max", "CDS_PAYOS_DESCRIPTION_MAX", CDS_OPT_INT, &c->payos_description_max, 1, 25, "payOS description limit: 9 for an account not linked through payOS, 25 for a linked one"},
        {"payos-timeout-ms", "CDS_PAYOS_TIMEOUT_MS", CDS_OPT_INT, &c->payos_timeout_ms, 500, 60000, "timeout of one payOS call"},
        {"payos-dispatch", "CDS_PAYOS_DISPATCH", CDS_OPT_INT, &c->payos_dispatch, 0, 1, "this process cancels payOS links that are no longer needed"},
    };
    size_t n = sizeof o / sizeof o[0];
    if (n > cap) n = cap;
    memcpy(out, o, n * sizeof o[0]);
    return n;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

int cds_payment_init(const cds_payment_config *c)
{
    g_payment = *c;
    g_payment.payos_checksum_key = nonempty(c->payos_checksum_key);
    g_payment.casso_secret = nonempty(c->casso_secret);
    g_payment.sepay_api_key = nonempty(c->sepay_api_key);
    g_payment.sepay_hmac_secret = nonempty(c->sepay_hmac_secret);
    g_payment.payos_client_id = nonempty(c->payos_client_id);
    g_payment.payos_api_key = nonempty(c->payos_api_key);
    g_payment.payos_return_url = nonempty(c->payos_return_url);
    g_payment.payos_cancel_url = nonempty(c->payos_cancel_url);
    g_payment.payos_webhook_url = nonempty(c->payos_webhook_url);
    if (!nonempty(c->payos_url) || (strncmp(c->payos_url, "https://", 8) != 0 &&
                                    strncmp(c->payos_url, "http://", 7) != 0)) {
        cds_log(CDS_LOG_ERROR, "payment", "CDS_PAYOS_URL must be an http(s) URL");
        return -1;
    }
    if (!g_payment.payos_checksum_key && !g_payment.casso_secret && !g_payment.sepay_api_key &&
        !g_payment.sepay_hmac_secret)
        cds_log(CDS_LOG_WARN, "payment", "no payment provider secret configured: every payment "
                                         "webhook will be refused");
    if (g_payment.sepay_api_key && g_payment.sepay_hmac_secret)
        cds_log(CDS_LOG_INFO, "payment", "SePay HMAC secret set: SePay webhooks must carry "
                                         "X-SePay-Signature; the API key alone is refused");
    st_expire = cds_db_stmt_register("payment_expire", "SELECT cds_payment_expire($1::int)", 1);
    g_slot = cds_worker_slot("payment");
    if (st_expire < 0 || g_slot < 0) return -1;
    if (pm_intent_init() != 0 || pm_qr_init() != 0 || pm_webhook_init() != 0 ||
        pm_reconcile_init() != 0 || pm_payos_link_init() != 0 ||
        pm_payos_cancel_init(c->db_conninfo) != 0)
        return -1;
    return 0;
}

int pm_payos_configured(void)
{
    return g_payment.payos_client_id && g_payment.payos_api_key && g_payment.payos_checksum_key &&
           g_payment.payos_return_url && g_payment.payos_cancel_url;
}

void cds_payment_shutdown(void)
{
    pm_payos_cancel_shutdown();
}

static void on_expired(void *arg, PGresult *res)
{
    (void)arg;
    if (!res) return;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        cds_log(CDS_LOG_WARN, "payment_expire", "%s", PQresultErrorMessage(res));
    else if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "0") != 0)
        cds_log(CDS_LOG_INFO, "payment_expire", "%s payment intents expired", PQgetvalue(res, 0, 0));
}

static void on_expire_timer(cds_periodic *p, void *arg)
{
    cds_worker *w = arg;
    const char *prm[] = {EXPIRE_BATCH};
    cds_periodic_query(p, w->db, st_expire, 1, prm, on_expired);
}

void cds_payment_worker_start(cds_worker *w)
{
    pm_payos_cancel_worker_start(w);
    if (w->id != 0 || !w->db) return;
    cds_worker_set(w, g_slot, cds_periodic_start(w->base, g_payment.expire_every_s * 1000L,
                                                 on_expire_timer, w));
}

void cds_payment_worker_stop(cds_worker *w)
{
    pm_payos_cancel_worker_stop(w);
    cds_periodic_stop(cds_worker_get(w, g_slot));
    cds_worker_set(w, g_slot, NULL);
}
