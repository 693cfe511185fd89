/* GET /console/audit[?actor=]: the audit log, newest first (at most 200
 * entries): who did what by hand, when, to what and why. Every console
 * action writes here, as do the partner API's and the `cds` commands'
 * manual actions (resolutions, refunds, receipt corrections). Read only,
 * for operators and auditors alike. */
#include "internal.h"
#include "core/db.h"

#include <string.h>

static int st_list = -1;

int cn_audit_init(void)
{
    st_list = cds_db_stmt_register_ro(
        "console_audit",
        "SELECT COALESCE(json_agg(json_build_object('id', a.id, 'at', cds_rfc3339(a.at),"
        " 'actor', a.actor, 'action', a.action, 'subject', a.subject, 'reason', a.reason,"
        " 'detail', a.detail::text) ORDER BY a.id DESC), '[]')::text"
        " FROM (SELECT * FROM audit_log WHERE $1 = '' OR actor LIKE $1 || '%'"
        "       ORDER BY id DESC LIMIT 200) a",
        1);
    return st_list < 0 ? -1 : 0;
}

static void on_list(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_audit", res)) return;
    cds_buf rows, b;
    cds_buf_init(&rows, CDS_HTML_PAGE_MAX);
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    json_t *items = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const cds_html_var v[] = {
            {"at", cn_when(r, cn_js(it, "at"))},
            {"actor", cn_js(it, "actor")},
            {"action", cn_js(it, "action")},
            {"subject", cn_js(it, "subject")},
            {"reason", cn_js(it, "reason")},
            {"detail", cn_js(it, "detail")},
        };
        cn_render(r, &rows, "audit_row", v, sizeof v / sizeof v[0]);
    }
    json_decref(items);
    const cds_html_var v[] = {{"rows", cds_buf_str(&rows)}, {"none", rows.len ? NULL : "1"}};
    cn_render(r, &b, "audit", v, sizeof v / sizeof v[0]);
    if (rows.err) cds_buf_fail(&b);
    cds_buf_free(&rows);
    cn_send(r, 200, s, cn_t(r, "Nhật ký kiểm tra", "Audit log"), &b);
}

static void audit_page(cds_req *r, const cn_session *s)
{
    const char *actor = cds_req_query(r, "actor");
    if (!actor || strlen(actor) > 200 || strpbrk(actor, "%_\\")) actor = "";
    cds_req_set_user(r, (void *)s, NULL);
    const char *params[] = {actor};
    cds_req_db(r, st_list, 1, params, on_list);
}

void cds_console_audit(cds_req *r)
{
    cn_page(r, audit_page);
}
