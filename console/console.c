/* The console's configuration and start-up, and its home page: what waits
 * for a person, one count per page of the console, from one query. */
#include "internal.h"
#include "core/db.h"

#include <stdlib.h>
#include <string.h>

cds_console_config g_console;
static int st_home = -1;

void cds_console_config_defaults(cds_console_config *c)
{
    memset(c, 0, sizeof *c);
    c->keys_dir = "var/keys";
    c->stuck_hours = 72;
}

size_t cds_console_options(cds_console_config *c, cds_opt *out, size_t cap)
{
    const cds_opt o[] = {
        {"console-key", "CDS_CONSOLE_KEY", CDS_OPT_KEY, &c->key, 0, 0,
         "base64 32-byte key of the console's CSRF tokens (the same on every node); unset: development key"},
        {"console-stuck-hours", "CDS_CONSOLE_STUCK_HOURS", CDS_OPT_INT, &c->stuck_hours, 1, 24 * 90,
         "a shipment without news from its carrier for this many hours is listed as stuck"},
    };
    size_t n = sizeof o / sizeof o[0];
    if (n > cap) n = cap;
    memcpy(out, o, n * sizeof o[0]);
    return n;
}

int cds_console_init(const cds_console_config *c)
{
    g_console = *c;
    if (cn_csrf_init(c->key, c->keys_dir) != 0) return -1;
    st_home = cds_db_stmt_register_ro(
        "console_home",
        "SELECT (SELECT count(*) FROM bank_transactions WHERE match_status = 'unmatched'),"
        " (SELECT count(*) FROM payments WHERE status = 'refund_due'),"
        " (SELECT count(*) FROM shipments WHERE status = 'booking_failed'),"
        " (SELECT count(*) FROM outbox WHERE status IN ('permanent-failure', 'technical-failure')"
        "    AND resent_as IS NULL AND created_at > now() - interval '7 days')",
        0);
    if (st_home < 0) return -1;
    if (cn_payments_init() || cn_dossier_init() || cn_shipments_init() || cn_notifications_init() ||
        cn_gateways_init() || cn_couriers_init() || cn_agents_init() || cn_audit_init() || cn_login_init())
        return -1;
    return 0;
}

void cds_console_shutdown(void) {}

static void on_home(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_home", res)) return;
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    const cds_html_var v[] = {
        {"notice", cn_notice(r, s)},
        {"unmatched", PQgetvalue(res, 0, 0)},
        {"refund_due", PQgetvalue(res, 0, 1)},
        {"booking_failed", PQgetvalue(res, 0, 2)},
        {"failed_notifications", PQgetvalue(res, 0, 3)},
    };
    cn_render(r, &b, "home", v, sizeof v / sizeof v[0]);
    cn_send(r, 200, s, cn_t(r, "Tổng quan", "Overview"), &b);
}

void cn_home(cds_req *r, const cn_session *s)
{
    cds_req_set_user(r, (void *)s, NULL);
    cds_req_db(r, st_home, 0, NULL, on_home);
}

void cds_console_home(cds_req *r)
{
    cn_page(r, cn_home);
}
