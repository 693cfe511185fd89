/* GET /console/gateways: the SMS gateways and the queues.
 *
 * Gateways: each one's circuit breaker as notify/ keeps it in this process
 * (closed: takes traffic; open: failing, traffic goes to the next for the
 * cool-down; probing: one message is testing it), in the order traffic
 * tries them, and which one takes the traffic now (failover when the
 * first is open). Every node keeps its own breakers; the page says which
 * node answered.
 *
 * Queues, from the database (the same reading as /metrics'
 * cds_outbox_depth: rows with an attempt due, on the partial index
 * outbox_due): per channel the rows waiting, being sent, and how late the
 * oldest due one is; the courier bookings waiting, and operators' calls to
 * carriers (cancel, re-poll). */
#include "internal.h"
#include "core/db.h"
#include "notify/notify.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_GW 4

static int st_queues = -1;

int cn_gateways_init(void)
{
    st_queues = cds_db_stmt_register_ro(
        "console_queues",
        "SELECT c.channel,"
        " (SELECT count(*) FROM outbox o WHERE o.channel = c.channel AND o.next_attempt_at IS NOT NULL),"
        " (SELECT count(*) FROM outbox o WHERE o.channel = c.channel AND o.claimed_at IS NOT NULL),"
        " (SELECT COALESCE(floor(EXTRACT(EPOCH FROM now() - min(o.next_attempt_at))), 0)::bigint"
        "  FROM outbox o WHERE o.channel = c.channel AND o.next_attempt_at <= now())"
        " FROM (VALUES ('sms'), ('zns'), ('push')) c(channel)"
        " UNION ALL SELECT 'booking',"
        " (SELECT count(*) FROM shipments WHERE book_state = 'queued'),"
        " (SELECT count(*) FROM shipments WHERE book_state = 'sending'),"
        " (SELECT COALESCE(floor(EXTRACT(EPOCH FROM now() - min(book_next_at))), 0)::bigint"
        "  FROM shipments WHERE book_state = 'queued' AND book_next_at <= now())"
        " UNION ALL SELECT 'carrier_request',"
        " (SELECT count(*) FROM shipment_requests WHERE state = 'queued'),"
        " (SELECT count(*) FROM shipment_requests WHERE state = 'sending'),"
        " (SELECT COALESCE(floor(EXTRACT(EPOCH FROM now() - min(next_at))), 0)::bigint"
        "  FROM shipment_requests WHERE state = 'queued' AND next_at <= now())",
        0);
    return st_queues < 0 ? -1 : 0;
}

static void on_queues(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_rows(r, "console_queues", res)) return;
    cds_buf gw, q, b;
    cds_buf_init(&gw, CDS_HTML_PAGE_MAX);
    cds_buf_init(&q, CDS_HTML_PAGE_MAX);
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    cds_sms_gateway_state st[MAX_GW];
    size_t n = cds_notify_sms_gateways(st, MAX_GW);
    int active = -1;
    for (size_t i = 0; i < n && active < 0; i++)
        if (!st[i].open) active = (int)i;
    for (size_t i = 0; i < n; i++) {
        char failures[16], wait[32];
        snprintf(failures, sizeof failures, "%d", st[i].failures);
        snprintf(wait, sizeof wait, "%lld", (st[i].wait_ms + 999) / 1000);
        const char *state = !st[i].open ? cn_t(r, "Đóng (hoạt động)", "Closed (working)")
                            : st[i].probing ? cn_t(r, "Đang thử lại", "Probing")
                                            : cn_t(r, "Mở (ngừng gửi)", "Open (no traffic)");
        const cds_html_var v[] = {
            {"name", st[i].name},
            {"state", state},
            {"open", st[i].open ? "1" : NULL},
            {"failures", failures},
            {"wait", st[i].open && st[i].wait_ms > 0 ? wait : NULL},
            {"active", (int)i == active ? "1" : NULL},
            {"failover", (int)i == active && i > 0 ? "1" : NULL},
        };
        cn_render(r, &gw, "gateway_row", v, sizeof v / sizeof v[0]);
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const cds_html_var v[] = {
            {"channel", PQgetvalue(res, i, 0)},
            {"queued", PQgetvalue(res, i, 1)},
            {"sending", PQgetvalue(res, i, 2)},
            {"late", PQgetvalue(res, i, 3)},
        };
        cn_render(r, &q, "queue_row", v, sizeof v / sizeof v[0]);
    }
    char host[128] = "";
    if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
    const cds_html_var v[] = {
        {"gateway_rows", cds_buf_str(&gw)},
        {"no_gateways", n ? NULL : "1"},
        {"all_open", n && active < 0 ? "1" : NULL},
        {"queue_rows", cds_buf_str(&q)},
        {"node", cds_req_printf(r, "%s (pid %d)", host, (int)getpid())},
    };
    cn_render(r, &b, "gateways", v, sizeof v / sizeof v[0]);
    if (gw.err || q.err) cds_buf_fail(&b);
    cds_buf_free(&gw);
    cds_buf_free(&q);
    cn_send(r, 200, s, cn_t(r, "Cổng SMS và hàng đợi", "SMS gateways and queues"), &b);
}

static void gateways_page(cds_req *r, const cn_session *s)
{
    cds_req_set_user(r, (void *)s, NULL);
    cds_req_db(r, st_queues, 0, NULL, on_queues);
}

void cds_console_gateways(cds_req *r)
{
    cn_page(r, gateways_page);
}
