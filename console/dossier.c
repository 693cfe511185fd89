/* One dossier as the operators see it, GET /console/dossiers/{code}: its
 * state, its payments and its latest steps, for checking what an action
 * did (after assigning a transfer the console lands here). Read only; no
 * personal data beyond what the steps say. */
#include "internal.h"
#include "core/db.h"

#include <stdlib.h>
#include <string.h>

static int st_dossier = -1;

int cn_dossier_init(void)
{
    st_dossier = cds_db_stmt_register_ro(
        "console_dossier",
        "SELECT d.code, d.status, d.procedure_code, COALESCE(pr.name, ''), cds_rfc3339(d.submitted_at),"
        " d.fee_vnd,"
        " (SELECT COALESCE(json_agg(json_build_object('id', p.id, 'reference', p.reference,"
        "   'status', p.status, 'amount_vnd', p.amount_vnd, 'received_vnd', p.received_vnd,"
        "   'refund_due_vnd', p.refund_due_vnd, 'created_at', cds_rfc3339(p.created_at))"
        "   ORDER BY p.created_at DESC), '[]')::text FROM payments p WHERE p.dossier_id = d.id),"
        " (SELECT COALESCE(json_agg(json_build_object('step', e.step, 'source', e.source,"
        "   'applied', e.applied, 'note', e.note, 'occurred_at', cds_rfc3339(e.occurred_at))"
        "   ORDER BY e.occurred_at DESC, e.id DESC), '[]')::text FROM (SELECT * FROM dossier_events x"
        "   WHERE x.dossier_id = d.id ORDER BY x.occurred_at DESC, x.id DESC LIMIT 30) e)"
        " FROM dossiers d LEFT JOIN procedures pr ON pr.code = d.procedure_code WHERE d.code = $1",
        1);
    return st_dossier < 0 ? -1 : 0;
}

static void rows(cds_req *r, const char *json, const char *tmpl, cds_buf *out, int payments)
{
    json_t *items = json_loads(json, 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (payments) {
            const cds_html_var v[] = {
                {"reference", cn_js(it, "reference")},
                {"status", cn_js(it, "status")},
                {"amount", cn_vnd(r, cn_ji(it, "amount_vnd"))},
                {"received", cn_vnd(r, cn_ji(it, "received_vnd"))},
                {"refund", cn_ji(it, "refund_due_vnd") ? cn_vnd(r, cn_ji(it, "refund_due_vnd")) : NULL},
                {"when", cn_when(r, cn_js(it, "created_at"))},
            };
            cn_render(r, out, tmpl, v, sizeof v / sizeof v[0]);
        } else {
            const cds_html_var v[] = {
                {"step", cn_js(it, "step")},
                {"source", cn_js(it, "source")},
                {"late", json_is_false(json_object_get(it, "applied")) ? "1" : NULL},
                {"note", cn_js(it, "note")},
                {"when", cn_when(r, cn_js(it, "occurred_at"))},
            };
            cn_render(r, out, tmpl, v, sizeof v / sizeof v[0]);
        }
    }
    json_decref(items);
}

static void on_dossier(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_rows(r, "console_dossier", res)) return;
    if (PQntuples(res) != 1) {
        cn_message(r, 404, s, cn_t(r, "Không tìm thấy hồ sơ", "Dossier not found"),
                   cn_t(r, "Không có hồ sơ mang mã này.", "No dossier has this code."));
        return;
    }
    cds_buf pay, ev, b;
    cds_buf_init(&pay, CDS_HTML_PAGE_MAX);
    cds_buf_init(&ev, CDS_HTML_PAGE_MAX);
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    rows(r, PQgetvalue(res, 0, 6), "payment_row", &pay, 1);
    rows(r, PQgetvalue(res, 0, 7), "event_row", &ev, 0);
    const cds_html_var v[] = {
        {"notice", cn_notice(r, s)},
        {"code", PQgetvalue(res, 0, 0)},
        {"status", PQgetvalue(res, 0, 1)},
        {"procedure_code", PQgetvalue(res, 0, 2)},
        {"procedure", PQgetvalue(res, 0, 3)},
        {"submitted", cn_when(r, PQgetvalue(res, 0, 4))},
        {"fee", cn_vnd(r, strtoll(PQgetvalue(res, 0, 5), NULL, 10))},
        {"payment_rows", cds_buf_str(&pay)},
        {"event_rows", cds_buf_str(&ev)},
        {"no_payments", pay.len ? NULL : "1"},
    };
    cn_render(r, &b, "dossier", v, sizeof v / sizeof v[0]);
    if (pay.err || ev.err) cds_buf_fail(&b);
    cds_buf_free(&pay);
    cds_buf_free(&ev);
    cn_send(r, 200, s, cds_req_printf(r, "%s %s", cn_t(r, "Hồ sơ", "Dossier"), PQgetvalue(res, 0, 0)),
            &b);
}

void cn_dossier_page(cds_req *r, const cn_session *s, const char *code)
{
    if (!code || !*code || strlen(code) > 64) {
        cn_message(r, 404, s, cn_t(r, "Không tìm thấy hồ sơ", "Dossier not found"),
                   cn_t(r, "Không có hồ sơ mang mã này.", "No dossier has this code."));
        return;
    }
    cds_req_set_user(r, (void *)s, NULL);
    const char *params[] = {code};
    cds_req_db(r, st_dossier, 1, params, on_dossier);
}

static void dossier_page(cds_req *r, const cn_session *s)
{
    cn_dossier_page(r, s, cds_req_param(r, "code"));
}

void cds_console_dossier(cds_req *r)
{
    cn_page(r, dossier_page);
}
