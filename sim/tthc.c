/* The TTHC stand-in (`tthc`, port 9002): plays the city's dossier processing
 * system, which drives each dossier's steps by calling OUR partner API with
 * HMAC-signed requests, signed by its own code (sim_partner_signature,
 * sim/provider_sign.c, from openapi.yaml's partnerHmac scheme). A test tells it what to send over
 * its control endpoints; it signs, sends one request to the target (our
 * server) and answers with what our server answered:
 *
 *   POST /_sim/step      {"dossier_code","step","event_id"?,"occurred_at"?,"note"?,
 *                         "fee_vnd"?,"missing_documents"?}
 *                        -> POST {target}/v1/partner/dossiers/{code}/steps
 *   POST /_sim/import    {"ref","code","procedure_code","applicant":{...},
 *                         "submitted_at"?,"status"?,"due_date"?}
 *                        -> POST {target}/v1/partner/dossiers
 *   POST /_sim/overdue   {"query"?}  -> GET {target}/v1/partner/dossiers/overdue[?query]
 *   POST /_sim/procedure {"code",...} -> PUT {target}/v1/partner/procedures/{code}
 *   POST /_sim/raw       {"method","path","body"?(string),"timestamp"?,"signature"?}
 *                        -> any request, for edge cases
 *
 * /_sim/procedure may hold "if_match": "\"v3\"" (sent as If-Match; without
 * it the push says If-None-Match: *, a creation).
 * Every control body may also hold "sign": "good" (default) | "bad" (a wrong
 * secret) | "stale" (timestamp 10 minutes old) | "future" (10 minutes ahead)
 * | "none" (no X-Client-Id/X-Timestamp/X-Signature at all), "as_client" (the
 * X-Client-Id to send instead of ours) and "repeat": n (1..100, the same
 * signed request, byte for byte, sent n times one after the other, e.g. to
 * deliver a duplicate). Those control keys are taken out; every other member
 * is passed to our server as given, so a test can also send wrong types or
 * unknown fields. Defaults filled in: event_id (a fresh random id) and
 * occurred_at (now, +07:00) for a step; submitted_at (now) and status
 * ("received") for an import.
 *
 * The answer: {"status": our HTTP status, "body": our JSON answer (or its
 * text when not JSON), "request": {"method","path"}, "event_id"?, and with
 * repeat > 1 "responses": [{"status","body"}, ...]}. HTTP 200 when every
 * call got an answer, 502 (with "error") when one did not.
 *
 * The calls run on the loop thread's curl multi (cds_req_worker()->http) and
 * are tracked with the control request, so a control request that goes away
 * cancels its call. Each control request is recorded (sim_record), each
 * outgoing call with its answer too (sim_record_event, kind "call"). Any
 * other request to this stand-in (a call our server might make to TTHC) is
 * recorded and answered 200, like the sink.
 *
 * Ratings and feedback our server sends (POST /api/v1/ratings, /api/v1/feedback)
 * are checked and kept by sim/tthc_inbox.c.
 *
 * Configuration: CDS_SIM_TTHC_TARGET (our API base URL, default
 * http://127.0.0.1:8080), CDS_SIM_TTHC_CLIENT (default "tthc-hcm"),
 * CDS_SIM_TTHC_SECRET (default "cds-dev-partner-secret"),
 * CDS_SIM_TTHC_CA_FILE (trust anchor for an https target, optional). */
#include "core/http_client.h"
#include "core/log.h"
#include "sim/sim.h"
#include "sim/witness.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TARGET "http://127.0.0.1:8080"
#define DEFAULT_CLIENT "tthc-hcm"
#define DEFAULT_SECRET "cds-dev-partner-secret"
#define REPEAT_MAX 100
#define CALL_TIMEOUT_MS 15000
#define SKEW_S 600 /* "stale"/"future": twice the server's default window */
#define PATH_MAX_LEN 4096

typedef struct tthc_state {
    char target[512]; /* without a trailing '/' */
    char client[128];
    char secret[512];
    char ca_file[512];
} tthc_state;

/* Read-only after tthc_init, so every loop thread may use it without a lock. */
static tthc_state g_tthc;

enum sign_mode { SIGN_GOOD, SIGN_BAD, SIGN_STALE, SIGN_FUTURE, SIGN_NONE };

/* One control request's outgoing exchange(s). */
typedef struct tthc_call {
    cds_req *r;
    sim_standin *s;
    const char *method, *path, *url; /* arena */
    const char *headers[8];          /* arena, NULL-terminated */
    const char *body;                /* arena; NULL: none */
    size_t body_len;
    int left, total, failed;
    int slot;
    cds_http_call *call;
    json_t *responses; /* [{"status","body"|"error"}] */
    json_t *extra;     /* members added to the answer (event_id) */
} tthc_call;

static void call_free(void *p)
{
    tthc_call *c = p;
    json_decref(c->responses);
    json_decref(c->extra);
    free(c);
}

static void copy_env(char *dst, size_t cap, const char *name, const char *dflt)
{
    const char *v = getenv(name);
    snprintf(dst, cap, "%s", v && *v ? v : dflt);
}

static int tthc_init(sim_standin *s)
{
    copy_env(g_tthc.target, sizeof g_tthc.target, "CDS_SIM_TTHC_TARGET", DEFAULT_TARGET);
    copy_env(g_tthc.client, sizeof g_tthc.client, "CDS_SIM_TTHC_CLIENT", DEFAULT_CLIENT);
    copy_env(g_tthc.secret, sizeof g_tthc.secret, "CDS_SIM_TTHC_SECRET", DEFAULT_SECRET);
    copy_env(g_tthc.ca_file, sizeof g_tthc.ca_file, "CDS_SIM_TTHC_CA_FILE", "");
    size_t n = strlen(g_tthc.target);
    while (n > 0 && g_tthc.target[n - 1] == '/')
        g_tthc.target[--n] = 0;
    if (strncmp(g_tthc.target, "http://", 7) != 0 && strncmp(g_tthc.target, "https://", 8) != 0) {
        fprintf(stderr, "cds-sim: CDS_SIM_TTHC_TARGET must be an http:// or https:// base URL\n");
        return -1;
    }
    for (const char *p = g_tthc.client; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f) {
            fprintf(stderr, "cds-sim: CDS_SIM_TTHC_CLIENT has a control character\n");
            return -1;
        }
    s->state = &g_tthc;
    return 0;
}

/* ---------------- helpers ---------------- */

static void bad_control(cds_req *r, const char *detail)
{
    cds_problem(r, 400, "invalid_control", detail);
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static const char *path_segment(cds_req *r, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = cds_req_alloc(r, 3 * n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = 0;
    return out;
}

static const char *fresh_event_id(cds_req *r)
{
    unsigned char raw[12];
    if (RAND_bytes(raw, sizeof raw) != 1) return NULL;
    char hex[2 * sizeof raw + 1];
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    return cds_req_printf(r, "tthc-%s", hex);
}

static const char *now_rfc3339(cds_req *r)
{
    char ts[40];
    cds_time_rfc3339(ts, sizeof ts);
    return cds_req_strdup(r, ts);
}

static int is_control_key(const char *k)
{
    return strcmp(k, "sign") == 0 || strcmp(k, "repeat") == 0 || strcmp(k, "as_client") == 0 ||
           strcmp(k, "if_match") == 0;
}

/* The control body as a new reference: a JSON object, or {} when the body is
 * empty. NULL after answering 400. */
static json_t *control_json(cds_req *r)
{
    size_t len = 0;
    cds_req_body(r, &len);
    if (len == 0) return json_object();
    json_t *in = cds_req_json(r);
    if (in && !json_is_object(in)) {
        bad_control(r, "Nội dung điều khiển phải là một đối tượng JSON.");
        return NULL;
    }
    return json_incref(in);
}

/* Copies `in` minus the control keys and minus `skip` into a new object,
 * after the members already in `out`. */
static void copy_members(json_t *out, json_t *in, const char *skip)
{
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v) {
        if (is_control_key(k) || (skip && strcmp(k, skip) == 0) || json_object_get(out, k))
            continue;
        json_object_set(out, k, v);
    }
}

/* ---------------- sending ---------------- */

static json_t *answer_body(const cds_http_response *resp)
{
    if (!resp->body || resp->body_len == 0) return json_null();
    json_t *j = json_loadb(resp->body, resp->body_len, JSON_DECODE_ANY, NULL);
    if (j) return j;
    j = json_stringn(resp->body, resp->body_len);
    return j ? j : json_string("(body not UTF-8)");
}

static void finish(tthc_call *c)
{
    cds_req *r = c->r;
    size_t n = json_array_size(c->responses);
    json_t *last = json_array_get(c->responses, n - 1);
    json_t *out = json_object();
    json_object_set(out, "status", json_object_get(last, "status"));
    if (json_object_get(last, "error"))
        json_object_set(out, "error", json_object_get(last, "error"));
    json_object_set(out, "body",
                    json_object_get(last, "body") ? json_object_get(last, "body") : json_null());
    json_object_set_new(out, "request",
                        json_pack("{s:s,s:s}", "method", c->method, "path", c->path));
    if (c->extra) json_object_update(out, c->extra);
    if (c->total > 1) json_object_set(out, "responses", c->responses);
    cds_respond_json(r, c->failed ? 502 : 200, out);
}

static void send_one(tthc_call *c);

static void on_answer(void *arg, const cds_http_response *resp)
{
    tthc_call *c = arg;
    cds_req_untrack(c->r, c->slot);
    c->call = NULL;
    json_t *one = json_pack("{s:I}", "status", (json_int_t)resp->status);
    if (resp->error) {
        json_object_set_new(one, "error", json_string(resp->error));
        c->failed = 1;
    }
    if (!resp->error || resp->body_len) json_object_set_new(one, "body", answer_body(resp));
    json_array_append(c->responses, one);

    json_t *hdrs = json_object();
    for (size_t i = 0; c->headers[i]; i++) {
        const char *h = c->headers[i], *colon = strchr(h, ':');
        if (colon && strncmp(h, "X-", 2) == 0)
            json_object_set_new(hdrs, cds_req_printf(c->r, "%.*s", (int)(colon - h), h),
                                json_string(colon + 2));
    }
    json_t *ev =
        json_pack("{s:s,s:s,s:o,s:s%,s:i,s:i}", "method", c->method, "url", c->url, "headers", hdrs,
                  "sent_body", c->body ? c->body : "", c->body ? c->body_len : (size_t)0, "attempt",
                  c->total - c->left + 1, "of", c->total);
    if (ev) json_object_update(ev, one);
    json_decref(one);
    if (ev) sim_record_event(c->s, "call", ev);

    if (--c->left > 0 && !resp->error) {
        send_one(c);
        return;
    }
    finish(c);
}

static void cancel_call(void *call)
{
    cds_http_cancel(call);
}

static void send_one(tthc_call *c)
{
    cds_http_request hr = {.method = c->method,
                           .url = c->url,
                           .headers = c->headers,
                           .body = c->body,
                           .body_len = c->body_len,
                           .timeout_ms = CALL_TIMEOUT_MS,
                           .max_response = 4 * 1024 * 1024,
                           .ca_file = g_tthc.ca_file[0] ? g_tthc.ca_file : NULL};
    c->call = cds_http_start(cds_req_worker(c->r)->http, &hr, on_answer, c);
    if (!c->call) {
        json_array_append_new(c->responses, json_pack("{s:i,s:s}", "status", 0, "error",
                                                      "request refused by the HTTP client"));
        c->failed = 1;
        finish(c);
        return;
    }
    c->slot = cds_req_track(c->r, cancel_call, c->call);
}

/* Signs (as `in` asks) and sends method+path with body; answers the control
 * request when done. `extra` (stolen, may be NULL) is added to the answer.
 * ts_override (integer: signed over; string: sent verbatim) and sig_override
 * replace the X-Timestamp / X-Signature values (raw only). */
static void sign_and_send(cds_req *r, json_t *in, const char *method, const char *path,
                          const char *body, json_t *extra, json_t *ts_override,
                          const char *sig_override)
{
    const char *sign = "good";
    json_t *v = json_object_get(in, "sign");
    if (v && !(sign = json_string_value(v))) sign = "";
    enum sign_mode mode;
    if (strcmp(sign, "good") == 0)
        mode = SIGN_GOOD;
    else if (strcmp(sign, "bad") == 0)
        mode = SIGN_BAD;
    else if (strcmp(sign, "stale") == 0)
        mode = SIGN_STALE;
    else if (strcmp(sign, "future") == 0)
        mode = SIGN_FUTURE;
    else if (strcmp(sign, "none") == 0)
        mode = SIGN_NONE;
    else {
        json_decref(extra);
        bad_control(r, "\"sign\" phải là \"good\", \"bad\", \"stale\", \"future\" hoặc \"none\".");
        return;
    }
    json_int_t repeat = 1;
    v = json_object_get(in, "repeat");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > REPEAT_MAX) {
            json_decref(extra);
            bad_control(r, "\"repeat\" phải là số nguyên từ 1 đến 100.");
            return;
        }
        repeat = json_integer_value(v);
    }
    const char *client = g_tthc.client;
    v = json_object_get(in, "as_client");
    if (v) {
        client = json_string_value(v);
        if (!client || strpbrk(client, "\r\n")) {
            json_decref(extra);
            bad_control(r, "\"as_client\" phải là một chuỗi trên một dòng.");
            return;
        }
    }

    tthc_call *c = calloc(1, sizeof *c);
    if (!c) abort();
    cds_req_set_user(r, c, call_free);
    c->r = r;
    c->s = sim_of(r);
    c->method = cds_req_strdup(r, method);
    c->path = cds_req_strdup(r, path);
    c->url = cds_req_printf(r, "%s%s", g_tthc.target, path);
    c->body = body ? cds_req_strdup(r, body) : NULL;
    c->body_len = body ? strlen(body) : 0;
    c->left = c->total = (int)repeat;
    c->responses = json_array();
    c->extra = extra;

    size_t h = 0;
    c->headers[h++] = "Accept: application/json";
    c->headers[h++] = "User-Agent: cds-sim-tthc/1";
    if (c->body || strcmp(method, "GET") != 0) c->headers[h++] = "Content-Type: application/json";
    if (mode != SIGN_NONE) {
        long long ts = (long long)time(NULL);
        if (mode == SIGN_STALE) ts -= SKEW_S;
        if (mode == SIGN_FUTURE) ts += SKEW_S;
        const char *ts_text = NULL;
        if (json_is_integer(ts_override))
            ts = (long long)json_integer_value(ts_override);
        else if (json_is_string(ts_override))
            ts_text = json_string_value(ts_override);
        char sig[65];
        const char *key = mode == SIGN_BAD ? cds_req_printf(r, "wrong-%s", g_tthc.secret)
                                           : g_tthc.secret;
        if (sim_partner_signature(key, method, path, cds_req_printf(r, "%lld", ts), c->body,
                                  c->body_len, sig) != 0)
            abort();
        c->headers[h++] = cds_req_printf(r, "X-Client-Id: %s", client);
        c->headers[h++] = ts_text ? cds_req_printf(r, "X-Timestamp: %s", ts_text)
                                  : cds_req_printf(r, "X-Timestamp: %lld", ts);
        c->headers[h++] = cds_req_printf(r, "X-Signature: %s", sig_override ? sig_override : sig);
    }
    /* A procedure update names the version it read; a push without one
     * creates (our server requires one or the other: 428 otherwise). */
    const char *im = json_string_value(json_object_get(in, "if_match"));
    if (im && !strpbrk(im, "\r\n"))
        c->headers[h++] = cds_req_printf(r, "If-Match: %s", im);
    else if (strcmp(method, "PUT") == 0 && strncmp(path, "/v1/partner/procedures/", 23) == 0)
        c->headers[h++] = "If-None-Match: *";
    c->headers[h] = NULL;
    send_one(c);
}

/* Serializes a body object compactly (member order as built). */
static char *dump(cds_req *r, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    char *out = s ? cds_req_strdup(r, s) : NULL;
    free(s);
    return out;
}

/* ---------------- control endpoints ---------------- */

static void do_step(cds_req *r, json_t *in)
{
    const char *code = json_string_value(json_object_get(in, "dossier_code"));
    if (!code || !*code || strlen(code) > 256) {
        bad_control(r, "Thiếu \"dossier_code\" (mã hồ sơ).");
        return;
    }
    json_t *body = json_object();
    json_t *ev = json_object_get(in, "event_id");
    if (ev) {
        json_object_set(body, "event_id", ev);
    } else {
        const char *id = fresh_event_id(r);
        if (!id) {
            json_decref(body);
            cds_problem(r, 500, "random_failed", "Không tạo được mã sự kiện.");
            return;
        }
        json_object_set_new(body, "event_id", json_string(id));
    }
    if (json_object_get(in, "step")) json_object_set(body, "step", json_object_get(in, "step"));
    json_t *at = json_object_get(in, "occurred_at");
    json_object_set_new(body, "occurred_at", at ? json_incref(at) : json_string(now_rfc3339(r)));
    copy_members(body, in, "dossier_code");
    const char *text = dump(r, body);
    json_t *extra = json_pack("{s:O}", "event_id", json_object_get(body, "event_id"));
    json_decref(body);
    if (!text) {
        json_decref(extra);
        bad_control(r, "Không tạo được nội dung JSON của bước xử lý.");
        return;
    }
    const char *path = cds_req_printf(r, "/v1/partner/dossiers/%s/steps", path_segment(r, code));
    sign_and_send(r, in, "POST", path, text, extra, NULL, NULL);
}

static void do_import(cds_req *r, json_t *in)
{
    json_t *body = json_object();
    copy_members(body, in, NULL);
    if (!json_object_get(body, "submitted_at"))
        json_object_set_new(body, "submitted_at", json_string(now_rfc3339(r)));
    if (!json_object_get(body, "status"))
        json_object_set_new(body, "status", json_string("received"));
    const char *text = dump(r, body);
    json_decref(body);
    if (!text) {
        bad_control(r, "Không tạo được nội dung JSON của hồ sơ.");
        return;
    }
    sign_and_send(r, in, "POST", "/v1/partner/dossiers", text, NULL, NULL, NULL);
}

static void do_overdue(cds_req *r, json_t *in)
{
    const char *path = "/v1/partner/dossiers/overdue";
    json_t *q = json_object_get(in, "query");
    if (q) {
        const char *qs = json_string_value(q);
        if (!qs || strlen(qs) > PATH_MAX_LEN || strpbrk(qs, " \r\n#")) {
            bad_control(r, "\"query\" phải là chuỗi truy vấn đã mã hóa, không có dấu cách.");
            return;
        }
        if (*qs) path = cds_req_printf(r, "%s?%s", path, qs);
    }
    sign_and_send(r, in, "GET", path, NULL, NULL, NULL, NULL);
}

static void do_procedure(cds_req *r, json_t *in)
{
    const char *code = json_string_value(json_object_get(in, "code"));
    if (!code || !*code || strlen(code) > 256) {
        bad_control(r, "Thiếu \"code\" (mã thủ tục).");
        return;
    }
    json_t *body = json_object();
    copy_members(body, in, NULL);
    const char *text = dump(r, body);
    json_decref(body);
    if (!text) {
        bad_control(r, "Không tạo được nội dung JSON của thủ tục.");
        return;
    }
    const char *path = cds_req_printf(r, "/v1/partner/procedures/%s", path_segment(r, code));
    sign_and_send(r, in, "PUT", path, text, NULL, NULL, NULL);
}

static void do_raw(cds_req *r, json_t *in)
{
    const char *method = json_string_value(json_object_get(in, "method"));
    const char *path = json_string_value(json_object_get(in, "path"));
    json_t *b = json_object_get(in, "body");
    json_t *ts = json_object_get(in, "timestamp");
    json_t *sig = json_object_get(in, "signature");
    int method_ok = method && *method && strlen(method) <= 16;
    for (const char *p = method; method_ok && *p; p++)
        method_ok = *p >= 'A' && *p <= 'Z';
    if (!method_ok) {
        bad_control(r, "\"method\" phải là phương thức HTTP viết hoa, ví dụ \"POST\".");
        return;
    }
    if (!path || path[0] != '/' || strlen(path) > PATH_MAX_LEN || strpbrk(path, " \r\n#")) {
        bad_control(r, "\"path\" phải bắt đầu bằng \"/\", đã mã hóa, không có dấu cách.");
        return;
    }
    if (b && !json_is_string(b)) {
        bad_control(r, "\"body\" phải là một chuỗi (gửi nguyên văn).");
        return;
    }
    if (ts && !json_is_integer(ts) && !json_is_string(ts)) {
        bad_control(r, "\"timestamp\" phải là số nguyên hoặc chuỗi (gửi nguyên văn).");
        return;
    }
    if ((ts && json_is_string(ts) && strpbrk(json_string_value(ts), "\r\n")) ||
        (sig && (!json_is_string(sig) || strpbrk(json_string_value(sig), "\r\n")))) {
        bad_control(r, "\"timestamp\"/\"signature\" phải nằm trên một dòng.");
        return;
    }
    if (b && strlen(json_string_value(b)) != json_string_length(b)) {
        bad_control(r, "\"body\" không được chứa ký tự NUL.");
        return;
    }
    sign_and_send(r, in, method, path, b ? json_string_value(b) : NULL, NULL, ts,
                  sig ? json_string_value(sig) : NULL);
}

/* Each control endpoint: record, parse, act, release the parsed body (what
 * the call needs later was copied into the request's arena). */
#define CONTROL(name)                                                                              \
    static void ctl_##name(cds_req *r)                                                             \
    {                                                                                              \
        sim_record(r);                                                                             \
        json_t *in = control_json(r);                                                              \
        if (!in) return;                                                                           \
        do_##name(r, in);                                                                          \
        json_decref(in);                                                                           \
    }
CONTROL(step)
CONTROL(import)
CONTROL(overdue)
CONTROL(procedure)
CONTROL(raw)

/* Anything else: a call our server makes to TTHC, recorded like the sink. */
static void tthc_any(cds_req *r)
{
    long seq = sim_record(r);
    cds_respond_json(r, 200, json_pack("{s:b,s:I}", "ok", 1, "seq", (json_int_t)seq));
}

/* sim/tthc_inbox.c: ratings and feedback our server forwards. */
void sim_tthc_ratings(cds_req *r);
void sim_tthc_feedback(cds_req *r);
void sim_tthc_fail(cds_req *r);
void sim_tthc_received(cds_req *r);

static const cds_route tthc_routes[] = {
    {"POST", "/api/v1/ratings", sim_tthc_ratings, 64 * 1024},
    {"POST", "/api/v1/feedback", sim_tthc_feedback, 64 * 1024},
    {"POST", "/_sim/tthc/fail", sim_tthc_fail, 4 * 1024},
    {"GET", "/_sim/tthc/received", sim_tthc_received, 0},
    {"POST", "/_sim/step", ctl_step, 256 * 1024},
    {"POST", "/_sim/import", ctl_import, 256 * 1024},
    {"POST", "/_sim/overdue", ctl_overdue, 64 * 1024},
    {"POST", "/_sim/procedure", ctl_procedure, 1024 * 1024},
    {"POST", "/_sim/raw", ctl_raw, 4 * 1024 * 1024},
};

sim_standin sim_tthc = {
    .name = "tthc",
    .default_port = 9002,
    .routes = tthc_routes,
    .nroutes = sizeof tthc_routes / sizeof tthc_routes[0],
    .fallback = tthc_any,
    .init = tthc_init,
};
