/* Form and query handling for the VNeID stand-in: parsing
 * application/x-www-form-urlencoded text (the /token body, the /authorize
 * query), decoding one component (the parts of HTTP Basic credentials, which
 * RFC 6749 2.3.1 form-encodes), and a bounded string builder with URL and
 * HTML escaping for the redirects and the login page.
 *
 * The parser is strict on purpose, like a provider that wants to be a good
 * test partner: a bad %-escape, %00 or a control character is an error rather
 * than something to guess around, and a parameter given twice is refused
 * (RFC 6749 3.1/3.2: parameters MUST NOT be included more than once), so a
 * relying party that builds its requests sloppily finds out here. */
#include "sim/vneid.h"

#include <stdlib.h>
#include <string.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes [s, s+n) into out, which holds at least n+1 bytes. */
static int decode(const char *s, size_t n, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int a = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int b = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (a < 0 || b < 0) return -1;
            c = (unsigned char)(a * 16 + b);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        /* Control characters have no business in any OAuth parameter and
         * would only smuggle things into logs, headers or HTML. */
        if (c < 0x20 || c == 0x7f) return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    *outlen = o;
    return 0;
}

int vneid_form_decode(const char *s, size_t n, char *out, size_t cap)
{
    if (cap < n + 1) return -1;
    size_t len;
    return decode(s, n, out, &len);
}

int vneid_form_parse(cds_req *r, const char *s, size_t n, vneid_form *f)
{
    f->n = 0;
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - s) : n;
        if (end > i) {
            const char *pair = s + i;
            size_t plen = end - i;
            const char *eq = memchr(pair, '=', plen);
            size_t klen = eq ? (size_t)(eq - pair) : plen;
            size_t vlen = eq ? plen - klen - 1 : 0;
            if (f->n == VNEID_FORM_MAX_PARAMS) return VNEID_FORM_ETOOMANY;
            char *name = cds_req_alloc(r, klen + 1), *value = cds_req_alloc(r, vlen + 1);
            size_t dl;
            if (decode(pair, klen, name, &dl) != 0) return VNEID_FORM_EENCODING;
            if (decode(eq ? eq + 1 : "", vlen, value, &dl) != 0) return VNEID_FORM_EENCODING;
            if (vneid_form_get(f, name)) return VNEID_FORM_EDUP;
            f->p[f->n].name = name;
            f->p[f->n].value = value;
            f->n++;
        }
        i = end + 1;
    }
    return VNEID_FORM_OK;
}

const char *vneid_form_get(const vneid_form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->p[i].name, name) == 0) return f->p[i].value;
    return NULL;
}

/* ---------------- the bounded builder ---------------- */

void vneid_buf_init(vneid_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void vneid_buf_free(vneid_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

void vneid_buf_add(vneid_buf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (n > b->max || b->len + n > b->max) {
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1) ncap *= 2;
        char *p = realloc(b->s, ncap);
        if (!p) abort();
        b->s = p;
        b->cap = ncap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void vneid_buf_puts(vneid_buf *b, const char *s)
{
    vneid_buf_add(b, s, strlen(s));
}

void vneid_buf_urlenc(vneid_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            vneid_buf_add(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            vneid_buf_add(b, e, 3);
        }
    }
}

void vneid_buf_html(vneid_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': vneid_buf_puts(b, "&amp;"); break;
        case '<': vneid_buf_puts(b, "&lt;"); break;
        case '>': vneid_buf_puts(b, "&gt;"); break;
        case '"': vneid_buf_puts(b, "&quot;"); break;
        case '\'': vneid_buf_puts(b, "&#39;"); break;
        default: vneid_buf_add(b, s, 1);
        }
    }
}
