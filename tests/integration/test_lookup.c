/* The public dossier lookup over real sockets: `cds serve` with its
 * database, the VNeID stand-in for the owners' logins, dossiers inserted
 * with psql-like SQL (so this test does not depend on the filing route), and
 * headless Chromium for the page.
 *
 * The lookup secret is derived here independently (HMAC-SHA256 of the
 * dossier id under the CDS_LOOKUP_KEY the server is given, bytes >= 248
 * skipped, the rest mod 31 onto the alphabet) and stored as its SHA-256, as
 * the filing route does; the owner's QR code, decoded with zbarimg, must then
 * carry exactly that secret, which proves both sides derive it the same way.
 *
 * Checked: the JSON answer (status, timeline, overdue flag, masked name with
 * a decomposed-Unicode initial) and that it holds no personal data; the
 * secret normalised (case, dashes, spaces); wrong secret, unknown code and a
 * malformed code giving the very same 404; the page's headers, escaping and
 * self-containment; the page rendered by Chromium (DOM and a phone-sized
 * screenshot) and its error page; the QR route's ownership, scale and
 * refusals; the per-address limit (429 + Retry-After, JSON and page) on a
 * second server with a burst of 5; no secret in the server's logs. */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/lookup.h"
#include "tests/lib/t.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PID_A "079085001234" /* Nguyễn Văn An */
#define PID_B "079192004567"
/* 32 bytes 00..1f */
#define LOOKUP_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define BASE_URL "https://dichvucong.example.vn"
#define AGENCY "000.00.01.H29"
#define PROC_NAME "Cấp giấy phép xây dựng nhà ở riêng lẻ"
#define D1_ID "6f1c2a9e-3b4d-4c5e-8f70-123456789abc"
#define D1_CODE AGENCY "-260314-0007"
#define D2_ID "0a0b0c0d-1111-4222-8333-444455556666"
#define D2_CODE AGENCY "-260101-0001"

static th_proc srv, srv_rl;
static th_sim sim;
static char *db;
static th_login A, B;
static char secret1[11], secret2[11];

#define u(...) th_url(__VA_ARGS__)

#define sql(...) th_db_execf(db, __VA_ARGS__)

static char *citizen_a;

static void setup_data(void)
{
    citizen_a = th_me_id(&srv, &A);
    CHECK(strlen(citizen_a) == 36);
    char h1[65], h2[65];
    th_lookup_secret(D1_ID, secret1);
    th_lookup_secret(D2_ID, secret2);
    CHECK_INT(strlen(secret1), 10);
    th_sha256_hex(secret1, strlen(secret1), h1);
    th_sha256_hex(secret2, strlen(secret2), h2);
    CHECK_INT(sql("INSERT INTO agencies (code, name) VALUES ('%s', 'UBND Quận 1')", AGENCY), 0);
    CHECK_INT(sql("INSERT INTO procedures (code, name, name_folded, sector, agency_code, fee_vnd, "
                  "processing_days) VALUES ('1.009994', '%s', cds_fold('%s'), 'Xây dựng', '%s', 75000, 15)",
                  PROC_NAME, PROC_NAME, AGENCY),
              0);
    /* D1: owned by A, processing, due in the past: overdue. */
    CHECK_INT(sql("INSERT INTO dossiers (id, code, procedure_code, citizen_id, channel, status, "
                  "lookup_hash, submitted_at, due_date, last_event_at) VALUES ('%s', '%s', '1.009994', "
                  "'%s', 'online', 'processing', '%s', '2026-03-14 08:15:00+07', '2026-04-03', now())",
                  D1_ID, D1_CODE, citizen_a, h1),
              0);
    CHECK_INT(sql("INSERT INTO dossier_events (dossier_id, source, event_id, step, occurred_at, applied, note) "
                  "VALUES ('%s', 'citizen', 'e1', 'submitted', '2026-03-14 08:15:00+07', true, NULL),"
                  " ('%s', 'tthc:x', 'e2', 'received', '2026-03-14 10:00:00+07', true, NULL),"
                  " ('%s', 'tthc:x', 'e3', 'processing', '2026-03-16 09:30:00+07', true,"
                  "  'Đang thẩm định <b>bản vẽ</b> & hồ sơ')",
                  D1_ID, D1_ID, D1_ID),
              0);
    /* D2: a counter citizen with a decomposed (NFD) name: "Đỗ Ánh" with
     * A + U+0301; completed long ago, so not overdue. */
    CHECK_INT(sql("INSERT INTO citizens (id, pid_hash, pid_sealed, full_name) VALUES "
                  "('11111111-2222-4333-8444-555555555555', 'x-test-hash', 'v1.test.x', "
                  "E'\\u0110\\u1ed7 A\\u0301nh')"),
              0);
    CHECK_INT(sql("INSERT INTO dossiers (id, code, procedure_code, citizen_id, channel, status, "
                  "lookup_hash, submitted_at, due_date) VALUES ('%s', '%s', '1.009994', "
                  "'11111111-2222-4333-8444-555555555555', 'counter', 'completed', '%s', "
                  "'2026-01-01 09:00:00+07', '2026-01-20')",
                  D2_ID, D2_CODE, h2),
              0);
}

/* GET over h2c; returns the status, the body in *r. */
static long get(th_resp *r, const char *url)
{
    if (th_http(r, 2, "GET", url, NULL, NULL, 0) != 0) return 0;
    return r->status;
}

/* The body with its request_id member removed, to compare two problems. */
static char *without_request_id(const char *body)
{
    json_t *j = json_loads(body, 0, NULL);
    if (!j) return strdup("(not json)");
    json_object_del(j, "request_id");
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return s;
}

static void test_json(void)
{
    th_resp r;
    CHECK_INT(get(&r, u(&srv, "/v1/lookup/%s?secret=%s", D1_CODE, secret1)), 200);
    json_t *j = json_loads(r.body, 0, NULL);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "code")), D1_CODE);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "processing");
    CHECK_STR(json_string_value(json_object_get(j, "status_text")), "Đang xử lý");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "procedure"), "name")), PROC_NAME);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "agency"), "name")), "UBND Quận 1");
    CHECK_STR(json_string_value(json_object_get(j, "due_date")), "2026-04-03");
    CHECK_STR(json_string_value(json_object_get(j, "submitted_at")), "2026-03-14T08:15:00+07:00");
    CHECK(json_is_true(json_object_get(j, "overdue")));
    CHECK_STR(json_string_value(json_object_get(j, "applicant_name")), "Nguyễn V. A.");
    json_t *tl = json_object_get(j, "timeline");
    CHECK_INT(json_array_size(tl), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(tl, 0), "step")), "submitted");
    CHECK_STR(json_string_value(json_object_get(json_array_get(tl, 0), "step_text")), "Đã nộp");
    CHECK_STR(json_string_value(json_object_get(json_array_get(tl, 1), "occurred_at")),
              "2026-03-14T10:00:00+07:00");
    CHECK_STR(json_string_value(json_object_get(json_array_get(tl, 2), "step_text")), "Đang xử lý");
    CHECK_STR(json_string_value(json_object_get(json_array_get(tl, 2), "note")),
              "Đang thẩm định <b>bản vẽ</b> & hồ sơ");
    CHECK(json_is_true(json_object_get(json_array_get(tl, 2), "applied")));
    /* No personal data: not the ID number, phone, address, full name, nor
     * internal ids. */
    CHECK(strstr(r.body, PID_A) == NULL);
    CHECK(strstr(r.body, "912345678") == NULL);
    CHECK(strstr(r.body, "Nguyễn Huệ") == NULL);
    CHECK(strstr(r.body, "Văn An") == NULL);
    CHECK(strstr(r.body, citizen_a) == NULL);
    CHECK(strstr(r.body, D1_ID) == NULL);
    CHECK(strstr(r.body, secret1) == NULL);
    CHECK_STR(th_resp_header(&r, "cache-control"), "no-store");
    json_decref(j);
    th_resp_free(&r);

    /* Normalised: lower case, dashes, spaces (as "+" and as %20). */
    char lower[16], dashed[32];
    for (int i = 0; i < 11; i++) lower[i] = (char)(secret1[i] >= 'A' ? secret1[i] + 32 : secret1[i]);
    snprintf(dashed, sizeof dashed, "%.5s-%.5s", lower, lower + 5);
    CHECK_INT(get(&r, u(&srv, "/v1/lookup/%s?secret=%s", D1_CODE, lower)), 200);
    th_resp_free(&r);
    CHECK_INT(get(&r, u(&srv, "/v1/lookup/%s?secret=%s", D1_CODE, dashed)), 200);
    th_resp_free(&r);
    CHECK_INT(get(&r, u(&srv, "/v1/lookup/%s?secret=+%.5s+%%20-%.5s", D1_CODE, secret1, secret1 + 5)), 200);
    th_resp_free(&r);

    /* Decomposed initial and a terminal status. */
    CHECK_INT(get(&r, u(&srv, "/v1/lookup/%s?secret=%s", D2_CODE, secret2)), 200);
    j = json_loads(r.body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(j, "applicant_name")), "Đỗ A\xcc\x81.");
    CHECK(json_is_false(json_object_get(j, "overdue")));
    CHECK_STR(json_string_value(json_object_get(j, "status_text")), "Hoàn thành");
    CHECK_INT(json_array_size(json_object_get(j, "timeline")), 0);
    json_decref(j);
    th_resp_free(&r);

    /* Wrong secret, another dossier's secret, unknown code, malformed code,
     * over-long secret: the same 404, body for body. */
    char wrong[11];
    memcpy(wrong, secret1, 11);
    wrong[9] = wrong[9] == '2' ? '3' : '2';
    const char *bad[] = {
        u(&srv, "/v1/lookup/%s?secret=%s", D1_CODE, wrong),
        u(&srv, "/v1/lookup/%s?secret=%s", D1_CODE, secret2),
        u(&srv, "/v1/lookup/%s?secret=%s", AGENCY "-260314-9999", secret1),
        u(&srv, "/v1/lookup/%s?secret=%s", "%3Cscript%3E", secret1),
        u(&srv, "/v1/lookup/%s?secret=%s", D1_CODE,
          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    };
    char *first = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(get(&r, bad[i]), 404);
        CHECK_STR(th_resp_header(&r, "content-type"), "application/problem+json");
        char *norm = without_request_id(r.body);
        if (!first) {
            first = norm;
            CHECK(strstr(first, "\"code\":\"dossier_not_found\"") != NULL);
            CHECK(strstr(first, "Không tìm thấy hồ sơ") != NULL);
        } else {
            if (strcmp(first, norm) != 0) fprintf(stderr, "404 differs:\n%s\n%s\n", first, norm);
            CHECK_STR(norm, first);
            free(norm);
        }
        th_resp_free(&r);
    }
    free(first);

    CHECK_INT(get(&r, u(&srv, "/v1/lookup/%s", D1_CODE)), 400);
    CHECK(strstr(r.body, "lookup_secret_required") != NULL);
    th_resp_free(&r);
}

static void test_page_http(void)
{
    th_resp r;
    CHECK_INT(get(&r, u(&srv, "/lookup/%s?s=%s", D1_CODE, secret1)), 200);
    CHECK_STR(th_resp_header(&r, "content-type"), "text/html; charset=utf-8");
    const char *csp = th_resp_header(&r, "content-security-policy");
    CHECK(csp && strstr(csp, "default-src 'none'") && strstr(csp, "style-src 'unsafe-inline'"));
    CHECK_STR(th_resp_header(&r, "x-content-type-options"), "nosniff");
    CHECK_STR(th_resp_header(&r, "referrer-policy"), "no-referrer");
    CHECK_STR(th_resp_header(&r, "cache-control"), "no-store");
    CHECK(strstr(r.body, "<meta name=\"viewport\"") != NULL);
    CHECK(strstr(r.body, "<meta charset=\"utf-8\">") != NULL);
    CHECK(strstr(r.body, "<html lang=\"vi\">") != NULL);
    CHECK(strstr(r.body, PROC_NAME) != NULL);
    CHECK(strstr(r.body, "Đang xử lý") != NULL);
    CHECK(strstr(r.body, "03/04/2026") != NULL);       /* due date, DD/MM/YYYY */
    CHECK(strstr(r.body, "Quá hạn") != NULL);
    CHECK(strstr(r.body, "Nguyễn V. A.") != NULL);
    CHECK(strstr(r.body, "09:30 16/03/2026") != NULL); /* a step's time */
    CHECK(strstr(r.body, "&lt;b&gt;bản vẽ&lt;/b&gt; &amp; hồ sơ") != NULL);
    CHECK(strstr(r.body, "<b>") == NULL);
    /* Self-contained: no script, no external resource. */
    CHECK(strstr(r.body, "<script") == NULL);
    CHECK(strstr(r.body, "src=") == NULL);
    CHECK(strstr(r.body, "<link") == NULL);
    CHECK(strstr(r.body, "http://") == NULL && strstr(r.body, "https://") == NULL);
    CHECK(strstr(r.body, PID_A) == NULL && strstr(r.body, "Văn An") == NULL);
    th_resp_free(&r);

    CHECK_INT(get(&r, u(&srv, "/lookup/%s?s=%s", D1_CODE, "WRONGWRONG")), 404);
    CHECK_STR(th_resp_header(&r, "content-type"), "text/html; charset=utf-8");
    CHECK(strstr(r.body, "Không tìm thấy hồ sơ") != NULL);
    CHECK(th_resp_header(&r, "content-security-policy") != NULL);
    char *wrong_body = strdup(r.body);
    th_resp_free(&r);
    CHECK_INT(get(&r, u(&srv, "/lookup/%s?s=%s", "NO-SUCH-CODE", secret1)), 404);
    CHECK_STR(r.body, wrong_body); /* the page has no request id: identical */
    free(wrong_body);
    th_resp_free(&r);

    /* Without the secret: a form to type it. */
    CHECK_INT(get(&r, u(&srv, "/lookup/%s", D1_CODE)), 200);
    CHECK(strstr(r.body, "<form") && strstr(r.body, "name=\"s\""));
    CHECK(strstr(r.body, D1_CODE) != NULL);
    CHECK(strstr(r.body, PROC_NAME) == NULL);
    th_resp_free(&r);

    /* HTTP/1.1 too. */
    CHECK(th_http(&r, 1, "GET", u(&srv, "/lookup/%s?s=%s", D2_CODE, secret2), NULL, NULL, 0) == 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, "Hoàn thành") != NULL);
    th_resp_free(&r);
}

/* ---------------- headless Chromium ---------------- */

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

/* Runs Chromium, as a phone set to Vietnamese (--accept-lang: its own
 * default is en-US, which the page would honour), with `what`
 * (--dump-dom or --screenshot=...) on url; the
 * standard output (the DOM) is returned (malloc). */
static char *chromium(const char *bin, const char *what, const char *url)
{
    char profile[] = "/tmp/cds-chromium-XXXXXX";
    if (!mkdtemp(profile)) return NULL;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "timeout 90 %s --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync "
             "--disable-dev-shm-usage --accept-lang=vi-VN,vi --user-data-dir=%s %s '%s' 2>/dev/null",
             bin, profile, what, url);
    FILE *p = popen(cmd, "r");
    char *out = NULL;
    if (p) {
        size_t cap = 1 << 20, n = 0, got;
        out = malloc(cap);
        while (out && (got = fread(out + n, 1, cap - 1 - n, p)) > 0) n += got;
        if (out) out[n] = 0;
        int rc = pclose(p);
        if (rc != 0) fprintf(stderr, "chromium exited with %d for %s\n", rc, what);
    }
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", profile);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", profile);
    return out;
}

static void test_page_chromium(void)
{
    const char *bin = chromium_bin();
    if (!bin) {
        fprintf(stderr, "FAIL: chromium not found: install the Debian package `chromium` "
                        "(scripts/bootstrap) to test the lookup page in a browser\n");
        t_fail++;
        return;
    }
    char *dom = chromium(bin, "--dump-dom", u(&srv, "/lookup/%s?s=%s", D1_CODE, secret1));
    if (!dom || !strstr(dom, "</html>"))
        fprintf(stderr, "FAIL: chromium produced no DOM (is it runnable here? try it by hand)\n");
    CHECK(dom && strstr(dom, "Đang xử lý") != NULL);
    CHECK(dom && strstr(dom, PROC_NAME) != NULL);
    CHECK(dom && strstr(dom, "Nguyễn V. A.") != NULL);
    CHECK(dom && strstr(dom, "Tiến trình xử lý") != NULL);
    free(dom);

    dom = chromium(bin, "--dump-dom", u(&srv, "/lookup/%s?s=%s", D1_CODE, "ABCDEFGHJK"));
    CHECK(dom && strstr(dom, "Không tìm thấy hồ sơ") != NULL);
    CHECK(dom && strstr(dom, PROC_NAME) == NULL);
    free(dom);

    char shot[512], what[600];
    snprintf(shot, sizeof shot, "%s/Testing/lookup_page_%d.png", CDS_BUILD_DIR, (int)getpid());
    unlink(shot);
    snprintf(what, sizeof what, "--screenshot=%s --window-size=412,915 --hide-scrollbars", shot);
    free(chromium(bin, what, u(&srv, "/lookup/%s?s=%s", D1_CODE, secret1)));
    struct stat st;
    CHECK(stat(shot, &st) == 0);
    /* A real render of text and colour, not a blank page: well over 10 KB. */
    CHECK(st.st_size > 10 * 1024);
    /* 412 px wide, as asked (PNG IHDR width at offset 16, big-endian). */
    FILE *f = fopen(shot, "rb");
    unsigned char hdr[24] = {0};
    if (f) {
        if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr) memset(hdr, 0, sizeof hdr);
        fclose(f);
    }
    CHECK(memcmp(hdr, "\x89PNG", 4) == 0);
    CHECK_INT(((unsigned)hdr[16] << 24 | (unsigned)hdr[17] << 16 | (unsigned)hdr[18] << 8 | hdr[19]), 412);
    fprintf(stderr, "lookup page screenshot: %s (%lld bytes)\n", shot, (long long)st.st_size);
}

/* ---------------- the owner's QR ---------------- */

static long get_png(th_resp *r, const char *url, const char *bearer)
{
    char auth[2200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
    const char *h[] = {auth, NULL};
    if (th_http(r, 2, "GET", url, bearer ? h : NULL, NULL, 0) != 0) return 0;
    return r->status;
}

static char *zbar(const char *data, size_t len)
{
    char path[] = "/tmp/cds-lookup-qr-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    int ok = write(fd, data, len) == (ssize_t)len;
    close(fd);
    char cmd[256], *out = NULL;
    snprintf(cmd, sizeof cmd, "zbarimg --raw -q '%s' 2>/dev/null", path);
    FILE *p = ok ? popen(cmd, "r") : NULL;
    if (p) {
        out = calloc(1, 4096);
        size_t n = out ? fread(out, 1, 4095, p) : 0;
        while (n && (out[n - 1] == '\n' || out[n - 1] == '\r')) out[--n] = 0;
        if (pclose(p) != 0) {
            free(out);
            out = NULL;
        }
    }
    unlink(path);
    return out;
}

static unsigned png_width(const th_resp *r)
{
    if (r->body_len < 24) return 0;
    const unsigned char *h = (const unsigned char *)r->body;
    return (unsigned)h[16] << 24 | (unsigned)h[17] << 16 | (unsigned)h[18] << 8 | h[19];
}

static void test_qr(void)
{
    th_resp r;
    CHECK_INT(get_png(&r, u(&srv, "/v1/dossiers/%s/lookup-qr.png", D1_ID), A.access), 200);
    CHECK_STR(th_resp_header(&r, "content-type"), "image/png");
    CHECK_STR(th_resp_header(&r, "cache-control"), "private, no-store");
    CHECK(r.body_len > 8 && memcmp(r.body, "\x89PNG", 4) == 0);
    unsigned w8 = png_width(&r);
    CHECK(w8 % 8 == 0 && w8 / 8 >= 29);
    char *text = zbar(r.body, r.body_len);
    char expect[256];
    snprintf(expect, sizeof expect, "%s/lookup/%s?s=%s", BASE_URL, D1_CODE, secret1);
    if (!text || strcmp(text, expect) != 0)
        fprintf(stderr, "QR holds \"%s\", expected \"%s\"\n", text ? text : "(unreadable)", expect);
    CHECK(text && strcmp(text, expect) == 0);
    th_resp_free(&r);
    /* The link in the QR opens the page (on this server instead of BASE_URL). */
    if (text && strncmp(text, BASE_URL, strlen(BASE_URL)) == 0) {
        CHECK_INT(get(&r, u(&srv, "%s", text + strlen(BASE_URL))), 200);
        CHECK(strstr(r.body, "Đang xử lý") != NULL);
        th_resp_free(&r);
    }
    free(text);

    CHECK_INT(get_png(&r, u(&srv, "/v1/dossiers/%s/lookup-qr.png?scale=3", D1_ID), A.access), 200);
    CHECK_INT(png_width(&r), w8 / 8 * 3);
    th_resp_free(&r);
    CHECK_INT(get_png(&r, u(&srv, "/v1/dossiers/%s/lookup-qr.png?scale=16", D1_ID), A.access), 200);
    CHECK_INT(png_width(&r), w8 / 8 * 16);
    th_resp_free(&r);
    const char *bad_scales[] = {"0", "17", "abc", "-1", "", "08x", "1e1"};
    for (size_t i = 0; i < sizeof bad_scales / sizeof bad_scales[0]; i++) {
        CHECK_INT(get_png(&r, u(&srv, "/v1/dossiers/%s/lookup-qr.png?scale=%s", D1_ID, bad_scales[i]),
                          A.access),
                  422);
        CHECK(r.body && strstr(r.body, "invalid_scale") != NULL);
        th_resp_free(&r);
    }
    /* Someone else's dossier, an unknown one, a malformed id: 404; no token: 401. */
    CHECK_INT(get_png(&r, u(&srv, "/v1/dossiers/%s/lookup-qr.png", D1_ID), B.access), 404);
    CHECK(r.body && strstr(r.body, "dossier_not_found") != NULL);
    th_resp_free(&r);
    CHECK_INT(get_png(&r, u(&srv, "/v1/dossiers/%s/lookup-qr.png", D2_ID), A.access), 404);
    th_resp_free(&r);
    CHECK_INT(get_png(&r, u(&srv, "/v1/dossiers/%s/lookup-qr.png", "00000000-0000-4000-8000-000000000000"),
                      A.access),
              404);
    th_resp_free(&r);
    CHECK_INT(get_png(&r, u(&srv, "/v1/dossiers/%s/lookup-qr.png", "not-a-uuid"), A.access), 404);
    th_resp_free(&r);
    CHECK_INT(get_png(&r, u(&srv, "/v1/dossiers/%s/lookup-qr.png", D1_ID), NULL), 401);
    th_resp_free(&r);
}

/* ---------------- the limit ---------------- */

static void test_rate_limit(void)
{
    th_resp r;
    /* Burst 5: five lookups (found or not, JSON or page) pass. */
    CHECK_INT(get(&r, u(&srv_rl, "/v1/lookup/%s?secret=%s", D1_CODE, secret1)), 200);
    th_resp_free(&r);
    CHECK_INT(get(&r, u(&srv_rl, "/v1/lookup/%s?secret=%s", D1_CODE, "WRONGWRONG")), 404);
    th_resp_free(&r);
    CHECK_INT(get(&r, u(&srv_rl, "/lookup/%s?s=%s", D1_CODE, secret1)), 200);
    th_resp_free(&r);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(get(&r, u(&srv_rl, "/v1/lookup/NO-SUCH-%d?secret=X", i)), 404);
        th_resp_free(&r);
    }
    CHECK_INT(get(&r, u(&srv_rl, "/v1/lookup/%s?secret=%s", D1_CODE, secret1)), 429);
    CHECK_STR(th_resp_header(&r, "content-type"), "application/problem+json");
    CHECK(strstr(r.body, "\"code\":\"too_many_requests\"") != NULL);
    CHECK(strstr(r.body, "Vui lòng thử lại sau") != NULL);
    const char *ra = th_resp_header(&r, "retry-after");
    CHECK(ra && strcmp(ra, "1") == 0);
    th_resp_free(&r);
    CHECK_INT(get(&r, u(&srv_rl, "/lookup/%s?s=%s", D1_CODE, secret1)), 429);
    CHECK_STR(th_resp_header(&r, "content-type"), "text/html; charset=utf-8");
    CHECK(strstr(r.body, "quá nhiều lần") != NULL);
    CHECK(th_resp_header(&r, "retry-after") != NULL);
    th_resp_free(&r);
    /* One token a second comes back. */
    usleep(1100 * 1000);
    CHECK_INT(get(&r, u(&srv_rl, "/v1/lookup/%s?secret=%s", D1_CODE, secret1)), 200);
    th_resp_free(&r);
    CHECK_INT(get(&r, u(&srv_rl, "/v1/lookup/%s?secret=%s", D1_CODE, secret1)), 429);
    th_resp_free(&r);
    /* Other routes are not limited by it. */
    CHECK_INT(get(&r, u(&srv_rl, "/healthz")), 200);
    th_resp_free(&r);
}

/* No secret reaches a log line (the access log names the route template). */
static void test_logs(const th_proc *p)
{
    char *log = NULL;
    FILE *f = fopen(p->log, "rb");
    if (f) {
        log = calloc(1, 4 << 20);
        if (log && fread(log, 1, (4 << 20) - 1, f) == 0) log[0] = 0;
        fclose(f);
    }
    CHECK(log != NULL);
    if (log) {
        CHECK(strstr(log, secret1) == NULL);
        CHECK(strstr(log, secret2) == NULL);
    }
    free(log);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    /* The servers' logs go there (read back by test_logs). */
    mkdir(CDS_BUILD_DIR "/Testing", 0755);
    db = th_db_new("lookup");
    const char *vs[] = {"vneid", NULL};
    if (th_sim_start(&sim, vs, NULL) != 0) return 1;
    char iss[128];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    const char *env[] = {iss, "CDS_AUTO_MIGRATE=1", "CDS_LOOKUP_KEY=" LOOKUP_KEY,
                         "CDS_PUBLIC_BASE_URL=" BASE_URL "/", "CDS_LOOKUP_BURST=1000",
                         "CDS_LOOKUP_PER_MINUTE=60000", NULL};
    if (th_server_start(&srv, db, env) != 0) return 1;
    const char *env_rl[] = {iss, "CDS_LOOKUP_KEY=" LOOKUP_KEY, "CDS_PUBLIC_BASE_URL=" BASE_URL,
                            "CDS_LOOKUP_BURST=5", "CDS_LOOKUP_PER_MINUTE=60", NULL};
    if (th_server_start(&srv_rl, db, env_rl) != 0) return 1;
    CHECK_INT(th_login_as(&srv, PID_A, &A), 200);
    CHECK_INT(th_login_as(&srv, PID_B, &B), 200);
    setup_data();
    test_json();
    test_page_http();
    test_page_chromium();
    test_qr();
    test_rate_limit();
    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    CHECK_INT(th_proc_stop(&srv_rl, SIGTERM), 0);
    test_logs(&srv);
    test_logs(&srv_rl);
    th_sim_stop(&sim);
    free(citizen_a);
    curl_global_cleanup();
    return t_done();
}
