/* Receipts through the payment path, over real sockets: the citizen opens a
 * payment intent, the provider's signed payOS webhook pays it, and the
 * receipt issued in that transaction is signed, listed, served as JSON and
 * PDF, and its QR code opens a public page saying it is genuine (headless
 * Chromium).
 *
 * Numbering under concurrency: many payOS webhooks at once, spread over
 * two server processes on one database (each with its own signer), some of
 * them delivered twice, pay intents of one agency: its series for the year
 * is then exactly 1..N, one receipt per credited transaction, every one
 * signed. */
#include "payment/webhook.h"
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/partner.h"
#include "tests/lib/t.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROCEDURE "1.009994" /* agency 000.20.01.H29, fee 75,000 */
#define AGENCY "000.20.01.H29"
#define PID_A "079085001234"
#define PAYOS_KEY "test-payos-checksum-key-0001"
#define N_PAID 80
#define THREADS 8

static char *db;
static th_proc srv1, srv2;
static th_login A;
static char account[32];
static char tmpdir[256];

#define count(...) th_db_count(db, __VA_ARGS__)

#define value(...) th_db_valuef(db, __VA_ARGS__)

static char *output(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *output(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p) return strdup("");
    size_t cap = 1 << 20, n = 0, k;
    char *buf = malloc(cap + 1);
    while (buf && (k = fread(buf + n, 1, cap - n, p)) > 0) n += k;
    pclose(p);
    if (buf) buf[n] = 0;
    return buf;
}

/* A counter dossier of A in fee_requested, and its payment intent's reference. */
static void intent(int i, char ref[16])
{
    char code[64], ev[80], path[160];
    snprintf(code, sizeof code, "RW-%d-%d", (int)getpid(), i);
    CHECK_INT(th_partner_import(srv1.url, code, PROCEDURE, PID_A, "Nguyễn Văn An", "0912345678"), 201);
    snprintf(ev, sizeof ev, "%s-fee", code);
    CHECK_INT(th_partner_step(srv1.url, code, ev, "fee_requested", 10, ",\"fee_vnd\":75000"), 200);
    char *id = value("SELECT id FROM dossiers WHERE code = '%s'", code);
    snprintf(path, sizeof path, "%s/v1/dossiers/%s/payment", srv1.url, id ? id : "");
    free(id);
    th_resp r;
    json_t *j = NULL;
    CHECK_INT(th_json(&r, "POST", path, A.access, "{}", (void **)&j), 201);
    th_resp_free(&r);
    const char *s = json_string_value(json_object_get(j, "reference"));
    snprintf(ref, 16, "%s", s ? s : "");
    json_decref(j);
}

/* A signed payOS webhook paying `amount` with `ref` in the description, to `to`. */
static long payos(const th_proc *to, const char *tx, long amount, const char *ref, int order)
{
    char data[1024], sig[65], body[2048], url[256];
    snprintf(data, sizeof data,
             "{\"orderCode\":%d,\"amount\":%ld,\"description\":\"%s\",\"accountNumber\":\"%s\","
             "\"reference\":\"FT%s\",\"transactionDateTime\":\"2026-11-23 10:20:30\","
             "\"currency\":\"VND\",\"paymentLinkId\":\"link-%s\",\"code\":\"00\",\"desc\":\"success\","
             "\"counterAccountBankId\":\"970415\",\"counterAccountBankName\":\"VietinBank\","
             "\"counterAccountName\":\"NGUYEN VAN AN\",\"counterAccountNumber\":\"1012345678\","
             "\"virtualAccountName\":\"\",\"virtualAccountNumber\":\"\"}",
             order, amount, ref, account, tx, tx);
    if (cds_hook_payos_sign(data, strlen(data), PAYOS_KEY, sig) != CDS_HOOK_OK) return 0;
    snprintf(body, sizeof body,
             "{\"code\":\"00\",\"desc\":\"success\",\"success\":true,\"data\":%s,\"signature\":\"%s\"}",
             data, sig);
    snprintf(url, sizeof url, "%s/v1/webhooks/payos", to->url);
    const char *h[] = {"Content-Type: application/json", NULL};
    th_resp r;
    th_http(&r, 1, "POST", url, h, body, strlen(body));
    long st = r.status;
    th_resp_free(&r);
    return st;
}

static int all_signed(void)
{
    for (int i = 0; i < 200; i++) {
        if (count("SELECT count(*) FROM receipts WHERE signature IS NULL") == 0) return 1;
        usleep(50 * 1000);
    }
    return 0;
}

/* ---------------- one fee paid, its receipt ---------------- */

static void test_journey(void)
{
    char ref[16];
    intent(0, ref);
    CHECK_INT(payos(&srv1, "journey-1", 75000, ref, 1), 200);
    char *rid = value("SELECT receipt_id::text FROM bank_transactions WHERE bank_reference = 'FTjourney-1'");
    CHECK(rid != NULL);
    if (!rid) return;
    CHECK(all_signed());
    /* The citizen's list, then the receipt. */
    th_resp r;
    json_t *list = NULL;
    char url[512];
    snprintf(url, sizeof url, "%s/v1/receipts", srv2.url);
    CHECK_INT(th_json(&r, "GET", url, A.access, NULL, (void **)&list), 200);
    th_resp_free(&r);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(list, "items"), 0), "id")), rid);
    json_decref(list);
    json_t *j = NULL;
    snprintf(url, sizeof url, "%s/v1/receipts/%s", srv2.url, rid);
    CHECK_INT(th_json(&r, "GET", url, A.access, NULL, (void **)&j), 200);
    th_resp_free(&r);
    json_t *c = json_object_get(j, "content");
    CHECK_INT(json_integer_value(json_object_get(c, "amount")), 75000);
    CHECK_STR(json_string_value(json_object_get(c, "amount_words")), "Bảy mươi lăm nghìn đồng");
    CHECK_STR(json_string_value(json_object_get(c, "bank_ref")), "FTjourney-1");
    CHECK_STR(json_string_value(json_object_get(c, "fee_name")), "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ");
    CHECK_STR(json_string_value(json_object_get(json_object_get(c, "payer"), "personal_id")), PID_A);
    CHECK_INT(json_integer_value(json_object_get(c, "number")), 1);
    const char *vu = json_string_value(json_object_get(j, "verify_url"));
    char verify[1024];
    snprintf(verify, sizeof verify, "%s", vu ? vu : "");
    json_decref(j);
    /* The PDF: the Vietnamese strings, and its QR code is the link. */
    char auth[2200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", A.access);
    const char *h[] = {auth, NULL};
    snprintf(url, sizeof url, "%s/v1/receipts/%s/pdf", srv1.url, rid);
    th_http(&r, 2, "GET", url, h, NULL, 0);
    CHECK_INT(r.status, 200);
    char pdf[300];
    snprintf(pdf, sizeof pdf, "%s/journey.pdf", tmpdir);
    FILE *f = fopen(pdf, "wb");
    if (f) {
        fwrite(r.body, 1, r.body_len, f);
        fclose(f);
    }
    th_resp_free(&r);
    char *text = output("pdftotext -layout %s - 2>/dev/null", pdf);
    CHECK(strstr(text, "Ủy ban nhân dân Phường Sài Gòn") != NULL);
    CHECK(strstr(text, "Nguyễn Văn An") != NULL);
    CHECK(strstr(text, "Bảy mươi lăm nghìn đồng") != NULL);
    free(text);
    char *qr = output("pdftoppm -r 150 -png -singlefile %s %s/journey >/dev/null 2>&1 && zbarimg --raw -q %s/journey.png 2>/dev/null",
                      pdf, tmpdir, tmpdir);
    size_t n = strlen(qr);
    while (n && (qr[n - 1] == '\n' || qr[n - 1] == '\r')) qr[--n] = 0;
    CHECK_STR(qr, verify);
    /* What a phone shows when it scans it. */
    char profile[] = "/tmp/cds-chromium-XXXXXX";
    if (mkdtemp(profile)) {
        char *dom = output("timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                           "--disable-background-networking --disable-component-update --disable-sync "
                           "--disable-dev-shm-usage --accept-lang=vi-VN,vi --user-data-dir=%s --dump-dom '%s' 2>/dev/null; rm -rf '%s'",
                           profile, qr, profile);
        CHECK(strstr(dom, "Biên lai hợp lệ") != NULL);
        CHECK(strstr(dom, "Nguyễn V. A.") != NULL);
        CHECK(strstr(dom, "Bảy mươi lăm nghìn đồng") != NULL);
        free(dom);
    }
    free(qr);
    /* The same webhook again (a provider's retry): no second receipt. */
    CHECK_INT(payos(&srv2, "journey-1", 75000, ref, 1), 200);
    CHECK_INT(count("SELECT count(*) FROM receipts"), 1);
    free(rid);
}

/* ---------------- many webhooks, two servers, one series ---------------- */

static char refs[N_PAID][16];

static void *sender(void *arg)
{
    long t = (long)arg;
    for (int i = (int)t; i < N_PAID; i += THREADS) {
        char tx[64];
        snprintf(tx, sizeof tx, "cc-%d-%d", (int)getpid(), i);
        const th_proc *to = i % 2 ? &srv2 : &srv1;
        if (payos(to, tx, 75000, refs[i], 1000 + i) != 200) fprintf(stderr, "webhook %d refused\n", i);
        /* every fifth one delivered twice, to the other server */
        if (i % 5 == 0 && payos(i % 2 ? &srv1 : &srv2, tx, 75000, refs[i], 1000 + i) != 200)
            fprintf(stderr, "repeat %d refused\n", i);
    }
    return NULL;
}

static void test_concurrent_webhooks(void)
{
    for (int i = 0; i < N_PAID; i++) intent(i + 1, refs[i]);
    long before = count("SELECT count(*) FROM receipts");
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, sender, (void *)t);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    long total = before + N_PAID;
    CHECK(all_signed()); /* numbered and signed after each commit */
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE provider_tx_id LIKE 'link-cc-%%' AND receipt_id IS NOT NULL"), N_PAID);
    CHECK_INT(count("SELECT count(*) FROM receipts"), total);
    CHECK_INT(count("SELECT count(DISTINCT number) FROM receipts WHERE agency_code = '" AGENCY "'"), total);
    CHECK_INT(count("SELECT min(number) FROM receipts WHERE agency_code = '" AGENCY "'"), 1);
    CHECK_INT(count("SELECT max(number) FROM receipts WHERE agency_code = '" AGENCY "'"), total);
    CHECK_INT(count("SELECT last_number FROM receipt_series WHERE agency_code = '" AGENCY "'"), total);
    CHECK_INT(count("SELECT count(*) FROM payments WHERE status = 'paid'"), total);
    CHECK(all_signed());
    /* Both servers signed some (each has its signer), or one did them all:
     * either way every signature verifies on the public check. */
    CHECK_INT(count("SELECT count(DISTINCT kid) FROM receipts"), 1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    snprintf(tmpdir, sizeof tmpdir, "%s/Testing/receipts_wh_%d", CDS_BUILD_DIR, (int)getpid());
    mkdir(tmpdir, 0700);
    db = th_db_new("receipts_wh");
    const char *names[] = {"vneid", NULL};
    th_sim sim;
    if (th_sim_start(&sim, names, NULL) != 0) return 1;
    static char iss[256], base[96];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    int port = th_free_port();
    snprintf(base, sizeof base, "CDS_PUBLIC_BASE_URL=http://127.0.0.1:%d", port);
    const char *env[] = {iss, base, "CDS_PAYOS_CHECKSUM_KEY=" PAYOS_KEY, "CDS_AUTO_MIGRATE=1",
                         "CDS_RECEIPT_POLL_MS=200", NULL};
    if (th_server_start_on(&srv1, port, db, env) != 0) return 1;
    if (th_server_start(&srv2, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;
    char *acc = value("SELECT account_no FROM payment_accounts WHERE agency_code = '" AGENCY "'");
    snprintf(account, sizeof account, "%s", acc ? acc : "");
    free(acc);
    CHECK_INT(th_login_as(&srv1, PID_A, &A), 200);
    test_journey();
    test_concurrent_webhooks();
    CHECK_INT(th_proc_stop(&srv2, SIGTERM), 0);
    CHECK_INT(th_proc_stop(&srv1, SIGTERM), 0);
    th_sim_stop(&sim);
    curl_global_cleanup();
    return t_done();
}
