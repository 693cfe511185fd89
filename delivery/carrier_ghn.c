/* The GHN (Giao Hàng Nhanh) carrier adapter: builds GHN's API calls and
 * reads its answers and status callbacks; no I/O of its own (booking.c and
 * poll.c send, webhook.c receives).
 *
 * Source: GHN's public API documentation, "GHN API - Tài liệu tích hợp"
 * (https://api.ghn.vn/home/docs/detail), sections "Create Order"
 * (?id=122, formerly ?id=81), "Calculate Fee" (?id=95), "Cancel Order"
 * (?id=73), "Order Info" (?id=66) and "Order Info by client_order_code",
 * "Callback / Webhook" (?id=84, order status callback fields and Type
 * values) and the order status list; field names cross-checked against
 * GHN SDKs and integrations on GitHub (lehuygiang28/giaohangnhanh:
 * src/order/types/ (create-order, order-info, cancel-order), src/ghn.abstract.ts). Base URLs: production
 * https://online-gateway.ghn.vn/shiip/public-api, test
 * https://dev-online-gateway.ghn.vn/shiip/public-api (CDS_GHN_URL).
 *
 * Every call: POST, JSON, headers Token (the account's API token) and
 * ShopId (the shop the order belongs to: the agency's
 * agencies.carrier_account, else CDS_GHN_SHOP_ID). Every answer is an
 * envelope {"code":200|400|...,"message","data",...}: HTTP 200 with code 200
 * is success; HTTP 400 (code 400) is a refusal whose reason is in message
 * (and code_message_value when present).
 *
 *   create   /v2/shipping-order/create  {payment_type_id 1 (the shop pays
 *            the fee: the citizen paid it with the dossier, or cod_amount
 *            collects it), required_note KHONGCHOXEMHANG (official papers:
 *            not to be opened), client_order_code = our shipment id, to_name,
 *            to_phone, to_address, to_ward_name, to_district_name,
 *            to_province_name (GHN accepts names in place of its
 *            to_ward_code/to_district_id master-data codes), cod_amount,
 *            content, weight (g), length/width/height (cm), service_type_id
 *            (2: light goods), note, items[]; no from_* fields: GHN
 *            picks up at the address registered for the ShopId, one shop per
 *            agency's counter} -> data.order_code (the
 *            tracking number), total_fee, expected_delivery_time
 *   fee      /v2/shipping-order/fee  the same address, weight and service
 *            -> data.total
 *   cancel   /v2/switch-status/cancel  {"order_codes":[...]} -> data[]
 *            {order_code, result, message}
 *   detail   /v2/shipping-order/detail {"order_code"} -> data.status,
 *            data.log[] {status, updated_date}: the polling fallback
 *   by code  /v2/shipping-order/detail-by-client-code {"client_order_code"}
 *
 * Idempotency: client_order_code is unique per GHN account, so a booking
 * resent after a crash or a lost answer is refused (400) instead of making a
 * second order. GHN documents no stable code or text for "already exists",
 * so any 400 of a create is answered by asking for the order by our
 * shipment id (DL_LOOKUP): found, the booking is that order; not found, the
 * create's refusal stands (a bad address, ward or phone: failed for good).
 * HTTP 401/403 (token or shop wrong: an operator fixes the setting), 408,
 * 429, 5xx and no answer are retried (Retry-After honoured).
 *
 * Callbacks (webhook.c): GHN POSTs JSON {OrderCode, ClientOrderCode,
 * ShopID, Status, Type (Create, Switch_status, Update_weight, Update_cod,
 * Update_fee), Time (RFC 3339), Reason, ReasonCode, Warehouse, CODAmount,
 * Fee{...}, TotalFee, Weight, ...} and retries until it gets HTTP 200. GHN
 * documents NO signature: the callback URL we register carries a secret
 * token (/v1/webhooks/couriers/ghn/<CDS_GHN_CALLBACK_TOKEN>, compared in
 * constant time) and CDS_GHN_CALLBACK_ALLOW may restrict the source
 * addresses. GHN sends no event id: ours is OrderCode:Status:Time, so a
 * repeat (GHN's retries, a replayed capture) is a duplicate and changes
 * nothing; order follows Time (an older one is kept, recorded_late).
 * Create and Switch_status report a status; the Update_* types report none
 * and are taken without recording anything. GHN's callbacks carry no proof
 * of delivery: a GHN delivery has none (pod null).
 *
 * Statuses (GHN -> ours; the raw status and ReasonCode are kept):
 *   ready_to_pick, picking, money_collect_picking          -> booked
 *   picked                                                 -> picked_up
 *   storing, transporting, sorting, exception              -> in_transit
 *   delivering, money_collect_delivering                   -> out_for_delivery
 *   delivered                                              -> delivered
 *   delivery_fail, damage, lost                            -> delivery_failed
 *   waiting_to_return, return, return_transporting,
 *   return_sorting, returning, return_fail                 -> returning
 *   returned                                               -> returned
 *   cancel                                                 -> cancelled
 * Any other status is refused (422), so GHN retries and the log shows it. */
#include "internal.h"
#include "core/cidr.h"
#include "core/hmac_auth.h"
#include "core/jose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *ghn, *status;
} statuses[] = {
    {"ready_to_pick", "booked"},
    {"picking", "booked"},
    {"money_collect_picking", "booked"},
    {"picked", "picked_up"},
    {"storing", "in_transit"},
    {"transporting", "in_transit"},
    {"sorting", "in_transit"},
    {"exception", "in_transit"},
    {"delivering", "out_for_delivery"},
    {"money_collect_delivering", "out_for_delivery"},
    {"delivered", "delivered"},
    {"delivery_fail", "delivery_failed"},
    {"damage", "delivery_failed"},
    {"lost", "delivery_failed"},
    {"waiting_to_return", "returning"},
    {"return", "returning"},
    {"return_transporting", "returning"},
    {"return_sorting", "returning"},
    {"returning", "returning"},
    {"return_fail", "returning"},
    {"returned", "returned"},
    {"cancel", "cancelled"},
};

/* A parcel's size in cm by weight class (GHN prices light goods on the
 * larger of weight and length x width x height / 5000). */
static const struct {
    const char *weight_class;
    int length, width, height;
} sizes[] = {
    {"document", 35, 25, 2},
    {"small_parcel", 30, 20, 10},
    {"parcel", 40, 30, 20},
};

static int configured(void)
{
    return g_delivery.ghn_url != NULL;
}

static const char *callback_token(void)
{
    const char *t = g_delivery.ghn_callback_token;
    return t && *t ? t : NULL;
}

static const char *shop_of(const json_t *payload)
{
    const char *acc =
        json_string_value(json_object_get(json_object_get(payload, "sender"), "carrier_account"));
    return acc && *acc ? acc : g_delivery.ghn_shop_id ? g_delivery.ghn_shop_id : "";
}

/* POST {base}{path} with Token and ShopId; takes body (json_t, stolen). */
static int call(dl_http *out, const char *path, const char *shop, json_t *body, char *err,
                size_t cap)
{
    if (!body) {
        snprintf(err, cap, "shipment fields missing");
        return -1;
    }
    out->method = "POST";
    out->url = dl_printf("%s%s", g_delivery.ghn_url ? g_delivery.ghn_url : "", path);
    out->body = json_dumps(body, JSON_COMPACT);
    out->body_len = out->body ? strlen(out->body) : 0;
    json_decref(body);
    out->headers[0] = strdup("Content-Type: application/json");
    out->headers[1] = strdup("Accept: application/json");
    out->headers[2] = dl_printf("Token: %s", g_delivery.ghn_token ? g_delivery.ghn_token : "");
    out->headers[3] = dl_printf("ShopId: %s", shop ? shop : "");
    if (!out->url || !out->body || !out->headers[0] || !out->headers[1] || !out->headers[2] ||
        !out->headers[3]) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    return 0;
}

/* The order fields create and fee share: recipient, address, parcel. */
static json_t *order_body(const json_t *payload, char *err, size_t cap)
{
    const json_t *d = json_object_get(payload, "delivery");
    const json_t *rcp = json_object_get(d, "recipient"), *addr = json_object_get(rcp, "address");
    const char *wc = json_string_value(json_object_get(d, "weight_class"));
    long grams = dl_weight_grams(wc);
    if (!json_is_object(rcp) || !json_is_object(addr)) {
        snprintf(err, cap, "shipment without recipient or address");
        return NULL;
    }
    if (grams <= 0) grams = 500;
    int len = 35, wid = 25, hei = 2;
    for (size_t i = 0; wc && i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(sizes[i].weight_class, wc) == 0) {
            len = sizes[i].length;
            wid = sizes[i].width;
            hei = sizes[i].height;
        }
    json_t *b = json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:I,s:i,s:i,s:i,s:i,s:O}", "to_name",
                          json_object_get(rcp, "name"), "to_phone", json_object_get(rcp, "phone"),
                          "to_address", json_object_get(addr, "street"), "to_ward_name",
                          json_object_get(addr, "ward"), "to_district_name",
                          json_object_get(addr, "district"), "to_province_name",
                          json_object_get(addr, "province"), "weight", (json_int_t)grams, "length",
                          len, "width", wid, "height", hei, "service_type_id",
                          g_delivery.ghn_service_type_id, "cod_amount",
                          json_object_get(payload, "cod_amount_vnd"));
    if (!b) snprintf(err, cap, "shipment fields missing");
    return b;
}

static int book_request(const json_t *payload, dl_http *out, char *err, size_t cap)
{
    const char *id = json_string_value(json_object_get(payload, "shipment_id"));
    const char *code = json_string_value(json_object_get(payload, "dossier_code"));
    if (!id) {
        snprintf(err, cap, "shipment without id");
        return -1;
    }
    json_t *b = order_body(payload, err, cap);
    if (!b) return -1;
    const json_t *d = json_object_get(payload, "delivery");
    json_object_set_new(b, "payment_type_id", json_integer(1));
    json_object_set_new(b, "required_note", json_string("KHONGCHOXEMHANG"));
    json_object_set_new(b, "client_order_code", json_string(id));
    char content[200];
    snprintf(content, sizeof content, "Kết quả giải quyết thủ tục hành chính, hồ sơ %.64s",
             code ? code : "");
    json_object_set_new(b, "content", json_string(content));
    if (json_string_value(json_object_get(d, "notes")))
        json_object_set(b, "note", json_object_get(d, "notes"));
    json_object_set_new(b, "items",
                        json_pack("[{s:s,s:s?,s:i,s:O}]", "name", "Kết quả giải quyết TTHC", "code",
                                  code, "quantity", 1, "weight", json_object_get(b, "weight")));
    return call(out, "/v2/shipping-order/create", shop_of(payload), b, err, cap);
}

/* The envelope's reason: code_message_value, else message. */
static const char *reason_of(const json_t *j)
{
    const char *m = json_string_value(json_object_get(j, "code_message_value"));
    if (!m || !*m) m = json_string_value(json_object_get(j, "message"));
    return m ? m : "";
}

static int ok_envelope(const cds_http_response *resp, const json_t *j)
{
    return resp->status == 200 && json_integer_value(json_object_get(j, "code")) == 200;
}

/* Common outcome of a failed call: DL_RETRY (no answer, 401/403, 408, 429,
 * 5xx) or DL_FAILED (other 4xx). */
static int not_ok(const cds_http_response *resp, const json_t *j, long *retry_ms, char *err,
                  size_t cap)
{
    if (retry_ms) *retry_ms = dl_retry_after_ms(resp);
    if (resp->error || resp->status == 0) {
        snprintf(err, cap, "no answer: %.200s", resp->error ? resp->error : "?");
        return DL_RETRY;
    }
    snprintf(err, cap, "HTTP %ld: %.200s", resp->status, j ? reason_of(j) : "unexpected answer");
    if (resp->status == 401 || resp->status == 403 || resp->status == 408 ||
        resp->status == 429 || resp->status >= 500 || resp->status < 400)
        return DL_RETRY;
    return DL_FAILED;
}

static json_t *answer_json(const cds_http_response *resp)
{
    return resp->body && resp->body_len ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
}

static int book_parse(const cds_http_response *resp, char *tracking, size_t tcap, long *retry_ms,
                      char *err, size_t cap)
{
    *retry_ms = 0;
    json_t *j = answer_json(resp);
    const char *tn =
        json_string_value(json_object_get(json_object_get(j, "data"), "order_code"));
    int rc;
    if (ok_envelope(resp, j) && dl_tracking_ok(tn)) {
        snprintf(tracking, tcap, "%s", tn);
        rc = DL_BOOKED;
    } else if (resp->status == 400) {
        snprintf(err, cap, "refused (HTTP 400): %.200s", j ? reason_of(j) : "");
        rc = DL_LOOKUP; /* perhaps our client_order_code exists already */
    } else {
        rc = not_ok(resp, j, retry_ms, err, cap);
        if (resp->status == 200) rc = DL_RETRY; /* a 200 without an order code */
    }
    json_decref(j);
    return rc;
}

static int lookup_request(const json_t *payload, dl_http *out, char *err, size_t cap)
{
    const char *id = json_string_value(json_object_get(payload, "shipment_id"));
    if (!id) {
        snprintf(err, cap, "shipment without id");
        return -1;
    }
    return call(out, "/v2/shipping-order/detail-by-client-code", shop_of(payload),
                json_pack("{s:s}", "client_order_code", id), err, cap);
}

static int lookup_parse(const cds_http_response *resp, char *tracking, size_t tcap, char *err,
                        size_t cap)
{
    json_t *j = answer_json(resp);
    const char *tn =
        json_string_value(json_object_get(json_object_get(j, "data"), "order_code"));
    int rc;
    if (ok_envelope(resp, j) && dl_tracking_ok(tn)) {
        snprintf(tracking, tcap, "%s", tn);
        rc = DL_BOOKED;
    } else if (resp->status == 400 || resp->status == 404) {
        snprintf(err, cap, "no order with our client_order_code: %.200s", j ? reason_of(j) : "");
        rc = DL_FAILED;
    } else {
        rc = not_ok(resp, j, NULL, err, cap);
        if (rc == DL_FAILED || resp->status == 200) rc = DL_RETRY;
    }
    json_decref(j);
    return rc;
}

static int fee_request(const json_t *payload, dl_http *out, char *err, size_t cap)
{
    json_t *b = order_body(payload, err, cap);
    if (!b) return -1;
    json_object_del(b, "to_name");
    json_object_del(b, "to_phone");
    json_object_set_new(b, "insurance_value", json_integer(0));
    return call(out, "/v2/shipping-order/fee", shop_of(payload), b, err, cap);
}

static int fee_parse(const cds_http_response *resp, long long *fee_vnd, char *err, size_t cap)
{
    json_t *j = answer_json(resp);
    json_t *total = json_object_get(json_object_get(j, "data"), "total");
    int rc;
    if (ok_envelope(resp, j) && json_is_integer(total) && json_integer_value(total) >= 0) {
        *fee_vnd = json_integer_value(total);
        rc = 0;
    } else {
        rc = not_ok(resp, j, NULL, err, cap);
    }
    json_decref(j);
    return rc;
}

static int cancel_request(const char *tracking, const char *account, dl_http *out, char *err,
                          size_t cap)
{
    if (!dl_tracking_ok(tracking)) {
        snprintf(err, cap, "bad tracking number");
        return -1;
    }
    const char *shop = account && *account ? account : g_delivery.ghn_shop_id;
    return call(out, "/v2/switch-status/cancel", shop,
                json_pack("{s:[s]}", "order_codes", tracking), err, cap);
}

static int cancel_parse(const cds_http_response *resp, char *err, size_t cap)
{
    json_t *j = answer_json(resp);
    json_t *first = json_array_get(json_object_get(j, "data"), 0);
    int rc;
    if (ok_envelope(resp, j) && json_is_true(json_object_get(first, "result"))) {
        rc = 0;
    } else if (ok_envelope(resp, j)) {
        /* The call went through; GHN refused this order (picked up already). */
        const char *m = json_string_value(json_object_get(first, "message"));
        snprintf(err, cap, "not cancelled: %.200s", m ? m : "");
        rc = DL_FAILED;
    } else {
        rc = not_ok(resp, j, NULL, err, cap);
    }
    json_decref(j);
    return rc;
}

static int webhook_verify(cds_req *r, const char *secret, int window_s, time_t now)
{
    (void)window_s; /* GHN sends no timestamp to hold to a window */
    (void)now;
    const char *given = cds_req_param(r, "token");
    if (!given || !*given) return CDS_HMAC_MISSING;
    if (!secret) return CDS_HMAC_UNKNOWN;
    if (dl_ghn_allow && !cds_cidr_match(dl_ghn_allow, cds_req_peer(r))) return DL_SOURCE_REFUSED;
    size_t n = strlen(secret);
    if (strlen(given) != n || !cds_ct_equal(given, secret, n)) return CDS_HMAC_BAD;
    return CDS_HMAC_OK;
}

static const char *status_of(const char *ghn)
{
    for (size_t i = 0; ghn && i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(ghn, statuses[i].ghn) == 0) return statuses[i].status;
    return NULL;
}

/* One event from its parts (the callback's or a tracking log entry's). */
static int make_event(dl_event *e, const char *order_code, const char *ghn_status,
                      const char *at, const json_t *extra, int delivered_cod, char *err,
                      size_t cap)
{
    memset(e, 0, sizeof *e);
    e->cod = -1;
    if (!dl_tracking_ok(order_code) || !dl_rfc3339(at)) {
        snprintf(err, cap, "Sự kiện phải có OrderCode và Time (RFC 3339).");
        return -1;
    }
    e->status = status_of(ghn_status);
    if (!e->status) {
        snprintf(err, cap, "Trạng thái (Status) không được hỗ trợ.");
        return -1;
    }
    snprintf(e->event_id, sizeof e->event_id, "%s:%s:%s", order_code, ghn_status, at);
    snprintf(e->tracking, sizeof e->tracking, "%s", order_code);
    snprintf(e->occurred_at, sizeof e->occurred_at, "%s", at);
    char rc[33];
    if (extra && (!dl_opt_text(extra, "Reason", 300, e->raw_reason, sizeof e->raw_reason) ||
                  !dl_opt_text(extra, "Warehouse", 200, e->location, sizeof e->location) ||
                  !dl_opt_text(extra, "ReasonCode", 16, rc, sizeof rc))) {
        snprintf(err, cap, "Reason, ReasonCode hoặc Warehouse không hợp lệ.");
        return -1;
    }
    if (!extra) rc[0] = 0;
    if (rc[0]) snprintf(e->raw_code, sizeof e->raw_code, "%.15s/%.16s", ghn_status, rc);
    else snprintf(e->raw_code, sizeof e->raw_code, "%.32s", ghn_status);
    json_t *cod = extra ? json_object_get(extra, "CODAmount") : NULL;
    if (cod && !json_is_null(cod) &&
        (!json_is_integer(cod) || json_integer_value(cod) < 0 ||
         json_integer_value(cod) > 999999999999LL)) {
        snprintf(err, cap, "CODAmount phải là số nguyên VND không âm.");
        return -1;
    }
    if (delivered_cod && strcmp(e->status, "delivered") == 0 && json_is_integer(cod))
        e->cod = json_integer_value(cod);
    return 0;
}

static int text_ok(const char *s, size_t max)
{
    if (!s || !*s || strlen(s) > max) return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) return 0;
    return 1;
}

/* A callback body: one order, one status. */
static int parse_callback(const json_t *j, dl_event *ev, size_t cap, size_t *n, char *err,
                          size_t errcap)
{
    const char *type = json_string_value(json_object_get(j, "Type"));
    const char *st = json_string_value(json_object_get(j, "Status"));
    const char *code = json_string_value(json_object_get(j, "OrderCode"));
    const char *at = json_string_value(json_object_get(j, "Time"));
    if (!type) {
        snprintf(err, errcap, "Thiếu Type.");
        return -1;
    }
    if (strcasecmp(type, "update_weight") == 0 || strcasecmp(type, "update_cod") == 0 ||
        strcasecmp(type, "update_fee") == 0)
        return dl_tracking_ok(code) ? 1 : (snprintf(err, errcap, "Thiếu OrderCode."), -1);
    if (strcasecmp(type, "create") != 0 && strcasecmp(type, "switch_status") != 0) {
        snprintf(err, errcap, "Type không được hỗ trợ.");
        return -1;
    }
    if (!text_ok(st, 40)) {
        snprintf(err, errcap, "Thiếu Status.");
        return -1;
    }
    if (cap == 0) {
        snprintf(err, errcap, "Không còn chỗ cho sự kiện.");
        return -1;
    }
    if (make_event(&ev[0], code, st, at, j, 1, err, errcap) != 0) return -1;
    *n = 1;
    return 0;
}

/* A detail answer: {"code":200,"data":{"order_code","log":[{status, updated_date}]}}. */
static int parse_detail(const json_t *data, dl_event *ev, size_t cap, size_t *n, char *err,
                        size_t errcap)
{
    const char *code = json_string_value(json_object_get(data, "order_code"));
    json_t *log = json_object_get(data, "log");
    if (!json_is_array(log) || json_array_size(log) > cap) {
        snprintf(err, errcap, "Danh sách sự kiện không hợp lệ hoặc quá dài.");
        return -1;
    }
    size_t i;
    json_t *o;
    json_array_foreach(log, i, o) {
        const char *st = json_string_value(json_object_get(o, "status"));
        const char *at = json_string_value(json_object_get(o, "updated_date"));
        if (!text_ok(st, 40)) {
            snprintf(err, errcap, "Trạng thái (status) trong log không hợp lệ.");
            return -1;
        }
        if (make_event(&ev[*n], code, st, at, NULL, 0, err, errcap) != 0) return -1;
        (*n)++;
    }
    return 0;
}

static int parse_events(const char *body, size_t len, dl_event *ev, size_t cap, size_t *n,
                        char *err, size_t errcap)
{
    *n = 0;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errcap, "Nội dung phải là một đối tượng JSON.");
        return -1;
    }
    json_t *data = json_object_get(j, "data");
    int rc = json_is_object(data) ? parse_detail(data, ev, cap, n, err, errcap)
                                  : parse_callback(j, ev, cap, n, err, errcap);
    if (rc < 0) {
        for (size_t i = 0; i < *n; i++) dl_event_clear(&ev[i]);
        *n = 0;
    }
    json_decref(j);
    return rc;
}

static int track_request(const char *tracking, dl_http *out, char *err, size_t cap)
{
    if (!dl_tracking_ok(tracking)) {
        snprintf(err, cap, "bad tracking number");
        return -1;
    }
    return call(out, "/v2/shipping-order/detail", g_delivery.ghn_shop_id,
                json_pack("{s:s}", "order_code", tracking), err, cap);
}

const dl_carrier dl_ghn = {
    .name = "ghn",
    .display = "GHN",
    .auth = DL_AUTH_URL_TOKEN,
    .configured = configured,
    .webhook_secret = callback_token,
    .book_request = book_request,
    .book_parse = book_parse,
    .lookup_request = lookup_request,
    .lookup_parse = lookup_parse,
    .webhook_verify = webhook_verify,
    .parse_events = parse_events,
    .track_request = track_request,
    .fee_request = fee_request,
    .fee_parse = fee_parse,
    .cancel_request = cancel_request,
    .cancel_parse = cancel_parse,
};
