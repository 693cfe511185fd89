/* The signed-request check in front of every partner route (the city's TTHC
 * system calling us: steps, imports, the overdue list, catalog updates).
 *
 * It lives in auth/ because partner routes of several modules (dossiers,
 * payments, receipts) use it and none of them may depend on another for it.
 *
 * The clients ("id:secret[,id:secret]" from g_auth.partner_clients) are
 * parsed once by cds_partner_auth_init, before the loop threads start, and
 * only read afterwards, so the check takes no lock; core/hmac_req.c checks
 * each request and answers refusals. */
#include "internal.h"
#include "core/hmac_req.h"
#include "core/log.h"

static cds_hmac_clients *g_clients;

int cds_partner_auth_init(void)
{
    cds_partner_auth_shutdown();
    const char *spec = g_auth.partner_clients;
    if (!spec || !*spec) {
        /* No partner configured: the partner routes still exist and refuse
         * every call, so the rest of the service runs without TTHC. */
        cds_log(CDS_LOG_WARN, "partner_auth",
                "CDS_PARTNER_CLIENTS is empty: every partner call will be refused");
        return 0;
    }
    const char *err = NULL;
    g_clients = cds_hmac_clients_parse(spec, &err);
    if (!g_clients) {
        /* The reason only: the spec holds secrets. */
        cds_log(CDS_LOG_ERROR, "partner_auth",
                "CDS_PARTNER_CLIENTS: %s (expected id:secret[,id:secret])",
                err ? err : "malformed");
        return -1;
    }
    return 0;
}

void cds_partner_auth_shutdown(void)
{
    cds_hmac_clients_free(g_clients);
    g_clients = NULL;
}

const char *cds_partner_auth(cds_req *r)
{
    return cds_hmac_req_verify(r, g_clients, g_auth.partner_window_s, "partner");
}
