/* Optimistic concurrency over real sockets (core/etag.h): two clients that
 * read the same version cannot overwrite each other silently.
 *
 *   /v1/me        GET and PATCH answer a strong ETag; PATCH with If-Match
 *                 naming it succeeds and changes the tag; the other client's
 *                 PATCH with the old tag is a 412 and changes nothing; a weak
 *                 tag never matches; a list matches any of its tags; "*"
 *                 and no If-Match update; a malformed If-Match is a 400
 *   delivery      PUT /v1/dossiers/{id}/delivery the same way; GET of the
 *                 choice answers the very tag the PUT checks (before any
 *                 choice too), and follows each write
 *   procedure     GET /v1/procedures/{code} and the partner's PUT: the tag
 *                 changes when the procedure's agency changes its name or
 *                 address (part of the representation), not otherwise; the
 *                 old tag is then a 412 */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/partner.h"
#include "tests/lib/t.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POSTAL "1.001193" /* results may go by post */
#define PID_A "079085001234"

static char *db;
static th_sim sim;
static th_proc srv;
static th_login login_a;

/* METHOD path with the citizen's token, If-Match (NULL: none) and a JSON
 * body; the ETag of the answer (quotes included) into etag (may be NULL). */
static long call(const char *method, const char *path, const char *if_match, const char *body,
                 char etag[80], char code[64])
{
    char url[256], auth[2200], im[300];
    snprintf(url, sizeof url, "%s%s", srv.url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", login_a.access);
    const char *h[4] = {auth, "Content-Type: application/json", NULL, NULL};
    if (if_match) {
        snprintf(im, sizeof im, "If-Match: %s", if_match);
        h[2] = im;
    }
    th_resp r;
    if (th_http(&r, 2, method, url, h, body, body ? strlen(body) : 0) != 0) return 0;
    const char *e = th_resp_header(&r, "etag");
    if (etag) snprintf(etag, 80, "%s", e ? e : "");
    if (code) {
        json_t *j = json_loads(r.body, 0, NULL);
        const char *c = json_string_value(json_object_get(j, "code"));
        snprintf(code, 64, "%s", c ? c : "");
        json_decref(j);
    }
    long st = r.status;
    th_resp_free(&r);
    return st;
}

/* GET path with the citizen's token: the ETag and delivery.method into body. */
static long call_body(const char *method, const char *path, char etag[80], char body[64])
{
    char url[256], auth[2200];
    snprintf(url, sizeof url, "%s%s", srv.url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", login_a.access);
    const char *h[] = {auth, NULL};
    th_resp r;
    if (th_http(&r, 2, method, url, h, NULL, 0) != 0) return 0;
    const char *e = th_resp_header(&r, "etag");
    snprintf(etag, 80, "%s", e ? e : "");
    json_t *j = json_loads(r.body, 0, NULL);
    json_t *d = json_object_get(j, "delivery");
    const char *m = json_string_value(json_object_get(d, "method"));
    snprintf(body, 64, "%s", json_is_null(d) ? "null" : m ? m : "?");
    json_decref(j);
    long st = r.status;
    th_resp_free(&r);
    return st;
}

static int strong_tag(const char *t)
{
    size_t n = strlen(t);
    return n >= 3 && t[0] == '"' && t[n - 1] == '"';
}

static void test_me(void)
{
    char e1[80], e2[80], e3[80], code[64];
    CHECK_INT(call("GET", "/v1/me", NULL, NULL, e1, NULL), 200);
    CHECK(strong_tag(e1));
    /* A second read gives the same tag. */
    CHECK_INT(call("GET", "/v1/me", NULL, NULL, e2, NULL), 200);
    CHECK_STR(e2, e1);

    /* Client A writes with the tag it read. */
    CHECK_INT(call("PATCH", "/v1/me", e1, "{\"email\":\"a@example.vn\"}", e2, NULL), 200);
    CHECK(strong_tag(e2) && strcmp(e2, e1) != 0);
    CHECK_INT(call("GET", "/v1/me", NULL, NULL, e3, NULL), 200);
    CHECK_STR(e3, e2);
    /* Client B read e1 too: its write is refused and changes nothing. */
    CHECK_INT(call("PATCH", "/v1/me", e1, "{\"email\":\"b@example.vn\"}", NULL, code), 412);
    CHECK_STR(code, "precondition_failed");
    char *email = th_db_value(db, "SELECT email FROM citizens");
    CHECK_STR(email, "a@example.vn");
    free(email);
    CHECK_INT(call("GET", "/v1/me", NULL, NULL, e3, NULL), 200);
    CHECK_STR(e3, e2);

    /* A weak tag never matches (strong comparison); a list matches any. */
    char weak[90], list[200];
    snprintf(weak, sizeof weak, "W/%s", e2);
    CHECK_INT(call("PATCH", "/v1/me", weak, "{\"email\":\"c@example.vn\"}", NULL, code), 412);
    snprintf(list, sizeof list, "\"nope\", %s", e2);
    CHECK_INT(call("PATCH", "/v1/me", list, "{\"email\":\"d@example.vn\"}", e3, NULL), 200);
    CHECK(strcmp(e3, e2) != 0);
    /* "*" and no If-Match: the profile exists, the write goes through. */
    CHECK_INT(call("PATCH", "/v1/me", "*", "{\"email\":\"e@example.vn\"}", NULL, NULL), 200);
    CHECK_INT(call("PATCH", "/v1/me", NULL, "{\"email\":\"f@example.vn\"}", NULL, NULL), 200);
    /* Not a list of entity tags. */
    CHECK_INT(call("PATCH", "/v1/me", "abc", "{\"email\":\"g@example.vn\"}", NULL, code), 400);
    CHECK_STR(code, "invalid_if_match");
    email = th_db_value(db, "SELECT email FROM citizens");
    CHECK_STR(email, "f@example.vn");
    free(email);
}

static const char *POST_Q1 =
    "{\"method\":\"post\",\"recipient\":{\"name\":\"Nguyễn Văn An\",\"phone\":\"0912345678\","
    "\"address\":{\"province\":\"Thành phố Hồ Chí Minh\",\"district\":\"Quận 1\",\"ward\":"
    "\"Phường Bến Nghé\",\"street\":\"12 Nguyễn Huệ\"}}}";

static void test_delivery(void)
{
    char code[64], id[64], path[160], d1[80], d2[80], pcode[64];
    snprintf(code, sizeof code, "ET-%d", (int)getpid());
    CHECK_INT(th_partner_import(srv.url, code, POSTAL, PID_A, "Nguyễn Văn An", "0912345678"), 201);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT id FROM dossiers WHERE code = '%s'", code);
    char *v = th_db_value(db, sql);
    snprintf(id, sizeof id, "%s", v ? v : "");
    free(v);
    snprintf(path, sizeof path, "/v1/dossiers/%s/delivery", id);

    /* The choice as read before any was made (pickup, the default): its tag
     * is the one a PUT checks. */
    char g[80], body[64];
    CHECK_INT(call_body("GET", path, g, body), 200);
    CHECK(strong_tag(g));
    CHECK_STR(body, "pickup");
    CHECK_INT(call("PUT", path, g, POST_Q1, d1, NULL), 200);
    CHECK(strong_tag(d1) && strcmp(d1, g) != 0);
    CHECK_INT(call_body("GET", path, g, body), 200);
    CHECK_STR(g, d1);
    CHECK_STR(body, "post");
    /* The same choice again: the same tag (it is the stored choice's). */
    CHECK_INT(call("PUT", path, d1, POST_Q1, d2, NULL), 200);
    CHECK_STR(d2, d1);
    /* A writes pickup with d1; B's post with d1 is refused. */
    CHECK_INT(call("PUT", path, d1, "{\"method\":\"pickup\"}", d2, NULL), 200);
    CHECK(strong_tag(d2) && strcmp(d2, d1) != 0);
    CHECK_INT(call("PUT", path, d1, POST_Q1, NULL, pcode), 412);
    CHECK_STR(pcode, "precondition_failed");
    snprintf(sql, sizeof sql, "SELECT delivery->>'method' FROM dossiers WHERE id = '%s'", id);
    v = th_db_value(db, sql);
    CHECK_STR(v, "pickup");
    free(v);
    CHECK_INT(call_body("GET", path, g, body), 200); /* the refused write changed nothing */
    CHECK_STR(g, d2);
    CHECK_STR(body, "pickup");
    CHECK_INT(call("PUT", path, d2, POST_Q1, NULL, NULL), 200);
    CHECK_INT(call("PUT", path, "\"x\" junk", POST_Q1, NULL, pcode), 400);
    CHECK_STR(pcode, "invalid_if_match");
    /* Not a dossier of this citizen's: 404, as for every read of a dossier. */
    CHECK_INT(call("GET", "/v1/dossiers/00000000-0000-4000-8000-000000000000/delivery", NULL, NULL,
                   NULL, pcode), 404);
    CHECK_STR(pcode, "dossier_not_found");
}

#define AGENCY "000.00.04.H29"
#define PROC_BODY                                                                                  \
    "{\"name\":\"Thủ tục thử ETag\",\"sector\":\"thu_nghiem\",\"agency_code\":\"" AGENCY      \
    "\",\"processing_days\":2,\"fee_vnd\":%d,\"required_documents\":[],"                      \
    "\"form_schema\":{\"fields\":[]}}"

/* GET /v1/procedures/{code} (public): its ETag and the agency's address. */
static long proc_get(const char *code, char etag[80], char address[256])
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/procedures/%s", srv.url, code);
    th_resp r;
    if (th_http(&r, 2, "GET", url, NULL, NULL, 0) != 0) return 0;
    const char *e = th_resp_header(&r, "etag");
    snprintf(etag, 80, "%s", e ? e : "");
    json_t *j = json_loads(r.body, 0, NULL);
    const char *a = json_string_value(json_object_get(json_object_get(j, "agency"), "address"));
    snprintf(address, 256, "%s", a ? a : "");
    json_decref(j);
    long st = r.status;
    th_resp_free(&r);
    return st;
}

/* The partner's PUT with condition header `cond` and fee `fee`. */
static long proc_put(const char *code, const char *cond, int fee)
{
    char path[128], body[512];
    snprintf(path, sizeof path, "/v1/partner/procedures/%s", code);
    snprintf(body, sizeof body, PROC_BODY, fee);
    const char *h[] = {cond, NULL};
    th_resp r;
    long st = th_partner_with(&r, srv.url, "PUT", path, body, h);
    th_resp_free(&r);
    return st;
}

static void test_procedure(void)
{
    const char *code = "ETAG.0001";
    char e1[80], e2[80], e3[80], addr[256], cond[120];
    CHECK_INT(proc_put(code, "If-None-Match: *", 10000), 200);
    CHECK_INT(proc_get(code, e1, addr), 200);
    CHECK(strong_tag(e1));

    /* The agency moves: the procedure's representation shows the new
     * address, so its tag is another one. */
    CHECK_INT(th_db_exec(db, "UPDATE agencies SET address = 'Số 1 Đường Thử, Quận 1' WHERE code = '"
                             AGENCY "'"), 0);
    CHECK_INT(proc_get(code, e2, addr), 200);
    CHECK_STR(addr, "Số 1 Đường Thử, Quận 1");
    CHECK(strong_tag(e2) && strcmp(e2, e1) != 0);
    /* A back office that read the old representation is refused, and the
     * procedure is unchanged; the current tag goes through. */
    snprintf(cond, sizeof cond, "If-Match: %s", e1);
    CHECK_INT(proc_put(code, cond, 20000), 412);
    char *fee = th_db_value(db, "SELECT fee_vnd FROM procedures WHERE code = 'ETAG.0001'");
    CHECK_STR(fee, "10000");
    free(fee);
    snprintf(cond, sizeof cond, "If-Match: %s", e2);
    CHECK_INT(proc_put(code, cond, 20000), 200);
    CHECK_INT(proc_get(code, e3, addr), 200);
    CHECK(strcmp(e3, e2) != 0);

    /* What the representation does not show (the tax code), or a write that
     * changes nothing, leaves the tag alone. */
    CHECK_INT(th_db_exec(db, "UPDATE agencies SET tax_code = '0301234567' WHERE code = '" AGENCY "'"),
              0);
    CHECK_INT(th_db_exec(db, "UPDATE agencies SET name = name WHERE code = '" AGENCY "'"), 0);
    CHECK_INT(proc_get(code, e1, addr), 200);
    CHECK_STR(e1, e3);
}

int main(void)
{
    db = th_db_new("etag");
    const char *names[] = {"vneid", NULL};
    if (th_sim_start(&sim, names, NULL) != 0) return 1;
    static char iss[256];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    const char *env[] = {iss, "CDS_AUTO_MIGRATE=1", NULL};
    if (th_server_start(&srv, db, env) != 0) return 1;
    char load[1024];
    snprintf(load, sizeof load, "cd %s && CDS_DATABASE_URL='%s' %s/cds catalog load >/dev/null",
             CDS_SOURCE_DIR, db, CDS_BUILD_DIR);
    if (system(load) != 0) return 1;
    CHECK_INT(th_login_as(&srv, PID_A, &login_a), 200);

    test_me();
    test_delivery();
    test_procedure();

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    th_sim_stop(&sim);
    return t_done();
}
