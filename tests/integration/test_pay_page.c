/* Paying from the fee SMS (issue 18, part 2), over real sockets: `cds
 * serve` with its database and the catalog, the TTHC system's partner calls
 * (a dossier filed at a counter, then its fee request), a payOS-style
 * webhook for the transfer, and headless Chromium as the citizen's phone.
 *
 *   the page      /lookup/{code}?s= of a dossier in fee_requested shows the
 *                 amount and its breakdown, the VietQR code (inline SVG, the
 *                 CSP unchanged: no script, no image request), the bank
 *                 details, the exact transfer content, the deadline and the
 *                 app link; loading it again shows the same intent (one row);
 *                 every line of a breakdown (online discount, service charge,
 *                 delivery) on another dossier
 *   screenshots   Chromium at phone width (412 px), Vietnamese and English,
 *                 saved to <build>/Testing/pay_page_{vi,en}.png; zbarimg
 *                 reads the QR off each screenshot and the VietQR payload it
 *                 gives decodes (payment/vietqr.h) to the agency's account,
 *                 the amount on the page and the reference on the page
 *   English       Accept-Language: en gives the English page, the JSON's
 *                 texts and the problem details in English, each answer with
 *                 Content-Language and Vary: Accept-Language
 *   paid          after the webhook: "Đã thanh toán" and the receipt's
 *                 public check link, which opens the genuine receipt
 *   app link      /app/dossiers/{id}?s= gives a browser (no app) the
 *                 lookup page; a wrong secret or id is the lookup's 404
 *   bad input     a wrong secret shows nothing and opens no intent
 *
 * Without Chromium (no package) the test says so and exits 77: skipped,
 * never passed. */
#include "payment/vietqr.h"
#include "payment/webhook.h"
#include "tests/lib/harness.h"
#include "tests/lib/partner.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROCEDURE "1.009994"
#define PID_A "079085001234"
#define PAYOS_KEY "test-payos-checksum-key-0001"
#define FEE 200000L
#define SKIP 77

static char *db;
static th_proc srv;
static th_sim sim;
static int seq;

#define value(...) th_db_text(db, __VA_ARGS__)

#define u(...) th_url(&srv, __VA_ARGS__)

/* GET url with Accept-Language `lang` (NULL: none) over HTTP/1.1. */
static long get(th_resp *r, const char *url, const char *lang)
{
    char h[128];
    snprintf(h, sizeof h, "Accept-Language: %s", lang ? lang : "");
    const char *hs[] = {h, NULL};
    if (th_http(r, 1, "GET", url, lang ? hs : NULL, NULL, 0) != 0) return 0;
    return r->status;
}

typedef struct dossier {
    char code[64], id[40], secret[16];
} dossier;

/* A dossier filed at a counter by citizen A, then (after `before_fee`, SQL
 * run on it first when not NULL, "{id}" its id) asked for FEE. */
static void fee_dossier_with(dossier *d, const char *before_fee);
static void fee_dossier(dossier *d)
{
    fee_dossier_with(d, NULL);
}

static void fee_dossier_with(dossier *d, const char *before_fee)
{
    snprintf(d->code, sizeof d->code, "PAYPAGE-%d-%d", (int)getpid(), ++seq);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"ref\":\"T-%s\",\"code\":\"%s\",\"procedure_code\":\"" PROCEDURE "\",\"applicant\":"
             "{\"personal_id\":\"" PID_A
             "\",\"full_name\":\"Nguyễn Văn An\",\"phone\":\"0912345678\"},"
             "\"submitted_at\":\"2026-11-20T08:00:00+07:00\",\"status\":\"received\"}",
             d->code, d->code);
    th_resp r;
    CHECK_INT(th_partner(&r, srv.url, "POST", "/v1/partner/dossiers", body), 201);
    json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
    const char *s = json_string_value(json_object_get(j, "lookup_secret"));
    const char *id = json_string_value(json_object_get(j, "dossier_id"));
    snprintf(d->secret, sizeof d->secret, "%s", s ? s : "");
    snprintf(d->id, sizeof d->id, "%s", id ? id : "");
    CHECK(strlen(d->secret) == 10 && strlen(d->id) == 36);
    json_decref(j);
    th_resp_free(&r);
    if (before_fee) {
        /* {id} in before_fee is the dossier's id. */
        char sql[1024];
        const char *at = strstr(before_fee, "{id}");
        snprintf(sql, sizeof sql, "%.*s%s%s", at ? (int)(at - before_fee) : (int)strlen(before_fee),
                 before_fee, at ? d->id : "", at ? at + 4 : "");
        CHECK_INT(th_db_exec(db, sql), 0);
    }
    char ev[96], ex[64];
    snprintf(ev, sizeof ev, "%s-fee", d->code);
    snprintf(ex, sizeof ex, ",\"fee_vnd\":%ld", FEE);
    CHECK_INT(th_partner_step(srv.url, d->code, ev, "fee_requested", 10, ex), 200);
}

static const char *contains(const char *hay, const char *needle)
{
    const char *p = hay ? strstr(hay, needle) : NULL;
    if (!p) fprintf(stderr, "  (missing: %s)\n", needle);
    return p;
}

/* ---------------- Chromium ---------------- */

static const char *chromium_bin(void)
{
    static const char *names[] = {"chromium", "chromium-browser", "google-chrome"};
    for (size_t i = 0; i < 3; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", names[i]);
        if (system(cmd) == 0) return names[i];
    }
    return NULL;
}

/* Chromium as a phone whose language is `accept` (vi-VN,vi or en-US,en),
 * with `what` on url; its standard output (the DOM with --dump-dom), malloc. */
static char *chromium(const char *bin, const char *accept, const char *what, const char *url)
{
    char profile[] = "/tmp/cds-chromium-XXXXXX";
    if (!mkdtemp(profile)) return NULL;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "timeout 90 %s --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync "
             "--disable-dev-shm-usage --accept-lang=%s --user-data-dir=%s %s '%s' 2>/dev/null",
             bin, accept, profile, what, url);
    FILE *p = popen(cmd, "r");
    char *out = NULL;
    if (p) {
        size_t cap = 1 << 20, n = 0, got;
        out = malloc(cap);
        while (out && (got = fread(out + n, 1, cap - 1 - n, p)) > 0)
            n += got;
        if (out) out[n] = 0;
        int rc = pclose(p);
        if (rc != 0) fprintf(stderr, "chromium exited with %d for %s\n", rc, what);
    }
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", profile);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", profile);
    return out;
}

/* What zbarimg reads off an image (QR codes only), trailing newline cut;
 * malloc, "" when nothing. */
static char *zbar_file(const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "zbarimg --raw -q -Sdisable -Sqrcode.enable '%s' 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    char *out = calloc(1, 4096);
    size_t n = p && out ? fread(out, 1, 4095, p) : 0;
    if (p) pclose(p);
    if (!out) return strdup("");
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = 0;
    return out;
}

static long png_width(const char *path)
{
    unsigned char h[24] = {0};
    FILE *f = fopen(path, "rb");
    if (f) {
        if (fread(h, 1, sizeof h, f) != sizeof h) memset(h, 0, sizeof h);
        fclose(f);
    }
    if (memcmp(h, "\x89PNG", 4) != 0) return -1;
    return (long)h[16] << 24 | (long)h[17] << 16 | (long)h[18] << 8 | h[19];
}

/* ---------------- the page ---------------- */

static dossier d1;
static char ref1[32], account[32], bin[8];
static long amount1;

static void test_page_http(void)
{
    fee_dossier(&d1);
    th_resp r;
    CHECK_INT(get(&r, u("/lookup/%s?s=%s", d1.code, d1.secret), "vi-VN,vi;q=0.9,en;q=0.5"), 200);
    const char *b = r.body;
    CHECK_STR(th_resp_header(&r, "content-language"), "vi");
    CHECK_STR(th_resp_header(&r, "vary"), "accept-language");
    /* The CSP of the lookup page, unchanged: nothing loads, nothing runs. */
    const char *csp = th_resp_header(&r, "content-security-policy");
    CHECK(csp && strncmp(csp, "default-src 'none';", 19) == 0 && !strstr(csp, "script") &&
          !strstr(csp, "img-src"));
    CHECK(contains(b, "id=\"pay\""));
    CHECK(contains(b, "Chờ nộp phí"));
    CHECK(contains(b, "Nộp phí, lệ phí"));
    CHECK(contains(b, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    CHECK(b && !strstr(b, "<script") && !strstr(b, "<img") && !strstr(b, "<?xml"));
    /* The intent the page opened: one row, its numbers on the page. */
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM payments WHERE dossier_id = '%s'", d1.id), 1);
    char *ref = value("SELECT reference FROM payments WHERE dossier_id = '%s'", d1.id);
    char *amt = value("SELECT amount_vnd FROM payments WHERE dossier_id = '%s'", d1.id);
    char *svc = value(
        "SELECT (breakdown->>'service_charge_vnd') FROM payments WHERE dossier_id = '%s'", d1.id);
    char *acct =
        value("SELECT account_no || '|' || bank_bin || '|' || bank_name || '|' || account_name"
              " FROM payments WHERE dossier_id = '%s'",
              d1.id);
    snprintf(ref1, sizeof ref1, "%s", ref);
    amount1 = strtol(amt, NULL, 10);
    CHECK(amount1 == FEE + strtol(svc, NULL, 10));
    char *bar = strchr(acct, '|');
    if (bar) {
        snprintf(account, sizeof account, "%.*s", (int)(bar - acct), acct);
        snprintf(bin, sizeof bin, "%.6s", bar + 1);
    }
    char want[256];
    /* Amount to pay, the breakdown's fee, the total, the transfer amount. */
    char grouped[32];
    snprintf(grouped, sizeof grouped, "%ld.%03ld", amount1 / 1000, amount1 % 1000);
    snprintf(want, sizeof want, "data-vnd=\"%ld\">%s đ</strong>", amount1, grouped);
    CHECK(contains(b, want));
    CHECK(contains(b, "<dd id=\"fee\">200.000 đ</dd>"));
    snprintf(want, sizeof want, "<dd class=\"total\" id=\"total\">%s đ</dd>", grouped);
    CHECK(contains(b, want));
    snprintf(want, sizeof want, "id=\"transfer-content\" class=\"copy\">%s</dd>", ref1);
    CHECK(contains(b, want));
    snprintf(want, sizeof want, "id=\"account-no\" class=\"copy\">%s</dd>", account);
    CHECK(contains(b, want));
    CHECK(contains(b, "id=\"deadline\"><time datetime=\"20"));
    CHECK(contains(b, "Ngân hàng</dt><dd id=\"bank-name\">"));
    CHECK(contains(b, "Chủ tài khoản</dt><dd id=\"account-name\">"));
    /* No online discount for a counter dossier, no delivery asked. */
    CHECK(b && !strstr(b, "id=\"discount\"") && !strstr(b, "id=\"delivery\""));
    snprintf(want, sizeof want, "href=\"%s/app/dossiers/%s?s=%s\"", srv.url, d1.id, d1.secret);
    CHECK(contains(b, want));
    th_resp_free(&r);
    /* Loading again: the same intent. */
    CHECK_INT(get(&r, u("/lookup/%s?s=%s", d1.code, d1.secret), NULL), 200);
    CHECK(contains(r.body, ref1));
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM payments WHERE dossier_id = '%s'", d1.id), 1);
    free(ref);
    free(amt);
    free(svc);
    free(acct);
}

/* Every line of the breakdown: a dossier filed online (50 % off), with
 * the result posted (delivery fee paid now), at an agency with a service
 * charge: 200,000 - 100,000 + 5,000 + 30,000 = 135,000. */
static void test_breakdown(void)
{
    CHECK_INT(th_db_exec(
                  db, "UPDATE procedures SET online_discount_pct = 50 WHERE code = '" PROCEDURE "';"
                      "UPDATE payment_accounts SET service_charge_vnd = 5000 WHERE agency_code = "
                      "(SELECT agency_code FROM procedures WHERE code = '" PROCEDURE "')"),
              0);
    dossier d;
    fee_dossier_with(&d, "UPDATE dossiers SET channel = 'online', delivery = "
                         "'{\"method\":\"post\",\"fee_vnd\":30000}' WHERE id = '{id}'");
    th_resp r;
    CHECK_INT(get(&r, u("/lookup/%s?s=%s", d.code, d.secret), "vi"), 200);
    CHECK(contains(r.body, "data-vnd=\"135000\">135.000 đ</strong>"));
    CHECK(contains(r.body, "<dd id=\"fee\">200.000 đ</dd>"));
    CHECK(contains(r.body, "Giảm 50% khi nộp trực tuyến</dt><dd id=\"discount\">−100.000 đ</dd>"));
    CHECK(contains(r.body, "Phí dịch vụ</dt><dd id=\"service\">5.000 đ</dd>"));
    CHECK(contains(r.body, "Phí chuyển phát kết quả</dt><dd id=\"delivery\">30.000 đ</dd>"));
    CHECK(contains(r.body, "<dd class=\"total\" id=\"total\">135.000 đ</dd>"));
    th_resp_free(&r);
    CHECK_INT(get(&r, u("/lookup/%s?s=%s", d.code, d.secret), "en"), 200);
    CHECK(contains(r.body, "50% off for filing online</dt><dd id=\"discount\">−VND 100,000</dd>"));
    CHECK(contains(r.body, "Delivery of the result</dt><dd id=\"delivery\">VND 30,000</dd>"));
    CHECK(contains(r.body, "data-vnd=\"135000\">VND 135,000</strong>"));
    th_resp_free(&r);
    CHECK_INT(
        th_db_exec(db, "UPDATE procedures SET online_discount_pct = 0 WHERE code = '" PROCEDURE "';"
                       "UPDATE payment_accounts SET service_charge_vnd = 0"),
        0);
}

static void test_english(void)
{
    th_resp r;
    CHECK_INT(get(&r, u("/lookup/%s?s=%s", d1.code, d1.secret), "en-US,en;q=0.9,vi;q=0.8"), 200);
    CHECK_STR(th_resp_header(&r, "content-language"), "en");
    CHECK_STR(th_resp_header(&r, "vary"), "accept-language");
    CHECK(contains(r.body, "<html lang=\"en\">"));
    CHECK(contains(r.body, "Pay the fee"));
    CHECK(contains(r.body, "Waiting for the fee"));
    CHECK(contains(r.body, "<dd id=\"fee\">VND 200,000</dd>"));
    CHECK(contains(r.body, "Open in the Công dân số app"));
    CHECK(contains(r.body, ref1));
    th_resp_free(&r);
    /* q-values decide: English refused. */
    CHECK_INT(get(&r, u("/lookup/%s?s=%s", d1.code, d1.secret), "en;q=0, *"), 200);
    CHECK_STR(th_resp_header(&r, "content-language"), "vi");
    CHECK(contains(r.body, "Nộp phí, lệ phí"));
    th_resp_free(&r);
    /* The JSON lookup's texts. */
    CHECK_INT(get(&r, u("/v1/lookup/%s?secret=%s", d1.code, d1.secret), "en"), 200);
    CHECK(contains(r.body, "\"status_text\":\"Waiting for the fee\""));
    CHECK_STR(th_resp_header(&r, "content-language"), "en");
    th_resp_free(&r);
    /* A problem in English, one in Vietnamese. */
    CHECK_INT(get(&r, u("/v1/lookup/%s?secret=%s", d1.code, "WRONGWRONG"), "en-GB"), 404);
    CHECK_STR(th_resp_header(&r, "content-type"), "application/problem+json");
    CHECK_STR(th_resp_header(&r, "content-language"), "en");
    CHECK_STR(th_resp_header(&r, "vary"), "accept-language");
    CHECK(contains(r.body, "\"detail\":\"Dossier not found, or the lookup code is wrong."));
    th_resp_free(&r);
    CHECK_INT(get(&r, u("/v1/no-such-route"), "en"), 404);
    CHECK(contains(r.body, "The requested path was not found."));
    th_resp_free(&r);
    CHECK_INT(get(&r, u("/v1/no-such-route"), NULL), 404);
    CHECK_STR(th_resp_header(&r, "content-language"), "vi");
    CHECK(contains(r.body, "Không tìm thấy đường dẫn"));
    th_resp_free(&r);
    /* An answer without language-dependent text says none. */
    CHECK_INT(get(&r, u("/healthz"), "en"), 200);
    CHECK(th_resp_header(&r, "content-language") == NULL);
    th_resp_free(&r);
}

/* A screenshot of the page as `accept` asks, at phone width, and the QR on
 * it read back. */
static void screenshot(const char *bin_name, const char *accept, const char *tag, const char *text)
{
    char shot[512], what[700];
    snprintf(shot, sizeof shot, "%s/Testing/pay_page_%s.png", CDS_BUILD_DIR, tag);
    unlink(shot);
    /* 412 px wide (a common phone); tall enough to hold the whole card. */
    snprintf(what, sizeof what, "--screenshot=%s --window-size=412,2200 --hide-scrollbars", shot);
    const char *url = u("/lookup/%s?s=%s", d1.code, d1.secret);
    free(chromium(bin_name, accept, what, url));
    struct stat st;
    CHECK(stat(shot, &st) == 0 && st.st_size > 20 * 1024);
    CHECK_INT(png_width(shot), 412);
    char *scanned = zbar_file(shot);
    if (!*scanned) fprintf(stderr, "FAIL: no QR code read from %s\n", shot);
    cds_vietqr_decoded dq;
    int ok = cds_vietqr_decode(scanned, strlen(scanned), &dq, NULL) == 0;
    CHECK(ok);
    if (ok) {
        CHECK_INT((long)dq.q.amount, amount1);
        CHECK_STR(dq.q.purpose, ref1);
        CHECK_STR(dq.q.account, account);
        CHECK_STR(dq.q.bin, bin);
    }
    char amt[24];
    snprintf(amt, sizeof amt, "54%02d%ld", (int)snprintf(NULL, 0, "%ld", amount1), amount1);
    CHECK(contains(scanned, amt));
    CHECK(contains(scanned, ref1));
    /* The DOM Chromium rendered: the amount and the page's language. */
    char *dom = chromium(bin_name, accept, "--dump-dom", url);
    CHECK(contains(dom, text));
    free(dom);
    fprintf(stderr, "pay page screenshot (%s): %s (%lld bytes), QR: %s\n", tag, shot,
            (long long)st.st_size, scanned);
    free(scanned);
}

static int test_chromium(void)
{
    const char *b = chromium_bin();
    if (!b) {
        fprintf(stderr, "SKIP: chromium not found: install the Debian package `chromium` "
                        "(scripts/bootstrap) to test the pay page in a browser\n");
        return SKIP;
    }
    char vi[64], en[64];
    snprintf(vi, sizeof vi, "%ld.%03ld đ", amount1 / 1000, amount1 % 1000);
    snprintf(en, sizeof en, "VND %ld,%03ld", amount1 / 1000, amount1 % 1000);
    screenshot(b, "vi-VN,vi", "vi", vi);
    screenshot(b, "en-US,en", "en", en);
    return 0;
}

/* ---------------- paid ---------------- */

static long payos(long amount, const char *description)
{
    char data[1024], sig[65], body[2048];
    int n = ++seq;
    snprintf(
        data, sizeof data,
        "{\"orderCode\":%d,\"amount\":%ld,\"description\":\"%s\",\"accountNumber\":\"%s\","
        "\"reference\":\"FT%d%d\",\"transactionDateTime\":\"2026-11-23 10:20:30\","
        "\"currency\":\"VND\",\"paymentLinkId\":\"link-%d\",\"code\":\"00\",\"desc\":\"success\","
        "\"counterAccountBankId\":\"970415\",\"counterAccountBankName\":\"VietinBank\","
        "\"counterAccountName\":\"NGUYEN VAN AN\",\"counterAccountNumber\":\"1012345678\","
        "\"virtualAccountName\":\"\",\"virtualAccountNumber\":\"\"}",
        n, amount, description, account, (int)getpid(), n, n);
    if (cds_hook_payos_sign(data, strlen(data), PAYOS_KEY, sig) != CDS_HOOK_OK) return -1;
    snprintf(
        body, sizeof body,
        "{\"code\":\"00\",\"desc\":\"success\",\"success\":true,\"data\":%s,\"signature\":\"%s\"}",
        data, sig);
    const char *h[] = {"Content-Type: application/json", NULL};
    th_resp r;
    th_http(&r, 1, "POST", u("/v1/webhooks/payos"), h, body, strlen(body));
    long st = r.status;
    th_resp_free(&r);
    return st;
}

static void test_paid(const char *chromium_name)
{
    char desc[96];
    snprintf(desc, sizeof desc, "NGUYEN VAN AN chuyen tien %s", ref1);
    CHECK_INT(payos(amount1, desc), 200);
    char *st = value("SELECT status FROM dossiers WHERE id = '%s'", d1.id);
    CHECK_STR(st, "paid");
    free(st);
    /* The receipt is numbered and signed right after the payment commits. */
    th_resp r = {0};
    const char *link = NULL;
    for (int i = 0; i < 100 && !link; i++) {
        if (i) {
            th_resp_free(&r);
            usleep(100 * 1000);
        }
        CHECK(get(&r, u("/lookup/%s?s=%s", d1.code, d1.secret), "vi") == 200);
        link = r.body ? strstr(r.body, "id=\"receipt-link\" href=\"") : NULL;
    }
    CHECK(contains(r.body, "Đã thanh toán"));
    char want[96];
    snprintf(want, sizeof want, "%ld.%03ld đ</strong>", amount1 / 1000, amount1 % 1000);
    CHECK(contains(r.body, want));
    CHECK(r.body && !strstr(r.body, "id=\"vietqr\"")); /* no code to pay again */
    CHECK(link != NULL);
    char path[512] = "";
    if (link) {
        link += strlen("id=\"receipt-link\" href=\"");
        const char *end = strchr(link, '"');
        snprintf(path, sizeof path, "%.*s", end ? (int)(end - link) : 0, link);
    }
    th_resp_free(&r);
    CHECK(strncmp(path, "/r/", 3) == 0);
    /* The link as a browser follows it: the HTML escapes & as &amp;. */
    char href[512];
    size_t o = 0;
    for (const char *p = path; *p && o + 1 < sizeof href; p++) {
        href[o++] = *p;
        if (strncmp(p, "&amp;", 5) == 0) p += 4;
    }
    href[o] = 0;
    CHECK_INT(get(&r, u("%s", href), "vi"), 200);
    CHECK(contains(r.body, "Biên lai hợp lệ"));
    CHECK(contains(r.body, d1.code));
    th_resp_free(&r);
    CHECK_INT(get(&r, u("%s", href), "en"), 200);
    CHECK(contains(r.body, "Genuine receipt"));
    CHECK_STR(th_resp_header(&r, "content-language"), "en");
    th_resp_free(&r);
    CHECK_INT(get(&r, u("/lookup/%s?s=%s", d1.code, d1.secret), "en"), 200);
    CHECK(contains(r.body, "id=\"paid-status\">Paid</span>"));
    CHECK(contains(r.body, "Check e-receipt no."));
    th_resp_free(&r);
    if (chromium_name) {
        char *dom = chromium(chromium_name, "vi-VN,vi", "--dump-dom",
                             u("/lookup/%s?s=%s", d1.code, d1.secret));
        CHECK(contains(dom, "Đã thanh toán"));
        CHECK(contains(dom, "Kiểm tra biên lai điện tử số"));
        free(dom);
        char shot[512], what[700];
        snprintf(shot, sizeof shot, "%s/Testing/pay_page_paid_vi.png", CDS_BUILD_DIR);
        snprintf(what, sizeof what, "--screenshot=%s --window-size=412,915 --hide-scrollbars",
                 shot);
        free(chromium(chromium_name, "vi-VN,vi", what, u("/lookup/%s?s=%s", d1.code, d1.secret)));
        CHECK_INT(png_width(shot), 412);
    }
}

/* ---------------- app link, bad input ---------------- */

static void test_app_link(void)
{
    th_resp r;
    CHECK_INT(get(&r, u("/app/dossiers/%s?s=%s", d1.id, d1.secret), NULL), 200);
    CHECK(contains(r.body, d1.code));
    CHECK(contains(r.body, "Đã thanh toán"));
    CHECK_STR(th_resp_header(&r, "referrer-policy"), "no-referrer");
    CHECK_STR(th_resp_header(&r, "cache-control"), "no-store");
    th_resp_free(&r);
    /* Upper-case id: the same dossier. */
    char upper[40];
    snprintf(upper, sizeof upper, "%s", d1.id);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    CHECK_INT(get(&r, u("/app/dossiers/%s?s=%s", upper, d1.secret), "en"), 200);
    CHECK(contains(r.body, "Paid"));
    th_resp_free(&r);
    /* A wrong secret, no secret, a malformed or unknown id: the lookup's 404 page. */
    CHECK_INT(get(&r, u("/app/dossiers/%s?s=%s", d1.id, "ABCDEFGHJK"), NULL), 404);
    CHECK(contains(r.body, "Không tìm thấy hồ sơ"));
    CHECK(th_resp_header(&r, "location") == NULL);
    th_resp_free(&r);
    CHECK_INT(get(&r, u("/app/dossiers/%s", d1.id), "en"), 404);
    CHECK(contains(r.body, "Dossier not found"));
    th_resp_free(&r);
    CHECK_INT(get(&r, u("/app/dossiers/not-a-uuid?s=%s", d1.secret), NULL), 404);
    th_resp_free(&r);
    CHECK_INT(
        get(&r, u("/app/dossiers/00000000-0000-4000-8000-000000000000?s=%s", d1.secret), NULL),
        404);
    th_resp_free(&r);
}

static void test_bad_input(void)
{
    dossier d2;
    fee_dossier(&d2);
    th_resp r;
    CHECK_INT(get(&r, u("/lookup/%s?s=%s", d2.code, "ABCDEFGHJK"), NULL), 404);
    CHECK(r.body && !strstr(r.body, "id=\"pay\""));
    th_resp_free(&r);
    CHECK_INT(get(&r, u("/lookup/%s?s=%s", d2.code, d1.secret), NULL), 404);
    th_resp_free(&r);
    /* Nothing was opened for it. */
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM payments WHERE dossier_id = '%s'", d2.id), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    mkdir(CDS_BUILD_DIR "/Testing", 0755);
    db = th_db_new("pay_page");
    const char *names[] = {"vneid", NULL};
    if (th_sim_start(&sim, names, NULL) != 0) return 1;
    static char iss[256], base[128];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    int port = th_free_port();
    snprintf(base, sizeof base, "CDS_PUBLIC_BASE_URL=http://127.0.0.1:%d", port);
    const char *env[] = {iss,
                         base,
                         "CDS_PAYOS_CHECKSUM_KEY=" PAYOS_KEY,
                         "CDS_AUTO_MIGRATE=1",
                         "CDS_LOOKUP_BURST=1000",
                         "CDS_LOOKUP_PER_MINUTE=60000",
                         NULL};
    if (th_server_start_on(&srv, port, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;

    test_page_http();
    test_breakdown();
    test_english();
    int skipped = test_chromium();
    test_paid(skipped ? NULL : chromium_bin());
    test_app_link();
    test_bad_input();

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&sim);
    int rc = t_done();
    return rc == 0 && skipped ? SKIP : rc;
}
