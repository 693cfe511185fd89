/* Delivery reports from the SMS gateways, accepted exactly as each gateway
 * documents and sends them: they move a `pending` SMS to `delivered` or
 * `permanent-failure`.
 *
 * eSMS ("Callback Url", https://developers.esms.vn/esms-api/callback-url,
 * and the CallbackUrl parameter of "Send OTP/Customer care message"):
 *   GET <CallbackUrl>?SMSID=..&SendFailed=..&SendStatus=..&SendSuccess=..
 *       &TotalPrice=..&TotalReceiver=..&TotalSent=..&RequestId=..&TypeId=..
 *       &telcoid=..&phonenumber=..
 *   SendStatus 1 pending approval, 2 waiting to send, 4 rejected, 5 sent,
 *   7 sent to the telco and waiting for its report; SendSuccess and
 *   SendFailed are the NUMBERS of messages delivered and failed (strings).
 *   RequestId is ours (the outbox id, sent with the message), SMSID theirs.
 *   eSMS retries a callback up to 5 times when our URL times out; it
 *   documents no answer, so we answer 200 with JSON.
 *   Here: SendStatus 5 with SendSuccess > 0 is delivered, with only
 *   SendFailed > 0 failed, neither yet pending; 4 is failed; 1, 2, 7 pending.
 *
 * SpeedSMS (the webhook URL set in the account at connect.speedsms.vn; API
 * conventions from "SMS API", https://speedsms.vn/sms-api/):
 *   POST <webhook URL>  {"type":"report","tranId":N,"phone":"84..","status":N}
 *   status 0 delivered, 1..63 not yet final, 64 and above failed; a
 *   "type":"incoming" call (a message a citizen sent us) is answered 200 and
 *   ignored.
 *   UNVERIFIED (searched again for issue 16; SpeedSMS's own text could not
 *   be read): SpeedSMS's "SMS API" page has sections "Delivery status
 *   report" and "Incoming sms" (its table of contents says so), but their
 *   text was not available to us, and SpeedSMS publishes no SDK with a
 *   webhook handler. The field names type, tranId, phone, status and
 *   "status 0 = delivered" come from a third-party client,
 *   github.com/alexzvn/speedsms-api (src/Callback/Status.php, Incoming.php);
 *   the split 1..63 pending / >= 64 failed from other integrations, not
 *   from SpeedSMS. Not known: the content type (we take a JSON body),
 *   whether tranId is a number or a string (both taken), whether one call
 *   carries one report (we take one), whether SpeedSMS retries and what
 *   answer it expects (we answer 200 JSON). Check against the page before
 *   going live; the stand-in (sim/sms_speedsms.c) shares the assumption.
 *
 * Neither gateway signs its reports, so each is authenticated in a way it
 * can meet: the URL we register with it carries a secret token,
 * /v1/callbacks/sms/esms/{token} and /v1/callbacks/sms/speedsms/{token}
 * (CDS_ESMS_CALLBACK_TOKEN, CDS_SPEEDSMS_CALLBACK_TOKEN), compared in
 * constant time (SHA-256 of both, CRYPTO_memcmp); optionally the report must
 * also come from one of the gateway's addresses (CDS_ESMS_CALLBACK_ALLOW,
 * CDS_SPEEDSMS_CALLBACK_ALLOW: CIDR lists). A wrong token is the 404 of a
 * route that does not exist; an address not allowed is a 403; neither
 * touches the database. A report for a message we do not know is a 404 and
 * changes nothing; a repeat, or an older report after a final one
 * (replayed), changes nothing and is answered 200 "unchanged"
 * (cds_outbox_receipt only moves a `pending` row); a report that overtakes
 * the record of the send (still `sending`) gets a 503 with Retry-After.
 *
 * The reports of one turn of a thread's loop are applied by one call of
 * cds_outbox_receipts (core/req_batch.h): a gateway reporting thousands of
 * deliveries a second costs PostgreSQL one transaction per batch, not one
 * per report, and each report still gets its own answer. */
#include "internal.h"
#include "core/cidr.h"
#include "core/db.h"
#include "core/digest.h"
#include "core/log.h"
#include "core/req_batch.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MIN 16
#define TOKEN_MAX 128

typedef struct callback_gw {
    const char *name; /* "esms": the provider in outbox rows */
    const char *token_env, *allow_env;
    int configured;   /* a token is set: reports are taken */
    unsigned char token_hash[32];
    cds_cidr_list *allow; /* NULL: any address */
} callback_gw;

static callback_gw g_esms = {"esms", "CDS_ESMS_CALLBACK_TOKEN", "CDS_ESMS_CALLBACK_ALLOW", 0, {0}, NULL};
static callback_gw g_speedsms = {"speedsms", "CDS_SPEEDSMS_CALLBACK_TOKEN",
                                 "CDS_SPEEDSMS_CALLBACK_ALLOW", 0, {0}, NULL};

static void on_applied(cds_req *r, PGresult *res, int row);
static cds_req_batch_kind g_receipts = {"sms_receipts", -1, 64, on_applied};

/* A token goes in a URL path: unreserved characters only (RFC 3986). */
static int token_ok(const char *t)
{
    size_t n = strlen(t);
    return n >= TOKEN_MIN && n <= TOKEN_MAX &&
           strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") == n;
}

static int gw_setup(callback_gw *g, const char *token, const char *allow)
{
    g->configured = 0;
    if (token && *token) {
        if (!token_ok(token)) {
            cds_log(CDS_LOG_ERROR, "sms_callback_config",
                    "%s must be %d to %d characters of A-Z a-z 0-9 - . _ ~", g->token_env,
                    TOKEN_MIN, TOKEN_MAX);
            return -1;
        }
        if (cds_sha256(token, strlen(token), g->token_hash) != 0) return -1;
        g->configured = 1;
    } else {
        cds_log(CDS_LOG_WARN, "sms_callback_config", "%s unset: %s delivery reports refused",
                g->token_env, g->name);
    }
    char err[200];
    g->allow = cds_cidr_parse(allow, err, sizeof err);
    if (!g->allow && err[0]) {
        cds_log(CDS_LOG_ERROR, "sms_callback_config", "%s: %s", g->allow_env, err);
        return -1;
    }
    return 0;
}

/* The eSMS report URL we send with each message must carry the token. */
static int esms_url_ok(void)
{
    const char *u = g_notify.esms_callback_url, *t = g_notify.esms_callback_token;
    if (!u || !*u || !t || !*t) return 1;
    size_t ul = strcspn(u, "?#"), tl = strlen(t);
    while (ul > 0 && u[ul - 1] == '/') ul--;
    static const char tail[] = "/v1/callbacks/sms/esms/";
    size_t al = sizeof tail - 1;
    return ul >= al + tl && memcmp(u + ul - tl, t, tl) == 0 &&
           memcmp(u + ul - tl - al, tail, al) == 0;
}

int nt_receipts_init(void)
{
    g_receipts.stmt = cds_db_stmt_register(
        "notify_receipts", "SELECT item, status, outbox_id FROM cds_outbox_receipts($1::jsonb)", 1);
    if (g_receipts.stmt < 0) return -1;
    g_receipts.max_items = g_notify.receipt_batch;
    nt_receipts_shutdown();
    if (gw_setup(&g_esms, g_notify.esms_callback_token, g_notify.esms_callback_allow) != 0 ||
        gw_setup(&g_speedsms, g_notify.speedsms_callback_token, g_notify.speedsms_callback_allow) != 0)
        return -1;
    if (!esms_url_ok()) {
        cds_log(CDS_LOG_ERROR, "sms_callback_config",
                "CDS_ESMS_CALLBACK_URL must end with /v1/callbacks/sms/esms/<CDS_ESMS_CALLBACK_TOKEN>");
        return -1;
    }
    return 0;
}

void nt_receipts_shutdown(void)
{
    cds_cidr_free(g_esms.allow);
    cds_cidr_free(g_speedsms.allow);
    g_esms.allow = g_speedsms.allow = NULL;
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

/* The report came from g's address range with g's token; else answered, 0. */
static int authorised(cds_req *r, const callback_gw *g)
{
    const char *peer = cds_req_peer(r);
    if (g->allow && !cds_cidr_match(g->allow, peer)) {
        cds_log(CDS_LOG_WARN, "sms_callback_refused", "%s report from %s: address not allowed",
                g->name, peer);
        cds_problem(r, 403, "callback_address_not_allowed",
                    "Địa chỉ này không được gửi báo cáo của cổng tin nhắn.");
        return 0;
    }
    const char *token = cds_req_param(r, "token");
    unsigned char h[32];
    int ok = g->configured && token && cds_sha256(token, strlen(token), h) == 0 &&
             CRYPTO_memcmp(h, g->token_hash, sizeof h) == 0;
    if (!ok) {
        cds_log(CDS_LOG_WARN, "sms_callback_refused", "%s report from %s: wrong token", g->name,
                peer);
        /* What a path that does not exist answers: a guess learns nothing. */
        cds_problem(r, 404, "route_not_found", "Không tìm thấy đường dẫn được yêu cầu.");
        return 0;
    }
    return 1;
}

static void bad_receipt(cds_req *r, const char *what)
{
    cds_problem(r, 400, "invalid_receipt",
                cds_req_printf(r, "Báo cáo gửi tin không hợp lệ: %s.", what));
}

/* Queues the report for this turn's batch: the gateway's message id or our
 * outbox id (digits), the status it reports and, for a failure, why. */
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

/* An eSMS count (SendSuccess, SendFailed): absent or empty is 0; -1 when
 * not a number. */
static long count_param(const char *s)
{
    if (!s || !*s) return 0;
    return digits(s, 9) ? strtol(s, NULL, 10) : -1;
}

void cds_sms_receipt_esms(cds_req *r)
{
    if (!authorised(r, &g_esms)) return;
    const char *smsid = cds_req_query(r, "SMSID"), *rid = cds_req_query(r, "RequestId");
    const char *st = cds_req_query(r, "SendStatus");
    long ok = count_param(cds_req_query(r, "SendSuccess"));
    long failed = count_param(cds_req_query(r, "SendFailed"));
    if (rid && !*rid) rid = NULL;
    if (rid && !digits(rid, 18)) return bad_receipt(r, "RequestId");
    if (!rid && (!smsid || !*smsid || strlen(smsid) > 150)) return bad_receipt(r, "SMSID");
    if (!st || !digits(st, 2)) return bad_receipt(r, "SendStatus");
    if (ok < 0) return bad_receipt(r, "SendSuccess");
    if (failed < 0) return bad_receipt(r, "SendFailed");
    const char *status, *error = NULL;
    if (strcmp(st, "5") == 0 && ok > 0) {
        status = "delivered";
    } else if (strcmp(st, "5") == 0 && failed > 0) {
        status = "permanent-failure";
        error = "eSMS report: SendStatus=5, SendFailed, not delivered";
    } else if (strcmp(st, "4") == 0) {
        status = "permanent-failure";
        error = "eSMS report: SendStatus=4, rejected";
    } else if (strcmp(st, "1") == 0 || strcmp(st, "2") == 0 || strcmp(st, "7") == 0 ||
               strcmp(st, "5") == 0) {
        status = "pending";
    } else {
        return bad_receipt(r, "SendStatus");
    }
    nt_receipt_apply(r, "esms", rid ? NULL : smsid, rid, status, error);
}

void cds_sms_receipt_speedsms(cds_req *r)
{
    if (!authorised(r, &g_speedsms)) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *tran = json_object_get(j, "tranId"), *st = json_object_get(j, "status");
    if (type && strcmp(type, "incoming") == 0) {
        cds_respond_json(r, 200, json_pack("{s:s}", "status", "ignored"));
        return;
    }
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
