/* Shipments that need a person (delivery/ books them through its outbox):
 *
 *   GET  /console/shipments[?q=dossier code or tracking number]
 *        failed to book (the carrier refused, or the attempts ran out),
 *        stuck (a booking still retrying, or a parcel the carrier has said
 *        nothing about for CDS_CONSOLE_STUCK_HOURS) and returned to the
 *        agency in the last 30 days, and a parcel whose last call to its
 *        carrier (an operator's cancel or re-poll) ran out of attempts in
 *        the last 30 days; each with the last call to its carrier an
 *        operator asked for, and its outcome. With q: that dossier's or
 *        tracking number's shipments, whatever their state (a parcel booked
 *        a moment ago can be cancelled before it is stuck)
 *   POST /console/shipments/{id}/retry    reason
 *        books again: a failed booking is queued anew (attempts from zero),
 *        a retrying one is tried now (cds_console_shipment_retry)
 *   POST /console/shipments/{id}/cancel   reason
 *        a booking the carrier never took is given up at once; a parcel the
 *        carrier booked but has not picked up gets the carrier's cancel call
 *        queued (delivery/requests.c), and is cancelled when the carrier
 *        confirms; either way a dossier waiting for it turns to "ready for
 *        pick-up" and the citizen is told (cds_console_shipment_cancel). A
 *        parcel picked up already (the carriers cancel only before pick-up)
 *        or of a carrier without a cancel call is refused, nothing changed
 *   POST /console/shipments/{id}/repoll   reason
 *        asks the carrier for the parcel's events now (its order detail);
 *        they are applied as a webhook's (cds_console_shipment_repoll)
 *
 * A returned shipment already turned its dossier to "ready for pick-up";
 * it is listed for follow-up only. */
#include "internal.h"
#include "core/db.h"
#include "delivery/delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int st_list = -1, st_retry = -1, st_cancel = -1, st_repoll = -1;

int cn_shipments_init(void)
{
    st_list = cds_db_stmt_register_ro(
        "console_shipments",
        "SELECT COALESCE(json_agg(json_build_object('id', s.id, 'kind', s.kind, 'dossier_code', d.code,"
        " 'carrier', s.carrier, 'status', s.status, 'book_state', s.book_state,"
        " 'tracking_no', s.tracking_no, 'book_error', s.book_error, 'book_attempts', s.book_attempts,"
        " 'failed_attempts', s.failed_attempts, 'since', cds_rfc3339(s.since),"
        " 'request', (SELECT json_build_object('kind', q.kind, 'state', q.state, 'result', q.result,"
        "             'at', cds_rfc3339(q.created_at)) FROM shipment_requests q"
        "             WHERE q.shipment_id = s.id ORDER BY q.created_at DESC LIMIT 1))"
        " ORDER BY s.since), '[]')::text"
        " FROM (SELECT x.*, CASE WHEN x.status = 'booking_failed' THEN 'failed'"
        "                        WHEN x.status = 'returned' THEN 'returned' ELSE 'stuck' END AS kind,"
        "              COALESCE(x.last_event_at, x.booked_at, x.updated_at) AS since"
        "       FROM shipments x"
        "       WHERE ($2 = '' AND (x.status = 'booking_failed'"
        "          OR (x.status = 'returned' AND x.updated_at > now() - interval '30 days')"
        "          OR (x.status = 'pending' AND x.book_state = 'queued' AND x.book_attempts > 0)"
        "          OR (x.status IN ('booked', 'picked_up', 'in_transit', 'out_for_delivery',"
        "                           'delivery_failed', 'returning')"
        "              AND COALESCE(x.last_event_at, x.booked_at, x.created_at)"
        "                  < now() - make_interval(hours => $1::int))"
        /* an operator's call to the carrier that ran out of attempts, the
         * shipment's last request, in the last 30 days */
        "          OR (x.status NOT IN ('delivered', 'returned', 'cancelled')"
        "              AND x.id IN (SELECT q.shipment_id FROM shipment_requests q"
        "                           WHERE q.state = 'failed' AND q.done_at > now() - interval '30 days'"
        "                             AND NOT EXISTS (SELECT 1 FROM shipment_requests n"
        "                                             WHERE n.shipment_id = q.shipment_id"
        "                                               AND n.created_at > q.created_at)))))"
        "          OR ($2 <> '' AND (x.tracking_no = $2"
        "              OR x.dossier_id = (SELECT y.id FROM dossiers y WHERE y.code = $2)))"
        "       ORDER BY x.updated_at DESC LIMIT 300) s JOIN dossiers d ON d.id = s.dossier_id",
        2);
    st_retry = cds_db_stmt_register(
        "console_shipment_retry", "SELECT status FROM cds_console_shipment_retry($1::uuid, $2, $3)", 3);
    st_cancel = cds_db_stmt_register(
        "console_shipment_cancel",
        "SELECT status, dossier_status FROM cds_console_shipment_cancel($1::uuid, $2, $3, $4, "
        "$5::text[])",
        5);
    st_repoll = cds_db_stmt_register(
        "console_shipment_repoll",
        "SELECT status FROM cds_console_shipment_repoll($1::uuid, $2, $3, $4, $5::text[])", 5);
    return st_list < 0 || st_retry < 0 || st_cancel < 0 || st_repoll < 0 ? -1 : 0;
}

static const char *search_of(cds_req *r);

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
        /* With the carrier: its cancel call before pick-up, its detail any time. */
        const char *carrier = cn_js(it, "carrier"), *tn = cn_js(it, "tracking_no");
        int booked = strcmp(status, "booked") == 0;
        int can_cancel = s->can_act && k == 1 && booked && *tn &&
                         cn_listed(cds_delivery_carriers_offering(1), carrier);
        int finished = strcmp(status, "delivered") == 0 || strcmp(status, "cancelled") == 0;
        int can_repoll = s->can_act && k == 1 && !ours && !finished && *tn &&
                         cn_listed(cds_delivery_carriers_offering(0), carrier);
        json_t *rq = json_object_get(it, "request");
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
            {"with_carrier", !ours && !finished && k == 1 && !can_cancel ? "1" : NULL},
            {"carrier_cancel", can_cancel ? "1" : NULL},
            {"repoll", can_repoll ? "1" : NULL},
            {"request", json_is_object(rq) ? "1" : NULL},
            {"request_kind", cn_js(rq, "kind")},
            {"request_state", cn_js(rq, "state")},
            {"request_result", cn_js(rq, "result")},
            {"request_at", json_is_object(rq) ? cn_when(r, cn_js(rq, "at")) : ""},
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
        {"q", search_of(r)},
    };
    cn_render(r, &b, "shipments", v, sizeof v / sizeof v[0]);
    for (int k = 0; k < 3; k++) {
        if (part[k].err) cds_buf_fail(&b);
        cds_buf_free(&part[k]);
    }
    cn_send(r, 200, s, cn_t(r, "Vận chuyển cần xử lý", "Shipments to look at"), &b);
}

/* ?q=: a dossier code or tracking number whose shipments are shown
 * whatever their state (a booking just made is not stuck yet); "" none. */
static const char *search_of(cds_req *r)
{
    const char *q = cds_req_query(r, "q");
    size_t n = q ? strlen(q) : 0;
    if (n == 0 || n > 64 || strspn(q, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._-") != n)
        return "";
    return q;
}

void cn_shipments_page(cds_req *r, const cn_session *s)
{
    cds_req_set_user(r, (void *)s, NULL);
    char hours[16];
    snprintf(hours, sizeof hours, "%d", g_console.stuck_hours);
    const char *params[] = {hours, search_of(r)};
    cds_req_db(r, st_list, 2, params, on_list);
}

void cds_console_shipments(cds_req *r)
{
    cn_page(r, cn_shipments_page);
}

/* ---------------- actions ---------------- */

static const cn_thing no_shipment = {"Không tìm thấy đơn gửi", "Shipment not found",
                                     "Không có đơn gửi này.", "There is no such shipment."};

static void not_found(cds_req *r, const cn_session *s)
{
    cn_not_found(r, s, &no_shipment);
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
    } else if (strcmp(st, "requested") == 0 || strcmp(st, "already_requested") == 0) {
        cn_done(r, s, cn_t(r, "Đã gửi yêu cầu huỷ cho đơn vị vận chuyển; đơn gửi được huỷ khi "
                              "đơn vị vận chuyển xác nhận.",
                           "The carrier was asked to cancel; the shipment is cancelled when it "
                           "confirms."),
                cn_shipments_page);
    } else if (strcmp(st, "picked_up") == 0) {
        cn_message(r, 409, s, cn_t(r, "Bưu tá đã lấy hàng", "Picked up already"),
                   cn_t(r, "Đơn vị vận chuyển đã lấy bưu gửi; đơn vị vận chuyển chỉ huỷ đơn trước "
                           "khi lấy hàng. Hãy liên hệ đơn vị vận chuyển để chuyển hoàn. Không thay "
                           "đổi gì.",
                        "The carrier has picked the parcel up and cancels only before pick-up; "
                        "ask the carrier to return it. Nothing was changed."));
    } else if (strcmp(st, "no_carrier_cancel") == 0) {
        cn_message(r, 409, s, cn_t(r, "Đơn vị vận chuyển không hỗ trợ huỷ", "No cancel call"),
                   cn_t(r, "Đơn vị vận chuyển này không có lệnh huỷ đơn qua hệ thống; hãy liên hệ "
                           "đơn vị vận chuyển. Không thay đổi gì.",
                        "This carrier offers no cancel call; contact the carrier. Nothing was "
                        "changed."));
    } else if (strcmp(st, "not_found") == 0) {
        not_found(r, s);
    } else if (strcmp(st, "sending") == 0) {
        cn_message(r, 409, s, cn_t(r, "Đang gửi cho đơn vị vận chuyển", "Being booked"),
                   cn_t(r, "Đơn gửi đang được gửi cho đơn vị vận chuyển; thử lại sau ít phút.",
                        "The booking is being sent to the carrier right now; try again shortly."));
    } else {
        cn_message(r, 409, s, cn_t(r, "Đơn gửi đã kết thúc", "Shipment finished"),
                   cn_t(r, "Đơn gửi đã kết thúc; không thay đổi gì.",
                        "The shipment is finished; nothing was changed."));
    }
}

static void on_repoll(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_shipment_repoll", res)) return;
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "requested") == 0 || strcmp(st, "already_requested") == 0) {
        cn_done(r, s, cn_t(r, "Đã hỏi đơn vị vận chuyển trạng thái mới nhất của bưu gửi; kết quả "
                              "hiện ở dòng của đơn gửi.",
                           "The carrier was asked for the parcel's latest state; the outcome "
                           "shows on the shipment's row."),
                cn_shipments_page);
    } else if (strcmp(st, "not_found") == 0) {
        not_found(r, s);
    } else if (strcmp(st, "not_booked") == 0 || strcmp(st, "no_carrier_track") == 0) {
        cn_message(r, 409, s, cn_t(r, "Không hỏi được đơn vị vận chuyển", "Cannot ask the carrier"),
                   cn_t(r, "Đơn gửi chưa có mã vận đơn, hoặc đơn vị vận chuyển không có lệnh tra "
                           "cứu. Không thay đổi gì.",
                        "The shipment has no tracking number, or the carrier offers no tracking "
                        "call. Nothing was changed."));
    } else {
        cn_message(r, 409, s, cn_t(r, "Đơn gửi đã kết thúc", "Shipment finished"),
                   cn_t(r, "Đơn gửi đã kết thúc; không thay đổi gì.",
                        "The shipment is finished; nothing was changed."));
    }
}

enum { ACT_RETRY, ACT_CANCEL, ACT_REPOLL };

static void act(cds_req *r, int what)
{
    const cn_session *s = cn_action(r, 0);
    if (!s) return;
    const char *id = cn_uuid_param(r, s, &no_shipment);
    const char *reason = id ? cn_reason(r, s) : NULL;
    if (!reason) return;
    cds_req_set_user(r, (void *)s, NULL);
    const char *params[] = {id, s->actor, reason, cds_req_trace_stored(r),
                            cds_delivery_carriers_offering(what == ACT_CANCEL)};
    if (what == ACT_CANCEL) cds_req_db(r, st_cancel, 5, params, on_cancel);
    else if (what == ACT_REPOLL) cds_req_db(r, st_repoll, 5, params, on_repoll);
    else cds_req_db(r, st_retry, 3, params, on_retry);
}

void cds_console_shipment_retry(cds_req *r)
{
    act(r, ACT_RETRY);
}

void cds_console_shipment_cancel(cds_req *r)
{
    act(r, ACT_CANCEL);
}

void cds_console_shipment_repoll(cds_req *r)
{
    act(r, ACT_REPOLL);
}
