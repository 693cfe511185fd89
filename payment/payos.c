/* payOS's payment-request API, the pure part (shaped like
 * notify/sms_esms.c: no I/O of its own, it builds a call and reads an
 * answer; payos_link.c and payos_cancel.c make the calls).
 *
 * Sources:
 *  - payOS API reference, https://payos.vn/docs/api/ : "Tạo link thanh toán"
 *    (POST /v2/payment-requests; orderCode, amount, description "với tài
 *    khoản ngân hàng không phải liên kết qua payOS thì giới hạn ký tự là 9",
 *    cancelUrl, returnUrl, expiredAt "Unix Timestamp và kiểu Int32",
 *    signature = HMAC_SHA256 with the checksum key over
 *    amount=$amount&cancelUrl=$cancelUrl&description=$description&
 *    orderCode=$orderCode&returnUrl=$returnUrl; answer {code "00", desc,
 *    data {bin, accountNumber, accountName, amount, description,
 *    orderCode, currency, paymentLinkId, status, checkoutUrl, qrCode},
 *    signature}), "Lấy thông tin link thanh toán" (GET
 *    /v2/payment-requests/{id}, id = orderCode or paymentLinkId), "Huỷ link
 *    thanh toán" (POST /v2/payment-requests/{id}/cancel
 *    {cancellationReason}), "Kiểm tra và thêm hoặc cập nhật Webhook url"
 *    (POST /confirm-webhook {webhookUrl}: payOS sends a sample webhook to it
 *    first; 200, 400 "Webhook url invalid", 401); responses 401
 *    Unauthorized and 429 Too Many Request on every route.
 *  - payOS Node.js SDK v2.0.3, github.com/payOSHQ/payos-lib-node:
 *    src/client.ts (base https://api-merchant.payos.vn, headers x-client-id
 *    and x-api-key, an answer is an error unless code is "00" with data;
 *    the answer's signature, when present, is checked over data as a
 *    webhook's is: "Data integrity check failed" otherwise; 408, 429 and
 *    5xx are retried, Retry-After honoured), src/crypto/node-crypto.ts
 *    (createSignatureOfPaymentRequest: the five fields written as they
 *    are, not URL-encoded), src/resources/v2/payment-requests/ (statuses
 *    PENDING, CANCELLED, UNDERPAID, PAID, EXPIRED, PROCESSING, FAILED).
 *  - payOS Python SDK tests, github.com/payOSHQ/payos-lib-python,
 *    tests/_crypto/testCases.json: the published create-payment-link and
 *    payment-link signature vectors (tests/unit/test_payos_link.c).
 *  - Code "231" with desc "Đơn thanh toán đã tồn tại" (HTTP 200) is what
 *    payOS answers a create whose orderCode it already has; the reference
 *    does not list it, public integrations handle it by that code. We read
 *    it as "our earlier create reached payOS" and look the link up.
 *
 * Outcomes: PM_PAYOS_OK (code "00", data present, signature right when
 * given), PM_PAYOS_DUPLICATE (231), PM_PAYOS_REFUSED (another code, or HTTP
 * 400: this request will not succeed as it is), PM_PAYOS_RETRY (no answer,
 * 401, 408, 429, 5xx, an answer that is not payOS's JSON or whose
 * signature or fields do not match: try again later). */
#include "internal.h"
#include "webhook_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pm_call_clear(pm_call *c)
{
    free(c->body);
    memset(c, 0, sizeof *c);
}

static int header(pm_call *c, const char *name, const char *value)
{
    if (c->nheaders >= PM_CALL_HEADERS) return -1;
    int k = snprintf(c->hbuf[c->nheaders], sizeof c->hbuf[0], "%s: %s", name, value);
    if (k < 0 || (size_t)k >= sizeof c->hbuf[0] || strpbrk(value, "\r\n")) return -1;
    c->headers[c->nheaders] = c->hbuf[c->nheaders];
    c->headers[++c->nheaders] = NULL;
    return 0;
}

/* The URL, the method and payOS's headers; body NULL for a GET. Takes body. */
static int start(pm_call *c, const char *method, char *body, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int start(pm_call *c, const char *method, char *body, const char *fmt, ...)
{
    pm_call_clear(c);
    c->method = method;
    c->body = body;
    c->body_len = body ? strlen(body) : 0;
    const char *base = g_payment.payos_url;
    size_t bn = strlen(base);
    while (bn > 0 && base[bn - 1] == '/')
        bn--;
    int k = snprintf(c->url, sizeof c->url, "%.*s", (int)bn, base);
    va_list ap;
    va_start(ap, fmt);
    int m = k >= 0 && (size_t)k < sizeof c->url ? vsnprintf(c->url + k, sizeof c->url - (size_t)k, fmt, ap) : -1;
    va_end(ap);
    if (m < 0 || (size_t)(k + m) >= sizeof c->url) return -1;
    if (header(c, "x-client-id", g_payment.payos_client_id) != 0 ||
        header(c, "x-api-key", g_payment.payos_api_key) != 0)
        return -1;
    return body ? header(c, "Content-Type", "application/json") : 0;
}

int pm_payos_request_signature(long long amount, const char *cancel_url, const char *description,
                               long long order_code, const char *return_url, const char *key,
                               char out[65])
{
    char head[48], mid[48];
    unsigned char mac[32];
    snprintf(head, sizeof head, "amount=%lld&cancelUrl=", amount);
    snprintf(mid, sizeof mid, "&orderCode=%lld&returnUrl=", order_code);
    hook_part parts[] = {{head, strlen(head)},
                         {cancel_url, strlen(cancel_url)},
                         {"&description=", 13},
                         {description, strlen(description)},
                         {mid, strlen(mid)},
                         {return_url, strlen(return_url)}};
    out[0] = 0;
    if (hook_hmac("SHA256", key, parts, 6, mac, sizeof mac) != 0) return -1;
    hook_hex_encode(mac, sizeof mac, out);
    return 0;
}

int pm_payos_build_create(const pm_payos_link *l, pm_call *c)
{
    char sig[65];
    if (pm_payos_request_signature(l->amount, g_payment.payos_cancel_url, l->description,
                                   l->order_code, g_payment.payos_return_url,
                                   g_payment.payos_checksum_key, sig) != 0)
        return -1;
    json_t *j = json_pack("{s:I,s:I,s:s,s:s,s:s,s:I,s:s}", "orderCode", (json_int_t)l->order_code,
                          "amount", (json_int_t)l->amount, "description", l->description,
                          "cancelUrl", g_payment.payos_cancel_url, "returnUrl",
                          g_payment.payos_return_url, "expiredAt", (json_int_t)l->expires_epoch,
                          "signature", sig);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body) return -1;
    return start(c, "POST", body, "/v2/payment-requests");
}

int pm_payos_build_get(long long order_code, pm_call *c)
{
    return start(c, "GET", NULL, "/v2/payment-requests/%lld", order_code);
}

int pm_payos_build_cancel(long long order_code, const char *reason, pm_call *c)
{
    json_t *j = json_pack("{s:s}", "cancellationReason", reason);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body) return -1;
    return start(c, "POST", body, "/v2/payment-requests/%lld/cancel", order_code);
}

int pm_payos_build_confirm(const char *webhook_url, pm_call *c)
{
    json_t *j = json_pack("{s:s}", "webhookUrl", webhook_url);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body) return -1;
    return start(c, "POST", body, "/confirm-webhook");
}

static int retry(pm_payos_answer *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int retry(pm_payos_answer *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error, sizeof a->error, fmt, ap);
    va_end(ap);
    return a->outcome = PM_PAYOS_RETRY;
}

static void copy_str(json_t *obj, const char *key, char *dst, size_t cap)
{
    const char *s = json_string_value(json_object_get(obj, key));
    snprintf(dst, cap, "%s", s && strlen(s) < cap ? s : "");
}

static long retry_after_ms(const cds_http_response *resp)
{
    char v[32];
    if (!resp->headers || cds_http_header_get(resp->headers, resp->headers_len, "retry-after", v,
                                              sizeof v) <= 0)
        return 0;
    char *end;
    long s = strtol(v, &end, 10);
    return *end == 0 && s > 0 && s < 86400 ? s * 1000 : 0;
}

int pm_payos_parse(const cds_http_response *resp, int kind, pm_payos_answer *a)
{
    memset(a, 0, sizeof *a);
    if (resp->error) return retry(a, "payOS: %s", resp->error);
    a->http_status = resp->status;
    a->retry_after_ms = retry_after_ms(resp);
    if (resp->status == 401 || resp->status == 403 || resp->status == 408 ||
        resp->status == 429 || resp->status >= 500)
        return retry(a, "payOS: HTTP %ld", resp->status);
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *code = json_object_get(j, "code"), *data = json_object_get(j, "data");
    if (!json_is_string(code)) {
        json_decref(j);
        if (resp->status == 400) {
            snprintf(a->error, sizeof a->error, "payOS: HTTP 400");
            return a->outcome = PM_PAYOS_REFUSED;
        }
        return retry(a, "payOS: HTTP %ld, not payOS's answer", resp->status);
    }
    snprintf(a->code, sizeof a->code, "%.15s", json_string_value(code));
    copy_str(j, "desc", a->desc, sizeof a->desc);
    if (strcmp(a->code, "00") != 0 || resp->status != 200) {
        a->outcome = strcmp(a->code, "231") == 0 ? PM_PAYOS_DUPLICATE : PM_PAYOS_REFUSED;
        snprintf(a->error, sizeof a->error, "payOS code %s (HTTP %ld): %.180s", a->code,
                 resp->status, a->desc);
        json_decref(j);
        return a->outcome;
    }
    if (!json_is_object(data)) {
        json_decref(j);
        return retry(a, "payOS: code 00 without data");
    }
    json_t *sig = json_object_get(j, "signature");
    if (kind != PM_PAYOS_CONFIRM && sig && !json_is_null(sig)) { /* confirm's sample has none */
        unsigned char got[32], want[32];
        if (!json_is_string(sig) ||
            hook_hex_decode(json_string_value(sig), json_string_length(sig), got, 32) != 0 ||
            hook_payos_data_mac(data, g_payment.payos_checksum_key, want) != 0 ||
            !hook_mac_equal(got, want, 32)) {
            json_decref(j);
            return retry(a, "payOS: the answer's signature does not match its data");
        }
    }
    json_t *oc = json_object_get(data, "orderCode"), *am = json_object_get(data, "amount");
    a->order_code = json_is_integer(oc) ? (long long)json_integer_value(oc) : 0;
    a->amount = json_is_integer(am) ? (long long)json_integer_value(am) : 0;
    copy_str(data, "status", a->status, sizeof a->status);
    if (kind == PM_PAYOS_CREATE) {
        copy_str(data, "paymentLinkId", a->link_id, sizeof a->link_id);
        copy_str(data, "checkoutUrl", a->checkout_url, sizeof a->checkout_url);
        copy_str(data, "qrCode", a->qr_code, sizeof a->qr_code);
        if (!a->link_id[0] || !a->checkout_url[0] || !a->qr_code[0]) {
            json_decref(j);
            return retry(a, "payOS: a created link without paymentLinkId, checkoutUrl or qrCode");
        }
    } else if (kind == PM_PAYOS_LINK) {
        copy_str(data, "id", a->link_id, sizeof a->link_id);
        if (!a->status[0]) {
            json_decref(j);
            return retry(a, "payOS: a payment link without status");
        }
    }
    json_decref(j);
    return a->outcome = PM_PAYOS_OK;
}
