/* JSON-lines logging (see log.h). Lines are built in a bounded stack buffer
 * and written with one write(2), so lines from several threads never
 * interleave; a message that does not fit is truncated, never overflowed.
 * The current request id and trace are thread-local: each loop thread serves
 * one request's code at a time. */
#include "core/log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = CDS_LOG_INFO;
static atomic_int access_on = 1;
static _Thread_local cds_log_ctx current;

/* Copies of a context: the used bytes only. A whole cds_log_ctx is ~700
 * bytes (the tracestate buffer), copied four times per request around the
 * handler; most requests carry no tracestate. */
static void cpy_str(char *d, const char *s, size_t cap)
{
    size_t n = strnlen(s, cap - 1);
    memmove(d, s, n);
    d[n] = 0;
}

void cds_log_ctx_fill(cds_log_ctx *out, const char *request_id, const cds_trace *t)
{
    if (request_id && request_id[0]) cpy_str(out->request_id, request_id, sizeof out->request_id);
    else out->request_id[0] = 0;
    if (!t || !t->trace_id[0]) { /* no trace: the other fields mean nothing */
        out->trace.trace_id[0] = 0;
        out->trace.span_id[0] = 0;
        out->trace.parent_id[0] = 0;
        out->trace.flags = 0;
        out->trace.state[0] = 0;
        return;
    }
    memmove(out->trace.trace_id, t->trace_id, sizeof t->trace_id);
    memmove(out->trace.span_id, t->span_id, sizeof t->span_id);
    memmove(out->trace.parent_id, t->parent_id, sizeof t->parent_id);
    out->trace.flags = t->flags;
    if (t->state[0]) cpy_str(out->trace.state, t->state, sizeof out->trace.state);
    else out->trace.state[0] = 0;
}

void cds_log_ctx_get(cds_log_ctx *out)
{
    cds_log_ctx_fill(out, current.request_id, &current.trace);
}

void cds_log_ctx_set(const cds_log_ctx *ctx, cds_log_ctx *prev)
{
    if (!ctx) {
        cds_log_ctx_set_id(NULL, prev);
        return;
    }
    if (ctx == prev) { /* swap */
        cds_log_ctx next;
        cds_log_ctx_fill(&next, ctx->request_id, &ctx->trace);
        cds_log_ctx_fill(prev, current.request_id, &current.trace);
        cds_log_ctx_fill(&current, next.request_id, &next.trace);
        return;
    }
    if (prev) cds_log_ctx_fill(prev, current.request_id, &current.trace);
    cds_log_ctx_fill(&current, ctx->request_id, &ctx->trace);
}

void cds_log_ctx_set_req(const char *request_id, const cds_trace *t, cds_log_ctx *prev)
{
    if (prev) cds_log_ctx_fill(prev, current.request_id, &current.trace);
    cds_log_ctx_fill(&current, request_id, t);
}

void cds_log_ctx_set_id(const char *request_id, cds_log_ctx *prev)
{
    char id[sizeof current.request_id]; /* `request_id` may live in *prev */
    cpy_str(id, request_id ? request_id : "", sizeof id);
    if (prev) cds_log_ctx_fill(prev, current.request_id, &current.trace);
    cds_log_ctx_fill(&current, id, NULL);
}

const cds_trace *cds_log_trace(void)
{
    return current.trace.trace_id[0] ? &current.trace : NULL;
}

void cds_log_set_level(int level)
{
    atomic_store(&min_level, level);
}

void cds_log_access_enable(int on)
{
    atomic_store(&access_on, on);
}

/* The date and time to the second change once a second: each thread keeps
 * the last one formatted (gmtime_r and strftime were ~2,000 instructions of
 * every access log line, callgrind, issue 21); only the milliseconds are
 * written per call. */
void cds_time_rfc3339(char *out, size_t cap)
{
    static _Thread_local time_t cached_sec = (time_t)-1;
    static _Thread_local char cached[24]; /* "YYYY-MM-DDTHH:MM:SS" */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        time_t local = ts.tv_sec + 7 * 3600; /* Asia/Ho_Chi_Minh has no DST */
        struct tm tm;
        gmtime_r(&local, &tm);
        if (strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm) != 19) cached[0] = 0;
        cached_sec = cached[0] ? ts.tv_sec : (time_t)-1;
    }
    unsigned ms = (unsigned)((unsigned long)ts.tv_nsec / 1000000u % 1000u);
    if (cap < 30 || !cached[0]) { /* not the usual buffer: the general way */
        snprintf(out, cap, "%s.%03u+07:00", cached, ms);
        return;
    }
    memcpy(out, cached, 19);
    out[19] = '.';
    out[20] = (char)('0' + ms / 100);
    out[21] = (char)('0' + ms / 10 % 10);
    out[22] = (char)('0' + ms % 10);
    memcpy(out + 23, "+07:00", 7); /* with the NUL */
}

char *cds_scrub(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        if (isdigit((unsigned char)s[i])) {
            size_t j = i;
            while (j < n && isdigit((unsigned char)s[j])) j++;
            if (j - i >= 9)
                for (size_t k = i; k < j - 3; k++) s[k] = '*';
            i = j;
        } else if (strncmp(s + i, "eyJ", 3) == 0 || strncasecmp(s + i, "Bearer ", 7) == 0) {
            size_t j = i + (s[i] == 'e' ? 0 : 7);
            size_t start = j;
            while (j < n && (isalnum((unsigned char)s[j]) || strchr("-_.=+/", s[j]))) j++;
            if (j > start) {
                /* Replace the token by "***" and close the gap. */
                size_t keep = start + 3 <= j ? 3 : j - start;
                memset(s + start, '*', keep);
                memmove(s + start + keep, s + j, n - j + 1);
                n -= (j - start - keep);
                j = start + keep;
            }
            i = j;
        } else {
            i++;
        }
    }
    return s;
}

void cds_mask_id(const char *id, char *out, size_t cap)
{
    size_t n = strlen(id), i;
    if (cap == 0) return;
    for (i = 0; i < n && i + 1 < cap; i++) out[i] = (i + 3 < n) ? '*' : id[i];
    out[i] = 0;
}

static int plain_char(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

/* Whether one of the eight bytes of w needs a JSON escape (below 0x20, '"'
 * or '\\'): the "has a byte less than n" and "has a zero byte" word tricks,
 * exact as a yes/no. */
static int word_needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (0x22 * ones), b = w ^ (0x5c * ones);
    return (((w - 0x20 * ones) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high ? 1 : 0;
}

/* Appends s JSON-escaped into buf[*len..cap), always leaving room for a NUL.
 * Runs of characters that need no escape are found eight bytes at a time
 * and copied at once (the access log's ids, route and peer: ~1,400
 * instructions a line tested per character, callgrind, issue 21). */
static void put_escaped(char *buf, size_t *len, size_t cap, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n && *len + 7 < cap) {
        size_t run = 0;
        uint64_t w;
        while (run + 8 <= n) {
            memcpy(&w, s + run, 8);
            if (word_needs_escape(w)) break;
            run += 8;
        }
        while (run < n && plain_char((unsigned char)s[run])) run++;
        if (run) {
            size_t room = cap - 7 - *len; /* as many as the test per character allowed */
            if (run > room) run = room;
            memcpy(buf + *len, s, run);
            *len += run;
            s += run;
            n -= run;
            continue;
        }
        unsigned char c = (unsigned char)*s++;
        n--;
        if (c == '"' || c == '\\') {
            buf[(*len)++] = '\\';
            buf[(*len)++] = (char)c;
        } else {
            *len += (size_t)snprintf(buf + *len, cap - *len, "\\u%04x", c);
        }
    }
    buf[*len] = 0;
}

/* v in decimal at out (room for 20 digits); returns the digits written. */
static size_t put_u64(char *out, unsigned long long v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

static void put_raw(char *buf, size_t *len, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 2 > cap) n = cap > *len + 2 ? cap - *len - 2 : 0;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = 0;
}

static const char *level_name[] = {"debug", "info", "warn", "error"};

void cds_log(int level, const char *event, const char *fmt, ...)
{
    if (level < atomic_load(&min_level)) return;
    char msg[1024], line[2048], ts[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cds_scrub(msg);
    cds_time_rfc3339(ts, sizeof ts);
    size_t len = 0;
    put_raw(line, &len, sizeof line, "{\"time\":\"");
    put_raw(line, &len, sizeof line, ts);
    put_raw(line, &len, sizeof line, "\",\"level\":\"");
    put_raw(line, &len, sizeof line, level_name[level & 3]);
    if (current.request_id[0]) {
        put_raw(line, &len, sizeof line, "\",\"request_id\":\"");
        put_escaped(line, &len, sizeof line, current.request_id);
    }
    if (current.trace.trace_id[0]) { /* lower-hex: nothing to escape */
        put_raw(line, &len, sizeof line, "\",\"trace_id\":\"");
        put_raw(line, &len, sizeof line, current.trace.trace_id);
        put_raw(line, &len, sizeof line, "\",\"span_id\":\"");
        put_raw(line, &len, sizeof line, current.trace.span_id);
    }
    put_raw(line, &len, sizeof line, "\",\"event\":\"");
    put_escaped(line, &len, sizeof line, event);
    put_raw(line, &len, sizeof line, "\",\"msg\":\"");
    put_escaped(line, &len, sizeof line, msg);
    put_raw(line, &len, sizeof line, "\"}\n");
    ssize_t w = write(2, line, len);
    (void)w;
}

/* Whether s[0..n) needs no JSON escape. */
static int plain_span(const char *s, size_t n)
{
    size_t i = 0;
    uint64_t w;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if (word_needs_escape(w)) return 0;
    }
    for (; i < n; i++)
        if (!plain_char((unsigned char)s[i])) return 0;
    return 1;
}

/* The access line of the usual request, whose strings need no escape and
 * fit: the fixed parts copied with lengths known at compile time, each
 * value measured once (no per-field capacity checks, no strlen of the
 * literals). Returns the line's length, 0 when the general way must run. */
static size_t access_fast(const cds_access *a, char *line, size_t cap)
{
    int traced = a->trace_id && a->trace_id[0];
    const char *v[7] = {a->request_id, traced ? a->trace_id : "", traced && a->span_id ? a->span_id : "",
                        a->proto, a->method, a->route ? a->route : "-", a->peer};
    size_t vl[7], total = 0;
    for (int i = 0; i < 7; i++) {
        if (!v[i]) return 0;
        vl[i] = strlen(v[i]);
        total += vl[i];
        if (!plain_span(v[i], vl[i])) return 0;
    }
    /* literals (~150) + time (29) + four numbers (20 each) + the values */
    if (total + 300 > cap) return 0;
    char *p = line;
#define LIT(s_) (memcpy(p, s_, sizeof s_ - 1), p += sizeof s_ - 1)
#define VAL(i_) (memcpy(p, v[i_], vl[i_]), p += vl[i_])
    LIT("{\"time\":\"");
    cds_time_rfc3339(p, 40);
    p += strlen(p);
    LIT("\",\"request_id\":\"");
    VAL(0);
    if (traced) {
        LIT("\",\"trace_id\":\"");
        VAL(1);
        LIT("\",\"span_id\":\"");
        VAL(2);
    }
    LIT("\",\"proto\":\"");
    VAL(3);
    LIT("\",\"method\":\"");
    VAL(4);
    LIT("\",\"route\":\"");
    VAL(5);
    LIT("\",\"peer\":\"");
    VAL(6);
    LIT("\",\"status\":");
    p += put_u64(p, (unsigned long long)(a->status < 0 ? 0 : a->status));
    LIT(",\"duration_us\":");
    p += put_u64(p, (unsigned long long)a->duration_us);
    LIT(",\"bytes_in\":");
    p += put_u64(p, (unsigned long long)a->bytes_in);
    LIT(",\"bytes_out\":");
    p += put_u64(p, (unsigned long long)a->bytes_out);
    LIT("}\n");
#undef LIT
#undef VAL
    return (size_t)(p - line);
}

void cds_log_access(const cds_access *a)
{
    if (!atomic_load(&access_on)) return;
    char line[1024], ts[40], num[160];
    size_t len = access_fast(a, line, sizeof line);
    if (len) {
        ssize_t w = write(1, line, len);
        (void)w;
        return;
    }
    len = 0;
    cds_time_rfc3339(ts, sizeof ts);
    put_raw(line, &len, sizeof line, "{\"time\":\"");
    put_raw(line, &len, sizeof line, ts);
    put_raw(line, &len, sizeof line, "\",\"request_id\":\"");
    put_escaped(line, &len, sizeof line, a->request_id);
    if (a->trace_id && a->trace_id[0]) {
        put_raw(line, &len, sizeof line, "\",\"trace_id\":\"");
        put_escaped(line, &len, sizeof line, a->trace_id);
        put_raw(line, &len, sizeof line, "\",\"span_id\":\"");
        put_escaped(line, &len, sizeof line, a->span_id ? a->span_id : "");
    }
    put_raw(line, &len, sizeof line, "\",\"proto\":\"");
    put_raw(line, &len, sizeof line, a->proto);
    put_raw(line, &len, sizeof line, "\",\"method\":\"");
    put_escaped(line, &len, sizeof line, a->method);
    put_raw(line, &len, sizeof line, "\",\"route\":\"");
    put_escaped(line, &len, sizeof line, a->route ? a->route : "-");
    put_raw(line, &len, sizeof line, "\",\"peer\":\"");
    put_escaped(line, &len, sizeof line, a->peer);
    /* The numbers written out, not through snprintf: once per request. */
    size_t k = 0;
#define NUM(lit, v)                                                                                \
    do {                                                                                           \
        memcpy(num + k, lit, sizeof lit - 1);                                                      \
        k += sizeof lit - 1;                                                                       \
        k += put_u64(num + k, (unsigned long long)(v));                                            \
    } while (0)
    NUM("\",\"status\":", a->status < 0 ? 0 : a->status);
    NUM(",\"duration_us\":", a->duration_us);
    NUM(",\"bytes_in\":", a->bytes_in);
    NUM(",\"bytes_out\":", a->bytes_out);
#undef NUM
    memcpy(num + k, "}\n", 3);
    put_raw(line, &len, sizeof line, num);
    ssize_t w = write(1, line, len);
    (void)w;
}
