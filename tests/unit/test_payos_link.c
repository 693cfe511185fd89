/* payment/payos.c, payOS's payment-request API adapter, against vectors
 * payOS publishes:
 *  - the create-payment-link signatures of payOS's Python SDK tests
 *    (github.com/payOSHQ/payos-lib-python, tests/_crypto/testCases.json,
 *    checksum key "test_checksum_key"): "create payment link full fields"
 *    (189864...) and "with Vietnamese description" (d8b7b0...), each also
 *    checked with `openssl dgst -sha256 -hmac`; the second end to end: the
 *    body the adapter builds carries it;
 *  - the payment-link answer signatures of the same file ("pending payment
 *    link" 330933..., "expired payment link" with CANCELLED 10c181...): an
 *    answer carrying them is accepted, a changed byte refused.
 * Then how answers are read: 231 (payOS already has the orderCode), other
 * codes, 401/429/5xx and no answer (retry, Retry-After kept), HTTP 400, a
 * created link without its qrCode, a wrong signature. */
#include "payment/internal.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "test_checksum_key"

static const char LINK_PENDING[] =
    "{\"id\":\"payment-link-id\",\"orderCode\":0,\"amount\":2000,\"amountPaid\":0,"
    "\"amountRemaining\":2000,\"status\":\"PENDING\",\"createdAt\":\"2025-12-12T09:00:00+07:00\","
    "\"transactions\":[],\"canceledAt\":null,\"cancellationReason\":null}";
static const char LINK_CANCELLED[] =
    "{\"id\":\"payment-link-id\",\"orderCode\":0,\"amount\":2000,\"amountPaid\":0,"
    "\"amountRemaining\":2000,\"status\":\"CANCELLED\",\"createdAt\":\"2025-12-12T09:00:00+07:00\","
    "\"transactions\":[],\"canceledAt\":\"2025-12-12T09:00:00+07:00\","
    "\"cancellationReason\":\"cancel reason\"}";

static cds_http_response resp(long status, const char *body)
{
    cds_http_response r = {0};
    r.status = status;
    r.body = body;
    r.body_len = strlen(body);
    r.headers = "";
    return r;
}

static int parse(long status, const char *body, int kind, pm_payos_answer *a)
{
    cds_http_response r = resp(status, body);
    return pm_payos_parse(&r, kind, a);
}

static char *answer(const char *data, const char *sig)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "{\"code\":\"00\",\"desc\":\"success\",\"data\":%s,\"signature\":\"%s\"}",
             data, sig);
    return buf;
}

static void test_request_signature(void)
{
    char sig[65];
    CHECK_INT(pm_payos_request_signature(3300, "http://localhost", "ABC456", 0, "http://localhost",
                                         KEY, sig),
              0);
    CHECK_STR(sig, "189864813370cdf819974dc3f63c3a93a7e7af0a0d10b21344b14e4f7358999b");
    CHECK_INT(pm_payos_request_signature(2000, "http://localhost", "Thanh toán đơn hàng", 0,
                                         "http://localhost", KEY, sig),
              0);
    CHECK_STR(sig, "d8b7b0e5d19edfe7b1f53dedeb8d1c7c2b62fabd7eb320dbc514c58f13e9e2c5");
    /* every field is signed */
    CHECK_INT(pm_payos_request_signature(2001, "http://localhost", "Thanh toán đơn hàng", 0,
                                         "http://localhost", KEY, sig),
              0);
    CHECK(strcmp(sig, "d8b7b0e5d19edfe7b1f53dedeb8d1c7c2b62fabd7eb320dbc514c58f13e9e2c5") != 0);
}

static void test_build(void)
{
    pm_call c = {0};
    pm_payos_link l = {.order_code = 0, .amount = 2000, .expires_epoch = 1765504800,
                       .description = "Thanh toán đơn hàng"};
    CHECK_INT(pm_payos_build_create(&l, &c), 0);
    CHECK_STR(c.method, "POST");
    CHECK_STR(c.url, "http://payos.test/v2/payment-requests");
    CHECK_STR(c.headers[0], "x-client-id: client-1");
    CHECK_STR(c.headers[1], "x-api-key: api-key-1");
    CHECK_STR(c.headers[2], "Content-Type: application/json");
    json_t *j = json_loadb(c.body, c.body_len, 0, NULL);
    CHECK_INT(json_integer_value(json_object_get(j, "orderCode")), 0);
    CHECK_INT(json_integer_value(json_object_get(j, "amount")), 2000);
    CHECK_INT(json_integer_value(json_object_get(j, "expiredAt")), 1765504800);
    CHECK_STR(json_string_value(json_object_get(j, "description")), "Thanh toán đơn hàng");
    CHECK_STR(json_string_value(json_object_get(j, "cancelUrl")), "http://localhost");
    CHECK_STR(json_string_value(json_object_get(j, "returnUrl")), "http://localhost");
    CHECK_STR(json_string_value(json_object_get(j, "signature")),
              "d8b7b0e5d19edfe7b1f53dedeb8d1c7c2b62fabd7eb320dbc514c58f13e9e2c5");
    json_decref(j);
    CHECK_INT(pm_payos_build_get(42, &c), 0);
    CHECK_STR(c.method, "GET");
    CHECK_STR(c.url, "http://payos.test/v2/payment-requests/42");
    CHECK(c.body == NULL);
    CHECK_INT(pm_payos_build_cancel(42, "het han", &c), 0);
    CHECK_STR(c.url, "http://payos.test/v2/payment-requests/42/cancel");
    CHECK_STR(c.body, "{\"cancellationReason\":\"het han\"}");
    CHECK_INT(pm_payos_build_confirm("https://cds.example/v1/webhooks/payos", &c), 0);
    CHECK_STR(c.url, "http://payos.test/confirm-webhook");
    CHECK_STR(c.body, "{\"webhookUrl\":\"https://cds.example/v1/webhooks/payos\"}");
    pm_call_clear(&c);
}

static void test_answers(void)
{
    pm_payos_answer a;
    /* published answer signatures */
    CHECK_INT(parse(200, answer(LINK_PENDING,
                                "33093364158b143baa9ecd2e705d9a2a5a5d391a3cab7cb0a371588b3731368f"),
                    PM_PAYOS_LINK, &a),
              PM_PAYOS_OK);
    CHECK_STR(a.status, "PENDING");
    CHECK_STR(a.link_id, "payment-link-id");
    CHECK_INT(a.amount, 2000);
    CHECK_INT(parse(200, answer(LINK_CANCELLED,
                                "10c181c89bda5b855327e3e16494b9e8409e6b85a2a90f20177af99f8b12eaa9"),
                    PM_PAYOS_LINK, &a),
              PM_PAYOS_OK);
    CHECK_STR(a.status, "CANCELLED");
    /* one hex digit changed: not payOS's answer */
    CHECK_INT(parse(200, answer(LINK_PENDING,
                                "43093364158b143baa9ecd2e705d9a2a5a5d391a3cab7cb0a371588b3731368f"),
                    PM_PAYOS_LINK, &a),
              PM_PAYOS_RETRY);
    CHECK(strstr(a.error, "signature") != NULL);
    /* the PENDING signature on the CANCELLED data */
    CHECK_INT(parse(200, answer(LINK_CANCELLED,
                                "33093364158b143baa9ecd2e705d9a2a5a5d391a3cab7cb0a371588b3731368f"),
                    PM_PAYOS_LINK, &a),
              PM_PAYOS_RETRY);
    /* refusals */
    CHECK_INT(parse(200, "{\"code\":\"231\",\"desc\":\"Đơn thanh toán đã tồn tại\",\"data\":null}",
                    PM_PAYOS_CREATE, &a),
              PM_PAYOS_DUPLICATE);
    CHECK_STR(a.code, "231");
    CHECK_INT(parse(200, "{\"code\":\"20\",\"desc\":\"bad field\",\"data\":null}", PM_PAYOS_CREATE,
                    &a),
              PM_PAYOS_REFUSED);
    CHECK_INT(parse(400, "{\"code\":\"20\",\"desc\":\"Webhook url invalid\"}", PM_PAYOS_CONFIRM, &a),
              PM_PAYOS_REFUSED);
    CHECK_INT(parse(400, "not json", PM_PAYOS_CONFIRM, &a), PM_PAYOS_REFUSED);
    /* payOS's trouble or ours: again later */
    CHECK_INT(parse(401, "{\"code\":\"401\",\"desc\":\"Unauthorized\"}", PM_PAYOS_CREATE, &a),
              PM_PAYOS_RETRY);
    CHECK_INT(parse(503, "<html>", PM_PAYOS_CREATE, &a), PM_PAYOS_RETRY);
    cds_http_response r = resp(429, "{}");
    r.headers = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n\r\n";
    r.headers_len = strlen(r.headers);
    CHECK_INT(pm_payos_parse(&r, PM_PAYOS_CREATE, &a), PM_PAYOS_RETRY);
    CHECK_INT(a.retry_after_ms, 7000);
    r = resp(0, "");
    r.error = "Operation timed out";
    CHECK_INT(pm_payos_parse(&r, PM_PAYOS_CREATE, &a), PM_PAYOS_RETRY);
    CHECK(strstr(a.error, "timed out") != NULL);
    CHECK_INT(parse(200, "{\"code\":\"00\",\"desc\":\"success\",\"data\":null}", PM_PAYOS_CREATE, &a),
              PM_PAYOS_RETRY);
    /* a created link must carry what the app is given; no signature: as payOS's SDK, accepted */
    CHECK_INT(parse(200,
                    "{\"code\":\"00\",\"desc\":\"success\",\"data\":{\"orderCode\":5,\"amount\":10,"
                    "\"paymentLinkId\":\"abc\",\"checkoutUrl\":\"https://pay.payos.vn/web/abc\"}}",
                    PM_PAYOS_CREATE, &a),
              PM_PAYOS_RETRY);
    CHECK_INT(parse(200,
                    "{\"code\":\"00\",\"desc\":\"success\",\"data\":{\"orderCode\":5,\"amount\":10,"
                    "\"paymentLinkId\":\"abc\",\"checkoutUrl\":\"https://pay.payos.vn/web/abc\","
                    "\"qrCode\":\"000201\",\"status\":\"PENDING\"}}",
                    PM_PAYOS_CREATE, &a),
              PM_PAYOS_OK);
    CHECK_INT(a.order_code, 5);
    CHECK_STR(a.qr_code, "000201");
    CHECK_STR(a.checkout_url, "https://pay.payos.vn/web/abc");
}

/* Which provider collects is configuration of the receiving account. */
static void test_account_provider(void)
{
    char err[200];
#define ACCOUNTS                                                                                   \
    "{\"accounts\":[{\"agency_code\":\"A1\",\"bank_bin\":\"970415\",\"bank_name\":"               \
    "\"VietinBank\",\"account_no\":\"371100001008\",\"account_name\":\"UBND\"%s}]}"
    const char *cases[][2] = {{"", "ok"},
                              {",\"provider\":\"payos\"", "ok"},
                              {",\"provider\":\"transfer\"", "ok"},
                              {",\"provider\":\"momo\"", "provider"},
                              {",\"provider\":1", "provider"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char doc[600];
        snprintf(doc, sizeof doc, ACCOUNTS, cases[i][0]);
        json_t *j = json_loads(doc, 0, NULL);
        int rc = cds_payment_accounts_check(j, err, sizeof err);
        if (strcmp(cases[i][1], "ok") == 0) {
            CHECK_INT(rc, 0);
        } else {
            CHECK_INT(rc, -1);
            CHECK(strstr(err, cases[i][1]) != NULL);
        }
        json_decref(j);
    }
}

int main(void)
{
    g_payment.payos_url = "http://payos.test/";
    g_payment.payos_client_id = "client-1";
    g_payment.payos_api_key = "api-key-1";
    g_payment.payos_checksum_key = KEY;
    g_payment.payos_return_url = "http://localhost";
    g_payment.payos_cancel_url = "http://localhost";
    test_request_signature();
    test_build();
    test_answers();
    test_account_provider();
    return t_done();
}
