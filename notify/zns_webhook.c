/* Zalo's delivery webhook for ZNS: POST /v1/callbacks/zns.
 *
 * Zalo for Developers, "Webhook > Xác thực Webhook" and the ZNS event
 * "user_received_message" (developers.zalo.me/docs/zalo-notification-service):
 * Zalo POSTs a JSON event
 *   {"app_id":"..","user_id_by_app":"..","event_name":"user_received_message",
 *    "message":{"msg_id":"..","delivery_time":"..","tracking_id":".."?},
 *    "timestamp":"<ms>"}
 * with the header
 *   X-ZEvent-Signature: mac=<hex SHA-256(app_id + body + timestamp + OA secret key)>
 * where body is the raw JSON as sent, timestamp the event's own field and
 * the OA secret key that of the Official Account (not the app secret).
 *
 * Checked here: the app id is ours, the signature (constant time; the
 * "mac=" prefix is optional), the timestamp within CDS_SMS_CALLBACK_WINDOW
 * of now (a replayed event is refused). A forged or stale event is a 401 and
 * changes nothing. Other events are acknowledged and ignored. The message
 * is found by msg_id (our outbox row's provider_message_id for provider
 * "zns") and marked delivered through the same batched statement as the SMS
 * receipts (receipts.c): unknown -> 404, a repeat -> 200 unchanged. */
#include "internal.h"
#include "core/digest.h"
#include "core/jose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static void unauthorised(cds_req *r, const char *code, const char *why)
{
    cds_problem(r, 401, code, cds_req_printf(r, "Sự kiện Zalo không hợp lệ: %s.", why));
}

static int hex_equal(const char *given, const unsigned char mac[32])
{
    static const char hex[] = "0123456789abcdef";
    char want[65];
    for (int i = 0; i < 32; i++) {
        want[2 * i] = hex[mac[i] >> 4];
        want[2 * i + 1] = hex[mac[i] & 15];
    }
    want[64] = 0;
    char low[65];
    size_t n = strlen(given);
    if (n != 64) return 0;
    for (size_t i = 0; i < 64; i++)
        low[i] = (given[i] >= 'A' && given[i] <= 'F') ? (char)(given[i] - 'A' + 'a') : given[i];
    low[64] = 0;
    return cds_ct_equal(low, want, 64);
}

void cds_zns_webhook(cds_req *r)
{
    const char *secret = g_notify.zns_oa_secret_key, *app = g_notify.zns_app_id;
    if (!secret || !*secret || !app || !*app) {
        unauthorised(r, "callback_signature_invalid", "ZNS chưa được cấu hình");
        return;
    }
    const char *sig = cds_req_header(r, "x-zevent-signature");
    if (!sig || !*sig) {
        unauthorised(r, "callback_signature_missing", "thiếu chữ ký X-ZEvent-Signature");
        return;
    }
    if (strncmp(sig, "mac=", 4) == 0) sig += 4;
    size_t len = 0;
    const char *body = cds_req_body(r, &len);
    json_t *j = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *app_id = json_string_value(json_object_get(j, "app_id"));
    json_t *ts_j = json_object_get(j, "timestamp");
    char ts[32];
    if (json_is_string(ts_j) && json_string_length(ts_j) < sizeof ts &&
        json_string_length(ts_j) > 0 &&
        strspn(json_string_value(ts_j), "0123456789") == json_string_length(ts_j))
        snprintf(ts, sizeof ts, "%s", json_string_value(ts_j));
    else if (json_is_integer(ts_j) && json_integer_value(ts_j) > 0)
        snprintf(ts, sizeof ts, "%lld", (long long)json_integer_value(ts_j));
    else
        ts[0] = 0;
    if (!json_is_object(j) || !app_id || !ts[0]) {
        json_decref(j);
        cds_problem(r, 400, "invalid_receipt",
                    "Sự kiện Zalo không hợp lệ: cần app_id và timestamp.");
        return;
    }
    /* SHA-256 over the concatenation: Zalo's scheme is a plain hash with
     * the secret inside, not an HMAC. */
    const char *part[4] = {app, body, ts, secret};
    size_t plen[4] = {strlen(app), len, strlen(ts), strlen(secret)};
    size_t total = plen[0] + plen[1] + plen[2] + plen[3], off = 0;
    char *cat = malloc(total + 1);
    if (!cat) {
        json_decref(j);
        cds_problem(r, 500, "internal_error", "Lỗi hệ thống.");
        return;
    }
    for (int i = 0; i < 4; i++) {
        memcpy(cat + off, part[i], plen[i]);
        off += plen[i];
    }
    unsigned char mac[32];
    int ok = cds_sha256(cat, total, mac) == 0;
    free(cat);
    if (!ok || !hex_equal(sig, mac) || strcmp(app_id, app) != 0) {
        json_decref(j);
        unauthorised(r, "callback_signature_invalid", "chữ ký không đúng");
        return;
    }
    struct timeval now;
    gettimeofday(&now, NULL);
    long long now_ms = (long long)now.tv_sec * 1000 + now.tv_usec / 1000;
    long long at = strtoll(ts, NULL, 10);
    long long window = (long long)g_notify.zns_webhook_window_s * 1000;
    if (at < now_ms - window || at > now_ms + window) {
        json_decref(j);
        unauthorised(r, "callback_timestamp_stale", "sự kiện đã quá hạn");
        return;
    }
    const char *event = json_string_value(json_object_get(j, "event_name"));
    if (!event || strcmp(event, "user_received_message") != 0) {
        json_decref(j);
        cds_respond_json(r, 200, json_pack("{s:s}", "status", "ignored"));
        return;
    }
    const char *msg_id =
        json_string_value(json_object_get(json_object_get(j, "message"), "msg_id"));
    if (!msg_id || !*msg_id || strlen(msg_id) > 150) {
        json_decref(j);
        cds_problem(r, 400, "invalid_receipt", "Sự kiện Zalo không hợp lệ: thiếu message.msg_id.");
        return;
    }
    nt_receipt_apply(r, "zns", cds_req_printf(r, "%s", msg_id), NULL, "delivered", NULL);
    json_decref(j);
}
