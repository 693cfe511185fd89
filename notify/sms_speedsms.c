/* The second SMS gateway: SpeedSMS's REST API, from SpeedSMS's "SMS API"
 * page (https://speedsms.vn/sms-api/: Authentication, Error codes, "API gửi
 * tin nhắn") and its sample clients (sms_type, sender, the answer's tranId).
 *
 *   POST {CDS_SPEEDSMS_URL}/index.php/sms/send
 *   Authorization: Basic base64(<access token> ":x")
 *   Idempotency-Key: <outbox id>
 *   {"to":["84912345678"],"content":"...","sms_type":3,"sender":"<brandname>"}
 *   -> {"status":"success","code":"00","data":{"tranId":123,...}} accepted
 *
 * SpeedSMS documents no request id, so the outbox id goes in an
 * Idempotency-Key header. Code 105 (invalid number) is final; 101 (bad
 * parameters), 110 (encoding) and 113 (too long) are technical failures;
 * anything else (401, 300 balance, 500, HTTP errors, timeouts) is the
 * gateway's failure (notify/sms.c may try the other). */
#include "internal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int configured(void)
{
    return g_notify.speedsms_url != NULL;
}

static int build(const nt_msg *m, nt_call *c)
{
    if (nt_call_url(c, g_notify.speedsms_url, "/index.php/sms/send") != 0) return -1;
    char to[16];
    snprintf(to, sizeof to, "84%s", m->phone + 1); /* 0912345678 -> 84912345678 */
    cds_buf b;
    cds_buf_init(&b, NT_BODY_MAX);
    cds_buf_adds(&b, "{\"to\":[");
    cds_json_str(&b, to);
    cds_buf_addc(&b, ']');
    cds_json_member_str(&b, "content", m->text);
    cds_json_member_int(&b, "sms_type", 3);
    cds_json_member_str(&b, "sender", g_notify.speedsms_sender ? g_notify.speedsms_sender : "");
    cds_buf_addc(&b, '}');
    c->body = cds_buf_take(&b, &c->body_len);
    if (!c->body) return -1;
    char cred[256], b64[360];
    int n = snprintf(cred, sizeof cred, "%s:x", g_notify.speedsms_token ? g_notify.speedsms_token : "");
    if (n < 0 || (size_t)n >= sizeof cred) return -1;
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, n);
    if (nt_call_header(c, "Content-Type", "application/json") != 0 ||
        nt_call_header(c, "Authorization", "Basic %s", b64) != 0 ||
        nt_call_header(c, "Idempotency-Key", "%s", m->key) != 0)
        return -1;
    return 0;
}

static int parse(const cds_http_response *resp, nt_result *r)
{
    json_error_t e;
    json_t *j = resp->error ? NULL : json_loadb(resp->body, resp->body_len, 0, &e);
    const char *status = json_string_value(json_object_get(j, "status"));
    const char *code = json_string_value(json_object_get(j, "code"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    int fault = 0;
    if (resp->status == 200 && status && strcmp(status, "success") == 0) {
        r->status = NT_PENDING;
        json_t *tran = json_object_get(json_object_get(j, "data"), "tranId");
        if (json_is_integer(tran))
            snprintf(r->provider_id, sizeof r->provider_id, "%lld",
                     (long long)json_integer_value(tran));
        else if (json_is_string(tran) && strlen(json_string_value(tran)) < sizeof r->provider_id)
            snprintf(r->provider_id, sizeof r->provider_id, "%s", json_string_value(tran));
    } else if (resp->status == 200 && code && strcmp(code, "105") == 0) {
        r->status = NT_PERMANENT;
    } else if (resp->status == 200 && code &&
               (strcmp(code, "101") == 0 || strcmp(code, "110") == 0 ||
                strcmp(code, "113") == 0)) {
        r->status = NT_TECHNICAL;
    } else {
        r->status = NT_TEMPORARY;
        fault = 1;
    }
    if (r->status != NT_PENDING)
        snprintf(r->error, sizeof r->error, "SpeedSMS %s (HTTP %ld, code %s): %.160s",
                 resp->error ? resp->error : "refused", resp->status, code ? code : "-",
                 msg ? msg : "");
    json_decref(j);
    return fault;
}

const nt_sms_gateway nt_gateway_speedsms = {"speedsms", configured, build, parse};
