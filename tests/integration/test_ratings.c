/* Ratings and feedback over real sockets (issue 18, part 3): `cds serve`
 * with its database, the VNeID stand-in for two citizens' logins and the
 * TTHC stand-in receiving what the outbox forwards (its own signature check,
 * sim/tthc_inbox.c). Dossiers are inserted with SQL so this test does not
 * depend on the filing route; lookup secrets are derived here again (the
 * derivation of dossiers/secret.c, as test_lookup does).
 *
 * Checked: rating after completion (201, then the same row edited: 200,
 * version 2); refused before completion (409); stars 0, 6, "x", a too-long
 * or control-character comment (400, nothing written); another citizen's
 * dossier (404); the edit window closed after 7 days (409); the first
 * delivery answered 503 by the stand-in and retried: it arrives twice but
 * the stand-in keeps it once, and every rating version and feedback reaches
 * it; the partner summary per procedure and month; feedback with its PA-
 * reference; the lookup page's forms with the right secret, refused
 * without or with a wrong one; the same pages in English (Accept-Language),
 * every notice included (thanks, reference, refusals), with
 * Content-Language, and Vietnamese without the header. */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/lookup.h"
#include "tests/lib/partner.h"
#include "tests/lib/t.h"

#include <curl/curl.h>
#include <jansson.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PID_A "079085001234"
#define PID_B "079192004567"
#define LOOKUP_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define AGENCY "000.00.07.H29"
#define D1 "7a000000-0000-4000-8000-000000000001" /* A, completed, P1 */
#define D2 "7a000000-0000-4000-8000-000000000002" /* A, processing */
#define D3 "7a000000-0000-4000-8000-000000000003" /* A, completed, P2 */
#define D4 "7a000000-0000-4000-8000-000000000004" /* A, completed, P1: lookup page */
#define D5 "7a000000-0000-4000-8000-000000000005" /* A, returned, P1: 7 days */
#define C4 AGENCY "-261201-0004"

static th_proc srv;
static th_sim sim;
static char *db;
static th_login A, B;
static char secret4[11];

#define u(...) th_url(&srv, __VA_ARGS__)

#define sql(...) th_db_execf(db, __VA_ARGS__)

static void setup_data(void)
{
    char *a = th_me_id(&srv, &A);
    CHECK(strlen(a) == 36);
    CHECK_INT(sql("INSERT INTO agencies (code, name) VALUES ('%s', 'UBND Quận 7')", AGENCY), 0);
    CHECK_INT(sql("INSERT INTO procedures (code, name, name_folded, sector, agency_code, fee_vnd, "
                  "processing_days) VALUES ('9.000001', 'Thủ tục một', 'thu tuc mot', 'Hộ tịch', "
                  "'%s', 0, 5), ('9.000002', 'Thủ tục hai', 'thu tuc hai', 'Hộ tịch', '%s', 0, 5)",
                  AGENCY, AGENCY),
              0);
    struct {
        const char *id, *proc, *status;
    } d[] = {{D1, "9.000001", "completed"}, {D2, "9.000001", "processing"},
             {D3, "9.000002", "completed"}, {D4, "9.000001", "completed"},
             {D5, "9.000001", "returned"}};
    for (int i = 0; i < 5; i++) {
        char s[11], h[65];
        th_lookup_secret(d[i].id, s);
        th_sha256_hex(s, strlen(s), h);
        if (i == 3) memcpy(secret4, s, 11);
        CHECK_INT(sql("INSERT INTO dossiers (id, code, procedure_code, citizen_id, channel, status, "
                      "lookup_hash, due_date) VALUES ('%s', '%s-261201-000%d', '%s', '%s', "
                      "'online', '%s', '%s', '2026-12-31')",
                      d[i].id, AGENCY, i + 1, d[i].proc, a, d[i].status, h),
                  0);
    }
    free(a);
}

/* PUT the rating body on dossier id as `who`; the status, the answer in *j. */
static long put_rating(const th_login *who, const char *id, const char *body, json_t **j)
{
    th_resp r;
    long st = th_json(&r, "PUT", u("/v1/dossiers/%s/rating", id), who->access, body, (void **)j);
    th_resp_free(&r);
    return st;
}

static const char *problem_code(json_t *j)
{
    const char *c = json_string_value(json_object_get(j, "code"));
    return c ? c : "(none)";
}

/* Waits (up to 20 s) until the outbox row `key` is sent. */
static int wait_sent(const char *key)
{
    for (int i = 0; i < 200; i++) {
        if (th_db_count(db, "SELECT count(*) FROM tthc_outbox WHERE idempotency_key = '%s' AND "
                            "state = 'sent'", key) == 1)
            return 1;
        usleep(100 * 1000);
    }
    fprintf(stderr, "outbox row %s not sent\n", key);
    return 0;
}

/* What the TTHC stand-in kept: GET /_sim/tthc/received. */
static json_t *received(void)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_sim/tthc/received", th_sim_url(&sim, "tthc"));
    th_resp r;
    json_t *j = NULL;
    th_json(&r, "GET", url, NULL, NULL, (void **)&j);
    th_resp_free(&r);
    return j;
}

static json_t *received_item(json_t *all, const char *list, const char *key)
{
    size_t i;
    json_t *it, *found = NULL;
    int n = 0;
    json_array_foreach(json_object_get(all, list), i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, "key")), key) == 0) {
            found = it;
            n++;
        }
    }
    CHECK(n <= 1);
    return found;
}

static void test_app_rating(void)
{
    json_t *j = NULL;
    th_resp r;
    /* Nothing rated yet. */
    CHECK_INT(th_json(&r, "GET", u("/v1/dossiers/%s/rating", D1), A.access, NULL, (void **)&j), 404);
    CHECK_STR(problem_code(j), "rating_not_found");
    json_decref(j);
    th_resp_free(&r);

    /* Bad input: 400, nothing written. */
    const char *bad[] = {"{\"stars\":0}", "{\"stars\":6}", "{\"stars\":\"x\"}", "{\"stars\":4.5}",
                         "{}", "{\"stars\":3,\"comment\":\"a\\u0001b\"}",
                         "{\"stars\":3,\"comment\":5}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = NULL;
        CHECK_INT(put_rating(&A, D1, bad[i], &j), 400);
        CHECK_STR(problem_code(j), "invalid_rating");
        json_decref(j);
    }
    /* 1001 characters (3 bytes each): one over the cap. */
    size_t cap = 1001 * 3 + 64, n = 0;
    char *longc = malloc(cap);
    n += (size_t)snprintf(longc + n, cap - n, "{\"stars\":3,\"comment\":\"");
    for (int i = 0; i < 1001; i++) n += (size_t)snprintf(longc + n, cap - n, "ạ");
    snprintf(longc + n, cap - n, "\"}");
    j = NULL;
    CHECK_INT(put_rating(&A, D1, longc, &j), 400);
    CHECK_STR(problem_code(j), "invalid_rating");
    json_decref(j);
    free(longc);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM dossier_ratings"), 0);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM tthc_outbox"), 0);

    /* Not finished: 409. Another citizen's dossier: 404. */
    j = NULL;
    CHECK_INT(put_rating(&A, D2, "{\"stars\":5}", &j), 409);
    CHECK_STR(problem_code(j), "rating_not_allowed");
    json_decref(j);
    j = NULL;
    CHECK_INT(put_rating(&B, D1, "{\"stars\":5}", &j), 404);
    CHECK_STR(problem_code(j), "dossier_not_found");
    json_decref(j);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM dossier_ratings"), 0);

    /* The stand-in takes the first delivery but answers 503: the outbox
     * sends it again under the same key. */
    char fail_url[256];
    snprintf(fail_url, sizeof fail_url, "%s/_sim/tthc/fail", th_sim_url(&sim, "tthc"));
    CHECK_INT(th_json(&r, "POST", fail_url, NULL, "{\"count\":1}", NULL), 200);
    th_resp_free(&r);

    j = NULL;
    CHECK_INT(put_rating(&A, D1, "{\"stars\":3,\"comment\":\"Cán bộ hướng dẫn tận tình\"}", &j), 201);
    CHECK_INT(json_integer_value(json_object_get(j, "stars")), 3);
    CHECK_INT(json_integer_value(json_object_get(j, "version")), 1);
    CHECK_STR(json_string_value(json_object_get(j, "comment")), "Cán bộ hướng dẫn tận tình");
    json_decref(j);

    char key1[80], key2[80];
    snprintf(key1, sizeof key1, "rating:%s:v1", D1);
    snprintf(key2, sizeof key2, "rating:%s:v2", D1);
    CHECK(wait_sent(key1));
    CHECK_INT(th_db_count(db, "SELECT attempts FROM tthc_outbox WHERE idempotency_key = '%s'", key1), 2);
    json_t *all = received();
    json_t *it = received_item(all, "ratings", key1);
    CHECK(it != NULL);
    CHECK_INT(json_integer_value(json_object_get(it, "arrivals")), 2); /* sent twice, kept once */
    CHECK_INT(json_integer_value(json_object_get(json_object_get(it, "body"), "stars")), 3);
    CHECK_STR(json_string_value(json_object_get(json_object_get(it, "body"), "agency_code")), AGENCY);
    json_decref(all);

    /* The same again: unchanged, nothing new to send. */
    j = NULL;
    CHECK_INT(put_rating(&A, D1, "{\"stars\":3,\"comment\":\"Cán bộ hướng dẫn tận tình\"}", &j), 200);
    CHECK_INT(json_integer_value(json_object_get(j, "version")), 1);
    json_decref(j);
    /* An edit: the same row, version 2, a second delivery. */
    j = NULL;
    CHECK_INT(put_rating(&A, D1, "{\"stars\":5}", &j), 200);
    CHECK_INT(json_integer_value(json_object_get(j, "version")), 2);
    CHECK(json_is_null(json_object_get(j, "comment")));
    json_decref(j);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM dossier_ratings WHERE dossier_id = '%s'", D1), 1);
    CHECK_INT(th_db_count(db, "SELECT stars FROM dossier_ratings WHERE dossier_id = '%s'", D1), 5);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM tthc_outbox WHERE kind = 'rating'"), 2);
    CHECK(wait_sent(key2));
    all = received();
    it = received_item(all, "ratings", key2);
    CHECK(it != NULL);
    CHECK_INT(json_integer_value(json_object_get(it, "arrivals")), 1);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(it, "body"), "stars")), 5);
    json_decref(all);

    /* GET: the owner's, and 404 for another citizen. */
    j = NULL;
    CHECK_INT(th_json(&r, "GET", u("/v1/dossiers/%s/rating", D1), A.access, NULL, (void **)&j), 200);
    CHECK_INT(json_integer_value(json_object_get(j, "stars")), 5);
    CHECK(json_string_value(json_object_get(j, "editable_until")) != NULL);
    json_decref(j);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "GET", u("/v1/dossiers/%s/rating", D1), B.access, NULL, NULL), 404);
    th_resp_free(&r);

    /* Unauthenticated: 401. */
    CHECK_INT(th_json(&r, "PUT", u("/v1/dossiers/%s/rating", D1), NULL, "{\"stars\":5}", NULL), 401);
    th_resp_free(&r);

    /* D3 (another procedure), D5 (returned) rated; D5's first rating moved
     * back to January: its edit window is closed. */
    CHECK_INT(put_rating(&A, D3, "{\"stars\":2}", NULL), 201);
    CHECK_INT(put_rating(&A, D5, "{\"stars\":1}", NULL), 201);
    CHECK_INT(sql("UPDATE dossier_ratings SET first_rated_at = '2026-01-15 10:00+07' "
                  "WHERE dossier_id = '%s'", D5),
              0);
    j = NULL;
    CHECK_INT(put_rating(&A, D5, "{\"stars\":4}", &j), 409);
    CHECK_STR(problem_code(j), "rating_edit_closed");
    json_decref(j);
    CHECK_INT(th_db_count(db, "SELECT stars FROM dossier_ratings WHERE dossier_id = '%s'", D5), 1);
}

static void test_feedback(void)
{
    json_t *j = NULL;
    th_resp r;
    CHECK_INT(th_json(&r, "POST", u("/v1/dossiers/%s/feedback", D2), A.access,
                      "{\"kind\":\"nope\",\"content\":\"x\"}", (void **)&j),
              400);
    CHECK_STR(problem_code(j), "invalid_feedback");
    json_decref(j);
    th_resp_free(&r);
    j = NULL;
    CHECK_INT(th_json(&r, "POST", u("/v1/dossiers/%s/feedback", D2), A.access,
                      "{\"kind\":\"phan_anh\",\"content\":\"\"}", (void **)&j),
              400);
    json_decref(j);
    th_resp_free(&r);
    CHECK_INT(th_json(&r, "POST", u("/v1/dossiers/%s/feedback", D2), B.access,
                      "{\"kind\":\"phan_anh\",\"content\":\"Chậm\"}", NULL),
              404);
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM dossier_feedback"), 0);

    j = NULL;
    CHECK_INT(th_json(&r, "POST", u("/v1/dossiers/%s/feedback", D2), A.access,
                      "{\"kind\":\"kien_nghi\",\"content\":\"Hồ sơ xử lý chậm so với hẹn\"}",
                      (void **)&j),
              201);
    th_resp_free(&r);
    const char *ref = json_string_value(json_object_get(j, "reference"));
    CHECK(ref != NULL);
    regex_t re;
    regcomp(&re, "^PA-[0-9]{4}-[0-9]{6}$", REG_EXTENDED | REG_NOSUB);
    CHECK(ref && regexec(&re, ref, 0, NULL, 0) == 0);
    regfree(&re);
    char key[64];
    snprintf(key, sizeof key, "feedback:%s", ref ? ref : "");
    CHECK(wait_sent(key));
    json_t *all = received();
    json_t *it = received_item(all, "feedback", key);
    CHECK(it != NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(it, "body"), "reference")), ref);
    CHECK_STR(json_string_value(json_object_get(json_object_get(it, "body"), "content")),
              "Hồ sơ xử lý chậm so với hẹn");
    json_decref(all);
    json_decref(j);
}

static long post_form(th_resp *r, const char *url, const char *body)
{
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    if (th_http(r, 2, "POST", url, h, body, strlen(body)) != 0) return 0;
    return r->status;
}

static void test_lookup_page(void)
{
    th_resp r;
    /* The form, with the secret in its hidden fields. */
    CHECK_INT(th_http(&r, 2, "GET", u("/lookup/%s/rating?s=%s", C4, secret4), NULL, NULL, 0), 0);
    CHECK_INT(r.status, 200);
    char hidden[64];
    snprintf(hidden, sizeof hidden, "name=\"s\" value=\"%s\"", secret4);
    CHECK(strstr(r.body, hidden) != NULL);
    CHECK(strstr(r.body, "<script") == NULL);
    CHECK(strstr(r.body, "id=\"rate-form\"") != NULL);
    th_resp_free(&r);
    /* The lookup page itself carries the same forms (D4 completed: rating
     * too; D2 processing: feedback only). */
    CHECK_INT(th_http(&r, 2, "GET", u("/lookup/%s?s=%s", C4, secret4), NULL, NULL, 0), 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, hidden) != NULL);
    CHECK(strstr(r.body, "id=\"rate-form\"") != NULL);
    CHECK(strstr(r.body, "id=\"feedback-form\"") != NULL);
    th_resp_free(&r);
    /* A wrong secret: the not-found page. */
    CHECK_INT(th_http(&r, 2, "GET", u("/lookup/%s/rating?s=AAAAAAAAAA", C4), NULL, NULL, 0), 0);
    CHECK_INT(r.status, 404);
    th_resp_free(&r);

    /* POST without the secret, with a wrong one, as JSON: refused, nothing written. */
    CHECK_INT(post_form(&r, u("/lookup/%s/rating", C4), "stars=4"), 404);
    th_resp_free(&r);
    CHECK_INT(post_form(&r, u("/lookup/%s/rating", C4), "s=AAAAAAAAAA&stars=4"), 404);
    th_resp_free(&r);
    char body[256];
    snprintf(body, sizeof body, "s=%s&stars=6", secret4);
    CHECK_INT(post_form(&r, u("/lookup/%s/rating", C4), body), 400);
    th_resp_free(&r);
    const char *jh[] = {"Content-Type: application/json", NULL};
    snprintf(body, sizeof body, "{\"s\":\"%s\",\"stars\":4}", secret4);
    CHECK_INT(th_http(&r, 2, "POST", u("/lookup/%s/rating", C4), jh, body, strlen(body)), 0);
    CHECK_INT(r.status, 404);
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM dossier_ratings WHERE dossier_id = '%s'", D4), 0);

    /* The right secret (typed in lower case): rated. */
    char lower[11];
    for (int i = 0; i < 11; i++)
        lower[i] = (char)(secret4[i] >= 'A' && secret4[i] <= 'Z' ? secret4[i] + 32 : secret4[i]);
    snprintf(body, sizeof body, "s=%s&stars=4&comment=T%%E1%%BB%%91t+l%%E1%%BA%%AFm", lower);
    CHECK_INT(post_form(&r, u("/lookup/%s/rating", C4), body), 200);
    CHECK(strstr(r.body, "Cảm ơn") != NULL);
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM dossier_ratings WHERE dossier_id = '%s' AND "
                              "stars = 4 AND comment = 'Tốt lắm' AND channel = 'lookup'", D4),
              1);
    char key[80];
    snprintf(key, sizeof key, "rating:%s:v1", D4);
    CHECK(wait_sent(key));

    /* Feedback from the page: its reference on the answer page. */
    snprintf(body, sizeof body, "s=%s&kind=phan_anh&content=Ch%%E1%%BB%%9D+l%%C3%%A2u", secret4);
    CHECK_INT(post_form(&r, u("/lookup/%s/feedback", C4), body), 201);
    CHECK(strstr(r.body, "PA-") != NULL);
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM dossier_feedback WHERE dossier_id = '%s' AND "
                              "channel = 'lookup' AND content = 'Chờ lâu'", D4),
              1);
    CHECK_INT(post_form(&r, u("/lookup/%s/feedback", C4), "kind=phan_anh&content=x"), 404);
    th_resp_free(&r);
}

/* GET or POST (form body) with Accept-Language `lang` (NULL: none). */
static long page_lang(th_resp *r, const char *method, const char *url, const char *body,
                      const char *lang)
{
    char al[64];
    snprintf(al, sizeof al, "Accept-Language: %s", lang ? lang : "");
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", lang ? al : NULL, NULL};
    if (th_http(r, 2, method, url, h, body, body ? strlen(body) : 0) != 0) return 0;
    return r->status;
}

/* The page's text is English: the notice, the page's language, the header. */
static void english(th_resp *r, const char *notice)
{
    CHECK_STR(th_resp_header(r, "content-language"), "en");
    CHECK_STR(th_resp_header(r, "vary"), "accept-language");
    CHECK(r->body && strstr(r->body, "<html lang=\"en\"") != NULL);
    CHECK(r->body && strstr(r->body, notice) != NULL);
    if (r->body && !strstr(r->body, notice)) fprintf(stderr, "wanted \"%s\" in:\n%s\n", notice, r->body);
    /* No Vietnamese sentence left (the dossier's own data has none here). */
    CHECK(r->body && strstr(r->body, "Vui lòng") == NULL && strstr(r->body, "hồ sơ") == NULL &&
          strstr(r->body, "Cảm ơn") == NULL && strstr(r->body, "Đã nhận") == NULL);
}

static void test_lookup_page_english(void)
{
    th_resp r;
    char body[2400], secret2[11];
    th_lookup_secret(D2, secret2);
    /* The form of a dossier not finished: its notice in English. */
    CHECK_INT(page_lang(&r, "GET", u("/lookup/%s-261201-0002/rating?s=%s", AGENCY, secret2), NULL, "en"), 200);
    english(&r, "rated once it is completed");
    th_resp_free(&r);
    CHECK_INT(page_lang(&r, "GET", u("/lookup/%s-261201-0002/rating?s=%s", AGENCY, secret2), NULL, NULL), 200);
    CHECK_STR(th_resp_header(&r, "content-language"), "vi");
    CHECK(strstr(r.body, "<html lang=\"vi\"") != NULL);
    th_resp_free(&r);
    /* Refusals. */
    snprintf(body, sizeof body, "s=%s&stars=6", secret4);
    CHECK_INT(page_lang(&r, "POST", u("/lookup/%s/rating", C4), body, "en-US,en;q=0.9"), 400);
    english(&r, "Please choose from 1 to 5 stars.");
    th_resp_free(&r);
    CHECK_INT(page_lang(&r, "POST", u("/lookup/%s/rating", C4), body, NULL), 400);
    CHECK(strstr(r.body, "Vui lòng chọn từ 1 đến 5 sao.") != NULL);
    CHECK_STR(th_resp_header(&r, "content-language"), "vi");
    th_resp_free(&r);
    int n = snprintf(body, sizeof body, "s=%s&stars=3&comment=", secret4);
    for (int i = 0; i < 1001 && n < (int)sizeof body - 1; i++) body[n++] = 'x';
    body[n] = 0;
    CHECK_INT(page_lang(&r, "POST", u("/lookup/%s/rating", C4), body, "en"), 400);
    english(&r, "The comment is too long (at most 1000 characters).");
    th_resp_free(&r);
    snprintf(body, sizeof body, "s=%s&kind=khac&content=x", secret4);
    CHECK_INT(page_lang(&r, "POST", u("/lookup/%s/feedback", C4), body, "en"), 400);
    english(&r, "Please choose the kind: feedback or suggestion.");
    th_resp_free(&r);
    snprintf(body, sizeof body, "s=%s&kind=kien_nghi&content=", secret4);
    CHECK_INT(page_lang(&r, "POST", u("/lookup/%s/feedback", C4), body, "en"), 400);
    english(&r, "The feedback is empty");
    th_resp_free(&r);
    CHECK_INT(page_lang(&r, "POST", u("/lookup/%s/rating", C4), "s=AAAAAAAAAA&stars=4", "en"), 404);
    english(&r, "Dossier not found");
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM dossier_ratings WHERE dossier_id = '%s' AND "
                              "stars <> 4", D4),
              0);
    /* Accepted: the thanks and the feedback's reference in English. */
    snprintf(body, sizeof body, "s=%s&stars=4&comment=Very+good", secret4);
    CHECK_INT(page_lang(&r, "POST", u("/lookup/%s/rating", C4), body, "en"), 200);
    english(&r, "Thank you for rating the service.");
    th_resp_free(&r);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM dossier_ratings WHERE dossier_id = '%s' AND "
                              "stars = 4 AND comment = 'Very good'", D4),
              1);
    snprintf(body, sizeof body, "s=%s&kind=kien_nghi&content=More+counters", secret4);
    CHECK_INT(page_lang(&r, "POST", u("/lookup/%s/feedback", C4), body, "en"), 201);
    english(&r, "Your feedback was received. Reference number: PA-");
    th_resp_free(&r);
}

static void test_summary(void)
{
    char *month = th_db_value(db, "SELECT to_char(now() AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM')");
    CHECK(month != NULL);
    char path[256];
    snprintf(path, sizeof path, "/v1/partner/ratings/summary?agency=%s&month=%s", AGENCY, month);
    th_resp r;
    CHECK_INT(th_partner(&r, srv.url, "GET", path, NULL), 200);
    json_t *j = json_loads(r.body, 0, NULL);
    /* This month: D1 (5) and D4 (4) for 9.000001, D3 (2) for 9.000002. */
    CHECK_INT(json_integer_value(json_object_get(j, "count")), 3);
    CHECK(json_real_value(json_object_get(j, "average")) > 3.66 &&
          json_real_value(json_object_get(j, "average")) < 3.68);
    json_t *ps = json_object_get(j, "procedures");
    CHECK_INT(json_array_size(ps), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(ps, 0), "procedure_code")), "9.000001");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(ps, 0), "count")), 2);
    CHECK(json_number_value(json_object_get(json_array_get(ps, 0), "average")) == 4.5);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(ps, 1), "count")), 1);
    CHECK(json_number_value(json_object_get(json_array_get(ps, 1), "average")) == 2.0);
    json_decref(j);
    th_resp_free(&r);
    /* January: D5 only. */
    snprintf(path, sizeof path, "/v1/partner/ratings/summary?agency=%s&month=2026-01", AGENCY);
    CHECK_INT(th_partner(&r, srv.url, "GET", path, NULL), 200);
    j = json_loads(r.body, 0, NULL);
    CHECK_INT(json_integer_value(json_object_get(j, "count")), 1);
    json_decref(j);
    th_resp_free(&r);
    /* Bad month, bad agency: 400; unsigned: 401. */
    snprintf(path, sizeof path, "/v1/partner/ratings/summary?agency=%s&month=2026-13", AGENCY);
    CHECK_INT(th_partner(&r, srv.url, "GET", path, NULL), 400);
    th_resp_free(&r);
    CHECK_INT(th_partner(&r, srv.url, "GET", "/v1/partner/ratings/summary?agency=x&month=2026-01", NULL), 400);
    th_resp_free(&r);
    CHECK_INT(th_http(&r, 2, "GET", u("%s", path), NULL, NULL, 0), 0);
    CHECK_INT(r.status, 401);
    th_resp_free(&r);
    free(month);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    mkdir(CDS_BUILD_DIR "/Testing", 0755);
    db = th_db_new("ratings");
    const char *vs[] = {"vneid", "tthc", NULL};
    if (th_sim_start(&sim, vs, NULL) != 0) return 1;
    char iss[128], tthc[160];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    snprintf(tthc, sizeof tthc, "CDS_TTHC_URL=%s", th_sim_url(&sim, "tthc"));
    const char *env[] = {iss, tthc, "CDS_AUTO_MIGRATE=1", "CDS_LOOKUP_KEY=" LOOKUP_KEY,
                         "CDS_TTHC_SECRET=cds-dev-tthc-secret", "CDS_TTHC_BACKOFF_MS=100",
                         "CDS_TTHC_POLL_MS=200", "CDS_LOOKUP_BURST=1000",
                         "CDS_LOOKUP_PER_MINUTE=60000", NULL};
    if (th_server_start(&srv, db, env) != 0) return 1;
    CHECK_INT(th_login_as(&srv, PID_A, &A), 200);
    CHECK_INT(th_login_as(&srv, PID_B, &B), 200);
    setup_data();
    test_app_rating();
    test_feedback();
    test_lookup_page();
    test_lookup_page_english();
    test_summary();
    /* Every delivery reached the stand-in, kept once each. */
    for (int i = 0; i < 200 && th_db_count(db, "SELECT count(*) FROM tthc_outbox WHERE state <> 'sent'"); i++)
        usleep(100 * 1000);
    CHECK_INT(th_db_count(db, "SELECT count(*) FROM tthc_outbox WHERE state <> 'sent'"), 0);
    json_t *all = received();
    CHECK_INT(json_array_size(json_object_get(all, "ratings")),
              th_db_count(db, "SELECT count(*) FROM tthc_outbox WHERE kind = 'rating'"));
    CHECK_INT(json_array_size(json_object_get(all, "feedback")), 3);
    json_decref(all);
    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&sim);
    curl_global_cleanup();
    return t_done();
}
