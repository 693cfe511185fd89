/* The SpeedSMS stand-in (`sms-speedsms`, port 9004): the REST API of
 * speedsms.vn as its public documentation and its own client libraries
 * describe it, for our SMS dispatcher's second (failover) gateway.
 *
 *   POST /index.php/sms/send
 *     Authorization: Basic base64("<access token>:x")  (the token is the
 *     user name; the password is ignored, as SpeedSMS documents)
 *     {"to":["84912345678",...] | "0912345678", "content":"...",
 *      "sms_type":2|3|4, "sender":"..."}   (sender required for type 3)
 *   -> 200 {"status":"success","code":"00","data":{"tranId":123456,
 *          "totalSMS":1,"totalPrice":250,"invalidPhone":[]}}
 *   -> 200 {"status":"error","code":"<code>","message":"...",
 *          "invalidPhone"?:[...]} with SpeedSMS's codes: 101 invalid or
 *          missing parameters, 105 phone number invalid, 110 content
 *          encoding not supported (text outside GSM-7 or with diacritics),
 *          113 content too long (over 10 segments), 300 balance, 500
 *          internal error (the default injected error)
 *   -> 401 {"status":"error","code":"401","message":"Unauthorized"} for a
 *          missing or wrong token (SpeedSMS's exact answer here is not
 *          documented; an adapter should treat any non-"success" as failure)
 *   GET /index.php/user/info -> {"status":"success","code":"00","data":
 *          {"email","balance","currency":"VND"}}
 *
 * Idempotency: SpeedSMS's API has no request id, so the stand-in honours
 * OUR header "Idempotency-Key": a repeat gets the first answer (same
 * tranId) and is counted once in /_sim/messages. Without the header every
 * request is a new message, as at the real gateway.
 *
 * Delivery reports: SpeedSMS posts to the webhook URL set in the account
 * (connect.speedsms.vn), here CDS_SIM_SPEEDSMS_CALLBACK_URL or
 * CDS_SIM_SMS_CALLBACK_BASE + "/speedsms/" + CDS_SIM_SPEEDSMS_CALLBACK_TOKEN
 * (default "cds-dev-speedsms-callback-token"), one per recipient, unsigned:
 *   POST {"type":"report","tranId":123456,"phone":"84912345678","status":0}
 *   status 0 delivered, 1..63 temporary failure (pending: 1), >= 64 failed
 *   (failed and rejected: 64)
 * That shape comes from integrations of SpeedSMS's webhook (for example
 * alexzvn/speedsms-api, src/Callback/Status.php: type, tranId, phone,
 * status, success when status is 0), not from SpeedSMS's own text: its
 * "SMS API" page (https://speedsms.vn/sms-api/) has a "Delivery status
 * report" section that could not be read here (notify/receipts.c lists
 * what is unverified), so this stand-in is no independent witness of the
 * report's shape, only of the send API.
 *
 * Configuration: CDS_SIM_SPEEDSMS_TOKEN (default "cds-dev-speedsms-token"),
 * CDS_SIM_SPEEDSMS_SENDER (the registered brandname, "CONGDANSO"). */
#include "sim/gateway_common.h"

#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_SEGMENTS 10
#define MAX_RECIPIENTS 100
#define PRICE_PER_SMS 250 /* VND, as in SpeedSMS's sample answer */

typedef struct speedsms_cfg {
    char token[160];
    char sender[32];
} speedsms_cfg;

static speedsms_cfg g_cfg;
static gw g_gw;
static atomic_llong g_tran_id;

static void answer_error_code(cds_req *r, int delay, const char *code, const char *message,
                              json_t *invalid /* stolen, may be NULL */)
{
    json_t *j = json_pack("{s:s,s:s,s:s}", "status", "error", "code", code, "message", message);
    if (invalid) json_object_set_new(j, "invalidPhone", invalid);
    gw_respond_json(r, delay, 200, j);
}

/* ---------------- injected errors ---------------- */

static const gw_error_table error_codes[] = {
    {"500", "Internal error, please try again"},
    {"300", "Your account balance not enough to send sms"},
    {"007", "IP locked"},
    {"008", "Account blocked"},
    {"009", "Account not allow to call the API"},
};
#define NERRORS (sizeof error_codes / sizeof error_codes[0])

static int error_valid(const char *e)
{
    return gw_error_text(error_codes, NERRORS, e) != NULL;
}

static void answer_error(cds_req *r, const char *e)
{
    const char *text = gw_error_text(error_codes, NERRORS, e);
    if (text) answer_error_code(r, 0, e, text, NULL);
}

/* ---------------- the delivery report ---------------- */

static int build_callback(gw *g, const char *provider_id, const char *key, json_t *fields,
                          const char *phone, int outcome, gw_http_out *out)
{
    if (!g->callback_url[0]) return -1;
    int status = outcome == GW_DLR_DELIVERED ? 0 : outcome == GW_DLR_PENDING ? 1 : 64;
    char *end = NULL;
    long long tran = strtoll(provider_id, &end, 10);
    int numeric = end && !*end && *provider_id;
    char *body = NULL;
    if (numeric && gw_json_plain(phone)) { /* the usual report, printed as json_dumps would */
        if (asprintf(&body, "{\"type\":\"report\",\"tranId\":%lld,\"phone\":\"%s\",\"status\":%d}",
                     tran, phone, status) < 0)
            body = NULL;
    } else {
        json_t *tran_j = numeric ? json_integer(tran) : json_string(provider_id);
        json_t *j = json_pack("{s:s,s:o,s:s,s:i}", "type", "report", "tranId", tran_j, "phone",
                              phone, "status", status);
        body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
    }
    if (!body) return -1;
    snprintf(out->method, sizeof out->method, "POST");
    out->url = strdup(g->callback_url);
    if (!out->url) abort();
    out->body = body;
    out->body_len = strlen(body);
    return 0;
}

/* ---------------- authentication ---------------- */

/* 1 when the Basic credentials name our token as the user. */
static int authorized(cds_req *r)
{
    const char *h = cds_req_header(r, "authorization");
    if (!h || strncasecmp(h, "Basic ", 6) != 0) return 0;
    const char *b64 = h + 6;
    while (*b64 == ' ') b64++;
    size_t n = strlen(b64);
    if (n == 0 || n > 512 || n % 4) return 0;
    unsigned char raw[400];
    int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    if (len < 0) return 0;
    /* EVP_DecodeBlock counts the padding as zero bytes: take them off. */
    if (n >= 1 && b64[n - 1] == '=') len--;
    if (n >= 2 && b64[n - 2] == '=') len--;
    const unsigned char *colon = memchr(raw, ':', (size_t)len);
    size_t user_len = colon ? (size_t)(colon - raw) : (size_t)len;
    return gw_same_secret((const char *)raw, user_len, g_cfg.token);
}

static void unauthorized(cds_req *r, int delay)
{
    cds_resp_header(r, "www-authenticate", "Basic realm=\"SpeedSMS API\"");
    gw_respond_json(r, delay, 401,
                    json_pack("{s:s,s:s,s:s}", "status", "error", "code", "401", "message",
                              "Unauthorized"));
}

/* ---------------- sending ---------------- */

static const char *idempotency_key(cds_req *r, int *bad)
{
    const char *k = cds_req_header(r, "idempotency-key");
    *bad = 0;
    if (!k) return NULL;
    size_t n = strlen(k);
    if (n == 0 || n > GW_KEY_MAX) *bad = 1;
    for (const char *p = k; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f) *bad = 1;
    return *bad ? NULL : k;
}

static void speedsms_send(cds_req *r)
{
    sim_record(r);
    int delay = gw_gate(r);
    if (delay < 0) return;
    gw *g = gw_of(r);
    if (!authorized(r)) {
        unauthorized(r, delay);
        return;
    }
    int bad_key;
    const char *key = idempotency_key(r, &bad_key);
    if (bad_key) {
        answer_error_code(r, delay, "101", "Idempotency-Key must be 1 to 256 visible characters",
                          NULL);
        return;
    }
    gw_answer a;
    if (gw_store_find(g, key, &a)) {
        gw_respond(r, delay, a.status, a.ctype, a.body, a.len);
        gw_answer_free(&a);
        return;
    }
    json_t *in = cds_req_json(r);
    if (!in) return;
    json_t *to = json_object_get(in, "to"), *jc = json_object_get(in, "content");
    json_t *jt = json_object_get(in, "sms_type"), *js = json_object_get(in, "sender");
    const char *content = json_string_value(jc);
    long long type = json_is_integer(jt) ? (long long)json_integer_value(jt)
                     : json_is_string(jt) ? strtoll(json_string_value(jt), NULL, 10)
                                          : -1;
    const char *sender = json_is_string(js) ? json_string_value(js) : "";
    if (!json_is_object(in) || (!json_is_array(to) && !json_is_string(to)) ||
        (json_is_array(to) && (json_array_size(to) == 0 || json_array_size(to) > MAX_RECIPIENTS)) ||
        !content || !*content || strlen(content) != json_string_length(jc) ||
        (js && !json_is_string(js)) || strlen(sender) > 20) {
        answer_error_code(r, delay, "101", "Invalid or missing parameters", NULL);
        return;
    }
    if (type != 2 && type != 3 && type != 4) {
        answer_error_code(r, delay, "101", "Invalid or missing parameters: sms_type", NULL);
        return;
    }
    if (type == 3 && strcmp(sender, g_cfg.sender) != 0) {
        answer_error_code(r, delay, "101", "Invalid or missing parameters: sender", NULL);
        return;
    }
    size_t septets = 0, bad_at = 0;
    int segments = 0;
    if (gw_sms_text_check(content, strlen(content), &septets, &segments, &bad_at) != 0) {
        answer_error_code(r, delay, "110", "Not support sms content encoding", NULL);
        return;
    }
    if (segments > MAX_SEGMENTS) {
        answer_error_code(r, delay, "113", "Sms content too long", NULL);
        return;
    }
    json_t *list = json_is_array(to) ? json_incref(to) : json_pack("[O]", to);
    json_t *phones = json_array(), *given = json_array(), *invalid = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p) {
        const char *ph = json_string_value(p);
        char national[16], intl[24];
        if (!ph || gw_phone_national(ph, national, sizeof national) != 0) {
            json_array_append_new(invalid, ph ? json_string(ph) : json_string("?"));
            continue;
        }
        snprintf(intl, sizeof intl, "84%s", national + 1);
        json_array_append_new(phones, json_string(intl));
        json_array_append_new(given, json_string(ph));
    }
    json_decref(list);
    if (json_array_size(phones) == 0) {
        json_decref(phones);
        json_decref(given);
        answer_error_code(r, delay, "105", "Phone number invalid", invalid);
        return;
    }
    long long tran = atomic_fetch_add(&g_tran_id, 1);
    char id[32];
    snprintf(id, sizeof id, "%lld", tran);
    long long total = (long long)segments * (long long)json_array_size(phones);
    char *body;
    if (json_array_size(invalid) == 0) { /* the usual answer, printed as json_dumps would */
        if (asprintf(&body,
                     "{\"status\":\"success\",\"code\":\"00\",\"data\":{\"tranId\":%lld,"
                     "\"totalSMS\":%lld,\"totalPrice\":%lld,\"invalidPhone\":[]}}",
                     tran, total, total * PRICE_PER_SMS) < 0)
            body = NULL;
    } else {
        json_t *ans = json_pack("{s:s,s:s,s:{s:I,s:I,s:I,s:O}}", "status", "success", "code",
                                "00", "data", "tranId", (json_int_t)tran, "totalSMS",
                                (json_int_t)total, "totalPrice",
                                (json_int_t)(total * PRICE_PER_SMS), "invalidPhone", invalid);
        body = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
        json_decref(ans);
    }
    if (!body) abort();
    json_t *fields = json_pack("{s:o,s:o,s:O,s:s,s:i,s:i,s:I,s:s}", "phones", phones,
                               "phones_given", given, "invalid_phones", invalid, "content", content,
                               "segments", segments, "septets", (int)septets, "sms_type",
                               (json_int_t)type, "sender", sender);
    json_decref(invalid);
    /* A reference for the reports: stored fields are never changed. */
    json_t *dlr_fields = json_incref(fields);
    if (gw_store_put(g, key, id, fields, 200, "application/json", body, strlen(body), &a)) {
        gw_respond(r, delay, a.status, a.ctype, a.body, a.len);
        gw_answer_free(&a);
    } else {
        /* Reports first: `key` and `r` are gone once the answer is sent. */
        gw_dlr_schedule(r, id, key, dlr_fields);
        gw_respond(r, delay, 200, "application/json", body, strlen(body));
    }
    json_decref(dlr_fields);
    free(body);
}

static void speedsms_user_info(cds_req *r)
{
    sim_record(r);
    int delay = gw_gate(r);
    if (delay < 0) return;
    if (!authorized(r)) {
        unauthorized(r, delay);
        return;
    }
    gw_respond_json(r, delay, 200,
                    json_pack("{s:s,s:s,s:{s:s,s:I,s:s}}", "status", "success", "code", "00",
                              "data", "email", "dev@congdanso.local", "balance",
                              (json_int_t)100000000, "currency", "VND"));
}

static void speedsms_other(cds_req *r)
{
    sim_record(r);
    cds_respond_json(r, 404, json_pack("{s:s,s:s,s:s}", "status", "error", "code", "404",
                                       "message", "Not found"));
}

static const gw_ops speedsms_ops = {
    .answer_error = answer_error,
    .error_valid = error_valid,
    .default_error = "500",
    .error_names = "\"500\", \"300\", \"007\", \"008\", \"009\"",
    .build_callback = build_callback,
};

static void cleanup(void)
{
    gw_free(&g_gw);
}

static int speedsms_init(sim_standin *s)
{
    gw_env_str(g_cfg.token, sizeof g_cfg.token, "CDS_SIM_SPEEDSMS_TOKEN", "cds-dev-speedsms-token");
    gw_env_str(g_cfg.sender, sizeof g_cfg.sender, "CDS_SIM_SPEEDSMS_SENDER", "CONGDANSO");
    /* tranIds grow from a time-based start, so a restarted stand-in does
     * not hand out ids our database already holds from the last run. */
    atomic_store(&g_tran_id, (long long)(time(NULL) % 100000000) * 10);
    if (gw_init(&g_gw, s, &speedsms_ops, &g_cfg) != 0) return -1;
    atexit(cleanup);
    return gw_callback_config(&g_gw, "SPEEDSMS", "speedsms", "speedsms",
                              "cds-dev-speedsms-callback-token");
}

static const cds_route speedsms_routes[] = {
    {"POST", "/index.php/sms/send", speedsms_send, 64 * 1024},
    {"GET", "/index.php/user/info", speedsms_user_info, 0},
    GW_SMS_CONTROL_ROUTES,
};

sim_standin sim_sms_speedsms = {
    .name = "sms-speedsms",
    .default_port = 9004,
    .routes = speedsms_routes,
    .nroutes = sizeof speedsms_routes / sizeof speedsms_routes[0],
    .fallback = speedsms_other,
    .init = speedsms_init,
};
