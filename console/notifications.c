/* Notifications that failed for good (notify/'s outbox: permanent-failure,
 * a refusal by the gateway or the device service; technical-failure, our
 * side or the attempts ran out) in the last 7 days and not sent again:
 *
 *   GET  /console/notifications[?template=&provider=]
 *        counts by template, channel, gateway and status, then the
 *        messages (newest first, at most 200), filtered by a group
 *   POST /console/notifications/{id}/resend   reason
 *        sends it again as a new outbox row (cds_console_outbox_resend:
 *        a new idempotency key, since the gateway would drop the old one as
 *        a repeat); once per failed row, audited
 *
 * The rows are read by the primary key and filtered: an index on the
 * outbox naming status would cost every delivery receipt its HOT update
 * (db/migrations/0014_outbox_hot.sql). */
#include "internal.h"
#include "core/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAILED "status IN ('permanent-failure', 'technical-failure') AND resent_as IS NULL" \
               " AND created_at > now() - interval '7 days'"

static int st_list = -1, st_resend = -1;

int cn_notifications_init(void)
{
    st_list = cds_db_stmt_register_ro(
        "console_notifications",
        "SELECT (SELECT COALESCE(json_agg(json_build_object('template', g.template,"
        "  'channel', g.channel, 'provider', g.provider, 'status', g.status, 'count', g.n,"
        "  'last_error', g.last_error) ORDER BY g.n DESC, g.template), '[]')::text"
        "  FROM (SELECT template, channel, COALESCE(provider, '') AS provider, status, count(*) AS n,"
        "        max(last_error) AS last_error FROM outbox WHERE " FAILED
        "        GROUP BY 1, 2, 3, 4) g),"
        " (SELECT COALESCE(json_agg(json_build_object('id', o.id, 'template', o.template,"
        "  'channel', o.channel, 'provider', o.provider, 'status', o.status, 'attempts', o.attempts,"
        "  'last_error', o.last_error, 'dossier_code', d.code, 'device', o.device_id IS NOT NULL,"
        "  'updated_at', cds_rfc3339(o.updated_at)) ORDER BY o.id DESC), '[]')::text"
        "  FROM (SELECT * FROM outbox WHERE " FAILED
        "        AND ($1 = '' OR template = $1) AND ($2 = '' OR COALESCE(provider, '') = $2)"
        "        ORDER BY id DESC LIMIT 200) o LEFT JOIN dossiers d ON d.id = o.dossier_id)",
        2);
    st_resend = cds_db_stmt_register(
        "console_outbox_resend",
        "SELECT status, new_id FROM cds_console_outbox_resend($1::bigint, $2, $3, $4)", 4);
    return st_list < 0 || st_resend < 0 ? -1 : 0;
}

static void on_list(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_notifications", res)) return;
    cds_buf groups, rows, b;
    cds_buf_init(&groups, CDS_HTML_PAGE_MAX);
    cds_buf_init(&rows, CDS_HTML_PAGE_MAX);
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    json_t *g = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(g, i, it)
    {
        char n[24];
        snprintf(n, sizeof n, "%lld", cn_ji(it, "count"));
        const char *template = cn_js(it, "template"), *provider = cn_js(it, "provider");
        const cds_html_var v[] = {
            {"template", template},
            {"channel", cn_js(it, "channel")},
            {"provider", provider},
            {"status", cn_js(it, "status")},
            {"count", n},
            {"last_error", cn_js(it, "last_error")},
            /* the filter link; both values are ours (template names, gateway names) */
            {"filter", cds_req_printf(r, "/console/notifications?template=%s&provider=%s", template,
                                      provider)},
        };
        cn_render(r, &groups, "notif_group", v, sizeof v / sizeof v[0]);
    }
    json_decref(g);
    json_t *l = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    json_array_foreach(l, i, it)
    {
        char id[24], attempts[16];
        snprintf(id, sizeof id, "%lld", cn_ji(it, "id"));
        snprintf(attempts, sizeof attempts, "%lld", cn_ji(it, "attempts"));
        int push_gone = strcmp(cn_js(it, "channel"), "push") == 0 &&
                        !json_is_true(json_object_get(it, "device"));
        const cds_html_var v[] = {
            {"id", id},
            {"template", cn_js(it, "template")},
            {"channel", cn_js(it, "channel")},
            {"provider", cn_js(it, "provider")},
            {"status", cn_js(it, "status")},
            {"attempts", attempts},
            {"last_error", cn_js(it, "last_error")},
            {"dossier_code", cn_js(it, "dossier_code")},
            {"when", cn_when(r, cn_js(it, "updated_at"))},
            {"can_resend", s->can_act && !push_gone ? "1" : NULL},
            {"device_gone", push_gone ? "1" : NULL},
            {"csrf", s->csrf},
        };
        cn_render(r, &rows, "notif_row", v, sizeof v / sizeof v[0]);
    }
    json_decref(l);
    const char *tf = cds_req_query(r, "template"), *pf = cds_req_query(r, "provider");
    const cds_html_var v[] = {
        {"notice", cn_notice(r, s)},
        {"group_rows", cds_buf_str(&groups)},
        {"rows", cds_buf_str(&rows)},
        {"none", rows.len || groups.len ? NULL : "1"},
        {"filtered", (tf && *tf) || (pf && *pf) ? "1" : NULL},
        {"template", tf},
        {"provider", pf},
    };
    cn_render(r, &b, "notifications", v, sizeof v / sizeof v[0]);
    if (groups.err || rows.err) cds_buf_fail(&b);
    cds_buf_free(&groups);
    cds_buf_free(&rows);
    cn_send(r, 200, s, cn_t(r, "Thông báo gửi thất bại", "Failed notifications"), &b);
}

void cn_notifications_page(cds_req *r, const cn_session *s)
{
    const char *tf = cds_req_query(r, "template"), *pf = cds_req_query(r, "provider");
    if ((tf && strlen(tf) > 64) || (pf && strlen(pf) > 32)) tf = pf = NULL;
    cds_req_set_user(r, (void *)s, NULL);
    const char *params[] = {tf ? tf : "", pf ? pf : ""};
    cds_req_db(r, st_list, 2, params, on_list);
}

void cds_console_notifications(cds_req *r)
{
    cn_page(r, cn_notifications_page);
}

static void on_resend(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_outbox_resend", res)) return;
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "resent") == 0 || strcmp(st, "already") == 0) {
        /* already: sent again before (a double click): nothing more */
        cn_done(r, s, cn_t(r, "Đã xếp thông báo để gửi lại.", "The notification was queued again."),
                cn_notifications_page);
    } else if (strcmp(st, "not_found") == 0) {
        cn_message(r, 404, s, cn_t(r, "Không tìm thấy thông báo", "Notification not found"),
                   cn_t(r, "Không có thông báo này.", "There is no such notification."));
    } else if (strcmp(st, "no_device") == 0) {
        cn_message(r, 409, s, cn_t(r, "Thiết bị không còn", "Device gone"),
                   cn_t(r, "Thiết bị nhận thông báo đẩy đã bị gỡ; không gửi lại được.",
                        "The device of this push was removed; it cannot be sent again."));
    } else {
        cn_message(r, 409, s, cn_t(r, "Thông báo không thất bại", "Not failed"),
                   cn_t(r, "Thông báo này không ở trạng thái thất bại; không gửi lại.",
                        "This notification has not failed; nothing was sent."));
    }
}

void cds_console_notification_resend(cds_req *r)
{
    const cn_session *s = cn_action(r, 0);
    if (!s) return;
    const char *id = cds_req_param(r, "id");
    char *end = NULL;
    long long n = id && *id >= '1' && *id <= '9' && strlen(id) <= 18 ? strtoll(id, &end, 10) : 0;
    if (n <= 0 || !end || *end) {
        cn_message(r, 404, s, cn_t(r, "Không tìm thấy thông báo", "Notification not found"),
                   cn_t(r, "Không có thông báo này.", "There is no such notification."));
        return;
    }
    const char *reason = cn_reason(r, s);
    if (!reason) return;
    cds_req_set_user(r, (void *)s, NULL);
    const char *params[] = {id, s->actor, reason, cds_req_trace_stored(r)};
    cds_req_db(r, st_resend, 4, params, on_resend);
}
