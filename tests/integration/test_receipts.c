/* E-receipts end to end over real sockets and a real PostgreSQL: receipts
 * issued by cds_receipt_issue in the transaction that records a credit
 * (here a test function standing in for the payment functions: it inserts
 * the bank transaction and issues in one transaction, as they do), signed
 * by the server's signer right after commit, read by their owner as JSON,
 * export and PDF (pdftotext, pdftoppm + zbarimg), checked in public (JSON
 * and the page in headless Chromium), corrected through the partner route
 * and the CLI, exported daily; and every bad input of the issue: another
 * citizen's receipt, a tampered link (signature, number), a receipt altered
 * in the database, replacing a replaced receipt, an invalid export range,
 * each checked to change nothing. Numbering: concurrent issuers across many
 * connections with rollbacks mixed in leave the series exactly 1..N; a
 * signer that was down signs what was issued meanwhile. */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/partner.h"
#include "tests/lib/t.h"
#include "core/hmac_auth.h"

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PID_A "079085001234"
#define PID_B "079192004567"

static th_proc srv;
static char *db;
static th_login A, B;
static char tmpdir[256];
static int port;         /* of the signing server, kept across its restart */
static char base[64];    /* CDS_PUBLIC_BASE_URL=... its address */
static char payment_a[64], payment_b[64]; /* payment intents of A's and B's dossiers */

#define count(...) th_db_count(db, __VA_ARGS__)

#define u(...) th_url(&srv, __VA_ARGS__)

#define value(...) th_db_valuef(db, __VA_ARGS__)

static json_t *get_json(const char *access, const char *url, long *status)
{
    th_resp r;
    json_t *j = NULL;
    *status = th_json(&r, "GET", url, access, NULL, (void **)&j);
    th_resp_free(&r);
    return j;
}

static const char *code_of(json_t *j)
{
    const char *c = json_string_value(json_object_get(j, "code"));
    return c ? c : "";
}

/* A signed partner call with an optional Idempotency-Key. */
static long partner(th_resp *out, const char *method, const char *path, const char *body, const char *key)
{
    size_t blen = body ? strlen(body) : 0;
    long long ts = (long long)time(NULL);
    char sig[65], url[1024], h_id[64], h_ts[64], h_sig[96], h_key[300];
    cds_hmac_sign(TH_PARTNER_SECRET, method, path, ts, body ? body : "", blen, sig);
    snprintf(url, sizeof url, "%s%s", srv.url, path);
    snprintf(h_id, sizeof h_id, "X-Client-Id: %s", TH_PARTNER_CLIENT);
    snprintf(h_ts, sizeof h_ts, "X-Timestamp: %lld", ts);
    snprintf(h_sig, sizeof h_sig, "X-Signature: %s", sig);
    snprintf(h_key, sizeof h_key, "Idempotency-Key: %s", key ? key : "");
    const char *h[] = {h_id, h_ts, h_sig, "Content-Type: application/json", key ? h_key : NULL, NULL};
    if (th_http(out, 2, method, url, h, body, blen) != 0) return 0;
    return out->status;
}

/* What a test may compare before and after a refusal: every receipt, every
 * series counter, the audit log. */
static char *state(void)
{
    return value("SELECT md5(COALESCE((SELECT string_agg(r::text, '|' ORDER BY id) FROM receipts r), '')"
                 " || COALESCE((SELECT string_agg(s::text, '|' ORDER BY agency_code, year) FROM receipt_series s), '')"
                 " || (SELECT count(*) FROM audit_log)::text)");
}

/* Pays `amount` on intent `payment` (a matched credit) and returns the
 * receipt id (malloc) the issue function gave. */
static char *pay(const char *payment, long amount)
{
    static int n;
    return value("SELECT test_pay('%s', %ld, 'tx-%d-%d')::text", payment, amount, (int)getpid(), ++n);
}

static int wait_signed(const char *id)
{
    for (int i = 0; i < 100; i++) {
        if (count("SELECT count(*) FROM receipts WHERE id = '%s' AND signature IS NOT NULL", id) == 1) return 1;
        usleep(50 * 1000);
    }
    return 0;
}

/* A dossier of `pid` for a procedure with a fee, and a payment intent on it. */
static void make_intent(const char *pid, const char *code, char out[64])
{
    char *proc = value("SELECT code FROM procedures WHERE fee_vnd > 0 AND agency_code = '000.20.01.H29' ORDER BY code LIMIT 1");
    CHECK(proc != NULL);
    CHECK_INT(th_partner_import(srv.url, code, proc ? proc : "", pid, "Người nộp", "0912345678"), 201);
    free(proc);
    static int ref;
    char *id = value(
        "INSERT INTO payments (dossier_id, citizen_id, agency_code, request_event_id, reference,"
        " bank_bin, bank_name, account_no, account_name, breakdown, amount_vnd, expires_at)"
        " SELECT d.id, d.citizen_id, p.agency_code, (SELECT max(id) FROM dossier_events e WHERE e.dossier_id = d.id),"
        " 'CDS00000000%02d', '970403', 'Sacombank', '0011012345678', 'UBND PHUONG SAI GON', '{}', 150000,"
        " now() + interval '7 days'"
        " FROM dossiers d JOIN procedures p ON p.code = d.procedure_code WHERE d.code = '%s'"
        " RETURNING id::text",
        ++ref, code);
    CHECK(id != NULL);
    snprintf(out, 64, "%s", id ? id : "");
    free(id);
}

static void setup_sql(void)
{
    CHECK_INT(th_db_exec(db,
        "CREATE FUNCTION test_pay(p_payment uuid, p_amount bigint, p_tx text) RETURNS uuid"
        " LANGUAGE plpgsql AS $$ DECLARE v bigint; r uuid; BEGIN"
        "  INSERT INTO bank_transactions (provider, provider_tx_id, amount_vnd, transacted_at,"
        "   bank_reference, payment_id, applied_vnd, match_status)"
        "  VALUES ('payos', p_tx, p_amount, now() - interval '5 seconds', 'FT' || p_tx, p_payment, p_amount, 'matched')"
        "  RETURNING id INTO v;"
        "  r := cds_receipt_issue(v);"
        "  UPDATE bank_transactions SET receipt_id = r WHERE id = v;"
        "  RETURN r; END $$"), 0);
}

/* ---------------- issue, sign, read ---------------- */

static char rid[64];          /* A's first receipt */
static char verify_url[1024]; /* its QR link */

static void test_issue_and_read(void)
{
    char *id = pay(payment_a, 150000);
    CHECK(id != NULL);
    snprintf(rid, sizeof rid, "%s", id ? id : "");
    free(id);
    CHECK(wait_signed(rid));
    CHECK_INT(count("SELECT number FROM receipts WHERE id = '%s'", rid), 1);
    CHECK_INT(count("SELECT count(*) FROM bank_transactions WHERE receipt_id = '%s'", rid), 1);
    /* The same transaction again issues nothing new. */
    char *again = value("SELECT cds_receipt_issue(id)::text FROM bank_transactions WHERE receipt_id = '%s'", rid);
    CHECK_STR(again, rid);
    free(again);
    CHECK_INT(count("SELECT count(*) FROM receipts"), 1);

    long st;
    json_t *j = get_json(A.access, u("/v1/receipts/%s", rid), &st);
    CHECK_INT(st, 200);
    json_t *c = json_object_get(j, "content");
    CHECK_STR(json_string_value(json_object_get(j, "state")), "issued");
    CHECK_STR(json_string_value(json_object_get(j, "status")), "valid");
    CHECK_STR(json_string_value(json_object_get(json_object_get(c, "payer"), "personal_id")), PID_A);
    CHECK_STR(json_string_value(json_object_get(json_object_get(c, "payer"), "name")), "Nguyễn Văn An");
    CHECK_STR(json_string_value(json_object_get(json_object_get(c, "issuer"), "agency_name")), "Ủy ban nhân dân Phường Sài Gòn");
    CHECK_STR(json_string_value(json_object_get(json_object_get(c, "issuer"), "tax_code")), "0301234509");
    CHECK_STR(json_string_value(json_object_get(c, "amount_words")), "Một trăm năm mươi nghìn đồng");
    CHECK_INT(json_integer_value(json_object_get(c, "amount")), 150000);
    CHECK_STR(json_string_value(json_object_get(c, "payment_method")), "Chuyển khoản VietQR");
    CHECK_STR(json_string_value(json_object_get(c, "template_no")), "01BLP0-001");
    CHECK_STR(json_string_value(json_object_get(c, "serial")), "000.20.01.H29");
    CHECK_STR(json_string_value(json_object_get(c, "dossier_code")), "RC-A-0001");
    CHECK(strncmp(json_string_value(json_object_get(c, "bank_ref")) ? json_string_value(json_object_get(c, "bank_ref")) : "", "FTtx-", 5) == 0);
    CHECK_INT(json_integer_value(json_object_get(c, "number")), 1);
    const char *url = json_string_value(json_object_get(j, "verify_url"));
    CHECK(url && strstr(url, "/r/") && strstr(url, "?n=00000001&s="));
    snprintf(verify_url, sizeof verify_url, "%s", url ? url : "");
    json_decref(j);

    /* The signer's counters, on the admin listener. */
    th_resp m;
    char murl[128];
    snprintf(murl, sizeof murl, "%s/metrics", srv.admin_url);
    th_http(&m, 2, "GET", murl, NULL, NULL, 0);
    CHECK(m.body && strstr(m.body, "cds_receipts_signed_total 1") != NULL);
    CHECK(m.body && strstr(m.body, "cds_receipts_numbered_total 1") != NULL);
    th_resp_free(&m);

    /* Another citizen's receipt id: 404 as an unknown one, nothing changed. */
    char *before = state();
    j = get_json(B.access, u("/v1/receipts/%s", rid), &st);
    CHECK_INT(st, 404);
    CHECK_STR(code_of(j), "receipt_not_found");
    json_decref(j);
    j = get_json(B.access, u("/v1/receipts/%s/pdf", rid), &st);
    CHECK_INT(st, 404);
    json_decref(j);
    j = get_json(B.access, u("/v1/receipts/%s/export", rid), &st);
    CHECK_INT(st, 404);
    json_decref(j);
    j = get_json(NULL, u("/v1/receipts/%s", rid), &st);
    CHECK_INT(st, 401);
    json_decref(j);
    char *after = state();
    CHECK_STR(after, before);
    free(before);
    free(after);
}

static void test_list(void)
{
    for (int i = 0; i < 3; i++) {
        char *id = pay(payment_a, 20000 + i);
        CHECK(id && wait_signed(id));
        free(id);
    }
    long st;
    json_t *p1 = get_json(A.access, u("/v1/receipts?limit=3"), &st);
    CHECK_INT(st, 200);
    CHECK_INT(json_array_size(json_object_get(p1, "items")), 3);
    const char *cur = json_string_value(json_object_get(p1, "next_cursor"));
    CHECK(cur != NULL);
    json_t *p2 = get_json(A.access, u("/v1/receipts?limit=3&cursor=%s", cur ? cur : ""), &st);
    CHECK_INT(st, 200);
    CHECK_INT(json_array_size(json_object_get(p2, "items")), 1);
    CHECK(json_is_null(json_object_get(p2, "next_cursor")));
    /* Four distinct receipts over the two pages, the first one among them. */
    CHECK_INT(count("SELECT count(*) FROM receipts WHERE citizen_id = (SELECT citizen_id FROM receipts WHERE id = '%s')", rid), 4);
    int seen_first = 0;
    json_t *pages[2] = {p1, p2};
    for (int pg = 0; pg < 2; pg++)
        for (size_t i = 0; i < json_array_size(json_object_get(pages[pg], "items")); i++) {
            const char *id = json_string_value(json_object_get(json_array_get(json_object_get(pages[pg], "items"), i), "id"));
            seen_first += id && strcmp(id, rid) == 0;
            for (size_t k = 0; pg == 1 && k < 3; k++) {
                const char *other = json_string_value(json_object_get(json_array_get(json_object_get(p1, "items"), k), "id"));
                CHECK(strcmp(id ? id : "", other ? other : "") != 0);
            }
        }
    CHECK_INT(seen_first, 1);
    json_decref(p2);
    json_decref(p1);
    json_t *pb = get_json(B.access, u("/v1/receipts"), &st);
    CHECK_INT(st, 200);
    CHECK_INT(json_array_size(json_object_get(pb, "items")), 0);
    json_decref(pb);
    json_t *bad = get_json(A.access, u("/v1/receipts?cursor=AAAA"), &st);
    CHECK_INT(st, 400);
    CHECK_STR(code_of(bad), "invalid_cursor");
    json_decref(bad);
}

/* ---------------- offline verification of the export ---------------- */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The whole output of a command (malloc). */
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
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n, p)) > 0) n += k;
    pclose(p);
    if (buf) buf[n] = 0;
    return buf;
}

/* The DOM of url as headless Chromium renders it (malloc), with a fresh
 * profile each time. */
static char *chromium_dom(const char *url)
{
    char profile[] = "/tmp/cds-chromium-XXXXXX";
    if (!mkdtemp(profile)) return strdup("");
    char *dom = output("timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                       "--disable-background-networking --disable-component-update --disable-sync "
                       "--disable-dev-shm-usage --accept-lang=vi-VN,vi --user-data-dir=%s --dump-dom '%s' 2>/dev/null", profile, url);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", profile);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", profile);
    if (!*dom) fprintf(stderr, "chromium produced no DOM for %s\n", url);
    return dom;
}

static void save(const char *path, const char *body, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(body, 1, len, f);
        fclose(f);
    }
}

static void test_export_offline(void)
{
    th_resp r;
    char auth[2200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", A.access);
    const char *h[] = {auth, NULL};
    th_http(&r, 2, "GET", u("/v1/receipts/%s/export", rid), h, NULL, 0);
    CHECK_INT(r.status, 200);
    char exp[300], pub[300], bad[300];
    snprintf(exp, sizeof exp, "%s/export.json", tmpdir);
    snprintf(pub, sizeof pub, "%s/pub.pem", tmpdir);
    snprintf(bad, sizeof bad, "%s/export-bad.json", tmpdir);
    save(exp, r.body, r.body_len);
    json_t *doc = json_loads(r.body, 0, NULL);
    const char *kid = json_string_value(json_object_get(json_object_get(doc, "signature"), "kid"));
    th_resp_free(&r);
    /* The agency's public key, by the kid the receipt names. */
    th_http(&r, 2, "GET", u("/v1/receipt-keys/%s", kid ? kid : "x"), NULL, NULL, 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "BEGIN PUBLIC KEY") != NULL);
    save(pub, r.body, r.body_len);
    th_resp_free(&r);
    CHECK_INT(run("%s/cds receipt verify --file %s --pubkey %s >/dev/null", CDS_BUILD_DIR, exp, pub), 0);
    /* The same export with the amount changed is not genuine. */
    json_object_set_new(json_object_get(doc, "content"), "amount", json_integer(1150000));
    json_object_set_new(json_object_get(doc, "content"), "amount_words",
                        json_string("Một triệu một trăm năm mươi nghìn đồng"));
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    save(bad, s, strlen(s));
    free(s);
    json_decref(doc);
    CHECK_INT(run("%s/cds receipt verify --file %s --pubkey %s >/dev/null 2>&1", CDS_BUILD_DIR, bad, pub), 1);
}

/* ---------------- the PDF ---------------- */

static void test_pdf(void)
{
    th_resp r;
    char auth[2200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", A.access);
    const char *h[] = {auth, NULL};
    th_http(&r, 2, "GET", u("/v1/receipts/%s/pdf", rid), h, NULL, 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body_len > 1000 && memcmp(r.body, "%PDF-", 5) == 0);
    const char *ct = th_resp_header(&r, "content-type");
    CHECK(ct && strstr(ct, "application/pdf"));
    char pdf[300];
    snprintf(pdf, sizeof pdf, "%s/receipt.pdf", tmpdir);
    save(pdf, r.body, r.body_len);
    th_resp_free(&r);
    char *text = output("pdftotext -layout %s - 2>/dev/null", pdf);
    CHECK(strstr(text, "Ủy ban nhân dân Phường Sài Gòn") != NULL);
    CHECK(strstr(text, "Nguyễn Văn An") != NULL);
    CHECK(strstr(text, "Một trăm năm mươi nghìn đồng") != NULL);
    CHECK(strstr(text, PID_A) != NULL); /* the owner's copy carries the full number */
    free(text);
    char *qr = output("pdftoppm -r 150 -png -singlefile %s %s/page >/dev/null 2>&1 && "
                      "zbarimg --raw -q %s/page.png 2>/dev/null", pdf, tmpdir, tmpdir);
    size_t n = strlen(qr);
    while (n && (qr[n - 1] == '\n' || qr[n - 1] == '\r')) qr[--n] = 0;
    CHECK_STR(qr, verify_url);
    free(qr);
}

/* ---------------- the public check ---------------- */

static void test_public_check(void)
{
    const char *path = strstr(verify_url, "/r/");
    CHECK(path != NULL);
    if (!path) return;
    const char *q = strchr(path, '?');
    char id_part[64];
    snprintf(id_part, sizeof id_part, "%.*s", (int)(q - path - 3), path + 3);
    long st;
    json_t *j = get_json(NULL, u("/v1/receipt-checks/%s%s", id_part, q), &st);
    CHECK_INT(st, 200);
    CHECK(json_is_true(json_object_get(j, "genuine")));
    json_t *rc = json_object_get(j, "receipt");
    CHECK_STR(json_string_value(json_object_get(json_object_get(rc, "payer"), "personal_id")), "*********234");
    CHECK_STR(json_string_value(json_object_get(json_object_get(rc, "payer"), "name")), "Nguyễn V. A.");
    CHECK_STR(json_string_value(json_object_get(rc, "number")), "00000001");
    CHECK_STR(json_string_value(json_object_get(rc, "amount_words")), "Một trăm năm mươi nghìn đồng");
    char *dump = json_dumps(j, 0);
    CHECK(strstr(dump, PID_A) == NULL); /* never the number in clear */
    free(dump);
    /* The answer says its language even when genuine (no reason to show). */
    {
        th_resp lr;
        const char *hl[] = {"Accept-Language: en", NULL};
        CHECK_INT(th_http(&lr, 2, "GET", u("/v1/receipt-checks/%s%s", id_part, q), hl, NULL, 0), 0);
        CHECK_INT(lr.status, 200);
        CHECK_STR(th_resp_header(&lr, "content-language"), "en");
        th_resp_free(&lr);
        CHECK_INT(th_http(&lr, 2, "GET", u("/v1/receipt-checks/%s%s", id_part, q), NULL, NULL, 0), 0);
        CHECK_STR(th_resp_header(&lr, "content-language"), "vi");
        th_resp_free(&lr);
    }
    json_decref(j);

    /* The page, as a phone opens it from the QR, in headless Chromium. */
    char *dom = chromium_dom(verify_url);
    CHECK(strstr(dom, "Biên lai hợp lệ") != NULL);
    CHECK(strstr(dom, "data-genuine=\"true\"") != NULL);
    CHECK(strstr(dom, "Nguyễn V. A.") != NULL);
    CHECK(strstr(dom, "*********234") != NULL);
    CHECK(strstr(dom, PID_A) == NULL);
    free(dom);

    /* A tampered signature, a tampered number, both: one answer for all
     * three (status and body; the problem's request_id aside), so the
     * answer never tells a right number from a wrong one (issue 14). */
    char *before = state();
    char tampered[1024];
    snprintf(tampered, sizeof tampered, "%s", verify_url);
    char *s = strstr(tampered, "&s=") + 3;
    s[5] = s[5] == 'A' ? 'B' : 'A';
    const char *good_s = strstr(verify_url, "&s=") + 1, *bad_s = strstr(tampered, "&s=") + 1;
    const char *bad_links[3][2] = {{"00000001", bad_s}, {"00000002", good_s}, {"00000002", bad_s}};
    char *bodies[3][2] = {{NULL}};
    for (int k = 0; k < 3; k++) {
        j = get_json(NULL, u("/v1/receipt-checks/%s?n=%s&%s", id_part, bad_links[k][0], bad_links[k][1]),
                     &st);
        CHECK_INT(st, 400);
        CHECK_STR(code_of(j), "receipt_link_invalid");
        json_object_del(j, "request_id");
        bodies[k][0] = json_dumps(j, JSON_SORT_KEYS);
        json_decref(j);
        th_resp pr;
        th_http(&pr, 2, "GET", u("/r/%s?n=%s&%s", id_part, bad_links[k][0], bad_links[k][1]), NULL,
                NULL, 0);
        CHECK_INT(pr.status, 400);
        bodies[k][1] = strndup(pr.body ? pr.body : "", pr.body_len);
        th_resp_free(&pr);
    }
    for (int k = 1; k < 3; k++) {
        CHECK_STR(bodies[k][0] ? bodies[k][0] : "?", bodies[0][0] ? bodies[0][0] : "");
        CHECK_STR(bodies[k][1], bodies[0][1]);
    }
    CHECK(bodies[0][1] && strstr(bodies[0][1], "Liên kết kiểm tra không hợp lệ") != NULL);
    for (int k = 0; k < 3; k++) {
        free(bodies[k][0]);
        free(bodies[k][1]);
    }
    dom = chromium_dom(tampered);
    CHECK(strstr(dom, "Liên kết kiểm tra không hợp lệ") != NULL);
    CHECK(strstr(dom, "data-genuine=\"true\"") == NULL);
    free(dom);
    /* No signature at all, an unknown id. */
    j = get_json(NULL, u("/v1/receipt-checks/%s?n=00000001", id_part), &st);
    CHECK_INT(st, 400);
    json_decref(j);
    j = get_json(NULL, u("/v1/receipt-checks/00000000-0000-4000-8000-000000000000%s", q), &st);
    CHECK_INT(st, 404);
    CHECK_STR(code_of(j), "receipt_not_found");
    json_decref(j);
    char *after = state();
    CHECK_STR(after, before);
    free(before);
    free(after);

    /* Content altered in the database after signing: not genuine. */
    CHECK_INT(th_db_exec(db, "UPDATE receipts SET amount_vnd = 1150000 WHERE number = 1 AND serial = '000.20.01.H29'"), 0);
    j = get_json(NULL, u("/v1/receipt-checks/%s%s", id_part, q), &st);
    CHECK_INT(st, 200);
    CHECK(json_is_false(json_object_get(j, "genuine")));
    CHECK_STR(json_string_value(json_object_get(j, "reason_code")), "signature_mismatch");
    json_decref(j);
    dom = chromium_dom(verify_url);
    CHECK(strstr(dom, "Biên lai KHÔNG hợp lệ") != NULL);
    CHECK(strstr(dom, "data-genuine=\"false\"") != NULL);
    free(dom);
    /* The payer's name altered too. */
    CHECK_INT(th_db_exec(db, "UPDATE receipts SET amount_vnd = 150000, payer_name = 'Nguyễn Văn Ân' WHERE number = 1 AND serial = '000.20.01.H29'"), 0);
    j = get_json(NULL, u("/v1/receipt-checks/%s%s", id_part, q), &st);
    CHECK(json_is_false(json_object_get(j, "genuine")));
    json_decref(j);
    CHECK_INT(th_db_exec(db, "UPDATE receipts SET payer_name = 'Nguyễn Văn An' WHERE number = 1 AND serial = '000.20.01.H29'"), 0);
    j = get_json(NULL, u("/v1/receipt-checks/%s%s", id_part, q), &st);
    CHECK(json_is_true(json_object_get(j, "genuine")));
    json_decref(j);
}

/* ---------------- corrections ---------------- */

static void test_corrections(void)
{
    th_resp r;
    char path[256];
    snprintf(path, sizeof path, "/v1/partner/receipts/%s/corrections", rid);
    long audit0 = count("SELECT count(*) FROM audit_log");
    long st = partner(&r, "POST", path,
                      "{\"kind\":\"replacement\",\"reason\":\"Sai tên người nộp\",\"operator\":\"Trần Văn Cán Bộ\","
                      "\"payer_name\":\"Nguyễn Văn Ân\"}", "fix-1");
    CHECK_INT(st, 201);
    json_t *j = json_loads(r.body, 0, NULL);
    char newid[64];
    snprintf(newid, sizeof newid, "%s", json_string_value(json_object_get(j, "receipt_id")) ? json_string_value(json_object_get(j, "receipt_id")) : "");
    json_decref(j);
    th_resp_free(&r);
    CHECK(wait_signed(newid));
    CHECK_INT(count("SELECT count(*) FROM receipts WHERE id = '%s' AND status = 'replaced' AND replaced_by = '%s'", rid, newid), 1);
    CHECK_INT(count("SELECT number FROM receipts WHERE id = '%s'", newid), 5);
    CHECK_INT(count("SELECT count(*) FROM receipts WHERE id = '%s' AND kind = 'replacement' AND replaces = '%s'"
                    " AND payer_name = 'Nguyễn Văn Ân'", newid, rid), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log"), audit0 + 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE subject = 'receipt:%s' AND action = 'receipt.replacement'"
                    " AND actor = 'tthc-hcm/Trần Văn Cán Bộ' AND reason = 'Sai tên người nộp'", rid), 1);
    /* The retry of the same call returns the first answer. */
    st = partner(&r, "POST", path, "{\"kind\":\"replacement\",\"reason\":\"Sai tên người nộp\",\"operator\":\"Trần Văn Cán Bộ\","
                 "\"payer_name\":\"Nguyễn Văn Ân\"}", "fix-1");
    CHECK_INT(st, 200);
    CHECK(strstr(r.body, newid) != NULL);
    th_resp_free(&r);

    /* Replacing the replaced receipt again: 409, nothing changed. */
    char *before = state();
    st = partner(&r, "POST", path, "{\"kind\":\"replacement\",\"reason\":\"Lần nữa\",\"operator\":\"X\"}", NULL);
    CHECK_INT(st, 409);
    j = json_loads(r.body, 0, NULL);
    CHECK_STR(code_of(j), "receipt_already_corrected");
    json_decref(j);
    th_resp_free(&r);
    st = partner(&r, "POST", path, "{\"kind\":\"adjustment\",\"reason\":\"Lần nữa\",\"operator\":\"X\",\"amount_vnd\":0}", NULL);
    CHECK_INT(st, 409);
    th_resp_free(&r);
    /* Bad bodies: unknown field, no reason, a bad amount, an unknown receipt. */
    st = partner(&r, "POST", path, "{\"kind\":\"replacement\",\"reason\":\"x\",\"operator\":\"X\",\"number\":7}", NULL);
    CHECK_INT(st, 422);
    th_resp_free(&r);
    char p2[256];
    snprintf(p2, sizeof p2, "/v1/partner/receipts/%s/corrections", newid);
    st = partner(&r, "POST", p2, "{\"kind\":\"replacement\",\"operator\":\"X\"}", NULL);
    CHECK_INT(st, 422);
    th_resp_free(&r);
    st = partner(&r, "POST", p2, "{\"kind\":\"replacement\",\"reason\":\"x\",\"operator\":\"X\",\"amount_vnd\":0}", NULL);
    CHECK_INT(st, 422);
    th_resp_free(&r);
    st = partner(&r, "POST", "/v1/partner/receipts/00000000-0000-4000-8000-000000000000/corrections",
                 "{\"kind\":\"replacement\",\"reason\":\"x\",\"operator\":\"X\"}", NULL);
    CHECK_INT(st, 404);
    th_resp_free(&r);
    /* Unsigned partner call. */
    th_http(&r, 2, "POST", u("%s", path), NULL, "{}", 2);
    CHECK_INT(r.status, 401);
    th_resp_free(&r);
    char *after = state();
    CHECK_STR(after, before);
    free(before);
    free(after);

    /* An adjustment of the replacement, by the CLI. */
    char *out = output("CDS_DATABASE_URL='%s' %s/cds receipt correct --id %s --kind adjustment"
                       " --reason 'Miễn phí sau khi nộp' --operator 'Lê Thị Kế Toán' --amount 0",
                       db, CDS_BUILD_DIR, newid);
    size_t n = strlen(out);
    while (n && out[n - 1] == '\n') out[--n] = 0;
    CHECK_INT(n, 36);
    CHECK(wait_signed(out));
    CHECK_INT(count("SELECT count(*) FROM receipts WHERE id = '%s' AND status = 'adjusted' AND replaced_by = '%s'", newid, out), 1);
    CHECK_INT(count("SELECT count(*) FROM audit_log WHERE actor = 'cli/Lê Thị Kế Toán' AND action = 'receipt.adjustment'"), 1);
    /* The CLI refuses to correct the replaced receipt, nothing changed. */
    before = state();
    CHECK_INT(run("CDS_DATABASE_URL='%s' %s/cds receipt correct --id %s --kind replacement --reason r --operator o 2>/dev/null",
                  db, CDS_BUILD_DIR, rid), 1);
    after = state();
    CHECK_STR(after, before);
    free(before);
    free(after);

    /* The chain on the public check of the replacement: replaces, replaced by, audit. */
    long s2;
    json_t *mine = get_json(A.access, u("/v1/receipts/%s", newid), &s2);
    CHECK_INT(s2, 200);
    const char *vu = json_string_value(json_object_get(mine, "verify_url"));
    CHECK(vu != NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(mine, "replaces"), "id")), rid);
    CHECK_STR(json_string_value(json_object_get(json_object_get(mine, "replaced_by"), "id")), out);
    char *dom = chromium_dom(vu ? vu : "");
    CHECK(strstr(dom, "Biên lai hợp lệ") != NULL);
    CHECK(strstr(dom, "id=\"replaces\"") != NULL);
    CHECK(strstr(dom, "id=\"replaced_by\"") != NULL);
    CHECK(strstr(dom, "Sai tên người nộp") != NULL);
    CHECK(strstr(dom, "Miễn phí sau khi nộp") != NULL);
    CHECK(strstr(dom, "Đã được điều chỉnh") != NULL);
    free(dom);
    json_t *pub = get_json(NULL, strstr(vu ? vu : "", "/r/") ? u("/v1/receipt-checks/%s", strstr(vu, "/r/") + 3) : u("/x"), &s2);
    CHECK_INT(s2, 200);
    CHECK(json_is_true(json_object_get(pub, "genuine")));
    CHECK_INT(json_array_size(json_object_get(pub, "corrections")), 2);
    json_decref(pub);
    json_decref(mine);
    free(out);
}

/* ---------------- the daily export ---------------- */

static void test_export(void)
{
    char *today = value("SELECT to_char(cds_vn_date(now()), 'YYYY-MM-DD')");
    char path[256];
    th_resp r;
    snprintf(path, sizeof path, "/v1/partner/receipts/export?from=%s&to=%s", today, today);
    CHECK_INT(partner(&r, "GET", path, NULL, NULL), 200);
    long receipts = count("SELECT count(*) FROM receipts");
    int lines = 0, totals = 0;
    long total_count = 0;
    for (char *line = r.body, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = 0;
        json_t *j = json_loads(line, 0, NULL);
        const char *type = json_string_value(json_object_get(j, "type"));
        if (type && !strcmp(type, "receipt")) lines++;
        if (type && !strcmp(type, "total")) totals++, total_count += (long)json_integer_value(json_object_get(j, "count"));
        json_decref(j);
    }
    CHECK_INT(lines, receipts);
    CHECK(totals >= 1);
    CHECK_INT(total_count, receipts);
    th_resp_free(&r);
    snprintf(path, sizeof path, "/v1/partner/receipts/export?from=%s&format=csv", today);
    CHECK_INT(partner(&r, "GET", path, NULL, NULL), 200);
    /* UTF-8 byte order mark first, for spreadsheets (core/csv.h). */
    CHECK(strncmp(r.body, "\xEF\xBB\xBFtype,template_no,serial,year,number,", 39) == 0);
    th_resp_free(&r);

    /* Invalid ranges: 400, nothing written. */
    char *before = state();
    const char *bad[] = {"from=2026-02-30", "from=2026-11-20&to=2026-11-19", "from=2026-01-01&to=2026-03-01",
                         "from=yesterday", "to=2026-11-20", NULL};
    for (int i = 0; bad[i]; i++) {
        snprintf(path, sizeof path, "/v1/partner/receipts/export?%s", bad[i]);
        CHECK_INT(partner(&r, "GET", path, NULL, NULL), 400);
        json_t *j = json_loads(r.body, 0, NULL);
        CHECK_STR(code_of(j), "invalid_date_range");
        json_decref(j);
        th_resp_free(&r);
    }
    char file[300];
    snprintf(file, sizeof file, "%s/export.csv", tmpdir);
    CHECK_INT(run("CDS_DATABASE_URL='%s' %s/cds receipt export --from 2026-11-20 --to 2026-11-19 --format csv --out %s 2>/dev/null",
                  db, CDS_BUILD_DIR, file), 2);
    struct stat sb;
    CHECK(stat(file, &sb) != 0);
    char *after = state();
    CHECK_STR(after, before);
    free(before);
    free(after);
    /* The CLI export of today. */
    CHECK_INT(run("CDS_DATABASE_URL='%s' %s/cds receipt export --from %s --format csv --out %s >/dev/null",
                  db, CDS_BUILD_DIR, today, file), 0);
    char *csv = output("grep -c '^receipt,' %s", file);
    CHECK_INT(strtol(csv, NULL, 10), receipts);
    free(csv);
    free(today);
}

/* ---------------- numbering under concurrency ---------------- */

#define THREADS 8
#define PER_THREAD 40

static void *issuer(void *arg)
{
    long t = (long)arg;
    PGconn *c = PQconnectdb(db);
    for (int i = 0; i < PER_THREAD && PQstatus(c) == CONNECTION_OK; i++) {
        int rollback = (i % 5) == 4;
        char sql[512];
        snprintf(sql, sizeof sql, "BEGIN; SELECT test_pay('%s', 10000, 'cc-%ld-%d'); %s",
                 payment_b, t, i, rollback ? "ROLLBACK" : "COMMIT");
        PQclear(PQexec(c, sql));
    }
    PQfinish(c);
    return NULL;
}

static void test_concurrency(void)
{
    long first0 = count("SELECT COALESCE(max(number), 0) FROM receipts WHERE agency_code = '000.20.01.H29'");
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, issuer, (void *)i);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    long n = THREADS * PER_THREAD * 4 / 5;
    /* Numbered and signed right after each commit. */
    int all = 0;
    for (int i = 0; i < 200 && !all; i++) {
        all = count("SELECT count(*) FROM receipts WHERE signature IS NULL") == 0;
        if (!all) usleep(50 * 1000);
    }
    CHECK(all);
    CHECK_INT(count("SELECT count(*) FROM receipts WHERE bank_tx_id IN (SELECT id FROM bank_transactions WHERE provider_tx_id LIKE 'cc-%%')"), n);
    /* Exactly first0+1 .. first0+n: no gap, no duplicate, rollbacks gave theirs back. */
    CHECK_INT(count("SELECT count(*) FROM receipts WHERE agency_code = '000.20.01.H29'"), first0 + n);
    CHECK_INT(count("SELECT count(DISTINCT number) FROM receipts WHERE agency_code = '000.20.01.H29'"), first0 + n);
    CHECK_INT(count("SELECT min(number) FROM receipts WHERE agency_code = '000.20.01.H29'"), 1);
    CHECK_INT(count("SELECT max(number) FROM receipts WHERE agency_code = '000.20.01.H29'"), first0 + n);
    CHECK_INT(count("SELECT last_number FROM receipt_series WHERE agency_code = '000.20.01.H29'"), first0 + n);
}

/* A receipt issued in the first second of a new year starts that year's
 * series at 1 (a row written as cds_receipt_issue writes it, with the
 * issue time of 2027-01-01 00:00:05 in Vietnam). */
static void test_new_year(void)
{
    CHECK_INT(th_db_exec(db,
        "INSERT INTO receipts (agency_code, year, issuer_name, issuer_tax_code, issuer_address,"
        " citizen_id, payer_name, payer_pid_sealed, payer_address_sealed, fee_name, dossier_id,"
        " dossier_code, amount_vnd, bank_ref, paid_at, issued_at, payment_id)"
        " SELECT agency_code, 2027, issuer_name, issuer_tax_code, issuer_address, citizen_id, payer_name,"
        " payer_pid_sealed, payer_address_sealed, fee_name, dossier_id, dossier_code, 5000, 'FTNEWYEAR',"
        " '2026-12-31 23:59:58+07', '2027-01-01 00:00:05+07', payment_id"
        " FROM receipts WHERE kind = 'original' LIMIT 1"), 0);
    char *id = value("SELECT id::text FROM receipts WHERE bank_ref = 'FTNEWYEAR'");
    CHECK(id && wait_signed(id));
    CHECK_INT(count("SELECT number FROM receipts WHERE bank_ref = 'FTNEWYEAR' AND year = 2027"), 1);
    CHECK_INT(count("SELECT last_number FROM receipt_series WHERE agency_code = '000.20.01.H29' AND year = 2027"), 1);
    /* Its owner is the copied row's payer, A or B. */
    long st;
    json_t *j = get_json(A.access, u("/v1/receipts/%s", id ? id : ""), &st);
    if (st == 404) {
        json_decref(j);
        j = get_json(B.access, u("/v1/receipts/%s", id ? id : ""), &st);
    }
    CHECK_INT(st, 200);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "content"), "year")), 2027);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "content"), "issued_at")), "2027-01-01T00:00:05+07:00");
    json_decref(j);
    free(id);
}

/* ---------------- a signer that was down ---------------- */

static void test_signer_down(void)
{
    CHECK_INT(th_proc_stop(&srv, SIGKILL), 128 + SIGKILL);
    char *id = pay(payment_a, 77000);
    CHECK(id != NULL);
    CHECK_INT(count("SELECT count(*) FROM receipts WHERE id = '%s' AND signature IS NULL", id ? id : ""), 1);
    /* An API-only node (no signer): the receipt is "being issued". */
    const char *env_nosign[] = {"CDS_RECEIPT_SIGN=0", base, NULL};
    th_proc api;
    CHECK_INT(th_server_start(&api, db, env_nosign), 0);
    char url[512];
    snprintf(url, sizeof url, "%s/v1/receipts/%s", api.url, id);
    long st;
    json_t *j = get_json(A.access, url, &st);
    CHECK_INT(st, 200);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "being_issued");
    CHECK(json_is_null(json_object_get(j, "signature")));
    json_decref(j);
    snprintf(url, sizeof url, "%s/v1/receipts/%s/pdf", api.url, id);
    j = get_json(A.access, url, &st);
    CHECK_INT(st, 503);
    CHECK_STR(code_of(j), "receipt_being_issued");
    json_decref(j);
    /* A signing node comes back, with a new key (Ed25519, configured): it
     * signs what was issued meanwhile under the new key id. */
    char keydir[300], keys[400];
    snprintf(keydir, sizeof keydir, "%s/newkey", tmpdir);
    CHECK_INT(run("%s/cds receipt keygen --out %s --alg ed25519 >/dev/null", CDS_BUILD_DIR, keydir), 0);
    snprintf(keys, sizeof keys, "CDS_RECEIPT_KEYS=*=%s/receipt_key.pem", keydir);
    char *old_kid = value("SELECT kid FROM receipts WHERE id = '%s'", rid);
    const char *env[] = {"CDS_RECEIPT_POLL_MS=200", base, keys, NULL};
    CHECK_INT(th_server_start_on(&srv, port, db, env), 0);
    CHECK(wait_signed(id));
    CHECK_INT(count("SELECT count(*) FROM receipts WHERE id = '%s' AND alg = 'EdDSA' AND kid <> '%s'", id, old_kid ? old_kid : ""), 1);
    CHECK_INT(count("SELECT count(*) FROM receipt_keys"), 2);
    /* Both verify on the public check: the old one by its key id's public key. */
    const char *vq = strchr(verify_url, '?');
    json_t *pub = get_json(NULL, u("/v1/receipt-checks/%s%s", rid, vq ? vq : ""), &st);
    CHECK_INT(st, 200);
    CHECK(json_is_true(json_object_get(pub, "genuine")));
    json_decref(pub);
    snprintf(url, sizeof url, "%s/v1/receipts/%s", srv.url, id);
    j = get_json(A.access, url, &st);
    const char *nv = json_string_value(json_object_get(j, "verify_url"));
    pub = get_json(NULL, u("/v1/receipt-checks/%s", nv && strstr(nv, "/r/") ? strstr(nv, "/r/") + 3 : "x"), &st);
    CHECK_INT(st, 200);
    CHECK(json_is_true(json_object_get(pub, "genuine")));
    json_decref(pub);
    json_decref(j);
    free(old_kid);
    snprintf(url, sizeof url, "%s/v1/receipts/%s", api.url, id);
    j = get_json(A.access, url, &st);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "issued");
    json_decref(j);
    CHECK_INT(th_proc_stop(&api, SIGTERM), 0);
    free(id);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    snprintf(tmpdir, sizeof tmpdir, "%s/Testing/receipts_%d", CDS_BUILD_DIR, (int)getpid());
    mkdir(tmpdir, 0700);
    db = th_db_new("receipts");
    const char *vs[] = {"vneid", NULL};
    th_sim vsim;
    if (th_sim_start(&vsim, vs, NULL) != 0) return 1;
    char iss[128];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&vsim, "vneid"));
    port = th_free_port();
    snprintf(base, sizeof base, "CDS_PUBLIC_BASE_URL=http://127.0.0.1:%d", port);
    const char *env[] = {iss, base, "CDS_AUTO_MIGRATE=1", "CDS_RECEIPT_POLL_MS=200", "CDS_RECEIPT_CHECK_BURST=1000", NULL};
    if (th_server_start_on(&srv, port, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    CHECK_INT(system(load), 0);
    CHECK_INT(th_login_as(&srv, PID_A, &A), 200);
    CHECK_INT(th_login_as(&srv, PID_B, &B), 200);
    setup_sql();
    make_intent(PID_A, "RC-A-0001", payment_a);
    make_intent(PID_B, "RC-B-0001", payment_b);
    test_issue_and_read();
    test_list();
    test_export_offline();
    test_pdf();
    test_public_check();
    test_corrections();
    test_export();
    test_concurrency();
    test_new_year();
    test_signer_down();
    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&vsim);
    curl_global_cleanup();
    return t_done();
}
