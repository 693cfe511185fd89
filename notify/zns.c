/* The Zalo Notification Service (ZNS) adapter: the calls as Zalo documents
 * them, built and read without I/O (zns_send.c makes them).
 *
 * Sources (Zalo's public documentation):
 *  - Zalo for Developers, "Zalo Notification Service API > Gửi ZNS" (send a
 *    template message), developers.zalo.me/docs/zalo-notification-service:
 *      POST https://business.openapi.zalo.me/message/template
 *      header  access_token: <OA access token>
 *      body    {"phone":"84912345678","template_id":"...",
 *               "template_data":{<the template's parameters>},
 *               "tracking_id":"<ours>"}
 *      answer  {"error":0,"message":"Success",
 *               "data":{"msg_id":"...","sent_time":"...","quota":{...}}}
 *    The phone is in 84 form; tracking_id is the sender's id of the message,
 *    echoed in the delivery webhook: we send the outbox id.
 *  - Zalo Cloud, "ZNS > Tài liệu hướng dẫn > Cách xử lý mã lỗi",
 *    zalo.cloud/zns/guidelines/handle-error-code (the error codes below).
 *  - Zalo for Developers, "Official Account API > Lấy Access Token từ Refresh
 *    Token" (OA access token v4):
 *      POST https://oauth.zaloapp.com/v4/oa/access_token
 *      header  secret_key: <app secret>
 *      body    refresh_token=..&app_id=..&grant_type=refresh_token
 *              (application/x-www-form-urlencoded)
 *      answer  {"access_token":"...","refresh_token":"...","expires_in":"90000"}
 *    expires_in is in seconds and a string in Zalo's examples (an integer is
 *    taken too); a refresh token is used once: the answer carries the next.
 *
 * What an answer means for the message (error codes of the table above):
 *   0                      accepted: pending until the user_received_message
 *                          webhook (zns_webhook.c) says delivered
 *   -124 Access token invalid   our token: refresh it and send again
 *   -108 Phone number invalid, -109 Template ID invalid, -111 Template data
 *   empty, -112 Template data invalid, -114 user inactive / rejects ZNS /
 *   outdated Zalo, -115 Out of quota, -117 OA or app has no permission for
 *   the template, -118 Zalo account not existed, -119 Account can not
 *   receive ZNS: ZNS did not and will not send this message: it FALLS BACK
 *   to SMS (the same outbox row becomes an SMS; never both, since these are
 *   answers, not silence)
 *   -100 Unknown error, any other code, HTTP errors, timeouts: not known to
 *   have failed for good: retried on ZNS with backoff, never handed to SMS
 *   (a timeout may have delivered it).
 *
 * Template: one ZNS template registered for dossier updates
 * (CDS_ZNS_TEMPLATE_ID) with the parameters dossier_code, status (the
 * step's push title) and message (the push text), all with diacritics. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nt_zns_configured(void)
{
    return g_notify.zns_url && g_notify.zns_template_id && *g_notify.zns_template_id &&
           g_notify.zns_app_id && *g_notify.zns_app_id;
}

/* "0912345678" -> "84912345678"; -1 for anything but a national mobile. */
static int phone84(const char *national, char *out, size_t cap)
{
    size_t n = strlen(national);
    if (n != 10 || national[0] != '0' || strspn(national, "0123456789") != n) return -1;
    return snprintf(out, cap, "84%s", national + 1) < (int)cap ? 0 : -1;
}

int nt_zns_build(const nt_msg *m, const char *token, nt_call *c)
{
    char phone[16];
    if (phone84(m->phone, phone, sizeof phone) != 0) return -1;
    if (nt_call_url(c, g_notify.zns_url, "/message/template") != 0) return -1;
    const char *code = json_string_value(json_object_get(m->vars, "dossier_code"));
    cds_buf b;
    cds_buf_init(&b, NT_BODY_MAX);
    cds_buf_addc(&b, '{');
    cds_json_member_str(&b, "phone", phone);
    cds_json_member_str(&b, "template_id", g_notify.zns_template_id);
    cds_json_member_raw(&b, "template_data", "{");
    cds_json_member_str(&b, "dossier_code", code ? code : "");
    cds_json_member_str(&b, "status", m->title ? m->title : "");
    cds_json_member_str(&b, "message", m->body ? m->body : "");
    cds_buf_addc(&b, '}');
    cds_json_member_str(&b, "tracking_id", m->key);
    cds_buf_addc(&b, '}');
    c->body = cds_buf_take(&b, &c->body_len);
    if (!c->body) return -1;
    if (nt_call_header(c, "Content-Type", "application/json") != 0) return -1;
    return nt_call_header(c, "access_token", "%s", token);
}

/* Codes after which ZNS will not send this message (see the top). */
static int definite_failure(long code)
{
    static const long codes[] = {-108, -109, -111, -112, -114, -115, -117, -118, -119};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i] == code) return 1;
    return 0;
}

int nt_zns_parse(const cds_http_response *resp, nt_result *r)
{
    r->provider = "zns";
    if (resp->error || resp->status != 200) {
        r->status = NT_TEMPORARY;
        r->retry_after_ms = nt_retry_after_ms(resp);
        snprintf(r->error, sizeof r->error, "ZNS: %s (HTTP %ld)",
                 resp->error ? resp->error : "unexpected status", resp->status);
        return 0;
    }
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *err = json_object_get(j, "error");
    const char *msg = json_string_value(json_object_get(j, "message"));
    int rc = 0;
    if (!json_is_integer(err)) {
        r->status = NT_TEMPORARY;
        snprintf(r->error, sizeof r->error, "ZNS: the answer has no error code");
    } else if (json_integer_value(err) == 0) {
        const char *id = json_string_value(json_object_get(json_object_get(j, "data"), "msg_id"));
        if (id && *id && strlen(id) < sizeof r->provider_id) {
            r->status = NT_PENDING;
            snprintf(r->provider_id, sizeof r->provider_id, "%s", id);
        } else {
            /* Accepted but unnamed: its webhook could not be matched; it was
             * sent, so it must not fall back. */
            r->status = NT_SENT;
        }
    } else {
        long code = (long)json_integer_value(err);
        r->status = definite_failure(code) ? NT_FALLBACK : NT_TEMPORARY;
        rc = code == -124;
        snprintf(r->error, sizeof r->error, "ZNS error %ld: %.180s", code,
                 msg ? msg : "(no message)");
    }
    json_decref(j);
    return rc;
}

/* Appends `name` then `value` percent-encoded (all but RFC 3986 unreserved). */
static int form_append(char *out, size_t cap, size_t *len, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    int n = snprintf(out + *len, cap - *len, "%s", name);
    if (n < 0 || (size_t)n >= cap - *len) return -1;
    *len += (size_t)n;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*len + 4 > cap) return -1;
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            out[(*len)++] = (char)*p;
        } else {
            out[(*len)++] = '%';
            out[(*len)++] = hex[*p >> 4];
            out[(*len)++] = hex[*p & 15];
        }
    }
    out[*len] = 0;
    return 0;
}

int nt_zns_token_build(const char *refresh_token, nt_call *c)
{
    if (!g_notify.zns_oauth_url || !refresh_token || !*refresh_token) return -1;
    if (nt_call_url(c, g_notify.zns_oauth_url, "/v4/oa/access_token") != 0) return -1;
    size_t cap = 3 * (strlen(refresh_token) + strlen(g_notify.zns_app_id)) + 64, len = 0;
    c->body = malloc(cap);
    if (!c->body) return -1;
    c->body[0] = 0;
    if (form_append(c->body, cap, &len, "refresh_token=", refresh_token) != 0 ||
        form_append(c->body, cap, &len, "&app_id=", g_notify.zns_app_id) != 0 ||
        form_append(c->body, cap, &len, "&grant_type=", "refresh_token") != 0)
        return -1;
    c->body_len = len;
    if (nt_call_header(c, "Content-Type", "application/x-www-form-urlencoded") != 0) return -1;
    return nt_call_header(c, "secret_key", "%s",
                          g_notify.zns_secret_key ? g_notify.zns_secret_key : "");
}

int nt_zns_token_parse(const cds_http_response *resp, nt_zns_token *t, char *err, size_t cap)
{
    memset(t, 0, sizeof *t);
    if (resp->error || resp->status != 200) {
        snprintf(err, cap, "token refresh: %s (HTTP %ld)",
                 resp->error ? resp->error : "unexpected status", resp->status);
        return -1;
    }
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *at = json_string_value(json_object_get(j, "access_token"));
    const char *rt = json_string_value(json_object_get(j, "refresh_token"));
    json_t *ex = json_object_get(j, "expires_in");
    long expires = json_is_integer(ex)  ? (long)json_integer_value(ex)
                   : json_is_string(ex) ? strtol(json_string_value(ex), NULL, 10)
                                        : 0;
    int rc = -1;
    if (at && rt && *at && *rt && strlen(at) < sizeof t->access && strlen(rt) < sizeof t->refresh &&
        expires > 0) {
        snprintf(t->access, sizeof t->access, "%s", at);
        snprintf(t->refresh, sizeof t->refresh, "%s", rt);
        t->expires_s = expires;
        rc = 0;
    } else {
        const char *name = json_string_value(json_object_get(j, "error_name"));
        json_t *code = json_object_get(j, "error");
        snprintf(err, cap, "token refresh refused: %lld %.160s",
                 json_is_integer(code) ? (long long)json_integer_value(code) : 0LL,
                 name ? name
                 : j  ? "(no access_token)"
                      : "answer is not JSON");
    }
    json_decref(j);
    return rc;
}
