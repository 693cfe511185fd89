/* cds-bench-setup-dossier: prepares the `dossier` row of bench/run. Against a
 * running `cds serve` (h2c) whose VNeID issuer is the cds-sim stand-in, it
 *
 *   1. logs a citizen in the way the app does (and scripts/login-demo):
 *      POST /v1/auth/login, GET the authorization URL + "&login_hint=PID"
 *      without following the redirect, the code from its Location,
 *      POST /v1/auth/callback;
 *   2. finds the building permit (GET /v1/procedures?q=giay phep xay dung),
 *      reads its form schema and required documents (GET /v1/procedures/CODE);
 *   3. uploads one small PDF per required document (POST /v1/attachments);
 *   4. files a dossier with a valid value for every form field (the same
 *      rules as tests/integration/test_dossiers.c valid_form) and pickup
 *      delivery (POST /v1/dossiers);
 *   5. reads it back once (GET /v1/dossiers/ID must be 200).
 *
 * Usage: cds-bench-setup-dossier API_URL [PERSONAL_ID]
 *   API_URL      e.g. http://127.0.0.1:8080 (cleartext HTTP/2, prior knowledge)
 *   PERSONAL_ID  a level-2 test citizen of the stand-in (default 079085001234)
 *
 * Output on success (stdout, exit 0): two lines, the access token and the
 * dossier id. On failure: what failed and the server's answer on stderr,
 * exit 1 (2 on usage errors). */
#include <curl/curl.h>
#include <jansson.h>

#include "bench/load.h"
#include "core/buf.h"
#include "tests/lib/login.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PID "079085001234"

static const char pdf[] =
    "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

typedef struct resp {
    long status;
    cds_buf body;
} resp;

static const char *api;       /* base URL of our server, no trailing slash */
static char bearer[4200];     /* "Authorization: Bearer ..." once logged in */

static void resp_free(resp *r)
{
    cds_buf_free(&r->body);
    memset(r, 0, sizeof *r);
}

/* One request. h2: HTTP/2 with prior knowledge (our server), else HTTP/1.1
 * (the stand-in's authorization page). Never follows redirects. Returns the
 * HTTP status, or -1 when no answer came. */
static long http(resp *r, int h2, const char *method, const char *url, const char *const *headers,
                 const void *body, size_t body_len)
{
    memset(r, 0, sizeof *r);
    r->status = -1;
    cds_buf_init(&r->body, BENCH_RESP_MAX);
    CURL *c = curl_easy_init();
    if (!c) return -1;
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++) hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                     h2 ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    } else {
        fprintf(stderr, "setup: %s %s: %s\n", method, url, curl_easy_strerror(rc));
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return r->status;
}

static char *url_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *url_of(const char *fmt, ...)
{
    static char out[4][1024];
    static int k;
    k = (k + 1) % 4;
    int n = snprintf(out[k], sizeof out[k], "%s", api);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out[k] + n, sizeof out[k] - (size_t)n, fmt, ap);
    va_end(ap);
    return out[k];
}

/* A request to our server whose answer must have status `want` and a JSON
 * body; returns that body (the caller frees it) or NULL after saying why. */
static json_t *call(const char *what, long want, const char *method, const char *url,
                    const char *const *headers, const void *body, size_t body_len)
{
    resp r;
    long st = http(&r, 1, method, url, headers, body, body_len);
    json_t *j = st == want ? json_loads(cds_buf_str(&r.body), 0, NULL) : NULL;
    if (!j)
        fprintf(stderr, "setup: %s: %s %s answered %ld (expected %ld): %s\n", what, method, url, st,
                want, cds_buf_str(&r.body));
    resp_free(&r);
    return j;
}

static json_t *call_json(const char *what, long want, const char *method, const char *url,
                         json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    const char *h[] = {bearer, "Content-Type: application/json", NULL};
    json_t *j = s ? call(what, want, method, url, bearer[0] ? h : h + 1, s, strlen(s)) : NULL;
    free(s);
    return j;
}

/* The app's login through the VNeID stand-in, as the tests do it. */
static int login(const char *pid)
{
    th_proc server;
    memset(&server, 0, sizeof server);
    snprintf(server.url, sizeof server.url, "%s", api);
    th_login l;
    long st = th_login_as(&server, pid, &l);
    if (st != 200) {
        fprintf(stderr, "setup: login: callback answered %ld %s\n", st, l.problem);
        return -1;
    }
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", l.access);
    return 0;
}

/* A valid value for each field of a form schema (as test_dossiers.c). */
static json_t *valid_form(json_t *schema, const char *pid)
{
    json_t *form = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(schema, "fields"), i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *type = json_string_value(json_object_get(f, "type"));
        if (!name || !type) continue;
        json_t *v;
        if (!strcmp(type, "integer") || !strcmp(type, "number")) {
            json_t *mn = json_object_get(f, "min");
            v = json_integer(mn ? json_integer_value(mn) : 1);
        } else if (!strcmp(type, "boolean")) {
            v = json_true();
        } else if (!strcmp(type, "date")) {
            v = json_string("1990-05-17");
        } else if (!strcmp(type, "enum")) {
            v = json_incref(json_array_get(json_object_get(f, "options"), 0));
        } else if (!strcmp(type, "personal_id")) {
            v = json_string(pid);
        } else if (!strcmp(type, "phone")) {
            v = json_string("0912345678");
        } else {
            v = json_string("Nội dung thử nghiệm");
        }
        json_object_set_new(form, name, v);
    }
    return form;
}

/* Uploads one PDF per required document; the "attachments" array to file. */
static json_t *upload_documents(json_t *procedure)
{
    json_t *out = json_array();
    size_t i;
    json_t *d;
    const char *h[] = {bearer, "Content-Type: application/pdf", NULL};
    json_array_foreach(json_object_get(procedure, "required_documents"), i, d) {
        const char *doc = json_string_value(json_object_get(d, "code"));
        json_t *a = call("upload", 201, "POST", url_of("/v1/attachments?name=x.pdf"), h, pdf,
                         sizeof pdf - 1);
        const char *id = json_string_value(json_object_get(a, "id"));
        if (!id || !doc) {
            if (a) fprintf(stderr, "setup: upload: no id, or a document without a code\n");
            json_decref(a);
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, json_pack("{s:s,s:s}", "id", id, "document_code", doc));
        json_decref(a);
    }
    return out;
}

static int run(const char *pid)
{
    if (login(pid) != 0) return -1;
    json_t *list = call("procedure search", 200, "GET",
                        url_of("/v1/procedures?q=giay%%20phep%%20xay%%20dung&limit=5"), NULL,
                        NULL, 0);
    const char *code =
        json_string_value(json_object_get(json_array_get(json_object_get(list, "items"), 0), "code"));
    if (!code) {
        if (list) fprintf(stderr, "setup: no building permit in the catalog (was it loaded?)\n");
        json_decref(list);
        return -1;
    }
    json_t *proc = call("procedure", 200, "GET", url_of("/v1/procedures/%s", code), NULL, NULL, 0);
    json_decref(list);
    if (!proc) return -1;
    json_t *atts = upload_documents(proc);
    if (!atts) {
        json_decref(proc);
        return -1;
    }
    json_t *body = json_pack("{s:O,s:o,s:o,s:{s:s}}", "procedure_code", json_object_get(proc, "code"),
                             "form", valid_form(json_object_get(proc, "form_schema"), pid),
                             "attachments", atts, "delivery", "method", "pickup");
    json_decref(proc);
    json_t *filed = body ? call_json("filing", 201, "POST", url_of("/v1/dossiers"), body) : NULL;
    json_decref(body);
    const char *id = json_string_value(json_object_get(filed, "id"));
    int rc = -1;
    if (id) {
        const char *h[] = {bearer, NULL};
        json_t *got = call("read back", 200, "GET", url_of("/v1/dossiers/%s", id), h, NULL, 0);
        if (got) {
            printf("%s\n%s\n", bearer + strlen("Authorization: Bearer "), id);
            rc = 0;
        }
        json_decref(got);
    } else if (filed) {
        fprintf(stderr, "setup: filing: no id in the answer\n");
    }
    json_decref(filed);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || strncmp(argv[1], "http://", 7) != 0) {
        fprintf(stderr, "usage: %s http://HOST:PORT [PERSONAL_ID]\n", argv[0]);
        return 2;
    }
    static char base[512];
    snprintf(base, sizeof base, "%s", argv[1]);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') base[--n] = 0;
    api = base;
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) return 1;
    int rc = run(argc == 3 ? argv[2] : DEFAULT_PID);
    curl_global_cleanup();
    return rc == 0 ? 0 : 1;
}
