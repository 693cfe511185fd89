/* The VNPost/EMS-style carrier adapter.
 *
 * UNVERIFIED CONTRACT. No public document backs what this file speaks:
 * VNPost (Tổng công ty Bưu điện Việt Nam) publishes no partner booking API
 * that we could find (searched: the VNPost and MyVNPost sites, code hosts,
 * integration write-ups, December 2026). Its express arm EMS does publish
 * one, "APIs MyEMS - Merchant Api v2.0" (docs.ems.com.vn, "Quản lý bưu
 * gửi > Tạo bưu gửi" and "Webhook"; also docws.ems.com.vn): POST
 * /api/v1/orders/create-v2 with merchant_token, order_code, to_province /
 * to_district / to_ward as EMS's own location codes, total_weight,
 * money_collect, answering {"code":"success","data":{"tracking_code",...}}.
 * That is NOT what this adapter sends (path, token, field names, location
 * codes, answer and webhook shapes all differ), so every part below (the
 * path, Token header, client_order_id idempotency, the 409 answer, the
 * status codes 100..900, the HMAC webhook headers, the tracking path) is our
 * own assumption and must be replaced by VNPost's real contract once a
 * contract with VNPost provides it. GHN (carrier_ghn.c) is the carrier whose
 * contract is taken from public documentation.
 *
 * Booking: POST {CDS_VNPOST_URL}/api/v1/orders with the account token
 * (header Token) and our shipment id as client_order_id and Idempotency-Key:
 * the carrier answers a repeat with the order it already made, so a booking
 * retried after a crash or a lost answer is one order. 200/201 (or 409 with
 * the existing order) carry data.tracking_number; 400/422 are refusals for
 * good; 401/403, 408, 429, 5xx and no answer are retried (Retry-After
 * honoured).
 *
 * Webhooks: POST /v1/webhooks/couriers/vnpost, one event per call, signed
 * with X-Vnpost-Timestamp and X-Vnpost-Signature (delivery/signature.c).
 * Status codes: 100 booked, 200 picked_up, 300/301 in_transit, 400
 * out_for_delivery, 500 delivered (with pod and cod_collected), 550
 * delivery_failed (reason_code, reason), 600 returning, 700 returned, 900
 * cancelled. The raw code and reason are kept beside the normalized status.
 *
 * Tracking (polling fallback): GET /api/v1/orders/{tracking}/events answers
 * {"code":"00","data":{"events":[...]}} with the same event objects. */
#include "internal.h"
#include "core/hmac_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *code, *status;
} codes[] = {
    {"100", "booked"},    {"200", "picked_up"},       {"300", "in_transit"},
    {"301", "in_transit"}, {"400", "out_for_delivery"}, {"500", "delivered"},
    {"550", "delivery_failed"}, {"600", "returning"},  {"700", "returned"},
    {"900", "cancelled"},
};

static int configured(void)
{
    return g_delivery.vnpost_url && *g_delivery.vnpost_url;
}

static const char *base_url(void)
{
    return g_delivery.vnpost_url;
}

/* The agency's own customer code (agencies.carrier_account), else ours. */
static const char *customer_code(const json_t *sender)
{
    const char *acc = json_string_value(json_object_get(sender, "carrier_account"));
    if (acc && *acc) return acc;
    return g_delivery.vnpost_customer_code ? g_delivery.vnpost_customer_code : "";
}

static int book_request(const json_t *payload, dl_http *out, char *err, size_t cap)
{
    const json_t *d = json_object_get(payload, "delivery");
    const json_t *rcp = json_object_get(d, "recipient"), *addr = json_object_get(rcp, "address");
    const json_t *sender = json_object_get(payload, "sender");
    const char *id = json_string_value(json_object_get(payload, "shipment_id"));
    if (!id || !json_is_object(rcp) || !json_is_object(addr)) {
        snprintf(err, cap, "shipment without recipient or address");
        return -1;
    }
    json_t *body = json_pack(
        "{s:s,s:s,s:s,s:{s:s?,s:s?,s:s?},s:{s:O,s:O,s:O,s:O,s:O,s:O},s:{s:O,s:s},s:O,s:O?}",
        "client_order_id", id, "customer_code", customer_code(sender), "service",
        "EMS_TTHC", "sender", "name", json_string_value(json_object_get(sender, "name")),
        "code", json_string_value(json_object_get(sender, "agency_code")), "address",
        json_string_value(json_object_get(sender, "address")), "receiver", "name",
        json_object_get(rcp, "name"), "phone", json_object_get(rcp, "phone"), "province",
        json_object_get(addr, "province"), "district", json_object_get(addr, "district"), "ward",
        json_object_get(addr, "ward"), "address", json_object_get(addr, "street"), "parcel",
        "weight_class", json_object_get(d, "weight_class"), "content",
        "Kết quả giải quyết thủ tục hành chính", "cod_amount",
        json_object_get(payload, "cod_amount_vnd"), "note", json_object_get(d, "notes"));
    if (!body) {
        snprintf(err, cap, "shipment fields missing");
        return -1;
    }
    json_object_set(json_object_get(body, "parcel"), "dossier_code",
                    json_object_get(payload, "dossier_code"));
    out->method = "POST";
    out->url = dl_printf("%s/api/v1/orders", base_url());
    out->body = json_dumps(body, JSON_COMPACT);
    out->body_len = out->body ? strlen(out->body) : 0;
    json_decref(body);
    out->headers[0] = strdup("Content-Type: application/json");
    out->headers[1] = strdup("Accept: application/json");
    out->headers[2] = dl_printf("Token: %s", g_delivery.vnpost_token ? g_delivery.vnpost_token : "");
    out->headers[3] = dl_printf("Idempotency-Key: %s", id);
    if (!out->url || !out->body || !out->headers[3]) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    return 0;
}

static int book_parse(const cds_http_response *resp, char *tracking, size_t tcap, long *retry_ms,
                      char *err, size_t cap)
{
    *retry_ms = 0;
    if (resp->error || resp->status == 0) {
        snprintf(err, cap, "no answer: %.200s", resp->error ? resp->error : "?");
        return DL_RETRY;
    }
    json_t *j = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    const char *tn = json_string_value(json_object_get(json_object_get(j, "data"), "tracking_number"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    int rc;
    if ((resp->status == 200 || resp->status == 201 || resp->status == 409) && dl_tracking_ok(tn)) {
        snprintf(tracking, tcap, "%s", tn);
        rc = DL_BOOKED;
    } else if (resp->status == 400 || resp->status == 422 || resp->status == 404) {
        snprintf(err, cap, "refused (HTTP %ld): %.200s", resp->status, msg ? msg : "");
        rc = DL_FAILED;
    } else {
        *retry_ms = dl_retry_after_ms(resp);
        snprintf(err, cap, "HTTP %ld: %.200s", resp->status, msg ? msg : "unexpected answer");
        rc = DL_RETRY;
    }
    json_decref(j);
    return rc;
}

static int webhook_verify(cds_req *r, const char *secret, int window_s, time_t now)
{
    size_t len = 0;
    const char *body = cds_req_body(r, &len);
    return dl_sig_check(secret, cds_req_header(r, "x-vnpost-timestamp"),
                        cds_req_header(r, "x-vnpost-signature"), body, body ? len : 0, now,
                        window_s);
}

static int hex64(const char *s)
{
    return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* Proof of delivery: recipient_name, relation?, delivered_at, position?
 * {lat, lng}, image_ref, image_sha256. */
static char *pod_json(const json_t *p)
{
    char name[201], rel[101], ref[501], at[40];
    json_t *pos = json_object_get(p, "position");
    const char *sha = json_string_value(json_object_get(p, "image_sha256"));
    if (!json_is_object(p) || !dl_opt_text(p, "recipient_name", 200, name, sizeof name) || !name[0] ||
        !dl_opt_text(p, "relation", 100, rel, sizeof rel) ||
        !dl_opt_text(p, "image_ref", 500, ref, sizeof ref) || !ref[0] || !hex64(sha) ||
        !dl_opt_text(p, "delivered_at", 39, at, sizeof at) || !dl_rfc3339(at))
        return NULL;
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "recipient_name", name, "delivered_at", at,
                          "image_ref", ref, "image_sha256", sha);
    if (rel[0]) json_object_set_new(o, "relation", json_string(rel));
    if (pos && !json_is_null(pos)) {
        json_t *lat = json_object_get(pos, "lat"), *lng = json_object_get(pos, "lng");
        if (!json_is_number(lat) || !json_is_number(lng) || json_number_value(lat) < -90 ||
            json_number_value(lat) > 90 || json_number_value(lng) < -180 ||
            json_number_value(lng) > 180) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "position", json_pack("{s:O,s:O}", "lat", lat, "lng", lng));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static int parse_one(const json_t *o, dl_event *e, char *err, size_t cap)
{
    memset(e, 0, sizeof *e);
    e->cod = -1;
    const char *id = json_string_value(json_object_get(o, "event_id"));
    const char *tn = json_string_value(json_object_get(o, "tracking_number"));
    const char *code = json_string_value(json_object_get(o, "status_code"));
    const char *at = json_string_value(json_object_get(o, "occurred_at"));
    size_t idl = id ? strlen(id) : 0;
    int id_ok = idl >= 1 && idl <= 128;
    for (size_t i = 0; id_ok && i < idl; i++) id_ok = id[i] > 0x20 && id[i] < 0x7f;
    if (!json_is_object(o) || !id_ok || !dl_tracking_ok(tn) || !dl_rfc3339(at)) {
        snprintf(err, cap, "Sự kiện phải có event_id, tracking_number và occurred_at (RFC 3339).");
        return -1;
    }
    for (size_t i = 0; code && i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(code, codes[i].code) == 0) e->status = codes[i].status;
    if (!e->status) {
        snprintf(err, cap, "Mã trạng thái (status_code) không được hỗ trợ.");
        return -1;
    }
    snprintf(e->event_id, sizeof e->event_id, "%s", id);
    snprintf(e->tracking, sizeof e->tracking, "%s", tn);
    snprintf(e->raw_code, sizeof e->raw_code, "%.4s", code);
    snprintf(e->occurred_at, sizeof e->occurred_at, "%s", at);
    char rc[33];
    if (!dl_opt_text(o, "reason", 300, e->raw_reason, sizeof e->raw_reason) ||
        !dl_opt_text(o, "location", 200, e->location, sizeof e->location) ||
        !dl_opt_text(o, "reason_code", 16, rc, sizeof rc)) {
        snprintf(err, cap, "reason, reason_code hoặc location không hợp lệ.");
        return -1;
    }
    if (rc[0]) snprintf(e->raw_code, sizeof e->raw_code, "%.4s/%.16s", code, rc);
    json_t *cod = json_object_get(o, "cod_collected");
    if (cod && !json_is_null(cod)) {
        if (!json_is_integer(cod) || json_integer_value(cod) < 0 ||
            json_integer_value(cod) > 999999999999LL) {
            snprintf(err, cap, "cod_collected phải là số nguyên VND không âm.");
            return -1;
        }
        e->cod = json_integer_value(cod);
    }
    if (strcmp(e->status, "delivered") == 0) {
        e->pod = pod_json(json_object_get(o, "pod"));
        if (!e->pod) {
            snprintf(err, cap, "Sự kiện giao thành công phải kèm bằng chứng giao hàng (pod): "
                               "recipient_name, delivered_at, image_ref, image_sha256.");
            return -1;
        }
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
    json_t *list = json_object_get(j, "events");
    if (!list) list = json_object_get(json_object_get(j, "data"), "events");
    int rc = 0;
    if (list) {
        size_t i;
        json_t *o;
        if (!json_is_array(list) || json_array_size(list) > cap) {
            snprintf(err, errcap, "Danh sách sự kiện không hợp lệ hoặc quá dài.");
            rc = -1;
        }
        json_array_foreach(list, i, o) {
            if (rc) break;
            if (parse_one(o, &ev[*n], err, errcap) != 0) rc = -1;
            else (*n)++;
        }
    } else if (cap > 0) {
        if (parse_one(j, &ev[0], err, errcap) != 0) rc = -1;
        else *n = 1;
    }
    if (rc)
        for (size_t i = 0; i < *n; i++) dl_event_clear(&ev[i]);
    if (rc) *n = 0;
    json_decref(j);
    return rc;
}

static int track_request(const char *tracking, dl_http *out, char *err, size_t cap)
{
    if (!dl_tracking_ok(tracking)) {
        snprintf(err, cap, "bad tracking number");
        return -1;
    }
    out->method = "GET";
    out->url = dl_printf("%s/api/v1/orders/%s/events", base_url(), tracking);
    out->headers[0] = strdup("Accept: application/json");
    out->headers[1] = dl_printf("Token: %s", g_delivery.vnpost_token ? g_delivery.vnpost_token : "");
    return out->url && out->headers[1] ? 0 : -1;
}

const dl_carrier dl_vnpost = {
    .name = "vnpost",
    .display = "VNPost",
    .configured = configured,
    .book_request = book_request,
    .book_parse = book_parse,
    .webhook_verify = webhook_verify,
    .parse_events = parse_events,
    .track_request = track_request,
};
