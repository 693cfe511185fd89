/* The request object behind core/http.h: header collection with the header
 * cap, routing and early refusals (404/405/413/431) before any body is read,
 * the body cap (a body taken in pieces: req_body.c), JSON input with a depth limit, problem+json answers, the
 * access log and metrics, and cancellation of a dead request's work. The
 * protocol files (h1.c, h2.c) feed it and carry its answer. */
#include "core/clock.h"
#include "core/conn.h"
#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/lang.h"
#include "core/problem.h"
#include "core/tlmem.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JSON_MAX_DEPTH 32
#define RESP_ARENA_MAX 512 /* at most h1.c's H1_COPY_MAX */

cds_req *cds_req_new(cds_conn *c, int proto)
{
    cds_req *r = cds_tl_calloc(1, sizeof *r); /* core/tlmem.h: per-thread free lists */
    if (!r) abort();
    r->conn = c;
    r->proto = proto;
    r->metric_slot = -1;
    r->t_start_us = cds_now_us();
    cds_metrics_add(CDS_G_STREAMS, 1);
    return r;
}

void cds_req_abandon(cds_req *r)
{
    int any = 0;
    for (int i = 0; r->ever_tracked && i < CDS_MAX_TRACKED; i++)
        if (r->tracked[i].cancel) {
            r->tracked[i].cancel(r->tracked[i].handle);
            r->tracked[i].cancel = NULL;
            any = 1;
        }
    if (r->dispatched && !r->responded) cds_metrics_add(CDS_G_REQ_CANCELLED, 1);
    (void)any;
}

void cds_req_free(cds_req *r)
{
    if (!r) return;
    cds_req_abandon(r);
    if (r->json) json_decref(r->json);
    if (r->user_free) r->user_free(r->user);
    cds_req_body_free(r);
    free(r->body);
    if (!r->resp_body_arena) free(r->resp_body);
    cds_arena_free(&r->arena);
    cds_metrics_add(CDS_G_STREAMS, -1);
    cds_tl_free(r);
}

/* ---------------- headers, routing, limits ---------------- */

int cds_req_add_header(cds_req *r, const char *name, size_t nlen, const char *value, size_t vlen)
{
    /* RFC 7541 accounting: name + value + 32 per field. */
    r->header_bytes += nlen + vlen + 32;
    if (r->header_bytes > r->conn->t->cfg->max_header_bytes) {
        r->early_status = 431;
        return -1;
    }
    if (r->early_status) return -1;
    if (r->nhdrs == r->hdr_cap) {
        int ncap = r->hdr_cap ? r->hdr_cap * 2 : 16;
        void *n = cds_arena_alloc(&r->arena, (size_t)ncap * sizeof *r->hdrs);
        if (r->nhdrs) memcpy(n, r->hdrs, (size_t)r->nhdrs * sizeof *r->hdrs);
        r->hdrs = n;
        r->hdr_cap = ncap;
    }
    char *n = cds_arena_strndup(&r->arena, name, nlen);
    /* HTTP/2 names arrive in lower case (nghttp2 refuses others, RFC 9113
     * 8.2.1); HTTP/1.1's are lowered here. */
    if (r->proto != CDS_PROTO_H2)
        for (char *p = n; *p; p++) *p = (char)tolower((unsigned char)*p);
    r->hdrs[r->nhdrs].name = n;
    r->hdrs[r->nhdrs].value = cds_arena_strndup(&r->arena, value, vlen);
    switch (nlen) {
    case 10:
        if (memcmp(n, "tracestate", 10) == 0) r->h_trace_fields++;
        break;
    case 11:
        if (memcmp(n, "traceparent", 11) == 0) r->h_trace_fields++;
        break;
    case 12:
        if (!r->h_request_id && memcmp(n, "x-request-id", 12) == 0) r->h_request_id = r->hdrs[r->nhdrs].value;
        break;
    case 14:
        if (!r->h_content_length && memcmp(n, "content-length", 14) == 0)
            r->h_content_length = r->hdrs[r->nhdrs].value;
        break;
    default:
        break;
    }
    r->nhdrs++;
    return 0;
}

static int valid_request_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return 0;
    return 1;
}

static void new_request_id(cds_req *r)
{
    /* xorshift64*: request ids need uniqueness, not secrecy. */
    cds_thread *t = r->conn->t;
    uint64_t x[2];
    for (int i = 0; i < 2; i++) {
        t->rng ^= t->rng >> 12;
        t->rng ^= t->rng << 25;
        t->rng ^= t->rng >> 27;
        x[i] = t->rng * 0x2545F4914F6CDD1DULL;
    }
    /* 32 hex digits, written out with a table: once per request. */
    cds_hex_lower(r->request_id, (const unsigned char *)x, sizeof x);
}

/* W3C Trace Context: one valid traceparent continues the caller's trace
 * (two are ambiguous: a new trace, as the spec's test suite expects), with
 * every tracestate field in order; anything else starts a trace. */
static void begin_trace(cds_req *r)
{
    const char *tp = NULL, *states[CDS_TRACESTATE_MEMBERS];
    int ntp = 0, nst = 0, too_many = 0;
    for (int i = 0; r->h_trace_fields && i < r->nhdrs; i++) {
        if (strcmp(r->hdrs[i].name, "traceparent") == 0) {
            tp = r->hdrs[i].value;
            ntp++;
        } else if (strcmp(r->hdrs[i].name, "tracestate") == 0) {
            /* More fields than members allowed: the state is dropped (never
             * the traceparent, whatever the tracestate). */
            if (nst == CDS_TRACESTATE_MEMBERS) too_many = 1;
            else states[nst++] = r->hdrs[i].value;
        }
    }
    cds_trace_begin(&r->trace, ntp == 1 ? tp : NULL, states, too_many ? 0 : nst);
}

int cds_req_headers_done(cds_req *r)
{
    const char *rid = r->h_request_id;
    if (rid && valid_request_id(rid))
        snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    else
        new_request_id(r);
    begin_trace(r);
    if (r->early_status) return r->early_status;
    if (!r->method[0] || !r->path || r->path[0] != '/') return r->early_status = 400;
    char *q = strchr(r->path, '?');
    if (q) {
        *q = 0;
        r->query = q + 1;
    } else {
        r->query = "";
    }
    cds_thread *t = r->conn->t;
    r->match_rc = cds_router_match(r->conn->listen->router, r->method, r->path, strlen(r->path),
                                   &r->match);
    if (r->match_rc == CDS_ROUTE_FOUND) {
        r->route = r->match.route;
        r->metric_slot = cds_server_metric_slot(r->conn->listen->router, r->match.index);
    } else if (r->conn->listen->fallback) {
        static const cds_route any = {"*", "*", NULL, 0};
        r->route = &any;
    } else {
        return r->early_status = r->match_rc == CDS_ROUTE_BAD_METHOD ? 405 : 404;
    }
    size_t cap = r->route->max_body & ~CDS_BODY_STREAMED;
    r->max_body = cap ? cap : t->cfg->max_body;
    const char *cl = r->h_content_length;
    if (cl) {
        char *end;
        unsigned long long v = strtoull(cl, &end, 10);
        if (*end || end == cl) return r->early_status = 400;
        if (v > r->max_body) return r->early_status = 413;
    }
    r->head_only = strcmp(r->method, "HEAD") == 0;
    r->body_stream = (r->route->max_body & CDS_BODY_STREAMED) != 0;
    return 0;
}

int cds_req_body_append(cds_req *r, const char *p, size_t n)
{
    r->bytes_in += n;
    if (r->body_stream) return cds_req_body_stream_append(r, p, n);
    if (r->early_status) return r->early_status;
    if (n > r->max_body - r->body_len) return r->early_status = 413;
    if (r->body_len + n + 1 > r->body_cap) {
        size_t ncap = r->body_cap ? r->body_cap * 2 : 1024;
        while (ncap < r->body_len + n + 1) ncap *= 2;
        if (ncap > r->max_body + 1) ncap = r->max_body + 1;
        char *nb = realloc(r->body, ncap);
        if (!nb) abort();
        r->body = nb;
        r->body_cap = ncap;
    }
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
    return 0;
}

void cds_req_early_problem(cds_req *r, int status)
{
    switch (status) {
    case 404:
        cds_problem(r, 404, "route_not_found", "Không tìm thấy đường dẫn được yêu cầu.");
        break;
    case 405:
        cds_resp_header(r, "allow", r->match.allow);
        cds_problem(r, 405, "method_not_allowed",
                    "Phương thức này không được hỗ trợ cho đường dẫn được yêu cầu.");
        break;
    case 413:
        cds_fail(r, CDS_P_PAYLOAD_TOO_LARGE);
        break;
    case 431:
        cds_problem(r, 431, "headers_too_large", "Phần tiêu đề của yêu cầu quá lớn.");
        break;
    case 408:
        cds_problem(r, 408, "request_timeout", "Hết thời gian chờ nhận yêu cầu.");
        break;
    default:
        cds_problem(r, 400, "bad_request", "Yêu cầu không đúng định dạng.");
        break;
    }
}

void cds_req_dispatch(cds_req *r)
{
    r->dispatched = 1;
    if (r->early_status) {
        cds_req_early_problem(r, r->early_status);
        return;
    }
    /* The handler's log lines carry the request id; its asynchronous work
     * takes the id along (core/log.h). */
    cds_log_ctx prev;
    cds_log_ctx_set_req(r->request_id, &r->trace, &prev);
    if (r->route->handler) r->route->handler(r);
    else r->conn->listen->fallback(r);
    cds_log_ctx_set(&prev, NULL);
}

/* ---------------- the handler-facing API ---------------- */

const char *cds_req_method(const cds_req *r) { return r->method; }
const char *cds_req_path(const cds_req *r) { return r->path; }
const char *cds_req_query_string(const cds_req *r) { return r->query ? r->query : ""; }
const cds_route *cds_req_route(const cds_req *r) { return r->route; }
int cds_req_proto(const cds_req *r) { return r->proto; }
const char *cds_req_id(const cds_req *r) { return r->request_id; }
const cds_trace *cds_req_trace(const cds_req *r) { return &r->trace; }

const char *cds_req_trace_stored(cds_req *r)
{
    char buf[CDS_TRACEPARENT_LEN + 2 + CDS_TRACESTATE_MAX];
    if (cds_trace_stored(&r->trace, buf, sizeof buf) != 0) return NULL;
    return cds_arena_strndup(&r->arena, buf, strlen(buf));
}

void cds_req_log_ctx(const cds_req *r, cds_log_ctx *out)
{
    cds_log_ctx_fill(out, r->request_id, &r->trace);
}
const char *cds_req_peer(const cds_req *r) { return r->conn->peer; }
int cds_req_tls(const cds_req *r) { return r->conn->tls; }
cds_worker *cds_req_worker(const cds_req *r) { return &r->conn->t->w; }
void *cds_req_listener_data(const cds_req *r) { return r->conn->listen->data; }
int cds_req_responded(const cds_req *r) { return r->responded; }
void *cds_req_user(const cds_req *r) { return r->user; }

void cds_req_set_user(cds_req *r, void *user, void (*free_fn)(void *))
{
    r->user = user;
    r->user_free = free_fn;
}

const char *cds_req_header(const cds_req *r, const char *name)
{
    for (int i = 0; i < r->nhdrs; i++)
        if (strcmp(r->hdrs[i].name, name) == 0) return r->hdrs[i].value;
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Percent-decodes [s, s+n) into the arena; NULL on a bad escape or %00. */
static char *pct_decode(cds_req *r, const char *s, size_t n, int plus_is_space)
{
    char *out = cds_arena_alloc(&r->arena, n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int a = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int b = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (a < 0 || b < 0 || (a == 0 && b == 0)) return NULL;
            *o++ = (char)(a * 16 + b);
            i += 2;
        } else if (plus_is_space && s[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = 0;
    return out;
}

const char *cds_req_param(const cds_req *r, const char *name)
{
    for (int i = 0; i < r->match.nparams; i++)
        if (strcmp(r->match.names[i], name) == 0)
            return pct_decode((cds_req *)r, r->match.start[i], r->match.len[i], 0);
    return NULL;
}

/* The decoded value of `name` in "a=1&b=2" text s, or NULL. */
static const char *field_in(cds_req *r, const char *s, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = s; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        if (klen == nl && memcmp(p, name, nl) == 0)
            return eq ? pct_decode(r, eq + 1, len - klen - 1, 1) : "";
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

const char *cds_req_query(cds_req *r, const char *name)
{
    return field_in(r, r->query, name);
}

const char *cds_req_form(cds_req *r, const char *name)
{
    const char *ct = cds_req_header(r, "content-type");
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) return NULL;
    /* The body is kept NUL-terminated (cds_req_body_append); a NUL inside
     * it is refused rather than read as its end. */
    if (!r->body || strlen(r->body) != r->body_len) return NULL;
    return field_in(r, r->body, name);
}

const char *cds_req_body(const cds_req *r, size_t *len)
{
    if (len) *len = r->body_len;
    return r->body ? r->body : "";
}

void *cds_req_alloc(cds_req *r, size_t n) { return cds_arena_alloc(&r->arena, n); }

char *cds_req_strdup(cds_req *r, const char *s)
{
    return cds_arena_strndup(&r->arena, s, strlen(s));
}

char *cds_req_printf(cds_req *r, const char *fmt, ...)
{
    /* Most results are short: format once into a stack buffer. glibc's
     * vsnprintf(NULL, 0, ...) sizing pass is slow (it formats through a
     * tiny overflow buffer), so it is only paid by long results. */
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return cds_req_strdup(r, "");
    char *p = cds_arena_alloc(&r->arena, (size_t)n + 1);
    if ((size_t)n < sizeof small) {
        memcpy(p, small, (size_t)n + 1);
        return p;
    }
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* Depth of the deepest array/object, counted outside strings, stopping early
 * once over the limit so a hostile body costs one linear pass at most. */
static int json_too_deep(const char *s, size_t n)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH) return 1;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

json_t *cds_req_json(cds_req *r)
{
    if (r->json) return r->json;
    const char *ct = cds_req_header(r, "content-type");
    if (ct && strncasecmp(ct, "application/json", 16) != 0 && !strstr(ct, "+json")) {
        cds_problem(r, 415, "unsupported_media_type",
                    "Nội dung phải ở định dạng JSON (Content-Type: application/json).");
        return NULL;
    }
    if (json_too_deep(r->body ? r->body : "", r->body_len)) {
        cds_problem(r, 400, "json_too_deep", "Dữ liệu JSON lồng nhau quá sâu (tối đa 32 cấp).");
        return NULL;
    }
    json_error_t err;
    json_t *j = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        /* jansson quotes the bytes near the error, which may be the invalid
         * UTF-8 that failed: the problem body must stay valid JSON (a string
         * that is not UTF-8 made json_pack fail, and the server abort). */
        for (char *c = err.text; *c; c++)
            if ((unsigned char)*c >= 0x80 || (unsigned char)*c < 0x20) *c = '?';
        char detail[400];
        snprintf(detail, sizeof detail,
                 "Dữ liệu JSON không hợp lệ tại dòng %d, cột %d (vị trí %d): %s", err.line,
                 err.column, err.position, err.text);
        cds_problem(r, 400, "invalid_json", detail);
        return NULL;
    }
    r->json = j;
    return j;
}

/* ---------------- answering ---------------- */

/* A response header whose name and value live as long as the request (string
 * literals, the request's own fields): not copied. */
static cds_hdr_out *resp_header_ref(cds_req *r, const char *name, size_t nlen, const char *value,
                                    size_t vlen)
{
    cds_hdr_out *h = cds_arena_alloc(&r->arena, sizeof *h);
    h->name = name;
    h->value = value;
    h->nlen = nlen;
    h->vlen = vlen;
    h->upper = 0;
    h->unique = 0;
    h->next = r->rh;
    r->rh = h;
    return h;
}

/* A literal name and value (lower-case name): no copy, no strlen. */
#define RESP_HEADER_LIT(r, n, v) resp_header_ref(r, n, sizeof n - 1, v, sizeof v - 1)

/* Whether s[0..n) has an upper-case letter (or a byte past ASCII, which
 * nghttp2 is then left to judge): eight bytes at a time, as a byte b < 0x80
 * is >= 'A' when b + 0x3f sets bit 7 and > 'Z' when b + 0x25 does. */
static int has_upper(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    size_t i = 0;
    uint64_t w;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if ((w & high) || ((w + 0x3f * ones) & ~(w + 0x25 * ones) & high)) return 1;
    }
    if (i < n && n >= 8) { /* the tail: the last eight bytes, overlapping */
        memcpy(&w, s + n - 8, 8);
        return (w & high) || ((w + 0x3f * ones) & ~(w + 0x25 * ones) & high);
    }
    for (; i < n; i++)
        if ((s[i] >= 'A' && s[i] <= 'Z') || (unsigned char)s[i] >= 0x80) return 1;
    return 0;
}

void cds_resp_header(cds_req *r, const char *name, const char *value)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    cds_hdr_out *h = resp_header_ref(r, cds_arena_strndup(&r->arena, name, nlen), nlen,
                                     cds_arena_strndup(&r->arena, value, vlen), vlen);
    h->upper = (unsigned char)has_upper(name, nlen);
}

void cds_respond(cds_req *r, int status, const char *content_type, const char *body, size_t len)
{
    if (r->responded) {
        cds_log(CDS_LOG_ERROR, "double_response", "route %s answered twice",
                r->route ? r->route->path : "-");
        return;
    }
    r->responded = 1;
    r->status = status;
    if (content_type) cds_resp_header(r, "content-type", content_type);
    if (r->lang_from) {
        const char *tag = cds_lang_tag((cds_lang)r->lang); /* a literal */
        resp_header_ref(r, "content-language", 16, tag, strlen(tag));
    }
    if (r->lang_from == 1) RESP_HEADER_LIT(r, "vary", "accept-language");
    resp_header_ref(r, "x-request-id", 12, r->request_id, strlen(r->request_id))->unique = 1;
    if (len) {
        /* A small body goes in the request's arena (no malloc/free pair per
         * answer); h1.c copies bodies of this size into its output. */
        r->resp_body_arena = len <= RESP_ARENA_MAX;
        r->resp_body = r->resp_body_arena ? cds_arena_alloc(&r->arena, len) : malloc(len);
        if (!r->resp_body) abort();
        memcpy(r->resp_body, body, len);
    }
    r->resp_len = len;
    uint64_t dur = cds_now_us() - r->t_start_us;
    cds_metrics_request(r->metric_slot, status, dur);
    cds_access a = {r->request_id, r->trace.trace_id, r->trace.span_id, r->conn->ops->name,
                    r->method[0] ? r->method : "-",
                    r->route ? r->route->path : NULL, r->conn->peer, status, dur, r->bytes_in,
                    len};
    cds_log_access(&a);
    r->conn->ops->send(r); /* r may be gone from here on */
}

void cds_respond_stream(cds_req *r, int status, const char *content_type, size_t total,
                        cds_stream_pull pull, void *arg)
{
    if (r->responded) {
        cds_log(CDS_LOG_ERROR, "double_response", "route %s answered twice",
                r->route ? r->route->path : "-");
        return;
    }
    r->responded = 1;
    r->status = status;
    r->stream = 1;
    r->stream_total = total;
    r->pull = pull;
    r->pull_arg = arg;
    if (content_type) cds_resp_header(r, "content-type", content_type);
    resp_header_ref(r, "x-request-id", 12, r->request_id, strlen(r->request_id))->unique = 1;
    uint64_t dur = cds_now_us() - r->t_start_us; /* to the first byte */
    cds_metrics_request(r->metric_slot, status, dur);
    cds_access a = {r->request_id, r->trace.trace_id, r->trace.span_id, r->conn->ops->name,
                    r->method[0] ? r->method : "-",
                    r->route ? r->route->path : NULL, r->conn->peer, status, dur, r->bytes_in,
                    total};
    cds_log_access(&a);
    r->conn->ops->send(r); /* r may be gone from here on */
}

void cds_req_stream_pull(cds_req *r)
{
    if (r->pulling || r->stream_sent >= r->stream_total) return;
    r->pulling = 1;
    r->pull(r, r->pull_arg);
}

void cds_stream_write(cds_req *r, const char *p, size_t n)
{
    if (!r->stream || !r->pulling || n == 0 || n > r->stream_total - r->stream_sent) {
        cds_log(CDS_LOG_ERROR, "stream_misuse", "route %s: piece of %zu bytes out of turn",
                r->route ? r->route->path : "-", n);
        cds_stream_abort(r);
        return;
    }
    r->pulling = 0;
    r->stream_sent += n;
    r->conn->ops->stream_write(r, p, n); /* r may be gone from here on */
}

void cds_stream_abort(cds_req *r)
{
    r->pulling = 0;
    r->conn->ops->stream_abort(r); /* r is gone */
}

void cds_respond_json(cds_req *r, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    cds_respond(r, status, "application/json", s, strlen(s));
    free(s);
}

const char *cds_status_text(int s)
{
    switch (s) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return s >= 500 ? "Server Error" : s >= 400 ? "Client Error" : "Status";
    }
}

int cds_req_lang(cds_req *r)
{
    if (r->lang_from != 2) {
        r->lang = (int)cds_lang_parse(cds_req_header(r, "accept-language"));
        r->lang_from = 1;
    }
    return r->lang;
}

int cds_req_lang_or(cds_req *r, int stored)
{
    int named = cds_lang_named(cds_req_header(r, "accept-language"));
    r->lang = named >= 0 ? named : stored == CDS_LANG_EN ? CDS_LANG_EN : CDS_LANG_VI;
    r->lang_from = 1;
    return r->lang;
}

void cds_req_set_lang(cds_req *r, int lang)
{
    r->lang = lang == CDS_LANG_EN ? CDS_LANG_EN : CDS_LANG_VI;
    r->lang_from = 2;
}

void cds_problem(cds_req *r, int status, const char *code, const char *detail)
{
    cds_problem_titled(r, status, code, cds_status_text(status), detail);
}

void cds_problem_titled(cds_req *r, int status, const char *code, const char *title,
                        const char *detail)
{
    cds_problem_with(r, status, code, title, detail, NULL);
}

void cds_problem_with(cds_req *r, int status, const char *code, const char *title,
                      const char *detail, json_t *extra)
{
    char type[128];
    snprintf(type, sizeof type, "urn:cds:problem:%s", code);
    int lang = cds_req_lang(r);
    if (lang == CDS_LANG_EN) {
        const char *en = cds_problem_detail_en(code);
        if (en) detail = en;
    }
    json_t *j = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s}", "type", type, "title", title, "status",
                          status, "code", code, "detail", detail, "request_id", r->request_id);
    if (!j) /* a detail quoting bytes that are not UTF-8: answer without them, never abort */
        j = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s}", "type", type, "title", title, "status", status,
                      "code", code, "detail",
                      cds_lang_pick((cds_lang)lang, "Yêu cầu không hợp lệ.", "Invalid request."),
                      "request_id", r->request_id);
    /* The members of the problem's own (RFC 9457 extensions): the standard
     * ones stay. */
    if (j && json_is_object(extra)) json_object_update_missing(j, extra);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) abort();
    /* A 503 is always "try again": say when, unless the handler already did
     * (a rate or a provider's hint). A failover is over in seconds. */
    if (status == 503) {
        int said = 0;
        for (const cds_hdr_out *h = r->rh; h && !said; h = h->next)
            said = strcasecmp(h->name, "retry-after") == 0;
        if (!said) cds_resp_header(r, "retry-after", "2");
    }
    cds_respond(r, status, "application/problem+json", s, strlen(s));
    free(s);
}

/* ---------------- asynchronous work ---------------- */

int cds_req_track(cds_req *r, void (*cancel)(void *), void *handle)
{
    for (int i = 0; i < CDS_MAX_TRACKED; i++)
        if (!r->tracked[i].cancel) {
            r->ever_tracked = 1;
            r->tracked[i].cancel = cancel;
            r->tracked[i].handle = handle;
            return i;
        }
    return -1;
}

void cds_req_untrack(cds_req *r, int slot)
{
    if (slot >= 0 && slot < CDS_MAX_TRACKED) r->tracked[slot].cancel = NULL;
}

typedef struct db_ctx {
    cds_req *r;
    cds_req_db_cb cb;
    int slot;
} db_ctx;

static void db_done(void *arg, PGresult *res)
{
    db_ctx *c = arg;
    cds_req_untrack(c->r, c->slot);
    c->cb(c->r, res);
}

static void db_cancel(void *handle)
{
    cds_db_cancel(handle);
}

int cds_req_db(cds_req *r, int stmt, int nparams, const char *const *values, cds_req_db_cb cb)
{
    cds_db_pool *pool = r->conn->t->w.db;
    if (!pool) {
        cds_fail(r, CDS_P_DB_UNAVAILABLE);
        return -1;
    }
    db_ctx *c = cds_arena_alloc(&r->arena, sizeof *c);
    c->r = r;
    c->cb = cb;
    c->slot = -1;
    cds_db_query *q = NULL;
    int rc = cds_db_exec(pool, stmt, nparams, values, db_done, c, &q);
    if (rc != CDS_DB_OK) {
        if (rc == CDS_DB_EBUSY)
            cds_fail(r, CDS_P_SERVICE_BUSY);
        else
            cds_fail(r, CDS_P_DB_UNAVAILABLE);
        return -1;
    }
    c->slot = cds_req_track(r, db_cancel, q);
    if (c->slot < 0) { /* more than CDS_MAX_TRACKED at once is a handler bug */
        cds_db_cancel(q);
        cds_fail(r, CDS_P_INTERNAL);
        return -1;
    }
    return 0;
}

int cds_req_limit(cds_req *r, int dflt, int max)
{
    const char *v = cds_req_query(r, "limit");
    if (!v) return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || end == v || n < 1 || n > max) {
        cds_problem(r, 400, "invalid_limit",
                    cds_req_printf(r, "Tham số limit phải từ 1 đến %d.", max));
        return -1;
    }
    return (int)n;
}
