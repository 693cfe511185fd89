/* What the payment webhook adapters share (see webhook_internal.h).
 *
 * Two of the three providers sign a re-serialization of the data rather
 * than the raw bytes, so verifying means reproducing their serializer
 * exactly. Both publish Node.js code, so the reference is JavaScript:
 *  - key order: `Object.keys(o).sort()` compares UTF-16 code units, and an
 *    object rebuilt from sorted keys still enumerates array-index keys
 *    ("0", "17") first by numeric value; hook_js_key_cmp does both;
 *  - JSON.stringify escapes only '"', '\\' and control characters (\b \f
 *    \n \r \t, else \u00xx in lower case), leaves '/' and non-ASCII text
 *    as is, and prints numbers as Number::toString (shortest text that
 *    reads back the same double: 3000, 0.1, 1e+21). jansson's dumper
 *    differs on control escapes (upper-case hex) and reals (%.17g), hence
 *    a writer of our own, hook_json_write;
 *  - PHP's json_encode (the other published verifier) escapes '/' and all
 *    non-ASCII; HOOK_ESC_PHP reproduces that for the Casso fallback.
 *
 * Secrets are compared as MACs with CRYPTO_memcmp; API keys are hashed
 * first so the comparison takes the same time whatever their lengths.
 * Bodies are capped (CDS_HOOK_BODY_MAX), parsed strictly (duplicate keys
 * refused) and limited in depth before any recursive walk. */
#include "webhook_internal.h"
#include "core/date.h"
#include "core/utf8.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- verdicts ------------------------------------------------------- */

const char *cds_hook_err_code(int rc)
{
    switch (rc) {
    case CDS_HOOK_OK:
        return "ok";
    case CDS_HOOK_BAD_JSON:
        return "bad_json";
    case CDS_HOOK_TOO_LARGE:
        return "too_large";
    case CDS_HOOK_NO_AUTH:
        return "missing_signature";
    case CDS_HOOK_BAD_SIGNATURE:
        return "bad_signature";
    case CDS_HOOK_STALE_TIMESTAMP:
        return "stale_timestamp";
    case CDS_HOOK_MISSING_FIELD:
        return "missing_field";
    case CDS_HOOK_BAD_FIELD:
        return "bad_field";
    case CDS_HOOK_BAD_AMOUNT:
        return "bad_amount";
    case CDS_HOOK_NOT_CONFIGURED:
        return "not_configured";
    default:
        return "internal";
    }
}

int cds_hook_err_status(int rc)
{
    switch (rc) {
    case CDS_HOOK_OK:
        return 200;
    case CDS_HOOK_TOO_LARGE:
        return 413;
    case CDS_HOOK_NO_AUTH:
    case CDS_HOOK_BAD_SIGNATURE:
    case CDS_HOOK_STALE_TIMESTAMP:
        return 401;
    case CDS_HOOK_BAD_JSON:
    case CDS_HOOK_MISSING_FIELD:
    case CDS_HOOK_BAD_FIELD:
    case CDS_HOOK_BAD_AMOUNT:
        return 400;
    default:
        return 500;
    }
}

const char *cds_hook_answer(int provider)
{
    (void)provider; /* the three document the same success body */
    return "{\"success\":true}";
}

void hook_result_init(cds_hook_result *out, int provider)
{
    out->provider = provider;
    out->error = CDS_HOOK_OK;
    out->message[0] = 0;
    out->n = 0;
}

int hook_fail(cds_hook_result *out, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    if (k < 0) out->message[0] = 0;
    out->error = rc;
    out->n = 0; /* a refused call reports no transaction, even half-read ones */
    return rc;
}

cds_hook_tx *hook_tx_add(cds_hook_result *out, const char *provider)
{
    if (out->n >= CDS_HOOK_TX_MAX) return NULL;
    cds_hook_tx *tx = &out->tx[out->n++];
    memset(tx, 0, sizeof *tx);
    tx->provider = provider;
    tx->direction = CDS_HOOK_IN;
    tx->disposition = CDS_HOOK_CREDIT;
    return tx;
}

int hook_secret_ok(const char *s)
{
    return s && strnlen(s, CDS_HOOK_SECRET_MIN) >= CDS_HOOK_SECRET_MIN;
}

const char *hook_header(const cds_hook_req *rq, const char *lower_name)
{
    return rq->header ? rq->header(rq->header_ctx, lower_name) : NULL;
}

/* ---- body ----------------------------------------------------------- */

static int depth_ok(json_t *v, int left)
{
    if (left < 0) return 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c) if (!depth_ok(c, left - 1)) return 0;
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) if (!depth_ok(c, left - 1)) return 0;
    }
    return 1;
}

json_t *hook_load(const char *body, size_t len, cds_hook_result *out)
{
    json_error_t e;
    if (len > CDS_HOOK_BODY_MAX) {
        hook_fail(out, CDS_HOOK_TOO_LARGE, "body of %zu bytes (max %d)", len, CDS_HOOK_BODY_MAX);
        return NULL;
    }
    if (!body || len == 0) {
        hook_fail(out, CDS_HOOK_BAD_JSON, "empty body");
        return NULL;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (!root) {
        hook_fail(out, CDS_HOOK_BAD_JSON, "invalid JSON at byte %d: %.120s", e.position, e.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        hook_fail(out, CDS_HOOK_BAD_JSON, "body is not a JSON object");
        return NULL;
    }
    if (!depth_ok(root, HOOK_DEPTH_MAX)) {
        json_decref(root);
        hook_fail(out, CDS_HOOK_BAD_JSON, "JSON nested deeper than %d", HOOK_DEPTH_MAX);
        return NULL;
    }
    return root;
}

/* ---- hex, MACs, comparisons ----------------------------------------- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int hook_hex_decode(const char *s, size_t slen, unsigned char *out, size_t n)
{
    if (!s || slen != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void hook_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = 0;
}

int hook_hmac(const char *digest, const char *key, const hook_part *parts, size_t nparts,
              unsigned char *out, size_t outlen)
{
    static const unsigned char empty = 0;
    int ok = 0;
    size_t got = 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)digest, 0),
                           OSSL_PARAM_construct_end()};
    size_t klen = key ? strlen(key) : 0;
    if (ctx && EVP_MAC_init(ctx, klen ? (const unsigned char *)key : &empty, klen, params) == 1) {
        ok = 1;
        for (size_t i = 0; ok && i < nparts; i++)
            if (parts[i].n && EVP_MAC_update(ctx, parts[i].p, parts[i].n) != 1) ok = 0;
        ok = ok && EVP_MAC_final(ctx, out, &got, outlen) == 1 && got == outlen;
    }
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok) ERR_clear_error(); /* a stale entry would confuse a later SSL_get_error */
    return ok ? 0 : -1;
}

int hook_mac_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int hook_str_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];
    if (!SHA256((const unsigned char *)a, alen, ha) || !SHA256((const unsigned char *)b, blen, hb))
        return 0;
    int eq = CRYPTO_memcmp(ha, hb, sizeof ha) == 0;
    OPENSSL_cleanse(ha, sizeof ha);
    OPENSSL_cleanse(hb, sizeof hb);
    return eq && alen == blen;
}

/* ---- JavaScript key order ------------------------------------------- */

/* jansson hands out valid UTF-8; anything else is taken byte by byte. */
static size_t utf8_dec(const unsigned char *s, uint32_t *cp)
{
    size_t n = cds_utf8_next((const char *)s, cp);
    if (n) return n;
    *cp = s[0];
    return 1;
}

static int index_key(const char *k, uint32_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    if (k[0] == '0') {
        if (k[1]) return 0;
        *out = 0;
        return 1;
    }
    for (; k[i]; i++) {
        if (i == 10 || k[i] < '0' || k[i] > '9') return 0;
        v = v * 10 + (uint64_t)(k[i] - '0');
    }
    if (i == 0 || v > 4294967294u) return 0;
    *out = (uint32_t)v;
    return 1;
}

/* UTF-16 code-unit order of two UTF-8 strings: code point order, except
 * that a character above U+FFFF sorts by its high surrogate (D800..DBFF),
 * i.e. before U+E000..U+FFFF. */
static int utf16_cmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    while (*p && *q) {
        uint32_t x, y;
        p += utf8_dec(p, &x);
        q += utf8_dec(q, &y);
        if (x == y) continue;
        uint32_t ux = x >= 0x10000 ? 0xd800 + ((x - 0x10000) >> 10) : x;
        uint32_t uy = y >= 0x10000 ? 0xd800 + ((y - 0x10000) >> 10) : y;
        if (ux != uy) return ux < uy ? -1 : 1;
        return x < y ? -1 : 1; /* same high surrogate: the low one decides */
    }
    return *p ? 1 : *q ? -1 : 0;
}

int hook_js_key_cmp(const char *a, const char *b)
{
    uint32_t ia, ib;
    int xa = index_key(a, &ia), xb = index_key(b, &ib);
    if (xa && xb) return ia < ib ? -1 : ia > ib;
    if (xa != xb) return xa ? -1 : 1;
    return utf16_cmp(a, b);
}

typedef struct keyent {
    const char *k;
    size_t pos;
} keyent;

static int cmp_sorted(const void *x, const void *y)
{
    return hook_js_key_cmp(((const keyent *)x)->k, ((const keyent *)y)->k);
}

/* Insertion order, except index keys first by value (stable by position). */
static int cmp_enum(const void *x, const void *y)
{
    const keyent *a = x, *b = y;
    uint32_t ia, ib;
    int xa = index_key(a->k, &ia), xb = index_key(b->k, &ib);
    if (xa && xb) return ia < ib ? -1 : ia > ib;
    if (xa != xb) return xa ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

const char **hook_object_keys(json_t *obj, int sorted, size_t *n)
{
    size_t cnt = json_object_size(obj), i = 0;
    keyent *e = malloc((cnt ? cnt : 1) * sizeof *e);
    const char **keys = malloc((cnt ? cnt : 1) * sizeof *keys);
    if (!e || !keys) {
        free(e);
        free(keys);
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        e[i].k = k;
        e[i].pos = i;
        i++;
    }
    qsort(e, i, sizeof *e, sorted ? cmp_sorted : cmp_enum);
    for (size_t j = 0; j < i; j++)
        keys[j] = e[j].k;
    free(e);
    *n = i;
    return keys;
}

/* ---- JavaScript numbers and JSON text ------------------------------- */

void hook_js_number(double d, char *out, size_t cap)
{
    char t[40], digits[24], res[48];
    size_t k = 0, o = 0;
    if (isnan(d) || isinf(d)) {
        snprintf(out, cap, "null"); /* what JSON.stringify prints; JSON never has them */
        return;
    }
    if (d == 0) {
        snprintf(out, cap, "0"); /* -0 too */
        return;
    }
    if (d < 0) {
        res[o++] = '-';
        d = -d;
    }
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(t, sizeof t, "%.*e", p - 1, d);
        if (strtod(t, NULL) == d) break;
    }
    /* t is "D[.DDD]e[+-]XX": collect the significant digits and the exponent */
    const char *s = t;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && k < sizeof digits - 1) digits[k++] = *s;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = 0;
    long e = *s == 'e' ? strtol(s + 1, NULL, 10) : 0;
    long n = e + 1; /* value = 0.DIGITS x 10^n */
    if ((long)k <= n && n <= 21) {
        memcpy(res + o, digits, k);
        o += k;
        for (long z = 0; z < n - (long)k; z++)
            res[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(res + o, digits, (size_t)n);
        o += (size_t)n;
        res[o++] = '.';
        memcpy(res + o, digits + n, k - (size_t)n);
        o += k - (size_t)n;
    } else if (-6 < n && n <= 0) {
        res[o++] = '0';
        res[o++] = '.';
        for (long z = 0; z < -n; z++)
            res[o++] = '0';
        memcpy(res + o, digits, k);
        o += k;
    } else {
        res[o++] = digits[0];
        if (k > 1) {
            res[o++] = '.';
            memcpy(res + o, digits + 1, k - 1);
            o += k - 1;
        }
        int w = snprintf(res + o, sizeof res - o, "e%c%ld", n - 1 >= 0 ? '+' : '-',
                         n - 1 >= 0 ? n - 1 : -(n - 1));
        if (w > 0) o += (size_t)w;
    }
    res[o] = 0;
    snprintf(out, cap, "%s", res);
}

static void put_u16(cds_buf *b, unsigned u)
{
    char e[8];
    snprintf(e, sizeof e, "\\u%04x", u & 0xffff);
    cds_buf_add(b, e, 6);
}

static void put_jstr(cds_buf *b, const char *s, size_t n, int esc)
{
    cds_buf_add(b, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        if (c == '"')
            rep = "\\\"";
        else if (c == '\\')
            rep = "\\\\";
        else if (c == '\b')
            rep = "\\b";
        else if (c == '\f')
            rep = "\\f";
        else if (c == '\n')
            rep = "\\n";
        else if (c == '\r')
            rep = "\\r";
        else if (c == '\t')
            rep = "\\t";
        else if (c == '/' && esc == HOOK_ESC_PHP)
            rep = "\\/";
        if (rep || c < 0x20 || (c >= 0x80 && esc == HOOK_ESC_PHP)) {
            cds_buf_add(b, s + run, i - run);
            if (rep) {
                cds_buf_adds(b, rep);
                i++;
            } else if (c < 0x20) {
                put_u16(b, c);
                i++;
            } else {
                uint32_t cp;
                i += utf8_dec((const unsigned char *)s + i, &cp);
                if (cp >= 0x10000) {
                    put_u16(b, 0xd800 + ((cp - 0x10000) >> 10));
                    put_u16(b, 0xdc00 + ((cp - 0x10000) & 0x3ff));
                } else {
                    put_u16(b, cp);
                }
            }
            run = i;
        } else {
            i++;
        }
    }
    cds_buf_add(b, s + run, n - run);
    cds_buf_add(b, "\"", 1);
}

int hook_json_write(cds_buf *b, json_t *v, int sort_levels, int esc)
{
    char num[48];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n;
        const char **keys = hook_object_keys(v, sort_levels != 0, &n);
        if (!keys) {
            if (!b->err) b->err = CDS_BUF_E_NOMEM;
            return -1;
        }
        int next = sort_levels < 0 ? -1 : sort_levels > 0 ? sort_levels - 1 : 0, rc = 0;
        cds_buf_add(b, "{", 1);
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (i) cds_buf_add(b, ",", 1);
            put_jstr(b, keys[i], strlen(keys[i]), esc);
            cds_buf_add(b, ":", 1);
            rc = hook_json_write(b, json_object_get(v, keys[i]), next, esc);
        }
        cds_buf_add(b, "}", 1);
        free(keys);
        return rc ? rc : b->err ? -1 : 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *c;
        cds_buf_add(b, "[", 1);
        json_array_foreach(v, i, c)
        {
            if (i) cds_buf_add(b, ",", 1);
            if (hook_json_write(b, c, sort_levels, esc)) return -1;
        }
        cds_buf_add(b, "]", 1);
        break;
    }
    case JSON_STRING:
        put_jstr(b, json_string_value(v), json_string_length(v), esc);
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        cds_buf_adds(b, num);
        break;
    case JSON_REAL:
        hook_js_number(json_real_value(v), num, sizeof num);
        cds_buf_adds(b, num);
        break;
    case JSON_TRUE:
        cds_buf_adds(b, "true");
        break;
    case JSON_FALSE:
        cds_buf_adds(b, "false");
        break;
    default:
        cds_buf_adds(b, "null");
        break;
    }
    return b->err ? -1 : 0;
}

/* ---- fields ---------------------------------------------------------- */

int hook_get_str(cds_hook_result *out, json_t *obj, const char *where, const char *key, int flags,
                 char *dst, size_t cap)
{
    char num[32];
    const char *s;
    size_t n;
    json_t *v = json_object_get(obj, key);
    dst[0] = 0;
    if (!v || json_is_null(v)) {
        if (flags & HOOK_REQ)
            return hook_fail(out, CDS_HOOK_MISSING_FIELD, "%s.%s is missing", where, key);
        return 0;
    }
    if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
    } else if ((flags & HOOK_NUM) && json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
        n = strlen(num);
    } else {
        return hook_fail(out, CDS_HOOK_BAD_FIELD, "%s.%s must be a %s", where, key,
                         flags & HOOK_NUM ? "string or an integer" : "string");
    }
    /* A required identifier is a deduplication key: an empty one would make
     * every such transaction the same one, so it must not be empty either
     * (an optional one, empty, is as good as absent). */
    if (n == 0 && ((flags & 2) || ((flags & HOOK_ID) && (flags & HOOK_REQ))))
        return hook_fail(out, CDS_HOOK_MISSING_FIELD, "%s.%s is empty", where, key);
    if (memchr(s, 0, n))
        return hook_fail(out, CDS_HOOK_BAD_FIELD, "%s.%s contains NUL", where, key);
    if (flags & HOOK_ID)
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
                return hook_fail(out, CDS_HOOK_BAD_FIELD,
                                 "%s.%s must be printable ASCII without spaces", where, key);
    if (n > cap - 1) {
        if (!(flags & HOOK_CUT))
            return hook_fail(out, CDS_HOOK_BAD_FIELD, "%s.%s is longer than %zu bytes", where, key,
                             cap - 1);
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) /* s[n] continues a character */
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (char)(c < 0x20 || c == 0x7f ? ' ' : c);
    }
    dst[n] = 0;
    return 0;
}

int hook_get_amount(cds_hook_result *out, json_t *obj, const char *where, const char *key,
                    int allow_negative, int64_t *amount)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return hook_fail(out, CDS_HOOK_MISSING_FIELD, "%s.%s is missing", where, key);
    if (json_is_string(v))
        return hook_fail(out, CDS_HOOK_BAD_AMOUNT, "%s.%s is a string, not a JSON integer", where,
                         key);
    if (json_is_real(v))
        return hook_fail(out, CDS_HOOK_BAD_AMOUNT,
                         "%s.%s must be a whole number of VND written as an integer", where, key);
    if (!json_is_integer(v))
        return hook_fail(out, CDS_HOOK_BAD_AMOUNT, "%s.%s must be a JSON integer", where, key);
    json_int_t a = json_integer_value(v);
    if (a == 0) return hook_fail(out, CDS_HOOK_BAD_AMOUNT, "%s.%s is zero", where, key);
    if (a < 0 && !allow_negative)
        return hook_fail(out, CDS_HOOK_BAD_AMOUNT, "%s.%s is negative", where, key);
    if (a >= CDS_HOOK_AMOUNT_LIMIT || a <= -CDS_HOOK_AMOUNT_LIMIT)
        return hook_fail(out, CDS_HOOK_BAD_AMOUNT, "%s.%s is 1e12 VND or more", where, key);
    *amount = (int64_t)a;
    return 0;
}

int hook_get_time(cds_hook_result *out, json_t *obj, const char *where, const char *key,
                  cds_hook_tx *tx)
{
    int rc = hook_get_str(out, obj, where, key, HOOK_CUT, tx->time_text, sizeof tx->time_text);
    if (rc) return rc;
    tx->time_ok = tx->time_text[0] && hook_parse_time(tx->time_text, &tx->time_epoch) == 0;
    if (!tx->time_ok) tx->time_epoch = 0;
    return 0;
}

/* ---- numbers and times ---------------------------------------------- */

int hook_parse_uint(const char *s, size_t n, int max_digits, long long *v)
{
    long long x = 0;
    if (!s || n == 0 || n > (size_t)max_digits || max_digits > 18) return -1;
    if (s[0] == '0' && n > 1) return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

/* Exactly n digits at s (stops at a NUL, which is not a digit). */
static int digits(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

int hook_parse_time(const char *s, int64_t *epoch)
{
    int Y, M, D, h = 0, mi = 0, sec = 0;
    long off = 7 * 3600; /* Vietnam, no daylight saving */
    if (!s || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D))
        return -1;
    const char *p = s + 10;
    if (*p) {
        if (*p != ' ' && *p != 'T') return -1;
        p++;
        if (digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi)) return -1;
        p += 5;
        if (*p == ':') {
            if (digits(p + 1, 2, &sec)) return -1;
            p += 3;
            if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9') return -1;
                while (*p >= '0' && *p <= '9')
                    p++;
            }
        }
        if (*p == 'Z') {
            off = 0;
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om, sign = *p == '-' ? -1 : 1;
            if (digits(p + 1, 2, &oh)) return -1;
            p += 3;
            if (*p == ':') p++;
            if (digits(p, 2, &om) || oh > 14 || om > 59) return -1;
            p += 2;
            off = sign * (oh * 3600L + om * 60L);
        }
        if (*p) return -1;
    }
    if (Y < 1970 || Y > 9999 || !cds_date_valid(Y, M, D) || h > 23 || mi > 59 || sec > 59)
        return -1;
    *epoch = cds_days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec - off;
    return 0;
}
