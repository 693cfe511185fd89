/* Shipments that need a person (delivery/ books them through its outbox):
 *
 *   GET  /console/shipments
 *        failed to book (the carrier refused, or the attempts ran out),
 *        stuck (a booking still retrying, or a parcel the carrier has said
 *        nothing about for CDS_CONSOLE_STUCK_HOURS) and returned to the
 *        agency in the last 30 days
 *   POST /console/shipments/{id}/retry    reason
 *        books again: a failed booking is queued anew (attempts from zero),
 *        a retrying one is tried now (cds_console_shipment_retry)
 *   POST /console/shipments/{id}/cancel   reason
 *        gives up the postal delivery of a booking the carrier never took;
 *        a dossier waiting for it turns to "ready for pick-up" and the
 *        citizen is told (cds_console_shipment_cancel)
 *
 * A parcel the carrier has cannot be cancelled here (the carrier's cancel
 * call is not wired into any flow yet): the page names the carrier and the
 * tracking number to call about. A returned shipment already turned its
 * dossier to "ready for pick-up"; it is listed for follow-up only. */
#include "internal.h"
#include "core/db.h"
#include "core/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int st_list = -1, st_retry = -1, st_cancel = -1;

int cn_shipments_init(void)
{
    st_list = cds_db_stmt_register_ro(
        "console_shipments",
        "SELECT COALESCE(json_agg(json_build_object('id', s.id, 'kind', s.kind, 'dossier_code', d.code,"
        " 'carrier', s.carrier, 'status', s.status, 'book_state', s.book_state,"
        " 'tracking_no', s.tracking_no, 'book_error', s.book_error, 'book_attempts', s.book_attempts,"
        " 'failed_attempts', s.failed_attempts, 'since', cds_rfc3339(s.since))"
        " ORDER BY s.since), '[]')::text"
        " FROM (SELECT x.*, CASE WHEN x.status = 'booking_failed' THEN 'failed'"
        "                        WHEN x.status = 'returned' THEN 'returned' ELSE 'stuck' END AS kind,"
        "              COALESCE(x.last_event_at, x.booked_at, x.updated_at) AS since"
        "       FROM shipments x"
        "       WHERE x.status = 'booking_failed'"
        "          OR (x.status = 'returned' AND x.updated_at > now() - interval '30 days')"
        "          OR (x.status = 'pending' AND x.book_state = 'queued' AND x.book_attempts > 0)"
        "          OR (x.status IN ('booked', 'picked_up', 'in_transit', 'out_for_delivery',"
        "                           'delivery_failed', 'returning')"
        "              AND COALESCE(x.last_event_at, x.booked_at, x.created_at)"
        "                  < now() - make_interval(hours => $1::int))"
        "       ORDER BY x.updated_at DESC LIMIT 300) s JOIN dossiers d ON d.id = s.dossier_id",
        1);
    st_retry = cds_db_stmt_register(
        "console_shipment_retry", "SELECT status FROM cds_console_shipment_retry($1::uuid, $2, $3)", 3);
    st_cancel = cds_db_stmt_register(
        "console_shipment_cancel",
        "SELECT status, dossier_status FROM cds_console_shipment_cancel($1::uuid, $2, $3, $4)", 4);
    return st_list < 0 || st_retry < 0 || st_cancel < 0 ? -1 : 0;
}

static void on_list(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_shipments", res)) return;
    cds_buf part[3], b;
    for (int k = 0; k < 3; k++) cds_buf_init(&part[k], CDS_HTML_PAGE_MAX);
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    json_t *items = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *kind = cn_js(it, "kind");
        int k = strcmp(kind, "failed") == 0 ? 0 : strcmp(kind, "stuck") == 0 ? 1 : 2;
        /* Retry: a booking the carrier never took; cancel: one not being sent. */
        const char *status = cn_js(it, "status"), *book = cn_js(it, "book_state");
        int ours = strcmp(status, "booking_failed") == 0 || strcmp(status, "pending") == 0;
        int actions = s->can_act && ours && strcmp(book, "sending") != 0;
        char attempts[16];
        snprintf(attempts, sizeof attempts, "%lld", cn_ji(it, "book_attempts"));
        const cds_html_var v[] = {
            {"id", cn_js(it, "id")},
            {"dossier_code", cn_js(it, "dossier_code")},
            {"carrier", cn_js(it, "carrier")},
            {"status", status},
            {"tracking_no", cn_js(it, "tracking_no")},
            {"error", cn_js(it, "book_error")},
            {"attempts", attempts},
            {"since", cn_when(r, cn_js(it, "since"))},
            {"actions", actions ? "1" : NULL},
            {"with_carrier", !ours && k == 1 ? "1" : NULL},
            {"csrf", s->csrf},
        };
        cn_render(r, &part[k], "shipment_row", v, sizeof v / sizeof v[0]);
    }
    json_decref(items);
    char hours[16];
    snprintf(hours, sizeof hours, "%d", g_console.stuck_hours);
    const cds_html_var v[] = {
        {"notice", cn_notice(r, s)},
        {"failed_rows", cds_buf_str(&part[0])},
        {"stuck_rows", cds_buf_str(&part[1])},
        {"returned_rows", cds_buf_str(&part[2])},
        {"no_failed", part[0].len ? NULL : "1"},
        {"no_stuck", part[1].len ? NULL : "1"},
        {"no_returned", part[2].len ? NULL : "1"},
        {"hours", hours},
    };
    cn_render(r, &b, "shipments", v, sizeof v / sizeof v[0]);
    for (int k = 0; k < 3; k++) {
        if (part[k].err) cds_buf_fail(&b);
        cds_buf_free(&part[k]);
    }
    cn_send(r, 200, s, cn_t(r, "Vận chuyển cần xử lý", "Shipments to look at"), &b);
}

void cn_shipments_page(cds_req *r, const cn_session *s)
{
    cds_req_set_user(r, (void *)s, NULL);
    char hours[16];
    snprintf(hours, sizeof hours, "%d", g_console.stuck_hours);
    const char *params[] = {hours};
    cds_req_db(r, st_list, 1, params, on_list);
}

void cds_console_shipments(cds_req *r)
{
    cn_page(r, cn_shipments_page);
}

/* ---------------- actions ---------------- */

static void not_found(cds_req *r, const cn_session *s)
{
    cn_message(r, 404, s, cn_t(r, "Không tìm thấy đơn gửi", "Shipment not found"),
               cn_t(r, "Không có đơn gửi này.", "There is no such shipment."));
}

static void on_retry(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_shipment_retry", res)) return;
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "requeued") == 0) {
        cn_done(r, s, cn_t(r, "Đã đặt lại đơn gửi với đơn vị vận chuyển.",
                           "The booking was queued again with the carrier."),
                cn_shipments_page);
    } else if (strcmp(st, "not_found") == 0) {
        not_found(r, s);
    } else if (strcmp(st, "conflict") == 0) {
        cn_message(r, 409, s, cn_t(r, "Hồ sơ đã có đơn gửi khác", "Another shipment exists"),
                   cn_t(r, "Hồ sơ đã có một đơn gửi khác đang thực hiện; không đặt lại.",
                        "The dossier has another live shipment; nothing was booked."));
    } else {
        cn_message(r, 409, s, cn_t(r, "Không đặt lại được", "Cannot book again"),
                   cn_t(r, "Đơn gửi này đã được đơn vị vận chuyển nhận hoặc đã kết thúc.",
                        "The carrier has this shipment already, or it is finished."));
    }
}

static void on_cancel(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_shipment_cancel", res)) return;
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "cancelled") == 0) {
        cn_done(r, s, cn_t(r, "Đã huỷ gửi kết quả qua bưu điện; hồ sơ chờ nhận tại quầy.",
                           "The postal delivery was cancelled; the result waits at the counter."),
                cn_shipments_page);
    } else if (strcmp(st, "not_found") == 0) {
        not_found(r, s);
    } else if (strcmp(st, "sending") == 0) {
        cn_message(r, 409, s, cn_t(r, "Đang gửi cho đơn vị vận chuyển", "Being booked"),
                   cn_t(r, "Đơn gửi đang được gửi cho đơn vị vận chuyển; thử lại sau ít phút.",
                        "The booking is being sent to the carrier right now; try again shortly."));
    } else if (strcmp(st, "with_carrier") == 0) {
        cn_message(r, 409, s, cn_t(r, "Đơn vị vận chuyển đã nhận đơn", "The carrier has it"),
                   cn_t(r, "Đơn gửi đã được đơn vị vận chuyển nhận; hãy liên hệ đơn vị vận chuyển "
                           "để huỷ. Không thay đổi gì.",
                        "The carrier has taken this shipment; ask the carrier to cancel it. "
                        "Nothing was changed."));
    } else {
        cn_message(r, 409, s, cn_t(r, "Đơn gửi đã kết thúc", "Shipment finished"),
                   cn_t(r, "Đơn gửi đã kết thúc; không thay đổi gì.",
                        "The shipment is finished; nothing was changed."));
    }
}

static void act(cds_req *r, int cancel)
{
    const cn_session *s = cn_action(r, 0);
    if (!s) return;
    const char *id = cds_req_param(r, "id");
    if (!id || !cds_uuid_valid(id)) {
        not_found(r, s);
        return;
    }
    const char *reason = cn_form_text(r, "reason", CN_REASON_MAX);
    if (!reason) {
        cn_message(r, 400, s, cn_t(r, "Thông tin chưa hợp lệ", "Invalid input"),
                   cn_t(r, "Cần lý do (tối đa 2000 ký tự).",
                        "A reason (at most 2000 characters) is needed."));
        return;
    }
    cds_req_set_user(r, (void *)s, NULL);
    const char *params[] = {id, s->actor, reason, cds_req_trace_stored(r)};
    if (cancel) cds_req_db(r, st_cancel, 4, params, on_cancel);
    else cds_req_db(r, st_retry, 3, params, on_retry);
}

void cds_console_shipment_retry(cds_req *r)
{
    act(r, 0);
}

void cds_console_shipment_cancel(cds_req *r)
{
    act(r, 1);
}
