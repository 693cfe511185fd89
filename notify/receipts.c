/* Delivery receipts from the SMS gateways: they move a `pending` SMS to
 * `delivered` or `permanent-failure`.
 *
 *   GET  /v1/callbacks/sms/esms?SMSID=..&RequestId=..&SendStatus=..
 *        &SendSuccess=..&SendFailed=..   (eSMS reports with a GET)
 *        SendStatus 7: still with the telco; SendSuccess 1: delivered;
 *        SendFailed 1 (SendStatus 4 or 5): failed
 *   POST /v1/callbacks/sms/speedsms  {"type":"report","tranId":N,"phone":"..","status":N}
 *        status 0 delivered, 1..63 not yet final, 64 and above failed
 *
 * Both are signed like our partner calls (core/hmac_req.h), each gateway
 * with its own secret (CDS_SMS_CALLBACK_CLIENTS), and a gateway may only
 * report on its own route. A receipt for a message we do not know is a 404
 * and changes nothing; a repeat changes nothing and is answered 200 again;
 * a receipt that overtakes the record of the send (still `sending`) gets a
 * 503 with Retry-After so the gateway sends it again a moment later.
 *
 * The receipts of one turn of a thread's loop are applied by one call of
 * cds_outbox_receipts (core/req_batch.h): a gateway reporting thousands of
 * deliveries a second costs PostgreSQL one transaction per batch, not one
 * per receipt, and each receipt still gets its own answer. */
#include "internal.h"
#include "core/db.h"
#include "core/hmac_req.h"
#include "core/log.h"
#include "core/req_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cds_hmac_clients *g_clients;
static void on_applied(cds_req *r, PGresult *res, int row);
static cds_req_batch_kind g_receipts = {"sms_receipts", -1, 64, on_applied};

int nt_receipts_init(void)
{
    g_receipts.stmt = cds_db_stmt_register(
        "notify_receipts", "SELECT item, status, outbox_id FROM cds_outbox_receipts($1::jsonb)", 1);
    if (g_receipts.stmt < 0) return -1;
    g_receipts.max_items = g_notify.receipt_batch;
    nt_receipts_shutdown();
    const char *spec = g_notify.callback_clients;
    if (!spec || !*spec) return 0; /* every receipt refused */
    const char *err = NULL;
    g_clients = cds_hmac_clients_parse(spec, &err);
    if (!g_clients) {
        cds_log(CDS_LOG_ERROR, "sms_callback_config", "CDS_SMS_CALLBACK_CLIENTS: %s",
                err ? err : "malformed");
        return -1;
    }
    return 0;
}

void nt_receipts_shutdown(void)
{
    cds_hmac_clients_free(g_clients);
    g_clients = NULL;
}

/* res row `row`: item, status (applied | unchanged | unknown | not_ready),
 * outbox id; row -1: the batch failed. */
static void on_applied(cds_req *r, PGresult *res, int row)
{
    if (row < 0) {
        cds_problem(r, 503, "database_unavailable",
                    "Hệ thống tạm thời không ghi nhận được báo cáo, vui lòng gửi lại.");
        return;
    }
    const char *status = PQgetvalue(res, row, 1);
    if (strcmp(status, "unknown") == 0) {
        cds_problem(r, 404, "notification_not_found", "Không tìm thấy tin nhắn được báo cáo.");
        return;
    }
    if (strcmp(status, "not_ready") == 0) {
        cds_resp_header(r, "retry-after", "1");
        cds_problem(r, 503, "receipt_too_early",
                    "Tin nhắn đang được ghi nhận, vui lòng gửi lại báo cáo sau ít giây.");
        return;
    }
    cds_respond_json(r, 200, json_pack("{s:s,s:s}", "status", status, "id", PQgetvalue(res, row, 2)));
}

/* Signed by `provider` itself; else answered and 0. */
static int authorised(cds_req *r, const char *provider)
{
    const char *who = cds_hmac_req_verify(r, g_clients, g_notify.callback_window_s, "callback");
    if (!who) return 0;
    if (strcmp(who, provider) != 0) {
        cds_problem(r, 403, "callback_wrong_client",
                    "Đối tác này không được gửi báo cáo cho cổng tin nhắn khác.");
        return 0;
    }
    return 1;
}

static void bad_receipt(cds_req *r, const char *what)
{
    cds_problem(r, 400, "invalid_receipt",
                cds_req_printf(r, "Báo cáo gửi tin không hợp lệ: %s.", what));
}

void nt_receipt_apply(cds_req *r, const char *provider, const char *message_id,
                      const char *outbox_id, const char *status, const char *error)
{
    json_t *item = json_pack("{s:s,s:s?,s:s?,s:s,s:s?}", "provider", provider, "message_id",
                             message_id, "outbox_id", outbox_id, "status", status, "error", error);
    cds_req_batch(r, &g_receipts, item);
}

static int digits(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= max && strspn(s, "0123456789") == n;
}

void cds_sms_receipt_esms(cds_req *r)
{
    if (!authorised(r, "esms")) return;
    const char *smsid = cds_req_query(r, "SMSID"), *rid = cds_req_query(r, "RequestId");
    const char *st = cds_req_query(r, "SendStatus"), *ok = cds_req_query(r, "SendSuccess");
    const char *failed = cds_req_query(r, "SendFailed");
    if (rid && !*rid) rid = NULL;
    if (rid && !digits(rid, 18)) return bad_receipt(r, "RequestId");
    if (!rid && (!smsid || !*smsid || strlen(smsid) > 150)) return bad_receipt(r, "SMSID");
    if (!st || !digits(st, 2)) return bad_receipt(r, "SendStatus");
    const char *status, *error = NULL;
    if (strcmp(st, "7") == 0) {
        status = "pending";
    } else if (ok && strcmp(ok, "1") == 0 && strcmp(st, "5") == 0) {
        status = "delivered";
    } else if (failed && strcmp(failed, "1") == 0) {
        status = "permanent-failure";
        error = cds_req_printf(r, "eSMS report: SendStatus=%s, not delivered", st);
    } else {
        return bad_receipt(r, "SendStatus/SendSuccess/SendFailed");
    }
    nt_receipt_apply(r, "esms", rid ? NULL : smsid, rid, status, error);
}

void cds_sms_receipt_speedsms(cds_req *r)
{
    if (!authorised(r, "speedsms")) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *tran = json_object_get(j, "tranId"), *st = json_object_get(j, "status");
    if (!type || strcmp(type, "report") != 0) return bad_receipt(r, "type");
    char id[32];
    if (json_is_integer(tran) && json_integer_value(tran) > 0)
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(tran));
    else if (json_is_string(tran) && digits(json_string_value(tran), 20))
        snprintf(id, sizeof id, "%s", json_string_value(tran));
    else
        return bad_receipt(r, "tranId");
    if (!json_is_integer(st) || json_integer_value(st) < 0 || json_integer_value(st) > 255)
        return bad_receipt(r, "status");
    long s = (long)json_integer_value(st);
    const char *status = s == 0 ? "delivered" : s < 64 ? "pending" : "permanent-failure";
    const char *error = s >= 64 ? cds_req_printf(r, "SpeedSMS report: status %ld", s) : NULL;
    nt_receipt_apply(r, "speedsms", id, NULL, status, error);
}
