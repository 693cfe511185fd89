/* UTF-8 helpers (utf8.h). Decoding follows RFC 3629's table of well-formed
 * sequences: C0 and C1 could only start overlong forms, F5..FF would pass
 * U+10FFFF, and a value below the minimum for its length is overlong. */
#include "core/utf8.h"

size_t cds_utf8_next(const char *str, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        v = c & 0x1f;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        v = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0; /* a stray continuation byte or an impossible lead byte */
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0; /* also stops at a NUL */
        v = (v << 6) | (s[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return n;
}

size_t cds_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

size_t cds_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) return n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

size_t cds_utf8_whole(const char *s, size_t n)
{
    if (n == 0) return 0;
    size_t j = n - 1;
    while (j > 0 && ((unsigned char)s[j] & 0xc0) == 0x80)
        j--;
    unsigned char lead = (unsigned char)s[j];
    size_t need = lead < 0x80 ? 1 : (lead & 0xe0) == 0xc0 ? 2 : (lead & 0xf0) == 0xe0 ? 3 : 4;
    return j + need > n ? j : n;
}
