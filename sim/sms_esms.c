/* The eSMS.vn stand-in (`sms-esms`, port 9003): the JSON send API of
 * eSMS (ViHAT) as its public documentation describes it, for our SMS
 * dispatcher's first gateway.
 *
 *   POST /MainService.svc/json/SendMultipleMessage_V4_post_json[/]
 *     {"ApiKey","SecretKey","Phone","Content","Brandname"?,"SmsType",
 *      "IsUnicode"?,"Sandbox"?,"RequestId"?,"CallbackUrl"?,"campaignid"?}
 *     (values are strings in eSMS's examples; integers are taken too)
 *   -> 200 {"CodeResult":"100","CountRegenerate":0,"SMSID":"..."}
 *   -> 200 {"CodeResult":"<code>","ErrorMessage":"..."} on a refusal:
 *        101 wrong ApiKey/SecretKey, 104 unknown Brandname, 108 bad phone,
 *        118 unsupported SmsType (2 = customer care with brandname and
 *        8 = fixed number are served), 300 SmsType missing, 146 content
 *        refused (see below), 124 duplicate RequestId (only with
 *        /_sim/config {"duplicate_answer":"provider"}), 103 (the default
 *        injected error: "not enough balance").
 *
 * Idempotency: RequestId, which eSMS documents as "to prevent the request
 * from being duplicated". A repeated RequestId is answered with the FIRST
 * answer (same SMSID) and counted once in /_sim/messages. Real eSMS answers
 * a duplicate with CodeResult 124 instead; POST /_sim/config
 * {"duplicate_answer":"provider"} switches to that, "original" back.
 *
 * Content: GSM-7 only and without marks (gateway_common.h); anything else,
 * or more than 10 segments, is refused with CodeResult 146. eSMS documents
 * 146 as "wrong customer care template" (a brandname's templates are
 * registered without diacritics); what the real gateway answers for
 * Unicode text with IsUnicode 0 is not documented, so 146 is our choice.
 * Sandbox "1" is validated, recorded (sandbox: true) and gets no report.
 *
 * Delivery reports: as eSMS documents them ("Callback Url",
 * https://developers.esms.vn/esms-api/callback-url): an HTTP GET to the
 * request's CallbackUrl, or else to CDS_SIM_ESMS_CALLBACK_URL /
 * CDS_SIM_SMS_CALLBACK_BASE + "/esms/" + CDS_SIM_ESMS_CALLBACK_TOKEN
 * (default "cds-dev-esms-callback-token"), with the parameters of eSMS's
 * customer-care sample, unsigned (eSMS signs nothing):
 *   ?SMSID=..&SendFailed=0|1&SendStatus=5|4|7&SendSuccess=1|0&TotalPrice=..
 *    &TotalReceiver=1&TotalSent=1&RequestId=..&TypeId=2|8&telcoid=1..7
 *    &phonenumber=0912345678 (national form)&switchsmsid=
 *   SendSuccess and SendFailed are counts of messages (one recipient here):
 *   delivered: SendStatus=5, SendSuccess=1, SendFailed=0
 *   failed:    SendStatus=5, SendSuccess=0, SendFailed=1
 *   rejected:  SendStatus=4, SendSuccess=0, SendFailed=1
 *   pending:   SendStatus=7 (sent to the telco, waiting for its report)
 * A report our server does not answer 2xx is sent again (eSMS retries 5
 * times; CDS_SIM_SMS_CALLBACK_ATTEMPTS here).
 *
 * Configuration: CDS_SIM_ESMS_API_KEY (default "cds-dev-esms-apikey"),
 * CDS_SIM_ESMS_SECRET_KEY ("cds-dev-esms-secretkey"), CDS_SIM_ESMS_BRANDNAME
 * ("CONGDANSO"), plus the callback settings in gateway_common.h.
 * Test controls: /_sim/fail, /_sim/messages, /_sim/dlr, /_sim/callback,
 * /_sim/config. */
#include "sim/gateway_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEGMENTS 10
#define PRICE_PER_SEGMENT 800 /* VND, an order of magnitude, not eSMS's price list */

typedef struct esms_cfg {
    char api_key[128];
    char secret_key[128];
    char brandname[32];
    int duplicate_provider; /* answer 124 to a repeated RequestId (g.mu) */
} esms_cfg;

static esms_cfg g_cfg;
static gw g_gw;

static int same_secret(const char *given, const char *want)
{
    return given && gw_same_secret(given, strlen(given), want);
}

static void answer_code(cds_req *r, int delay, const char *code, const char *message)
{
    gw_respond_json(r, delay, 200,
                    json_pack("{s:s,s:s}", "CodeResult", code, "ErrorMessage", message));
}

/* ---------------- injected errors ---------------- */

static const gw_error_table error_codes[] = {
    {"103", "Not enough balance to send message."},
    {"99", "The phone number is blocked in the system."},
    {"101", "Incorrect ApiKey or SecretKey."},
    {"102", "No price list available."},
    {"140", "IP is not whitelisted for sending messages."},
};
#define NERRORS (sizeof error_codes / sizeof error_codes[0])

static int error_valid(const char *e)
{
    return gw_error_text(error_codes, NERRORS, e) != NULL;
}

static void answer_error(cds_req *r, const char *e)
{
    const char *text = gw_error_text(error_codes, NERRORS, e);
    if (text) answer_code(r, 0, e, text);
}

/* ---------------- the delivery report ---------------- */

static int build_callback(gw *g, const char *provider_id, const char *key, json_t *fields,
                          const char *phone, int outcome, gw_http_out *out)
{
    const char *url = json_string_value(json_object_get(fields, "callback_url"));
    if (!url || !*url) url = g->callback_url;
    if (!*url) return -1;
    const char *type = json_string_value(json_object_get(fields, "sms_type"));
    json_int_t segments = json_integer_value(json_object_get(fields, "segments"));
    const char *status = outcome == GW_DLR_REJECTED ? "4" : outcome == GW_DLR_PENDING ? "7" : "5";
    int ok = outcome == GW_DLR_DELIVERED;
    int failed = outcome == GW_DLR_FAILED || outcome == GW_DLR_REJECTED;
    char q[2048], num[64];
    size_t n = 0;
    int rc = gw_append(q, sizeof q, &n, url);
    rc |= gw_append(q, sizeof q, &n, strchr(url, '?') ? "&SMSID=" : "?SMSID=");
    rc |= gw_urlenc_append(q, sizeof q, &n, provider_id);
    snprintf(num, sizeof num, "&SendFailed=%d&SendStatus=%s&SendSuccess=%d", failed, status, ok);
    rc |= gw_append(q, sizeof q, &n, num);
    snprintf(num, sizeof num, "&TotalPrice=%lld.0000",
             ok ? (long long)segments * PRICE_PER_SEGMENT : 0LL);
    rc |= gw_append(q, sizeof q, &n, num);
    rc |= gw_append(q, sizeof q, &n, "&TotalReceiver=1&TotalSent=1&RequestId=");
    rc |= gw_urlenc_append(q, sizeof q, &n, key ? key : "");
    rc |= gw_append(q, sizeof q, &n, "&TypeId=");
    rc |= gw_urlenc_append(q, sizeof q, &n, type ? type : "2");
    snprintf(num, sizeof num, "&telcoid=%d&phonenumber=", gw_vn_telco(phone));
    rc |= gw_append(q, sizeof q, &n, num);
    rc |= gw_urlenc_append(q, sizeof q, &n, phone);
    rc |= gw_append(q, sizeof q, &n, "&switchsmsid=");
    if (rc) return -1;
    snprintf(out->method, sizeof out->method, "GET");
    out->url = strdup(q);
    if (!out->url) abort();
    return 0;
}

/* ---------------- sending ---------------- */

/* A JSON string member within a size cap; "" when absent. NULL when of
 * another type, too long or holding a control character. */
static const char *short_str(json_t *in, const char *name, char *buf, size_t cap, int allow_ctl)
{
    const char *v = gw_json_strint(in, name, buf, cap);
    if (!json_object_get(in, name)) return "";
    if (!v || strlen(v) >= cap) return NULL;
    if (!allow_ctl)
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) return NULL;
    return v;
}

static void esms_send(cds_req *r)
{
    sim_record(r);
    int delay = gw_gate(r);
    if (delay < 0) return;
    gw *g = gw_of(r);
    json_t *in = cds_req_json(r); /* the request's reference */
    if (!in) return;
    if (!json_is_object(in)) {
        gw_respond(r, delay, 400, "text/plain", "Request body must be a JSON object.\n", 36);
        return;
    }
    char b1[160], b2[160], b3[GW_KEY_MAX + 1], b4[32], b5[32], b6[32], b7[520], b8[64];
    const char *api = short_str(in, "ApiKey", b1, sizeof b1, 0);
    const char *secret = short_str(in, "SecretKey", b2, sizeof b2, 0);
    if (!api || !secret || !same_secret(api, g_cfg.api_key) ||
        !same_secret(secret, g_cfg.secret_key)) {
        answer_code(r, delay, "101", "Authorize Failed");
        return;
    }
    const char *key = short_str(in, "RequestId", b3, sizeof b3, 0);
    if (!key) {
        answer_code(r, delay, "99", "RequestId must be a string of at most 256 characters.");
        return;
    }
    if (!*key) key = NULL;
    gw_answer a;
    if (gw_store_find(g, key, &a)) {
        pthread_mutex_lock(&g->mu);
        int provider = g_cfg.duplicate_provider;
        pthread_mutex_unlock(&g->mu);
        if (provider)
            answer_code(r, delay, "124", "Duplicate RequestId.");
        else
            gw_respond(r, delay, a.status, a.ctype, a.body, a.len);
        gw_answer_free(&a);
        return;
    }
    const char *type = short_str(in, "SmsType", b4, sizeof b4, 0);
    if (!type || !*type) {
        answer_code(r, delay, "300", "Missing message type.");
        return;
    }
    if (strcmp(type, "2") != 0 && strcmp(type, "8") != 0) {
        answer_code(r, delay, "118", "Unsupported message type.");
        return;
    }
    const char *brand = short_str(in, "Brandname", b5, sizeof b5, 0);
    if (strcmp(type, "2") == 0 && (!brand || strcmp(brand, g_cfg.brandname) != 0)) {
        answer_code(r, delay, "104", "Brandname does not exist.");
        return;
    }
    const char *phone_in = short_str(in, "Phone", b6, sizeof b6, 0);
    char phone[16];
    if (!phone_in || gw_phone_national(phone_in, phone, sizeof phone) != 0) {
        answer_code(r, delay, "108", "Phone number is not in correct format.");
        return;
    }
    json_t *jc = json_object_get(in, "Content");
    const char *content = json_string_value(jc);
    size_t clen = content ? json_string_length(jc) : 0;
    size_t septets = 0, bad_at = 0;
    int segments = 0;
    if (!content || clen == 0 || strlen(content) != clen) {
        answer_code(r, delay, "146", "Content is empty.");
        return;
    }
    if (gw_sms_text_check(content, clen, &septets, &segments, &bad_at) != 0) {
        answer_code(r, delay, "146",
                    cds_req_printf(r, "Content has a character outside GSM-7 without "
                                      "diacritics at byte %zu (IsUnicode is not enabled for "
                                      "this brandname).", bad_at));
        return;
    }
    if (segments > MAX_SEGMENTS) {
        answer_code(r, delay, "146", "Content is too long.");
        return;
    }
    const char *cb = short_str(in, "CallbackUrl", b7, sizeof b7, 0);
    if (!cb || (*cb && strncmp(cb, "http://", 7) != 0 && strncmp(cb, "https://", 8) != 0)) {
        answer_code(r, delay, "99",
                    "CallbackUrl must be an http(s) URL of at most 512 characters.");
        return;
    }
    const char *sandbox = short_str(in, "Sandbox", b8, sizeof b8, 0);
    int is_sandbox = sandbox && strcmp(sandbox, "1") == 0;

    char hex[33], smsid[48];
    if (gw_random_hex(hex, sizeof hex, 16) != 0) abort();
    snprintf(smsid, sizeof smsid, "%s%03d", hex, (int)(gw_now_ms() % 1000));
    /* The answer as json_dumps would write it; SMSID is hex and digits. */
    char body[128];
    snprintf(body, sizeof body, "{\"CodeResult\":\"100\",\"CountRegenerate\":0,\"SMSID\":\"%s\"}",
             smsid);
    json_t *fields = json_pack("{s:s,s:s,s:s,s:i,s:i,s:s,s:s,s:b,s:i}", "phone", phone,
                               "phone_given", phone_in, "content", content, "segments", segments,
                               "septets", (int)septets, "sms_type", type, "brandname",
                               brand ? brand : "", "sandbox", is_sandbox, "telco",
                               gw_vn_telco(phone));
    if (*cb) json_object_set_new(fields, "callback_url", json_string(cb));
    /* A reference for the report: stored fields are never changed (listings
     * and /_sim/callback copy them), so reading them while another thread
     * may list them is safe, and this reference outlives an eviction. */
    json_t *dlr_fields = is_sandbox ? NULL : json_incref(fields);
    if (gw_store_put(g, key, smsid, fields, 200, "application/json", body, strlen(body), &a)) {
        gw_respond(r, delay, a.status, a.ctype, a.body, a.len);
        gw_answer_free(&a);
        json_decref(dlr_fields);
        return;
    }
    /* Reports first: `key` and `r` are gone once the answer is sent. */
    if (dlr_fields) gw_dlr_schedule(r, smsid, key, dlr_fields);
    json_decref(dlr_fields);
    gw_respond(r, delay, 200, "application/json", body, strlen(body));
}

/* ---------------- test controls ---------------- */

static void esms_config(cds_req *r)
{
    sim_record(r);
    gw *g = gw_of(r);
    if (strcmp(cds_req_method(r), "POST") == 0) {
        json_t *in = cds_req_json(r);
        if (!in) return;
        const char *d = json_string_value(json_object_get(in, "duplicate_answer"));
        if (!json_is_object(in) || json_object_size(in) != 1 || !d ||
            (strcmp(d, "original") != 0 && strcmp(d, "provider") != 0)) {
            cds_problem(r, 400, "invalid_control",
                        "Nhận {\"duplicate_answer\": \"original\" | \"provider\"}.");
            return;
        }
        pthread_mutex_lock(&g->mu);
        g_cfg.duplicate_provider = strcmp(d, "provider") == 0;
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_lock(&g->mu);
    int provider = g_cfg.duplicate_provider;
    pthread_mutex_unlock(&g->mu);
    cds_respond_json(r, 200, json_pack("{s:s,s:s}", "duplicate_answer",
                                       provider ? "provider" : "original", "brandname",
                                       g_cfg.brandname));
}

/* Anything else: WCF's answer to an unknown operation. */
static void esms_other(cds_req *r)
{
    sim_record(r);
    static const char page[] = "Endpoint not found.\n";
    cds_respond(r, 404, "text/html; charset=UTF-8", page, sizeof page - 1);
}

static const gw_ops esms_ops = {
    .answer_error = answer_error,
    .error_valid = error_valid,
    .default_error = "103",
    .error_names = "\"103\", \"99\", \"101\", \"102\", \"140\"",
    .build_callback = build_callback,
};

static void cleanup(void)
{
    gw_free(&g_gw);
}

static int esms_init(sim_standin *s)
{
    gw_env_str(g_cfg.api_key, sizeof g_cfg.api_key, "CDS_SIM_ESMS_API_KEY", "cds-dev-esms-apikey");
    gw_env_str(g_cfg.secret_key, sizeof g_cfg.secret_key, "CDS_SIM_ESMS_SECRET_KEY",
               "cds-dev-esms-secretkey");
    gw_env_str(g_cfg.brandname, sizeof g_cfg.brandname, "CDS_SIM_ESMS_BRANDNAME", "CONGDANSO");
    if (gw_init(&g_gw, s, &esms_ops, &g_cfg) != 0) return -1;
    atexit(cleanup);
    return gw_callback_config(&g_gw, "ESMS", "esms", "esms", "cds-dev-esms-callback-token");
}

static const cds_route esms_routes[] = {
    {"POST", "/MainService.svc/json/SendMultipleMessage_V4_post_json", esms_send, 64 * 1024},
    GW_SMS_CONTROL_ROUTES,
    {"GET", "/_sim/config", esms_config, 0},
    {"POST", "/_sim/config", esms_config, 4096},
};

sim_standin sim_sms_esms = {
    .name = "sms-esms",
    .default_port = 9003,
    .routes = esms_routes,
    .nroutes = sizeof esms_routes / sizeof esms_routes[0],
    .fallback = esms_other,
    .init = esms_init,
};
