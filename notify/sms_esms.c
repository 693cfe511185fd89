/* The first SMS gateway: eSMS's JSON API (SendMultipleMessage_V4_post_json),
 * from eSMS's developer documentation (developers.esms.vn, "eSMS API":
 * sending OTP / customer-care messages with a brandname, its CodeResult
 * table, and "Callback Url", https://developers.esms.vn/esms-api/callback-url).
 *
 *   POST {CDS_ESMS_URL}/MainService.svc/json/SendMultipleMessage_V4_post_json/
 *   {"ApiKey","SecretKey","Phone","Content","Brandname","SmsType","IsUnicode":"0",
 *    "RequestId":<outbox id>,"CallbackUrl"?}
 *   -> {"CodeResult":"100","SMSID":"..."} accepted
 *
 * RequestId is eSMS's guard against duplicates: the outbox id, the same on
 * every attempt. A repeat is answered 124 ("duplicate RequestId"), which for
 * us means the first send went through: the message is pending and its
 * receipt will name it by RequestId. Codes about the message (108: bad
 * number) are final; codes about our setup (104 brandname, 118 SmsType, 146
 * content template, 300 missing SmsType) are technical failures; everything
 * else (101 keys, 103 balance, 99, HTTP errors, timeouts) is the gateway's
 * failure and lets the other gateway take over (notify/sms.c). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEND_PATH "/MainService.svc/json/SendMultipleMessage_V4_post_json/"

static int configured(void)
{
    return g_notify.esms_url != NULL;
}

static int build(const nt_msg *m, nt_call *c)
{
    if (nt_call_url(c, g_notify.esms_url, "%s", SEND_PATH) != 0) return -1;
    cds_buf b;
    cds_buf_init(&b, NT_BODY_MAX);
    cds_buf_addc(&b, '{');
    cds_json_member_str(&b, "ApiKey", g_notify.esms_api_key ? g_notify.esms_api_key : "");
    cds_json_member_str(&b, "SecretKey", g_notify.esms_secret_key ? g_notify.esms_secret_key : "");
    cds_json_member_str(&b, "Phone", m->phone);
    cds_json_member_str(&b, "Content", m->text);
    cds_json_member_str(&b, "Brandname", g_notify.esms_brandname ? g_notify.esms_brandname : "");
    cds_json_member_str(&b, "SmsType", g_notify.esms_sms_type ? g_notify.esms_sms_type : "2");
    cds_json_member_str(&b, "IsUnicode", "0");
    cds_json_member_str(&b, "RequestId", m->key);
    if (g_notify.esms_callback_url && *g_notify.esms_callback_url)
        cds_json_member_str(&b, "CallbackUrl", g_notify.esms_callback_url);
    cds_buf_addc(&b, '}');
    c->body = cds_buf_take(&b, &c->body_len);
    if (!c->body) return -1;
    return nt_call_header(c, "Content-Type", "application/json");
}

static int parse(const cds_http_response *resp, nt_result *r)
{
    if (resp->error || resp->status != 200) {
        r->status = NT_TEMPORARY;
        snprintf(r->error, sizeof r->error, "eSMS: %s (HTTP %ld)",
                 resp->error ? resp->error : "unexpected status", resp->status);
        return 1;
    }
    json_error_t e;
    json_t *j = json_loadb(resp->body, resp->body_len, 0, &e);
    json_t *code_j = json_object_get(j, "CodeResult");
    char code[16] = "";
    if (json_is_string(code_j))
        snprintf(code, sizeof code, "%s", json_string_value(code_j));
    else if (json_is_integer(code_j))
        snprintf(code, sizeof code, "%lld", (long long)json_integer_value(code_j));
    const char *smsid = json_string_value(json_object_get(j, "SMSID"));
    const char *msg = json_string_value(json_object_get(j, "ErrorMessage"));
    int fault = 0;
    if (strcmp(code, "100") == 0 || strcmp(code, "124") == 0) {
        r->status = NT_PENDING;
        if (smsid && strlen(smsid) < sizeof r->provider_id)
            snprintf(r->provider_id, sizeof r->provider_id, "%s", smsid);
    } else if (strcmp(code, "108") == 0) {
        r->status = NT_PERMANENT;
    } else if (strcmp(code, "104") == 0 || strcmp(code, "118") == 0 ||
               strcmp(code, "146") == 0 || strcmp(code, "300") == 0) {
        r->status = NT_TECHNICAL;
    } else {
        r->status = NT_TEMPORARY;
        fault = 1;
    }
    if (r->status != NT_PENDING)
        snprintf(r->error, sizeof r->error, "eSMS CodeResult %s: %.180s", code[0] ? code : "?",
                 msg ? msg : j ? "refused" : "answer is not JSON");
    json_decref(j);
    return fault;
}

const nt_sms_gateway nt_gateway_esms = {"esms", configured, build, parse};
