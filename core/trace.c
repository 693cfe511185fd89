/* W3C Trace Context parsing, ids and the stored form (see trace.h). Pure
 * string work on bounded buffers: nothing here allocates. */
#include "core/trace.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static int lchex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int hexval(int c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* n lower-hex characters at s, not all '0'. */
static int hex_id(const char *s, size_t n)
{
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (!lchex((unsigned char)s[i])) return 0;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

int cds_traceparent_parse(const char *value, char trace_id[33], char parent_id[17],
                          unsigned char *flags)
{
    if (!value) return -1;
    while (*value == ' ' || *value == '\t') value++;
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t')) n--;
    const char *v = value;
    if (n < CDS_TRACEPARENT_LEN) return -1;
    if (!lchex((unsigned char)v[0]) || !lchex((unsigned char)v[1]) || v[2] != '-') return -1;
    int version = hexval(v[0]) * 16 + hexval(v[1]);
    if (version == 0xff) return -1;
    if (version == 0 && n != CDS_TRACEPARENT_LEN) return -1;
    /* A later version may append fields: "-" then anything, never more
     * characters glued to the flags. */
    if (n > CDS_TRACEPARENT_LEN && v[CDS_TRACEPARENT_LEN] != '-') return -1;
    if (!hex_id(v + 3, 32) || v[35] != '-') return -1;
    if (!hex_id(v + 36, 16) || v[52] != '-') return -1;
    if (!lchex((unsigned char)v[53]) || !lchex((unsigned char)v[54])) return -1;
    memcpy(trace_id, v + 3, 32);
    trace_id[32] = 0;
    memcpy(parent_id, v + 36, 16);
    parent_id[16] = 0;
    *flags = (unsigned char)(hexval(v[53]) * 16 + hexval(v[54]));
    return 0;
}

/* ---- tracestate ---- */

static int keychar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' ||
           c == '/' || c == '@';
}

/* key = ( lcalpha / DIGIT ) 0*255 ( keychar ) */
static int key_ok(const char *k, size_t n)
{
    if (n == 0 || n > 256) return 0;
    if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9'))) return 0;
    for (size_t i = 1; i < n; i++)
        if (!keychar((unsigned char)k[i])) return 0;
    return 1;
}

/* value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr: 0x21-0x7e but ',' and '=' */
static int value_ok(const char *v, size_t n)
{
    if (n == 0 || n > 256 || v[n - 1] == ' ') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return 0;
    }
    return 1;
}

typedef struct member {
    const char *p;
    size_t n;
    int keep;
} member;

/* Splits one header value into members[*nm..]; -1 on a bad member or more than the limit. */
static int split_members(const char *s, member *m, int *nm)
{
    while (1) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *a = s, *b = s + len;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        if (b > a) {
            const char *eq = memchr(a, '=', (size_t)(b - a));
            if (!eq || !key_ok(a, (size_t)(eq - a)) || !value_ok(eq + 1, (size_t)(b - eq - 1)))
                return -1;
            if (*nm == CDS_TRACESTATE_MEMBERS) return -1;
            m[*nm].p = a;
            m[*nm].n = (size_t)(b - a);
            m[*nm].keep = 1;
            (*nm)++;
        }
        if (!end) return 0;
        s = end + 1;
    }
}

/* Length of the kept members joined with "," and no other space. */
static size_t kept_len(const member *m, int nm)
{
    size_t total = 0, kept = 0;
    for (int i = 0; i < nm; i++)
        if (m[i].keep) total += m[i].n + (kept++ ? 1 : 0);
    return total;
}

int cds_tracestate_combine(const char *const *values, int n, char *out, size_t cap)
{
    member m[CDS_TRACESTATE_MEMBERS];
    int nm = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++)
        if (values[i] && split_members(values[i], m, &nm) != 0) return -1;
    /* Too long: members over 128 characters go first, then from the right. */
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < nm && kept_len(m, nm) > CDS_TRACESTATE_MAX; k++) {
            int i = pass ? nm - 1 - k : k;
            if (m[i].keep && (pass == 1 || m[i].n > 128)) m[i].keep = 0;
        }
    size_t len = 0;
    for (int i = 0; i < nm; i++) {
        if (!m[i].keep) continue;
        if (len + m[i].n + 2 > cap) break;
        if (len) out[len++] = ',';
        memcpy(out + len, m[i].p, m[i].n);
        len += m[i].n;
    }
    out[len] = 0;
    return 0;
}

/* ---- ids ---- */

/* Random bytes for ids come from a per-thread pool refilled by RAND_bytes a
 * few kilobytes at a time: one CSPRNG call per ~170 requests instead of
 * two per request (each call takes OpenSSL's DRBG lock and looks its
 * parameters up: 39 % of a /healthz request's instructions, callgrind,
 * issue 21). The bytes are the same CSPRNG's, used once each. The process
 * never forks, so no two processes share a pool. */
#define RAND_POOL 4096
static _Thread_local unsigned char rand_pool[RAND_POOL];
static _Thread_local size_t rand_left;

static void pool_bytes(unsigned char *out, size_t n)
{
    if (rand_left < n) {
        /* RAND_bytes fails only when the CSPRNG cannot be seeded; an id from
         * a broken generator would collide, so better to stop. */
        if (RAND_bytes(rand_pool, RAND_POOL) != 1) abort();
        rand_left = RAND_POOL;
    }
    memcpy(out, rand_pool + RAND_POOL - rand_left, n);
    memset(rand_pool + RAND_POOL - rand_left, 0, n);
    rand_left -= n;
}

/* Two hex digits per byte from one table: 3 instructions a byte instead of
 * two shifts, two look-ups and two stores (ids on every request). */
static const char hex_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void cds_hex_lower(char *out, const unsigned char *in, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    /* Eight bytes at a time with SSE2 (every x86-64): the nibbles
     * interleaved high first, '0' added, and 'a' - '0' - 10 more where a
     * nibble is above 9. */
    const __m128i lo4 = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9);
    const __m128i zero = _mm_set1_epi8('0'), gap = _mm_set1_epi8('a' - '0' - 10);
    for (; i + 8 <= n; i += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(in + i));
        __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), lo4), lo = _mm_and_si128(b, lo4);
        __m128i x = _mm_unpacklo_epi8(hi, lo); /* 16 nibbles, in order */
        __m128i letters = _mm_and_si128(_mm_cmpgt_epi8(x, nine), gap);
        _mm_storeu_si128((__m128i *)(void *)(out + 2 * i),
                         _mm_add_epi8(_mm_add_epi8(x, zero), letters));
    }
#endif
    for (; i < n; i++) memcpy(out + 2 * i, hex_pairs + 2 * in[i], 2);
    out[2 * n] = 0;
}

void cds_trace_random_hex(char *out, size_t nbytes)
{
    unsigned char b[32];
    if (nbytes > sizeof b) nbytes = sizeof b;
    int nonzero = 0;
    do {
        pool_bytes(b, nbytes);
        for (size_t i = 0; i < nbytes; i++) nonzero |= b[i];
    } while (!nonzero);
    cds_hex_lower(out, b, nbytes);
}

void cds_trace_new(cds_trace *t)
{
    /* Both ids from one draw of the pool: 16 bytes of trace id, 8 of span
     * id, neither all zero. */
    unsigned char b[24];
    uint64_t w[3];
    do {
        pool_bytes(b, sizeof b);
        memcpy(w, b, sizeof w);
    } while (!(w[0] | w[1]) || !w[2]);
    cds_hex_lower(t->trace_id, b, 16);
    cds_hex_lower(t->span_id, b + 16, 8);
    t->parent_id[0] = 0;
    /* "It should be set to 0 as the default option when the trace is
     * initiated by this component" (sampled flag); nothing else is set. */
    t->flags = 0;
    t->state[0] = 0;
}

void cds_trace_begin(cds_trace *t, const char *traceparent, const char *const *states,
                     int nstates)
{
    unsigned char flags;
    if (cds_traceparent_parse(traceparent, t->trace_id, t->parent_id, &flags) != 0) {
        cds_trace_new(t);
        return;
    }
    /* We speak version 00: of the flags, sampled and random-trace-id are
     * passed on (the latter must stay as received for the same trace id);
     * the others are set to zero as the version-00 rules say. */
    t->flags = flags & 0x03;
    cds_trace_random_hex(t->span_id, 8);
    if (cds_tracestate_combine(states, nstates, t->state, sizeof t->state) != 0) t->state[0] = 0;
}

int cds_traceparent_format(const cds_trace *t, const char *span, char *out, size_t cap)
{
    if (!t->trace_id[0] || strlen(span) != 16) return -1;
    int n = snprintf(out, cap, "00-%s-%s-%02x", t->trace_id, span, (unsigned)t->flags);
    return n == CDS_TRACEPARENT_LEN && (size_t)n < cap ? 0 : -1;
}

int cds_trace_stored(const cds_trace *t, char *out, size_t cap)
{
    if (cds_traceparent_format(t, t->span_id, out, cap) != 0) return -1;
    if (!t->state[0]) return 0;
    int n = snprintf(out + CDS_TRACEPARENT_LEN, cap - CDS_TRACEPARENT_LEN, " %s", t->state);
    return n > 0 && (size_t)n < cap - CDS_TRACEPARENT_LEN ? 0 : -1;
}

int cds_trace_resume(cds_trace *t, const char *stored)
{
    char tp[CDS_TRACEPARENT_LEN + 1], trace_id[33], parent[17];
    unsigned char flags;
    if (!stored || strlen(stored) < CDS_TRACEPARENT_LEN) return -1;
    memcpy(tp, stored, CDS_TRACEPARENT_LEN);
    tp[CDS_TRACEPARENT_LEN] = 0;
    const char *rest = stored + CDS_TRACEPARENT_LEN;
    if (*rest && *rest != ' ') return -1;
    if (cds_traceparent_parse(tp, trace_id, parent, &flags) != 0) return -1;
    const char *st = *rest ? rest + 1 : "";
    char state[CDS_TRACESTATE_MAX + 1];
    if (cds_tracestate_combine(&st, 1, state, sizeof state) != 0) state[0] = 0;
    memcpy(t->trace_id, trace_id, sizeof trace_id);
    memcpy(t->parent_id, parent, sizeof parent);
    t->flags = flags & 0x03;
    cds_trace_random_hex(t->span_id, 8);
    memcpy(t->state, state, sizeof state);
    return 0;
}
