/* The parts the console's list pages and their actions share (agents,
 * couriers, shipments, notifications, agent locations): rows rendered from
 * a json_agg answer, a list page around them, the "no such thing" page and
 * the required reason of an action. */
#include "internal.h"
#include "core/uuid.h"

#include <string.h>

void cn_render_rows(cds_req *r, const cn_session *s, cds_buf *out, const char *json,
                    const char *tpl, cn_row_fill fill)
{
    json_t *items = json ? json_loads(json, 0, NULL) : NULL;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        cds_html_var v[CN_ROW_VARS];
        size_t n = fill(r, s, it, v);
        cn_render(r, out, tpl, v, n);
    }
    json_decref(items);
}

void cn_list_send(cds_req *r, const cn_session *s, const char *page_tpl, const char *title,
                  cds_buf *rows, const cds_html_var *extra, size_t nextra)
{
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    cds_html_var v[CN_ROW_VARS];
    size_t n = 0;
    v[n++] = (cds_html_var){"notice", cn_notice(r, s)};
    v[n++] = (cds_html_var){"rows", cds_buf_str(rows)};
    v[n++] = (cds_html_var){"none", rows->len ? NULL : "1"};
    v[n++] = (cds_html_var){"can_act", s->can_act ? "1" : NULL};
    v[n++] = (cds_html_var){"csrf", s->csrf};
    for (size_t i = 0; i < nextra && n < CN_ROW_VARS; i++) v[n++] = extra[i];
    cn_render(r, &b, page_tpl, v, n);
    if (rows->err) cds_buf_fail(&b);
    cds_buf_free(rows);
    cn_send(r, 200, s, title, &b);
}

void cn_not_found(cds_req *r, const cn_session *s, const cn_thing *t)
{
    cn_message(r, 404, s, cn_t(r, t->title_vi, t->title_en), cn_t(r, t->msg_vi, t->msg_en));
}

const char *cn_uuid_param(cds_req *r, const cn_session *s, const cn_thing *t)
{
    const char *id = cds_req_param(r, "id");
    if (id && cds_uuid_valid(id)) return id;
    cn_not_found(r, s, t);
    return NULL;
}

const char *cn_reason(cds_req *r, const cn_session *s)
{
    const char *reason = cn_form_text(r, "reason", CN_REASON_MAX);
    if (!reason)
        cn_message(r, 400, s, cn_t(r, "Thông tin chưa hợp lệ", "Invalid input"),
                   cn_t(r, "Cần lý do (tối đa 2000 ký tự).",
                        "A reason (at most 2000 characters) is needed."));
    return reason;
}
