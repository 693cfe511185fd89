/* payment/webhook*: the three provider adapters.
 *
 * Published vectors, each verified independently with the openssl CLI:
 *  - payOS docs ("Kiểm tra dữ liệu với signature"): checksum key 1a54716c...,
 *    the sample webhook data, signature 412e915d...;
 *  - payOS's Node.js SDK test cases (key "test_checksum_key"): the webhook
 *    data (302b3bec...) and three bodies with arrays and nulls, which pin
 *    down how arrays, empty arrays and nulls are written;
 *  - Casso's v2 verification sample: secret mgExMrjj..., header
 *    t=1727948258788,v1=ed0a4bd2..., the test transaction.
 * Our own vectors, computed outside this code (python's json.dumps for the
 * canonical text, openssl dgst for the MAC): JavaScript number and key
 * order for payOS; a Casso body with '/' and Vietnamese text, signed in the
 * JSON.stringify spelling and in PHP's json_encode spelling; a SePay HMAC.
 * Then, per provider: forged signatures, a signature over another body,
 * stale timestamps both ways (Casso, SePay), amounts as a string, negative,
 * zero, fractional, at 1e12, malformed JSON, missing and malformed fields,
 * outgoing transfers reported and skipped, secrets not configured. */
#include "payment/webhook.h"
#include "tests/lib/t.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cds_hook_result R;

typedef struct hdrs {
    const char *name[4];
    const char *value[4];
} hdrs;

static const char *hget(void *ctx, const char *name)
{
    const hdrs *h = ctx;
    for (int i = 0; i < 4; i++)
        if (h->name[i] && strcmp(h->name[i], name) == 0) return h->value[i];
    return NULL;
}

/* ---- payOS ---------------------------------------------------------- */

#define PAYOS_DOC_KEY "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7675"
#define PAYOS_DOC_BODY                                                                             \
    "{\"code\":\"00\",\"desc\":\"success\",\"success\":true,\"data\":{\"orderCode\":123,"          \
    "\"amount\":3000,\"description\":\"VQRIO123\",\"accountNumber\":\"12345678\","                 \
    "\"reference\":\"TF230204212323\",\"transactionDateTime\":\"2023-02-04 18:25:00\","            \
    "\"currency\":\"VND\",\"paymentLinkId\":\"124c33293c43417ab7879e14c8d9eb18\",\"code\":\"00\"," \
    "\"desc\":\"Thành công\",\"counterAccountBankId\":\"\",\"counterAccountBankName\":\"\","     \
    "\"counterAccountName\":\"\",\"counterAccountNumber\":\"\",\"virtualAccountName\":\"\","       \
    "\"virtualAccountNumber\":\"\"},\"signature\":\"%s\"}"
#define PAYOS_DOC_SIG "412e915d2871504ed31be63c8f62a149a4410d34c4c42affc9006ef9917eaa03"

#define SDK_KEY "test_checksum_key"
#define SDK_WEBHOOK_DATA                                                                           \
    "{\"accountNumber\":\"0123456789\",\"amount\":20000,\"description\":\"thanh toan\","           \
    "\"reference\":\"FT-REFERENCE\",\"transactionDateTime\":\"2025-12-12 09:00:00\","              \
    "\"virtualAccountNumber\":\"\",\"counterAccountBankId\":\"01202001\","                         \
    "\"counterAccountBankName\":\"\",\"counterAccountName\":\"NGUYEN VAN A\","                     \
    "\"counterAccountNumber\":\"9876543210\",\"virtualAccountName\":\"\",\"currency\":\"VND\","    \
    "\"orderCode\":0,\"paymentLinkId\":\"payment-link-id\",\"code\":\"00\",\"desc\":\"success\"}"
#define SDK_TXN                                                                                    \
    "{\"accountNumber\":\"0123456789\",\"amount\":2000,\"counterAccountBankId\":\"01202001\","     \
    "\"counterAccountBankName\":null,\"counterAccountName\":\"NGUYEN VAN A\","                     \
    "\"counterAccountNumber\":\"9876543210\",\"description\":\"TRANSACTION DESCRIPTION\","         \
    "\"reference\":\"FT-REFERENCE\",\"transactionDateTime\":\"2025-12-12T09:00:00+07:00\","        \
    "\"virtualAccountName\":null,\"virtualAccountNumber\":null}"
#define SDK_LINK(status, paid, remaining, txns, canceled, reason)                                  \
    "{\"id\":\"payment-link-id\",\"orderCode\":0,\"amount\":2000,\"amountPaid\":" paid             \
    ",\"amountRemaining\":" remaining ",\"status\":\"" status "\","                                \
    "\"createdAt\":\"2025-12-12T09:00:00+07:00\",\"transactions\":[" txns "],"                     \
    "\"canceledAt\":" canceled ",\"cancellationReason\":" reason "}"

static int payos_raw(const char *body, const char *key)
{
    cds_hook_req rq = {body, strlen(body), NULL, NULL, 1765504800};
    return cds_hook_payos(&rq, key, &R);
}

/* A payOS call for this data, signed with key. */
static int payos(const char *data, const char *key)
{
    static char body[8192];
    char sig[65];
    int rc = cds_hook_payos_sign(data, strlen(data), key, sig);
    if (rc != 0) return 100 + rc; /* shows up as a failed CHECK */
    snprintf(
        body, sizeof body,
        "{\"code\":\"00\",\"desc\":\"success\",\"success\":true,\"data\":%s,\"signature\":\"%s\"}",
        data, sig);
    return payos_raw(body, key);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    static char buf[8192];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

static void test_payos_published(void)
{
    char sig[65];
    /* payOS docs: the sample webhook, its signature */
    CHECK_INT(payos_raw(fmt(PAYOS_DOC_BODY, PAYOS_DOC_SIG), PAYOS_DOC_KEY), CDS_HOOK_OK);
    CHECK_INT(R.n, 1);
    cds_hook_tx *t = &R.tx[0];
    CHECK_STR(t->provider, "payos");
    CHECK_STR(t->id, "124c33293c43417ab7879e14c8d9eb18:TF230204212323");
    CHECK_INT(t->amount, 3000);
    CHECK_INT(t->direction, CDS_HOOK_IN);
    CHECK_INT(t->disposition, CDS_HOOK_CREDIT);
    CHECK_STR(t->description, "VQRIO123");
    CHECK_STR(t->account, "12345678");
    CHECK_STR(t->reference, "TF230204212323");
    CHECK_STR(t->code, "123");
    CHECK_STR(t->time_text, "2023-02-04 18:25:00");
    CHECK_INT(t->time_ok, 1);
    CHECK_INT(t->time_epoch, 1675509900); /* 11:25:00 UTC: no zone is +07:00 */
    CHECK_STR(t->counter_account, "");
    CHECK_STR(t->bank_bin, "");
    /* upper-case hex verifies alike */
    CHECK_INT(payos_raw(fmt(PAYOS_DOC_BODY,
                            "412E915D2871504ED31BE63C8F62A149A4410D34C4C42AFFC9006EF9917EAA03"),
                        PAYOS_DOC_KEY),
              CDS_HOOK_OK);

    /* payOS SDK test vectors */
    CHECK_INT(cds_hook_payos_sign(SDK_WEBHOOK_DATA, strlen(SDK_WEBHOOK_DATA), SDK_KEY, sig), 0);
    CHECK_STR(sig, "302b3becca1672dff99daafae2965f40e48ea3ca39453e4bf37fbcc26807a0e8");
    const char *one = SDK_LINK("PAID", "2000", "0", SDK_TXN, "null", "null");
    CHECK_INT(cds_hook_payos_sign(one, strlen(one), SDK_KEY, sig), 0);
    CHECK_STR(sig, "6af5e2c9a28256c140169ed624114b43295915d7b6e2fa6278b17a7c43aadefd");
    const char *two = SDK_LINK("PAID", "2000", "0", SDK_TXN "," SDK_TXN, "null", "null");
    CHECK_INT(cds_hook_payos_sign(two, strlen(two), SDK_KEY, sig), 0);
    CHECK_STR(sig, "04ebbe221724d2b848c3f39b2db3311cc554167f55bd2fe2cb7b86b6bfdeadaa");
    const char *none = SDK_LINK("PENDING", "0", "2000", "", "null", "null");
    CHECK_INT(cds_hook_payos_sign(none, strlen(none), SDK_KEY, sig), 0);
    CHECK_STR(sig, "33093364158b143baa9ecd2e705d9a2a5a5d391a3cab7cb0a371588b3731368f");
    const char *cancel = SDK_LINK("CANCELLED", "0", "2000", "", "\"2025-12-12T09:00:00+07:00\"",
                                  "\"cancel reason\"");
    CHECK_INT(cds_hook_payos_sign(cancel, strlen(cancel), SDK_KEY, sig), 0);
    CHECK_STR(sig, "10c181c89bda5b855327e3e16494b9e8409e6b85a2a90f20177af99f8b12eaa9");

    /* the SDK's webhook data as a whole call, normalized */
    CHECK_INT(payos(SDK_WEBHOOK_DATA, SDK_KEY), CDS_HOOK_OK);
    t = &R.tx[0];
    CHECK_STR(t->id, "payment-link-id:FT-REFERENCE");
    CHECK_INT(t->amount, 20000);
    CHECK_STR(t->code, "0");
    CHECK_STR(t->counter_bank_bin, "01202001");
    CHECK_STR(t->counter_name, "NGUYEN VAN A");
    CHECK_STR(t->counter_account, "9876543210");
    CHECK_INT(t->time_epoch, 1765504800);
}

static void test_payos_js_rules(void)
{
    char sig[65];
    /* Number::toString for reals (expected text "a=0.1&b=1e+21&c=1.5e-7&...") */
    const char *nums = "{\"k\":1e-7,\"j\":-2.5,\"i\":1.7976931348623157e308,\"h\":5e-324,"
                       "\"g\":0.000001,\"f\":100.0,\"e\":-0.0,\"d\":123.456,\"c\":1.5e-7,"
                       "\"b\":1e21,\"a\":0.1}";
    CHECK_INT(cds_hook_payos_sign(nums, strlen(nums), SDK_KEY, sig), 0);
    CHECK_STR(sig, "9bff3e413b74313901b7a4a4d324e1162509c7a2acc0f902455f1ef0edd1ce01");
    /* key order: index keys by value, then UTF-16 code units (U+1F600 sorts
     * by its surrogate, before U+FFFF): "9=4&10=3&B=5&a=2&b=1&é=6&😀=7&\uffff=8" */
    const char *keys = "{\"b\":1,\"a\":2,\"10\":3,\"9\":4,\"B\":5,\"é\":6,\"😀\":7,\"\\uffff\":8}";
    CHECK_INT(cds_hook_payos_sign(keys, strlen(keys), SDK_KEY, sig), 0);
    CHECK_STR(sig, "3fbc75342b7ae24e4ecf73fbcef5217e3e11a323c11a741b1e72c7de90205fae");
    /* "arr=[]&f=false&n=&o=[object Object]&s1=&s2=&t=true&x=a&b=c" */
    const char *misc = "{\"x\":\"a&b=c\",\"t\":true,\"f\":false,\"n\":null,\"s1\":\"null\","
                       "\"s2\":\"undefined\",\"o\":{\"k\":1},\"arr\":[]}";
    CHECK_INT(cds_hook_payos_sign(misc, strlen(misc), SDK_KEY, sig), 0);
    CHECK_STR(sig, "80a34528e9495c69f969a4b1021922f4226ce48675920b697624ecb8ddc157d7");
    /* arrays of non-objects are refused */
    const char *bad = "{\"a\":[\"x\"]}";
    CHECK_INT(cds_hook_payos_sign(bad, strlen(bad), SDK_KEY, sig), CDS_HOOK_BAD_FIELD);
    /* key too short, data not JSON */
    CHECK_INT(cds_hook_payos_sign(nums, strlen(nums), "short", sig), CDS_HOOK_NOT_CONFIGURED);
    CHECK_INT(cds_hook_payos_sign("{", 1, SDK_KEY, sig), CDS_HOOK_BAD_JSON);
}

#define D(amount)                                                                                  \
    "{\"orderCode\":42,\"amount\":" amount ",\"description\":\"CDS7M2K9QX4P1\","                   \
    "\"accountNumber\":\"0071001234567\",\"reference\":\"FT24280123456\","                         \
    "\"transactionDateTime\":\"2024-10-06 09:15:02\",\"currency\":\"VND\","                        \
    "\"paymentLinkId\":\"0c9e5b1f2f2d4e0fa1b2c3d4e5f60718\",\"code\":\"00\",\"desc\":\"success\"}"

static void test_payos_refusals(void)
{
    /* forged signature: one digit changed */
    char *b = fmt(PAYOS_DOC_BODY, PAYOS_DOC_SIG);
    char *p = strstr(b, PAYOS_DOC_SIG);
    p[63] = p[63] == '3' ? '4' : '3';
    CHECK_INT(payos_raw(b, PAYOS_DOC_KEY), CDS_HOOK_BAD_SIGNATURE);
    CHECK_INT(R.n, 0);
    /* the documented signature over other data (amount 3000 -> 30000) */
    b = fmt(PAYOS_DOC_BODY, PAYOS_DOC_SIG);
    p = strstr(b, "\"amount\":3000");
    memmove(p + 14, p + 13, strlen(p + 13) + 1);
    p[13] = '0';
    CHECK_INT(payos_raw(b, PAYOS_DOC_KEY), CDS_HOOK_BAD_SIGNATURE);
    /* another key */
    CHECK_INT(payos_raw(fmt(PAYOS_DOC_BODY, PAYOS_DOC_SIG), SDK_KEY), CDS_HOOK_BAD_SIGNATURE);
    /* signature missing, malformed */
    CHECK_INT(payos_raw("{\"data\":" D("3000") "}", SDK_KEY), CDS_HOOK_NO_AUTH);
    CHECK_INT(payos_raw("{\"data\":" D("3000") ",\"signature\":null}", SDK_KEY), CDS_HOOK_NO_AUTH);
    CHECK_INT(payos_raw("{\"data\":" D("3000") ",\"signature\":\"abc\"}", SDK_KEY),
              CDS_HOOK_NO_AUTH);
    CHECK_INT(payos_raw(fmt(PAYOS_DOC_BODY, PAYOS_DOC_SIG "00"), PAYOS_DOC_KEY), CDS_HOOK_NO_AUTH);
    /* not configured */
    CHECK_INT(payos_raw(fmt(PAYOS_DOC_BODY, PAYOS_DOC_SIG), NULL), CDS_HOOK_NOT_CONFIGURED);
    CHECK_INT(payos_raw(fmt(PAYOS_DOC_BODY, PAYOS_DOC_SIG), ""), CDS_HOOK_NOT_CONFIGURED);

    /* amounts, each correctly signed */
    CHECK_INT(payos(D("150000"), SDK_KEY), CDS_HOOK_OK);
    CHECK_INT(R.tx[0].amount, 150000);
    CHECK_STR(R.tx[0].code, "42");
    CHECK_INT(payos(D("999999999999"), SDK_KEY), CDS_HOOK_OK);
    CHECK_INT(payos(D("\"150000\""), SDK_KEY), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(payos(D("-150000"), SDK_KEY), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(payos(D("0"), SDK_KEY), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(payos(D("1500.5"), SDK_KEY), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(payos(D("150000.0"), SDK_KEY), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(payos(D("1.5e5"), SDK_KEY), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(payos(D("1000000000000"), SDK_KEY), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(payos(D("-1000000000000"), SDK_KEY), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(payos(D("true"), SDK_KEY), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(payos(D("null"), SDK_KEY), CDS_HOOK_MISSING_FIELD);
    CHECK_INT(payos(D("99999999999999999999"), SDK_KEY), 100 + CDS_HOOK_BAD_JSON);

    /* malformed JSON and shapes */
    CHECK_INT(payos_raw("", SDK_KEY), CDS_HOOK_BAD_JSON);
    CHECK_INT(payos_raw("{\"data\":", SDK_KEY), CDS_HOOK_BAD_JSON);
    CHECK_INT(payos_raw("[]", SDK_KEY), CDS_HOOK_BAD_JSON);
    CHECK_INT(payos_raw("\"x\"", SDK_KEY), CDS_HOOK_BAD_JSON);
    CHECK_INT(payos_raw("{\"a\":1,\"a\":2}", SDK_KEY), CDS_HOOK_BAD_JSON);
    CHECK(strstr(R.message, "invalid JSON") != NULL);
    char deep[200];
    size_t k = 0;
    for (int i = 0; i < 40; i++)
        deep[k++] = '[';
    for (int i = 0; i < 40; i++)
        deep[k++] = ']';
    deep[k] = 0;
    char deepbody[300];
    snprintf(deepbody, sizeof deepbody, "{\"x\":%s}", deep);
    CHECK_INT(payos_raw(deepbody, SDK_KEY), CDS_HOOK_BAD_JSON);
    char *big = malloc(CDS_HOOK_BODY_MAX + 2);
    memset(big, ' ', CDS_HOOK_BODY_MAX + 1);
    big[0] = '{';
    big[CDS_HOOK_BODY_MAX] = '}';
    big[CDS_HOOK_BODY_MAX + 1] = 0;
    CHECK_INT(payos_raw(big, SDK_KEY), CDS_HOOK_TOO_LARGE);
    free(big);

    /* missing and malformed fields (signed, so the signature is not what fails) */
    CHECK_INT(payos_raw("{\"signature\":\"" PAYOS_DOC_SIG "\"}", SDK_KEY), CDS_HOOK_MISSING_FIELD);
    CHECK_INT(payos_raw("{\"data\":[],\"signature\":\"" PAYOS_DOC_SIG "\"}", SDK_KEY),
              CDS_HOOK_BAD_FIELD);
    CHECK_INT(
        payos("{\"orderCode\":1,\"amount\":5000,\"description\":\"x\",\"accountNumber\":\"1\","
              "\"code\":\"00\",\"reference\":\"R1\"}",
              SDK_KEY),
        CDS_HOOK_MISSING_FIELD);
    CHECK(strstr(R.message, "paymentLinkId") != NULL);
    CHECK_INT(payos("{\"orderCode\":1,\"amount\":5000,\"description\":\"x\",\"code\":\"00\","
                    "\"paymentLinkId\":\"p1\"}",
                    SDK_KEY),
              CDS_HOOK_MISSING_FIELD);
    CHECK(strstr(R.message, "accountNumber") != NULL);
    CHECK_INT(
        payos("{\"orderCode\":1,\"description\":\"x\",\"accountNumber\":\"1\",\"code\":\"00\","
              "\"paymentLinkId\":\"p1\"}",
              SDK_KEY),
        CDS_HOOK_MISSING_FIELD);
    CHECK_INT(payos("{\"orderCode\":1,\"amount\":5000,\"description\":7,\"accountNumber\":\"1\","
                    "\"code\":\"00\",\"paymentLinkId\":\"p1\"}",
                    SDK_KEY),
              CDS_HOOK_BAD_FIELD);
    CHECK_INT(
        payos("{\"orderCode\":1,\"amount\":5000,\"description\":\"x\",\"accountNumber\":\"1\","
              "\"code\":\"00\",\"paymentLinkId\":\"p 1\"}",
              SDK_KEY),
        CDS_HOOK_BAD_FIELD);
    CHECK_INT(
        payos("{\"orderCode\":1,\"amount\":5000,\"description\":\"x\",\"accountNumber\":\"1\","
              "\"code\":\"00\",\"paymentLinkId\":\"p1\",\"currency\":\"USD\"}",
              SDK_KEY),
        CDS_HOOK_BAD_FIELD);

    /* data.code other than "00": reported, not credited */
    CHECK_INT(
        payos("{\"orderCode\":1,\"amount\":5000,\"description\":\"x\",\"accountNumber\":\"1\","
              "\"code\":\"01\",\"paymentLinkId\":\"p1\",\"reference\":\"R1\"}",
              SDK_KEY),
        CDS_HOOK_OK);
    CHECK_INT(R.n, 1);
    CHECK_INT(R.tx[0].disposition, CDS_HOOK_SKIP_FAILED);
    CHECK_STR(R.tx[0].id, "p1:R1");

    /* caps: a description over 1024 bytes is refused, a long name is cut
     * at a character boundary, control characters become spaces */
    char data[4096], text[1400];
    memset(text, 'x', 1025);
    text[1025] = 0;
    snprintf(data, sizeof data,
             "{\"orderCode\":1,\"amount\":5000,\"description\":\"%s\",\"accountNumber\":\"1\","
             "\"code\":\"00\",\"paymentLinkId\":\"p1\"}",
             text);
    CHECK_INT(payos(data, SDK_KEY), CDS_HOOK_BAD_FIELD);
    for (int i = 0; i < 100; i++)
        memcpy(text + 2 * i, "Đ", 2); /* 2 bytes each: 200 bytes, cut to 128 */
    text[200] = 0;
    snprintf(data, sizeof data,
             "{\"orderCode\":1,\"amount\":5000,\"description\":\"a\\tb\\u0001c\","
             "\"accountNumber\":\"1\",\"code\":\"00\",\"paymentLinkId\":\"p1\","
             "\"counterAccountName\":\"x%s\"}",
             text);
    CHECK_INT(payos(data, SDK_KEY), CDS_HOOK_OK);
    CHECK_STR(R.tx[0].description, "a b c");
    CHECK_INT(strlen(R.tx[0].counter_name), 127); /* "x" + 63 whole "Đ" */
    CHECK_INT(R.tx[0].time_ok, 0);
}

/* ---- Casso ---------------------------------------------------------- */

#define CASSO_DOC_SECRET "mgExMrjj4i7a1p8Cs6LmFbpCd8lbw4sSX4LZXPag7TKazeIogtR90tvWYTkwQbvs"
#define CASSO_DOC_HEADER                                                                           \
    "t=1727948258788,v1=ed0a4bd2e826d5cb69988cdb141e6c1a080e21f3b57eb72cd78192220042b9e7dde0868f"  \
    "c667faea8e224900fa7904e7c88dfa098032fb2d6b6996856e8b7ff3"
/* Casso's sample, in its own key order and with spaces: what is signed is
 * the canonical form, not these bytes. */
#define CASSO_DOC_BODY                                                                             \
    "{\"error\": 0, \"data\": {\"id\": 0, \"reference\": \"MA_GIAO_DICH_THU_NGHIEM\","             \
    " \"description\": \"giao dich thu nghiem\", \"amount\": 599000,"                              \
    " \"runningBalance\": 25000000, \"transactionDateTime\": \"2024-10-03 15:06:37\","             \
    " \"accountNumber\": \"88888888\", \"bankName\": \"VPBank\", \"bankAbbreviation\": \"VPB\","   \
    " \"virtualAccountNumber\": \"\", \"virtualAccountName\": \"\","                               \
    " \"counterAccountName\": \"NGUYEN VAN A\", \"counterAccountNumber\": \"8888888888\","         \
    " \"counterAccountBankId\": \"970415\", \"counterAccountBankName\": \"VietinBank\"}}"
#define CASSO_T 1727948258788LL
#define CASSO_NOW ((time_t)(CASSO_T / 1000))

#define CASSO_SECRET "casso-webhook-secret-0123456789"
#define CASSO_VN_BODY                                                                              \
    "{\"error\":0,\"data\":{\"id\":1234567,\"reference\":\"FT24123/ABC\","                         \
    "\"description\":\"CDS7M2K9QX4P1 Lệ phí/hồ sơ\",\"amount\":150000,"                      \
    "\"runningBalance\":5150000,\"transactionDateTime\":\"2024-10-03 15:06:37\","                  \
    "\"accountNumber\":\"0071001234567\",\"bankName\":\"Vietcombank\","                            \
    "\"bankAbbreviation\":\"VCB\",\"virtualAccountNumber\":\"\",\"virtualAccountName\":\"\","      \
    "\"counterAccountName\":\"NGUYỄN VĂN A\",\"counterAccountNumber\":\"190312345678\","        \
    "\"counterAccountBankId\":\"970407\",\"counterAccountBankName\":\"Techcombank\"}}"
#define CASSO_VN_JS                                                                                \
    "2b7090d211a5563571b75558e951bcbd7902e9724e8ca6540e6bcf28192c75b9b13886c717f0acc0530dbc049dac" \
    "0ecf605e78326784897f1b9b6fc6be93bf2b"
#define CASSO_VN_PHP                                                                               \
    "daa3d5bf9c08448a8860ab60ae446f3db0b3a77d56c202f6576ab48f6664c7f396ffd733e002d7b45e39413c2e0b" \
    "5323b393e2848e5ae6499b5aee2253155861"

static int casso_raw(const char *body, const char *header, time_t now, const char *secret)
{
    hdrs h = {{"x-casso-signature"}, {header}};
    cds_hook_req rq = {body, strlen(body), hget, &h, now};
    return cds_hook_casso(&rq, secret, &R);
}

/* A Casso call signed now. */
static int casso(const char *body)
{
    char h[200];
    int rc = cds_hook_casso_sign(body, strlen(body), CASSO_SECRET, CASSO_T, h, sizeof h);
    if (rc != 0) return 100 + rc;
    return casso_raw(body, h, CASSO_NOW, CASSO_SECRET);
}

#define CT(id, amount)                                                                             \
    "{\"error\":0,\"data\":{\"id\":" id ",\"description\":\"CDS7M2K9QX4P1\",\"amount\":" amount    \
    ",\"accountNumber\":\"0071001234567\",\"bankName\":\"\",\"bankAbbreviation\":\"VCB\"}}"

static void test_casso(void)
{
    /* Casso's published sample */
    CHECK_INT(casso_raw(CASSO_DOC_BODY, CASSO_DOC_HEADER, CASSO_NOW, CASSO_DOC_SECRET),
              CDS_HOOK_OK);
    CHECK_INT(R.n, 1);
    cds_hook_tx *t = &R.tx[0];
    CHECK_STR(t->provider, "casso");
    CHECK_STR(t->id, "0");
    CHECK_INT(t->amount, 599000);
    CHECK_INT(t->disposition, CDS_HOOK_CREDIT);
    CHECK_STR(t->description, "giao dich thu nghiem");
    CHECK_STR(t->account, "88888888");
    CHECK_STR(t->bank_name, "VPBank");
    CHECK_STR(t->reference, "MA_GIAO_DICH_THU_NGHIEM");
    CHECK_STR(t->counter_name, "NGUYEN VAN A");
    CHECK_STR(t->counter_account, "8888888888");
    CHECK_STR(t->counter_bank_bin, "970415");
    CHECK_STR(t->counter_bank_name, "VietinBank");
    CHECK_INT(t->time_epoch, 1727942797);
    /* the window is 5 minutes either way, in milliseconds */
    CHECK_INT(casso_raw(CASSO_DOC_BODY, CASSO_DOC_HEADER, CASSO_NOW + 300, CASSO_DOC_SECRET),
              CDS_HOOK_OK);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, CASSO_DOC_HEADER, CASSO_NOW + 301, CASSO_DOC_SECRET),
              CDS_HOOK_STALE_TIMESTAMP);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, CASSO_DOC_HEADER, CASSO_NOW - 300, CASSO_DOC_SECRET),
              CDS_HOOK_STALE_TIMESTAMP); /* t is 788 ms past CASSO_NOW */
    CHECK_INT(casso_raw(CASSO_DOC_BODY, CASSO_DOC_HEADER, CASSO_NOW - 299, CASSO_DOC_SECRET),
              CDS_HOOK_OK);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, CASSO_DOC_HEADER, 1800000000, CASSO_DOC_SECRET),
              CDS_HOOK_STALE_TIMESTAMP);
    /* header: order of parts, spaces and unknown parts do not matter */
    CHECK_INT(casso_raw(CASSO_DOC_BODY,
                        "v1=ed0a4bd2e826d5cb69988cdb141e6c1a080e21f3b57eb72cd78192220042b9e7dde086"
                        "8fc667faea8e224900fa7904e7c88dfa098032fb2d6b6996856e8b7ff3, v0=ab, "
                        "t=1727948258788",
                        CASSO_NOW, CASSO_DOC_SECRET),
              CDS_HOOK_OK);

    /* forged, other body, other secret, other t */
    char h[300];
    snprintf(h, sizeof h, "%s", CASSO_DOC_HEADER);
    h[strlen(h) - 1] = h[strlen(h) - 1] == '3' ? '4' : '3';
    CHECK_INT(casso_raw(CASSO_DOC_BODY, h, CASSO_NOW, CASSO_DOC_SECRET), CDS_HOOK_BAD_SIGNATURE);
    char body[2048];
    snprintf(body, sizeof body, "%s", CASSO_DOC_BODY);
    char *p = strstr(body, "599000");
    p[0] = '6';
    CHECK_INT(casso_raw(body, CASSO_DOC_HEADER, CASSO_NOW, CASSO_DOC_SECRET),
              CDS_HOOK_BAD_SIGNATURE);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, CASSO_DOC_HEADER, CASSO_NOW, CASSO_SECRET),
              CDS_HOOK_BAD_SIGNATURE);
    snprintf(h, sizeof h, "t=1727948258789,%s", strchr(CASSO_DOC_HEADER, ',') + 1);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, h, CASSO_NOW, CASSO_DOC_SECRET), CDS_HOOK_BAD_SIGNATURE);

    /* missing or malformed header */
    cds_hook_req rq = {CASSO_DOC_BODY, strlen(CASSO_DOC_BODY), NULL, NULL, CASSO_NOW};
    CHECK_INT(cds_hook_casso(&rq, CASSO_DOC_SECRET, &R), CDS_HOOK_NO_AUTH);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, "", CASSO_NOW, CASSO_DOC_SECRET), CDS_HOOK_NO_AUTH);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, "t=1727948258788", CASSO_NOW, CASSO_DOC_SECRET),
              CDS_HOOK_NO_AUTH);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, "t=1727948258788,v1=ed0a", CASSO_NOW, CASSO_DOC_SECRET),
              CDS_HOOK_NO_AUTH);
    snprintf(h, sizeof h, "t=01727948258788,%s", strchr(CASSO_DOC_HEADER, ',') + 1);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, h, CASSO_NOW, CASSO_DOC_SECRET), CDS_HOOK_NO_AUTH);
    snprintf(h, sizeof h, "t=x,%s", strchr(CASSO_DOC_HEADER, ',') + 1);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, h, CASSO_NOW, CASSO_DOC_SECRET), CDS_HOOK_NO_AUTH);
    snprintf(h, sizeof h, "%s,t=1727948258788", CASSO_DOC_HEADER);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, h, CASSO_NOW, CASSO_DOC_SECRET), CDS_HOOK_NO_AUTH);
    CHECK_INT(casso_raw(CASSO_DOC_BODY, CASSO_DOC_HEADER, CASSO_NOW, "short"),
              CDS_HOOK_NOT_CONFIGURED);

    /* '/' and Vietnamese: the JSON.stringify spelling and PHP's json_encode
     * spelling both verify (independent vectors) */
    char hv[300];
    snprintf(hv, sizeof hv, "t=1727948258788,v1=%s", CASSO_VN_JS);
    CHECK_INT(casso_raw(CASSO_VN_BODY, hv, CASSO_NOW, CASSO_SECRET), CDS_HOOK_OK);
    CHECK_STR(R.tx[0].description, "CDS7M2K9QX4P1 Lệ phí/hồ sơ");
    CHECK_STR(R.tx[0].counter_name, "NGUYỄN VĂN A");
    CHECK_STR(R.tx[0].id, "1234567");
    snprintf(hv, sizeof hv, "t=1727948258788,v1=%s", CASSO_VN_PHP);
    CHECK_INT(casso_raw(CASSO_VN_BODY, hv, CASSO_NOW, CASSO_SECRET), CDS_HOOK_OK);
    /* and our signer writes the JSON.stringify one */
    CHECK_INT(cds_hook_casso_sign(CASSO_VN_BODY, strlen(CASSO_VN_BODY), CASSO_SECRET, CASSO_T, h,
                                  sizeof h),
              0);
    CHECK_STR(strchr(h, ',') + 4, CASSO_VN_JS);

    /* amounts: negative is money out (reported, skipped), the rest refused */
    CHECK_INT(casso(CT("9", "150000")), CDS_HOOK_OK);
    CHECK_STR(R.tx[0].bank_name, "VCB"); /* bankName empty: the abbreviation */
    CHECK_INT(casso(CT("9", "-150000")), CDS_HOOK_OK);
    CHECK_INT(R.tx[0].direction, CDS_HOOK_OUT);
    CHECK_INT(R.tx[0].disposition, CDS_HOOK_SKIP_OUTGOING);
    CHECK_INT(R.tx[0].amount, 150000);
    CHECK_INT(casso(CT("9", "\"150000\"")), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(casso(CT("9", "0")), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(casso(CT("9", "150000.5")), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(casso(CT("9", "1000000000000")), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(casso(CT("9", "-1000000000000")), CDS_HOOK_BAD_AMOUNT);
    /* ids: integer or string, required */
    CHECK_INT(casso(CT("\"TX-77\"", "150000")), CDS_HOOK_OK);
    CHECK_STR(R.tx[0].id, "TX-77");
    CHECK_INT(casso(CT("null", "150000")), CDS_HOOK_MISSING_FIELD);
    CHECK_INT(casso(CT("\"\"", "150000")), CDS_HOOK_MISSING_FIELD); /* found by fuzz_webhooks */
    CHECK_INT(casso(CT("1.5", "150000")), CDS_HOOK_BAD_FIELD);
    /* shapes */
    CHECK_INT(casso("{\"error\":0}"), CDS_HOOK_MISSING_FIELD);
    CHECK_INT(casso("{\"error\":1,\"data\":{}}"), CDS_HOOK_BAD_FIELD);
    CHECK_INT(casso("{\"error\":0,\"data\":[]}"), CDS_HOOK_MISSING_FIELD);
    CHECK_INT(casso("{\"error\":0,\"data\":\"x\"}"), CDS_HOOK_BAD_FIELD);
    CHECK_INT(casso("{\"error\":0,\"data\":{\"id\":1,\"amount\":5000,\"description\":\"x\"}}"),
              CDS_HOOK_MISSING_FIELD);
    CHECK(strstr(R.message, "accountNumber") != NULL);
    CHECK_INT(casso_raw("{\"error\":0,", CASSO_DOC_HEADER, CASSO_NOW, CASSO_DOC_SECRET),
              CDS_HOOK_BAD_JSON);
    /* a list of transactions (the older shape), nested objects sorted too */
    const char *list =
        "{\"error\":0,\"data\":[{\"id\":1,\"amount\":5000,\"description\":\"a\","
        "\"accountNumber\":\"1\",\"extra\":{\"z\":1,\"a\":[{\"y\":1,\"b\":2}]}},"
        "{\"id\":2,\"amount\":-7000,\"description\":\"b\",\"accountNumber\":\"1\"}]}";
    CHECK_INT(casso(list), CDS_HOOK_OK);
    CHECK_INT(R.n, 2);
    CHECK_STR(R.tx[1].id, "2");
    CHECK_INT(R.tx[1].disposition, CDS_HOOK_SKIP_OUTGOING);
}

/* ---- SePay ---------------------------------------------------------- */

#define SEPAY_KEY "sepay-api-key-0123456789abcdef"
#define SEPAY_HMAC "sepay-hmac-secret-0123456789"
#define SEPAY_TS "1679727757"
#define SEPAY_NOW ((time_t)1679727757)
#define SEPAY_BODY                                                                                 \
    "{\"id\":92704,\"gateway\":\"Vietcombank\",\"transactionDate\":\"2023-03-25 14:02:37\","       \
    "\"accountNumber\":\"0123499999\",\"code\":null,\"content\":\"CDS7M2K9QX4P1 chuyen tien\","    \
    "\"transferType\":\"in\",\"transferAmount\":2277000,\"accumulated\":19077000,"                 \
    "\"subAccount\":null,\"referenceCode\":\"MBVCB.3278907687\","                                  \
    "\"description\":\"BankAPINotify CDS7M2K9QX4P1 chuyen tien\"}"
#define SEPAY_SIG "abfcb894d51d65b8cabd8960368720a97e6400158250344d6c4164bd344a8960"

static int sepay_h(const char *body, const char *auth, const char *sig, const char *ts, time_t now,
                   const char *key, const char *secret)
{
    hdrs h = {{"authorization", "x-sepay-signature", "x-sepay-timestamp"}, {auth, sig, ts}};
    cds_hook_req rq = {body, strlen(body), hget, &h, now};
    return cds_hook_sepay(&rq, key, secret, &R);
}

#define ST(type, amount)                                                                           \
    "{\"id\":5,\"gateway\":\"MBBank\",\"transactionDate\":\"2024-10-06 09:15:02\","                \
    "\"accountNumber\":\"0071001234567\",\"code\":\"CDS7M2K9QX4P1\",\"content\":\"\","             \
    "\"transferType\":" type ",\"transferAmount\":" amount ",\"subAccount\":\"VQR001\","           \
    "\"referenceCode\":\"FT24280123456\",\"description\":\"MBVCB.1.CDS7M2K9QX4P1\"}"

static int sepay_key(const char *body)
{
    return sepay_h(body, "Apikey " SEPAY_KEY, NULL, NULL, SEPAY_NOW, SEPAY_KEY, NULL);
}

static void test_sepay(void)
{
    /* API key, on SePay's documented sample body */
    CHECK_INT(sepay_key(SEPAY_BODY), CDS_HOOK_OK);
    CHECK_INT(R.n, 1);
    cds_hook_tx *t = &R.tx[0];
    CHECK_STR(t->provider, "sepay");
    CHECK_STR(t->id, "92704");
    CHECK_INT(t->amount, 2277000);
    CHECK_INT(t->direction, CDS_HOOK_IN);
    CHECK_INT(t->disposition, CDS_HOOK_CREDIT);
    CHECK_STR(t->description, "CDS7M2K9QX4P1 chuyen tien");
    CHECK_STR(t->account, "0123499999");
    CHECK_STR(t->bank_name, "Vietcombank");
    CHECK_STR(t->reference, "MBVCB.3278907687");
    CHECK_STR(t->code, "");
    CHECK_STR(t->virtual_account, "");
    CHECK_INT(t->time_epoch, 1679727757);
    CHECK_INT(sepay_h(SEPAY_BODY, "apikey " SEPAY_KEY, NULL, NULL, 0, SEPAY_KEY, NULL),
              CDS_HOOK_OK); /* scheme in any case; no clock involved */
    CHECK_INT(sepay_h(SEPAY_BODY, "Apikey " SEPAY_KEY "x", NULL, NULL, 0, SEPAY_KEY, NULL),
              CDS_HOOK_BAD_SIGNATURE);
    CHECK_INT(sepay_h(SEPAY_BODY, "Apikey sepay-api-key", NULL, NULL, 0, SEPAY_KEY, NULL),
              CDS_HOOK_BAD_SIGNATURE);
    CHECK_INT(sepay_h(SEPAY_BODY, "Bearer " SEPAY_KEY, NULL, NULL, 0, SEPAY_KEY, NULL),
              CDS_HOOK_NO_AUTH);
    CHECK_INT(sepay_h(SEPAY_BODY, "Apikey ", NULL, NULL, 0, SEPAY_KEY, NULL), CDS_HOOK_NO_AUTH);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, NULL, NULL, 0, SEPAY_KEY, NULL), CDS_HOOK_NO_AUTH);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, NULL, NULL, 0, NULL, NULL), CDS_HOOK_NOT_CONFIGURED);
    CHECK_INT(sepay_h(SEPAY_BODY, "Apikey short", NULL, NULL, 0, "short", NULL),
              CDS_HOOK_NOT_CONFIGURED);

    /* HMAC: independent vector, with and without the sha256= prefix */
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, "sha256=" SEPAY_SIG, SEPAY_TS, SEPAY_NOW, NULL, SEPAY_HMAC),
              CDS_HOOK_OK);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, SEPAY_SIG, SEPAY_TS, SEPAY_NOW, NULL, SEPAY_HMAC),
              CDS_HOOK_OK);
    char sig[72];
    CHECK_INT(cds_hook_sepay_sign(SEPAY_BODY, strlen(SEPAY_BODY), SEPAY_HMAC, 1679727757, sig), 0);
    CHECK_STR(sig, "sha256=" SEPAY_SIG);
    /* window */
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, SEPAY_SIG, SEPAY_TS, SEPAY_NOW + 300, NULL, SEPAY_HMAC),
              CDS_HOOK_OK);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, SEPAY_SIG, SEPAY_TS, SEPAY_NOW - 300, NULL, SEPAY_HMAC),
              CDS_HOOK_OK);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, SEPAY_SIG, SEPAY_TS, SEPAY_NOW + 301, NULL, SEPAY_HMAC),
              CDS_HOOK_STALE_TIMESTAMP);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, SEPAY_SIG, SEPAY_TS, SEPAY_NOW - 301, NULL, SEPAY_HMAC),
              CDS_HOOK_STALE_TIMESTAMP);
    /* forged, other body, other timestamp, other secret */
    char forged[80];
    snprintf(forged, sizeof forged, "%s", SEPAY_SIG);
    forged[0] = forged[0] == 'a' ? 'b' : 'a';
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, forged, SEPAY_TS, SEPAY_NOW, NULL, SEPAY_HMAC),
              CDS_HOOK_BAD_SIGNATURE);
    CHECK_INT(sepay_h(SEPAY_BODY " ", NULL, SEPAY_SIG, SEPAY_TS, SEPAY_NOW, NULL, SEPAY_HMAC),
              CDS_HOOK_BAD_SIGNATURE);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, SEPAY_SIG, "1679727758", SEPAY_NOW, NULL, SEPAY_HMAC),
              CDS_HOOK_BAD_SIGNATURE);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, SEPAY_SIG, SEPAY_TS, SEPAY_NOW, NULL, SEPAY_KEY),
              CDS_HOOK_BAD_SIGNATURE);
    /* a bad signature is not rescued by a good API key */
    CHECK_INT(sepay_h(SEPAY_BODY, "Apikey " SEPAY_KEY, forged, SEPAY_TS, SEPAY_NOW, SEPAY_KEY,
                      SEPAY_HMAC),
              CDS_HOOK_BAD_SIGNATURE);
    /* with an HMAC secret configured the HMAC is required: the right API key
     * alone is refused (issue 14), whether the key is configured too or not */
    CHECK_INT(sepay_h(SEPAY_BODY, "Apikey " SEPAY_KEY, NULL, NULL, SEPAY_NOW, SEPAY_KEY, SEPAY_HMAC),
              CDS_HOOK_NO_AUTH);
    CHECK_INT(R.n, 0);
    CHECK_INT(sepay_h(SEPAY_BODY, "Apikey " SEPAY_KEY, NULL, SEPAY_TS, SEPAY_NOW, SEPAY_KEY,
                      SEPAY_HMAC),
              CDS_HOOK_NO_AUTH);
    CHECK_INT(sepay_h(SEPAY_BODY, "Apikey " SEPAY_HMAC, NULL, NULL, SEPAY_NOW, NULL, SEPAY_HMAC),
              CDS_HOOK_NO_AUTH);
    /* and both headers, HMAC good: the HMAC decides */
    CHECK_INT(sepay_h(SEPAY_BODY, "Apikey wrong-key-000000000000", SEPAY_SIG, SEPAY_TS, SEPAY_NOW,
                      SEPAY_KEY, SEPAY_HMAC),
              CDS_HOOK_OK);
    /* malformed */
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, SEPAY_SIG, NULL, SEPAY_NOW, NULL, SEPAY_HMAC),
              CDS_HOOK_NO_AUTH);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, SEPAY_SIG, "1679727757.0", SEPAY_NOW, NULL, SEPAY_HMAC),
              CDS_HOOK_NO_AUTH);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, SEPAY_SIG, "-1679727757", SEPAY_NOW, NULL, SEPAY_HMAC),
              CDS_HOOK_NO_AUTH);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, "sha256=abc", SEPAY_TS, SEPAY_NOW, NULL, SEPAY_HMAC),
              CDS_HOOK_NO_AUTH);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, SEPAY_SIG "0", SEPAY_TS, SEPAY_NOW, NULL, SEPAY_HMAC),
              CDS_HOOK_NO_AUTH);
    CHECK_INT(sepay_h(SEPAY_BODY, NULL, NULL, NULL, SEPAY_NOW, NULL, SEPAY_HMAC), CDS_HOOK_NO_AUTH);

    /* content empty: SePay's description stands in; payment code and VA kept */
    CHECK_INT(sepay_key(ST("\"in\"", "150000")), CDS_HOOK_OK);
    CHECK_STR(R.tx[0].description, "MBVCB.1.CDS7M2K9QX4P1");
    CHECK_STR(R.tx[0].code, "CDS7M2K9QX4P1");
    CHECK_STR(R.tx[0].virtual_account, "VQR001");
    CHECK_STR(R.tx[0].bank_name, "MBBank");
    /* outgoing: reported, skipped */
    CHECK_INT(sepay_key(ST("\"out\"", "150000")), CDS_HOOK_OK);
    CHECK_INT(R.n, 1);
    CHECK_INT(R.tx[0].direction, CDS_HOOK_OUT);
    CHECK_INT(R.tx[0].disposition, CDS_HOOK_SKIP_OUTGOING);
    CHECK_INT(sepay_key(ST("\"IN\"", "150000")), CDS_HOOK_BAD_FIELD);
    CHECK_INT(sepay_key(ST("null", "150000")), CDS_HOOK_MISSING_FIELD);
    /* amounts */
    CHECK_INT(sepay_key(ST("\"in\"", "\"150000\"")), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(sepay_key(ST("\"in\"", "-150000")), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(sepay_key(ST("\"out\"", "-150000")), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(sepay_key(ST("\"in\"", "0")), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(sepay_key(ST("\"in\"", "150000.25")), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(sepay_key(ST("\"in\"", "1000000000000")), CDS_HOOK_BAD_AMOUNT);
    CHECK_INT(sepay_key(ST("\"in\"", "999999999999")), CDS_HOOK_OK);
    /* JSON and fields */
    CHECK_INT(sepay_key("{\"id\":5,"), CDS_HOOK_BAD_JSON);
    CHECK_INT(sepay_key("{\"transferType\":\"in\",\"transferAmount\":5000}"),
              CDS_HOOK_MISSING_FIELD);
    CHECK(strstr(R.message, "body.id") != NULL);
    CHECK_INT(sepay_key("{\"id\":5,\"transferType\":\"in\",\"transferAmount\":5000,"
                        "\"accountNumber\":\"1\"}"),
              CDS_HOOK_MISSING_FIELD);
    CHECK(strstr(R.message, "content") != NULL);
}

static void test_codes(void)
{
    CHECK_STR(cds_hook_err_code(CDS_HOOK_OK), "ok");
    CHECK_STR(cds_hook_err_code(CDS_HOOK_BAD_JSON), "bad_json");
    CHECK_STR(cds_hook_err_code(CDS_HOOK_BAD_SIGNATURE), "bad_signature");
    CHECK_STR(cds_hook_err_code(CDS_HOOK_STALE_TIMESTAMP), "stale_timestamp");
    CHECK_STR(cds_hook_err_code(CDS_HOOK_MISSING_FIELD), "missing_field");
    CHECK_STR(cds_hook_err_code(CDS_HOOK_BAD_AMOUNT), "bad_amount");
    CHECK_STR(cds_hook_err_code(-99), "internal");
    CHECK_INT(cds_hook_err_status(CDS_HOOK_OK), 200);
    CHECK_INT(cds_hook_err_status(CDS_HOOK_BAD_SIGNATURE), 401);
    CHECK_INT(cds_hook_err_status(CDS_HOOK_NO_AUTH), 401);
    CHECK_INT(cds_hook_err_status(CDS_HOOK_STALE_TIMESTAMP), 401);
    CHECK_INT(cds_hook_err_status(CDS_HOOK_BAD_AMOUNT), 400);
    CHECK_INT(cds_hook_err_status(CDS_HOOK_TOO_LARGE), 413);
    CHECK_INT(cds_hook_err_status(CDS_HOOK_NOT_CONFIGURED), 500);
    CHECK_STR(cds_hook_answer(CDS_HOOK_PAYOS), "{\"success\":true}");
    CHECK_STR(cds_hook_answer(CDS_HOOK_SEPAY), "{\"success\":true}");
}

/* Transaction times through the adapters: formats, zones, nonsense. */
static void test_times(void)
{
    static const struct {
        const char *text;
        int ok;
        long long epoch;
    } v[] = {
        {"2025-12-12 09:00:00", 1, 1765504800},
        {"2025-12-12T09:00:00+07:00", 1, 1765504800},
        {"2025-12-12T02:00:00Z", 1, 1765504800},
        {"2025-12-12T02:00:00.123Z", 1, 1765504800},
        {"2025-12-12T04:00:00+0200", 1, 1765504800},
        {"2025-12-11T21:00:00-05:00", 1, 1765504800},
        {"2025-12-12 09:00", 1, 1765504800},
        {"2025-12-12", 1, 1765472400},
        {"2024-02-29 00:00:00", 1, 1709139600},
        {"2023-02-29 00:00:00", 0, 0},
        {"2025-13-01 00:00:00", 0, 0},
        {"2025-12-12 24:00:00", 0, 0},
        {"12/12/2025 09:00:00", 0, 0},
        {"2025-12-12 09:00:00 ", 0, 0},
        {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char data[512];
        snprintf(data, sizeof data,
                 "{\"orderCode\":1,\"amount\":5000,\"description\":\"x\",\"accountNumber\":\"1\","
                 "\"code\":\"00\",\"paymentLinkId\":\"p1\",\"transactionDateTime\":\"%s\"}",
                 v[i].text);
        CHECK_INT(payos(data, SDK_KEY), CDS_HOOK_OK);
        CHECK_STR(R.tx[0].time_text, v[i].text);
        CHECK_INT(R.tx[0].time_ok, v[i].ok);
        if (R.tx[0].time_ok != v[i].ok || R.tx[0].time_epoch != v[i].epoch)
            fprintf(stderr, "  time \"%s\"\n", v[i].text);
        CHECK_INT(R.tx[0].time_epoch, v[i].epoch);
    }
}

int main(void)
{
    test_payos_published();
    test_payos_js_rules();
    test_payos_refusals();
    test_casso();
    test_sepay();
    test_codes();
    test_times();
    return t_done();
}
