/* JSON text into a core/buf buffer (see json_out.h). */
#include "core/json_out.h"
#include "core/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Bytes that stand for themselves: printable ASCII but '"' and '\\'. */
static int plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

int cds_json_strn(cds_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* as jansson writes it */
    cds_buf_addc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && plain((unsigned char)s[run]))
            run++;
        if (run > i) {
            cds_buf_add(b, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            /* A whole UTF-8 sequence, copied as is; anything else fails. */
            /* Near the end, decoded from a NUL-terminated copy: s may not
             * be a string past n. */
            uint32_t cp;
            char tail[5] = {0};
            size_t left = n - i;
            if (left < 4) memcpy(tail, s + i, left);
            size_t len = cds_utf8_next(left < 4 ? tail : s + i, &cp);
            if (len == 0 || len > n - i) {
                cds_buf_fail(b);
                return b->err;
            }
            cds_buf_add(b, s + i, len);
            i += len;
            continue;
        }
        char e[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
        case '\\': break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            /* A NUL inside the given length is written too, as \u0000. */
            memcpy(e, "\\u00", 4);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            elen = 6;
        }
        cds_buf_add(b, e, elen);
        i++;
    }
    return cds_buf_addc(b, '"');
}

int cds_json_str(cds_buf *b, const char *s)
{
    return cds_json_strn(b, s ? s : "", s ? strlen(s) : 0);
}

static void key(cds_buf *b, const char *k)
{
    if (b->len > 0 && b->p[b->len - 1] != '{') cds_buf_addc(b, ',');
    cds_json_str(b, k);
    cds_buf_addc(b, ':');
}

int cds_json_member_str(cds_buf *b, const char *k, const char *s)
{
    key(b, k);
    return cds_json_str(b, s);
}

int cds_json_member_int(cds_buf *b, const char *k, long long v)
{
    key(b, k);
    char d[24];
    int n = snprintf(d, sizeof d, "%lld", v);
    return cds_buf_add(b, d, (size_t)n);
}

int cds_json_member_text(cds_buf *b, const char *k, const char *s)
{
    for (const char *p = s; *p;) {
        uint32_t cp;
        size_t len = (unsigned char)*p < 0x80 ? 1 : cds_utf8_next(p, &cp);
        if (len == 0) return b->err;
        p += len;
    }
    return cds_json_member_str(b, k, s);
}

int cds_json_member_raw(cds_buf *b, const char *k, const char *json)
{
    key(b, k);
    return cds_buf_adds(b, json);
}
