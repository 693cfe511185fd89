/* The courier's handheld app (issue 19 part 2): login, the shipment of a
 * scanned waybill, photos of signed slips, and the queue of delivery events.
 *
 *   POST /v1/courier/token                         courier id + secret -> a
 *        short-lived token of audience "cds-courier" (auth/courier_token.c)
 *   GET  /v1/courier/shipments/by-waybill/{code}   only the courier's own
 *        carrier's shipments: another carrier's waybill is 404 like an
 *        unknown one (nothing leaks)
 *   POST /v1/courier/photos                        a JPEG/PNG (<= 2 MiB) of
 *        the signed slip, kept with its SHA-256; a delivered event names it
 *   POST /v1/courier/events                        {"events":[...]}: the
 *        handheld's queue, each event with the handheld's own id
 *
 * Replays and merging (db/functions/delivery.sql, cds_courier_events):
 * - a handheld event id already taken from this courier answers "replayed"
 *   and changes nothing (courier_events);
 * - a queue's events are applied in event-time order (then the order sent),
 *   each by one cds_shipment_event call, the same SQL as the carriers'
 *   webhooks: the dossier's step, the citizen's SMS/push, COD, as today;
 * - the same step reported by both the handheld and the carrier's system
 *   counts once: they share no event id, so the key is the shipment, the
 *   status and the event time within 10 minutes, one report from the
 *   handheld and the other not (two handheld reports are two events: the
 *   handheld's ids tell them apart). A handheld's proof of delivery arriving
 *   second completes the carrier's.
 * Every event is checked whole before anything runs (422 invalid_event,
 * nothing changed); the SQL stops at the first refusal (answered as a
 * problem+json naming the event; the events before it stand and answer
 * "replayed" when the queue is sent again).
 *
 * The one-time delivery code of sensitive results (procedures.
 * sensitive_result) is made when the shipment goes out for delivery and sent
 * to the citizen in that SMS/push; the courier asks the citizen for it. It
 * is kept as sha256(shipment id ':' code) and compared as digests, so the
 * comparison's time says nothing about the code; 5 wrong tries lock it. */
#include "internal.h"
#include "auth/auth.h"
#include "core/db.h"
#include "core/digest.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/uuid.h"

#include <ctype.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_MAX 100
#define PHOTO_MAX (2 * 1024 * 1024)

static int st_login, st_shipment, st_photo, st_events;

int dl_handheld_init(void)
{
    st_login = cds_db_stmt_register(
        "courier_login",
        "SELECT carrier, secret_sha256, name FROM couriers WHERE id = $1::uuid AND disabled_at IS NULL",
        1);
    st_shipment = cds_db_stmt_register(
        "courier_shipment", "SELECT cds_courier_active($1::uuid), cds_courier_shipment($1::uuid, $2)",
        2);
    st_photo = cds_db_stmt_register(
        "courier_photo", "SELECT cds_courier_photo_add($1::uuid, $2, $3, decode($4, 'hex'))", 4);
    st_events = cds_db_stmt_register(
        "courier_events",
        "SELECT event_id, status, shipment_status, dossier_status FROM "
        "cds_courier_events($1::uuid, $2::jsonb, $3::int, $4)",
        4);
    return st_login < 0 || st_shipment < 0 || st_photo < 0 || st_events < 0 ? -1 : 0;
}

void dl_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[32];
    cds_sha256(data, len, d);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---------------- login ---------------- */

typedef struct login_ctx {
    char id[37];
    char secret_sha[65];
} login_ctx;

static void bad_login(cds_req *r)
{
    cds_problem(r, 401, "invalid_credentials",
                "Mã bưu tá hoặc mã bí mật không đúng, hoặc tài khoản đã bị khóa.");
}

static void on_login(cds_req *r, PGresult *res)
{
    login_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_req_db_failed(r, "courier_login_db", res);
        return;
    }
    if (PQntuples(res) != 1 ||
        CRYPTO_memcmp(PQgetvalue(res, 0, 1), c->secret_sha, 64) != 0) {
        cds_log(CDS_LOG_INFO, "courier_login", "refused courier=%s", c->id);
        bad_login(r);
        return;
    }
    const char *carrier = PQgetvalue(res, 0, 0);
    char *tok = cds_courier_token_issue(c->id, carrier, g_delivery.courier_token_ttl_s);
    if (!tok) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200, json_pack("{s:s,s:s,s:i,s:{s:s,s:s,s:s}}", "access_token", tok,
                                       "token_type", "Bearer", "expires_in",
                                       g_delivery.courier_token_ttl_s, "courier", "id", c->id,
                                       "carrier", carrier, "name", PQgetvalue(res, 0, 2)));
    free(tok);
}

void cds_courier_token(cds_req *r)
{
    json_t *b = cds_req_json(r);
    if (!b) return;
    const char *id = json_string_value(json_object_get(b, "courier_id"));
    const char *secret = json_string_value(json_object_get(b, "secret"));
    if (!id || !secret || !cds_uuid_valid(id) || strlen(secret) > 200) {
        cds_problem(r, 422, "invalid_request", "Cần courier_id (UUID) và secret (chuỗi).");
        return;
    }
    login_ctx *c = cds_req_alloc(r, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    dl_sha256_hex(secret, strlen(secret), c->secret_sha);
    cds_req_set_user(r, c, NULL);
    const char *p[] = {c->id};
    cds_req_db(r, st_login, 1, p, on_login);
}

static void courier_disabled(cds_req *r)
{
    cds_resp_header(r, "www-authenticate", "Bearer realm=\"cds-courier\", error=\"invalid_token\"");
    cds_problem(r, 401, "courier_disabled", "Tài khoản bưu tá đã bị khóa.");
}

/* ---------------- scan ---------------- */

static void on_shipment(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "courier_shipment_db", res);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        courier_disabled(r);
        return;
    }
    if (PQgetisnull(res, 0, 1)) {
        cds_problem(r, 404, "shipment_not_found", "Không có vận đơn này trong các đơn của bạn.");
        return;
    }
    const char *v = PQgetvalue(res, 0, 1);
    cds_respond(r, 200, "application/json", v, strlen(v));
}

void cds_courier_shipment_get(cds_req *r)
{
    const cds_courier_principal *p = cds_auth_courier(r);
    if (!p) return;
    const char *code = cds_req_param(r, "code");
    if (!code || !dl_tracking_ok(code)) {
        cds_problem(r, 404, "shipment_not_found", "Không có vận đơn này trong các đơn của bạn.");
        return;
    }
    const char *params[] = {p->courier_id, code};
    cds_req_db(r, st_shipment, 2, params, on_shipment);
}

/* ---------------- photos ---------------- */

typedef struct photo_ctx {
    const char *type;
    char sha[65];
    size_t len;
} photo_ctx;

static void on_photo(cds_req *r, PGresult *res)
{
    photo_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "courier_photo_db", res);
        return;
    }
    if (PQgetisnull(res, 0, 0)) {
        courier_disabled(r);
        return;
    }
    cds_respond_json(r, 201, json_pack("{s:s,s:s,s:s,s:I}", "id", PQgetvalue(res, 0, 0),
                                       "sha256", c->sha, "content_type", c->type, "size_bytes",
                                       (json_int_t)c->len));
}

void cds_courier_photo_post(cds_req *r)
{
    const cds_courier_principal *p = cds_auth_courier(r);
    if (!p) return;
    const char *ct = cds_req_header(r, "content-type");
    size_t len = 0;
    const unsigned char *b = (const unsigned char *)cds_req_body(r, &len);
    const char *type = NULL;
    if (ct && strncmp(ct, "image/jpeg", 10) == 0 && len >= 3 && b[0] == 0xFF && b[1] == 0xD8 &&
        b[2] == 0xFF)
        type = "image/jpeg";
    else if (ct && strncmp(ct, "image/png", 9) == 0 && len >= 8 &&
             memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        type = "image/png";
    if (len > PHOTO_MAX) {
        cds_fail(r, CDS_P_PAYLOAD_TOO_LARGE);
        return;
    }
    if (!type) {
        cds_problem(r, 415, "unsupported_photo",
                    "Ảnh phiếu ký nhận phải là JPEG hoặc PNG (Content-Type khớp với nội dung).");
        return;
    }
    photo_ctx *c = cds_req_alloc(r, sizeof *c);
    c->type = type;
    c->len = len;
    dl_sha256_hex(b, len, c->sha);
    cds_req_set_user(r, c, NULL);
    char *hex = cds_req_alloc(r, 2 * len + 1);
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[b[i] >> 4];
        hex[2 * i + 1] = digits[b[i] & 15];
    }
    hex[2 * len] = 0;
    const char *params[] = {p->courier_id, type, c->sha, hex};
    cds_req_db(r, st_photo, 4, params, on_photo);
}

/* ---------------- events ---------------- */

static const struct {
    const char *code, *text;
} fail_reasons[] = {
    {"recipient_absent", "Người nhận vắng nhà"},
    {"phone_unreachable", "Không liên lạc được người nhận"},
    {"wrong_address", "Sai hoặc không tìm thấy địa chỉ"},
    {"recipient_refused", "Người nhận từ chối nhận"},
    {"no_id_document", "Người nhận không xuất trình được giấy tờ tùy thân"},
    {"reschedule_requested", "Người nhận hẹn giao lại"},
    {"force_majeure", "Thời tiết hoặc sự cố bất khả kháng"},
};
static const char *const kinds[] = {"picked_up", "out_for_delivery", "delivery_failed", "delivered",
                                    "returned"};
static const char *const relationships[] = {"self", "family", "relative", "neighbour", "colleague",
                                            "guard", "other"};

static int in_list(const char *s, const char *const *l, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, l[i]) == 0) return 1;
    return 0;
}

static int id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.:-", s[i])) return 0;
    return 1;
}

static int number_in(const json_t *v, double lo, double hi)
{
    if (!json_is_number(v)) return 0;
    double d = json_number_value(v);
    return isfinite(d) && d >= lo && d <= hi;
}

/* Checks one event and returns the copy the SQL gets (reason_text added),
 * or NULL with the reason in err. */
static json_t *check_event(const json_t *e, char *err, size_t cap)
{
    if (!json_is_object(e)) return snprintf(err, cap, "sự kiện phải là một đối tượng"), NULL;
    const char *id = json_string_value(json_object_get(e, "id"));
    const char *wb = json_string_value(json_object_get(e, "waybill"));
    const char *kind = json_string_value(json_object_get(e, "kind"));
    const char *at = json_string_value(json_object_get(e, "occurred_at"));
    if (!id_ok(id)) return snprintf(err, cap, "id: 1-64 ký tự [0-9A-Za-z_.:-]"), NULL;
    if (!wb || !dl_tracking_ok(wb)) return snprintf(err, cap, "%s: waybill không hợp lệ", id), NULL;
    if (!in_list(kind, kinds, sizeof kinds / sizeof kinds[0]))
        return snprintf(err, cap, "%s: kind phải là picked_up, out_for_delivery, delivery_failed, "
                                  "delivered hoặc returned", id), NULL;
    if (!at || !dl_rfc3339(at))
        return snprintf(err, cap, "%s: occurred_at phải là thời điểm RFC 3339", id), NULL;
    json_t *out = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "waybill", wb, "kind", kind,
                            "occurred_at", at);
    if (strcmp(kind, "delivery_failed") == 0) {
        const char *reason = json_string_value(json_object_get(e, "reason"));
        const char *text = NULL;
        for (size_t i = 0; reason && i < sizeof fail_reasons / sizeof fail_reasons[0]; i++)
            if (strcmp(reason, fail_reasons[i].code) == 0) text = fail_reasons[i].text;
        if (!text) {
            json_decref(out);
            return snprintf(err, cap, "%s: reason không có trong danh sách lý do", id), NULL;
        }
        json_object_set_new(out, "reason", json_string(reason));
        json_object_set_new(out, "reason_text", json_string(text));
        const json_t *next = json_object_get(e, "next_attempt_at");
        if (next && !json_is_null(next)) {
            if (!json_is_string(next) || !dl_rfc3339(json_string_value(next))) {
                json_decref(out);
                return snprintf(err, cap, "%s: next_attempt_at phải là thời điểm RFC 3339", id), NULL;
            }
            json_object_set(out, "next_attempt_at", (json_t *)next);
        }
    } else if (strcmp(kind, "delivered") == 0) {
        char name[201];
        const char *rel = json_string_value(json_object_get(e, "relationship"));
        const char *photo = json_string_value(json_object_get(e, "photo_id"));
        const json_t *pos = json_object_get(e, "position");
        const json_t *cod = json_object_get(e, "cod_collected_vnd");
        const json_t *code = json_object_get(e, "delivery_code");
        const char *why = NULL;
        if (!dl_opt_text(e, "recipient_name", 200, name, sizeof name) || !name[0])
            why = "recipient_name (1-200 ký tự) là bắt buộc";
        else if (!in_list(rel ? rel : "self", relationships,
                          sizeof relationships / sizeof relationships[0]))
            why = "relationship không có trong danh sách";
        else if (!photo || !cds_uuid_valid(photo))
            why = "photo_id (ảnh phiếu ký nhận đã tải lên) là bắt buộc";
        else if (pos && !json_is_null(pos) &&
                 (!json_is_object(pos) || !number_in(json_object_get(pos, "lat"), -90, 90) ||
                  !number_in(json_object_get(pos, "lng"), -180, 180) ||
                  (json_object_get(pos, "accuracy_m") &&
                   !number_in(json_object_get(pos, "accuracy_m"), 0, 10000))))
            why = "position: lat trong [-90, 90], lng trong [-180, 180], accuracy_m trong [0, 10000]";
        else if (cod && !json_is_null(cod) &&
                 (!json_is_integer(cod) || json_integer_value(cod) < 0 ||
                  json_integer_value(cod) > 100000000000LL))
            why = "cod_collected_vnd phải là số nguyên không âm";
        else if (code && !json_is_null(code) &&
                 (!json_is_string(code) || strlen(json_string_value(code)) != 6 ||
                  strspn(json_string_value(code), "0123456789") != 6))
            why = "delivery_code gồm 6 chữ số";
        if (why) {
            json_decref(out);
            return snprintf(err, cap, "%s: %s", id, why), NULL;
        }
        json_object_set_new(out, "recipient_name", json_string(name));
        json_object_set_new(out, "relationship", json_string(rel ? rel : "self"));
        json_object_set_new(out, "photo_id", json_string(photo));
        if (pos && json_is_object(pos)) {
            json_t *p = json_pack("{s:O,s:O}", "lat", json_object_get(pos, "lat"), "lng",
                                  json_object_get(pos, "lng"));
            if (json_object_get(pos, "accuracy_m"))
                json_object_set(p, "accuracy_m", json_object_get(pos, "accuracy_m"));
            json_object_set_new(out, "position", p);
        }
        if (cod && json_is_integer(cod)) json_object_set(out, "cod_collected_vnd", (json_t *)cod);
        if (code && json_is_string(code)) json_object_set(out, "delivery_code", (json_t *)code);
    }
    return out;
}

static const struct {
    const char *status;
    int http;
    const char *detail;
} refusals[] = {
    {"courier_disabled", 401, "Tài khoản bưu tá đã bị khóa."},
    {"shipment_not_found", 404, "Không có vận đơn này trong các đơn của bạn."},
    {"photo_not_found", 422, "Không có ảnh phiếu ký nhận này (tải ảnh lên trước qua /v1/courier/photos)."},
    {"cod_amount_mismatch", 422, "Số tiền thu hộ (COD) phải đúng bằng số tiền phải thu của vận đơn."},
    {"delivery_code_required", 422, "Kết quả này chỉ được giao khi người nhận đọc đúng mã giao hàng."},
    {"delivery_code_wrong", 403, "Mã giao hàng không đúng."},
    {"delivery_code_locked", 403, "Mã giao hàng đã bị khóa vì nhập sai quá nhiều lần; liên hệ cơ quan."},
    {"delivery_code_not_issued", 409, "Chưa có mã giao hàng: ghi nhận \"out_for_delivery\" trước để người nhận được mã."},
};

static void on_events(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (state && strncmp(state, "22", 2) == 0) {
            cds_problem(r, 422, "invalid_event", "Thời điểm hoặc dữ liệu của sự kiện không hợp lệ.");
            return;
        }
        cds_req_db_failed(r, "courier_events_db", res);
        return;
    }
    json_t *results = json_array();
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        const char *st = PQgetvalue(res, i, 1);
        for (size_t k = 0; k < sizeof refusals / sizeof refusals[0]; k++) {
            if (strcmp(st, refusals[k].status) != 0) continue;
            json_decref(results);
            if (refusals[k].http == 401) {
                courier_disabled(r);
                return;
            }
            cds_problem(r, refusals[k].http, st,
                        cds_req_printf(r, "Sự kiện %s: %s%s", PQgetvalue(res, i, 0),
                                       refusals[k].detail,
                                       i ? " Các sự kiện trước đó đã được ghi nhận." : ""));
            return;
        }
        dl_events_count(st);
        json_t *o = json_pack("{s:s,s:s}", "id", PQgetvalue(res, i, 0), "result", st);
        if (!PQgetisnull(res, i, 2)) json_object_set_new(o, "shipment_status", json_string(PQgetvalue(res, i, 2)));
        if (!PQgetisnull(res, i, 3)) json_object_set_new(o, "dossier_status", json_string(PQgetvalue(res, i, 3)));
        json_array_append_new(results, o);
    }
    cds_respond_json(r, 200, json_pack("{s:o}", "results", results));
}

void cds_courier_events_post(cds_req *r)
{
    const cds_courier_principal *p = cds_auth_courier(r);
    if (!p) return;
    json_t *b = cds_req_json(r);
    if (!b) return;
    json_t *ev = json_object_get(b, "events");
    if (!json_is_array(ev) || json_array_size(ev) == 0 || json_array_size(ev) > EVENTS_MAX) {
        cds_problem(r, 422, "invalid_event", "Cần events: mảng 1-100 sự kiện.");
        return;
    }
    json_t *checked = json_array();
    char err[300];
    for (size_t i = 0; i < json_array_size(ev); i++) {
        json_t *c = check_event(json_array_get(ev, i), err, sizeof err);
        if (!c) {
            json_decref(checked);
            cds_problem(r, 422, "invalid_event", cds_req_printf(r, "Sự kiện thứ %zu: %s", i + 1, err));
            return;
        }
        json_array_append_new(checked, c);
    }
    char *text = json_dumps(checked, JSON_COMPACT);
    json_decref(checked);
    const char *s = text ? cds_req_strdup(r, text) : NULL;
    free(text);
    if (!s) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    char max_failed[16];
    snprintf(max_failed, sizeof max_failed, "%d", g_delivery.max_failed_attempts);
    const char *params[] = {p->courier_id, s, cds_req_strdup(r, max_failed), cds_req_trace_stored(r)};
    cds_req_db(r, st_events, 4, params, on_events);
}
