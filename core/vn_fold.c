/* Text without diacritics, for SMS (GSM-7) and for comparing names (see
 * vn_fold.h). Moved down from notify/ so that any module can fold text.
 *
 * Folding decodes the UTF-8 input one code point at a time (strictly: a
 * text we cannot decode is a bug upstream, better refused than sent as
 * garbage) and looks each one up by block:
 *   - ASCII stays, except control characters and the backtick;
 *   - U+00A0..U+00FF, U+0100..U+017F (Latin-1 Supplement, Latin Extended-A)
 *     by table: that is where à, ă, đ, ĩ, ũ and their capitals live;
 *   - U+1EA0..U+1EF9, the Vietnamese part of Latin Extended Additional (ạ ả
 *     ấ ... ỹ, 90 letters in upper/lower pairs), by a 90-letter table;
 *   - combining marks U+0300..U+036F are dropped, which is all a decomposed
 *     (NFD) Vietnamese letter needs: its base letter is already ASCII;
 *   - Ơ ơ Ư ư (Latin Extended-B) and a handful of punctuation, spaces and
 *     symbols by a small sorted table; the rest is dropped.
 * The block tables are indexed by code point minus the block start and the
 * small one is searched by halves, so no lookup walks a list: dispatchers
 * fold thousands of texts a second. */
#include "core/vn_fold.h"

#include "core/utf8.h"

#include <limits.h>
#include <string.h>

/* U+00A0..U+00BF: symbols; "" drops one. */
static const char *const latin1_symbols[32] = {
    " ",   /* A0 no-break space */
    "!",   /* A1 ¡ */
    "c",   /* A2 ¢ */
    "GBP", /* A3 £ */
    "",    /* A4 ¤ */
    "JPY", /* A5 ¥ */
    "|",   /* A6 ¦ */
    "",    /* A7 § */
    "",    /* A8 ¨ */
    "(c)", /* A9 © */
    "a",   /* AA ª */
    "\"",  /* AB « */
    "",    /* AC ¬ */
    "",    /* AD soft hyphen: invisible */
    "(R)", /* AE ® */
    "",    /* AF ¯ */
    "",    /* B0 ° ("30°C" -> "30C" reads fine) */
    "+/-", /* B1 ± */
    "2",   /* B2 ² */
    "3",   /* B3 ³ */
    "'",   /* B4 ´ */
    "u",   /* B5 µ */
    "",    /* B6 ¶ */
    ".",   /* B7 · */
    "",    /* B8 ¸ */
    "1",   /* B9 ¹ */
    "o",   /* BA º */
    "\"",  /* BB » */
    "1/4", /* BC ¼ */
    "1/2", /* BD ½ */
    "3/4", /* BE ¾ */
    "?",   /* BF ¿ */
};

/* U+00C0..U+00FF: letters (à á â ã è é ê ì í ò ó ô õ ù ú ý are Vietnamese). */
static const char *const latin1_letters[64] = {
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I",  "I",  /* C0 */
    "D", "N", "O", "O", "O", "O", "O",  "x", "O", "U", "U", "U", "U", "Y", "TH", "ss", /* D0 */
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",  /* E0 */
    "d", "n", "o", "o", "o", "o", "o",  "/", "o", "u", "u", "u", "u", "y", "th", "y",  /* F0 */
};

/* U+0100..U+017F, one base letter each (Ă ă U+0102, Đ đ U+0110, Ĩ ĩ U+0128,
 * Ũ ũ U+0168 are Vietnamese). The ligatures Ĳ ĳ Œ œ are handled before. */
static const char latin_ext_a[128 + 1] = "AaAaAaCcCcCcCcDd" /* 0100 */
                                         "DdEeEeEeEeEeGgGg" /* 0110 */
                                         "GgGgHhHhIiIiIiIi" /* 0120 */
                                         "IiIiJjKkkLlLlLlL" /* 0130 */
                                         "lLlNnNnNnnNnOoOo" /* 0140 */
                                         "OoOoRrRrRrSsSsSs" /* 0150 */
                                         "SsTtTtTtUuUuUuUu" /* 0160 */
                                         "UuUuWwYyYZzZzZzs" /* 0170 */;

/* U+1EA0..U+1EF9: Ạ ạ Ả ả Ấ ấ Ầ ầ Ẩ ẩ Ẫ ẫ Ậ ậ Ắ ắ Ằ ằ Ẳ ẳ Ẵ ẵ Ặ ặ, then the
 * same for E (16), I (4), O with ô and ơ (24), U with ư (14), Y (8). */
static const char viet_block[90 + 1] = "AaAaAaAaAaAaAaAaAaAaAaAa" /* 1EA0 A, Â, Ă */
                                       "EeEeEeEeEeEeEeEe"         /* 1EB8 E, Ê */
                                       "IiIi"                     /* 1EC8 */
                                       "OoOoOoOoOoOoOoOoOoOoOoOo" /* 1ECC O, Ô, Ơ */
                                       "UuUuUuUuUuUuUu"           /* 1EE4 U, Ư */
                                       "YyYyYyYy" /* 1EF2 */;

/* Single code points outside the tables above, sorted for the binary
 * search; anything not here is dropped (emoji, CJK, other scripts,
 * zero-width characters). */
static const struct {
    uint32_t cp;
    const char *rep;
} others[] = {
    {0x0085, "\n"},  /* next line (C1) */
    {0x01a0, "O"},   /* Ơ */
    {0x01a1, "o"},   /* ơ */
    {0x01af, "U"},   /* Ư */
    {0x01b0, "u"},   /* ư */
    {0x2000, " "},   /* en quad */
    {0x2001, " "},   /* em quad */
    {0x2002, " "},   /* en space */
    {0x2003, " "},   /* em space */
    {0x2004, " "},   /* three-per-em space */
    {0x2005, " "},   /* four-per-em space */
    {0x2006, " "},   /* six-per-em space */
    {0x2007, " "},   /* figure space */
    {0x2008, " "},   /* punctuation space */
    {0x2009, " "},   /* thin space */
    {0x200a, " "},   /* hair space */
    {0x2010, "-"},   /* hyphen */
    {0x2011, "-"},   /* non-breaking hyphen */
    {0x2012, "-"},   /* figure dash */
    {0x2013, "-"},   /* en dash */
    {0x2014, "-"},   /* em dash */
    {0x2015, "-"},   /* horizontal bar */
    {0x2018, "'"},   /* ‘ */
    {0x2019, "'"},   /* ’ */
    {0x201a, "'"},   /* ‚ */
    {0x201b, "'"},   /* ‛ */
    {0x201c, "\""},  /* “ */
    {0x201d, "\""},  /* ” */
    {0x201e, "\""},  /* „ */
    {0x201f, "\""},  /* ‟ */
    {0x2022, "-"},   /* bullet */
    {0x2026, "..."}, /* ellipsis */
    {0x2028, "\n"},  /* line separator */
    {0x2029, "\n"},  /* paragraph separator */
    {0x202f, " "},   /* narrow no-break space */
    {0x2032, "'"},   /* prime */
    {0x2033, "\""},  /* double prime */
    {0x2039, "'"},   /* ‹ */
    {0x203a, "'"},   /* › */
    {0x2043, "-"},   /* hyphen bullet */
    {0x205f, " "},   /* medium mathematical space */
    {0x20ab, "d"},   /* ₫, the đồng sign: "37.500 ₫" -> "37.500 d" */
    {0x20ac, "EUR"}, /* € is not ASCII and would cost an escape */
    {0x2116, "No"},  /* № */
    {0x2122, "TM"},  /* ™ */
    {0x2212, "-"},   /* minus sign */
    {0x3000, " "},   /* ideographic space */
};

static const char *other_fold(uint32_t cp)
{
    size_t lo = 0, hi = sizeof others / sizeof others[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (others[mid].cp == cp) return others[mid].rep;
        if (others[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return "";
}

/* The ASCII stand-in for one code point: a string, "" to drop it. `one` is
 * scratch space for single-letter answers. */
static const char *ascii_fold(uint32_t cp, char one[2])
{
    one[1] = 0;
    if (cp < 0x80) {
        if (cp == '\n' || cp == '\r') return cp == '\n' ? "\n" : "\r";
        if (cp == '\t') return " ";
        if (cp < 0x20 || cp == 0x7f) return ""; /* GSM-7 has no other controls worth sending */
        if (cp == '`') return "'";              /* the one printable ASCII missing from GSM-7 */
        one[0] = (char)cp;
        return one;
    }
    if (cp >= 0xa0 && cp <= 0xbf) return latin1_symbols[cp - 0xa0];
    if (cp >= 0xc0 && cp <= 0xff) return latin1_letters[cp - 0xc0];
    if (cp >= 0x100 && cp <= 0x17f) {
        if (cp == 0x132 || cp == 0x133) return cp == 0x132 ? "IJ" : "ij"; /* ligatures */
        if (cp == 0x152 || cp == 0x153) return cp == 0x152 ? "OE" : "oe";
        one[0] = latin_ext_a[cp - 0x100];
        return one;
    }
    if (cp >= 0x1ea0 && cp <= 0x1ef9) {
        one[0] = viet_block[cp - 0x1ea0];
        return one;
    }
    if (cp >= 0x300 && cp <= 0x36f) return ""; /* combining marks: the base letter stays */
    if (cp >= 0xff01 && cp <= 0xff5e) {        /* fullwidth ASCII, typed with CJK keyboards */
        return ascii_fold(cp - 0xfee0, one);
    }
    return other_fold(cp);
}

int cds_vn_fold(const char *utf8, char *out, size_t cap)
{
    if (!out || cap == 0) return -1;
    out[0] = 0;
    if (!utf8) return -1;
    const char *s = utf8;
    size_t o = 0;
    while (*s) {
        uint32_t cp;
        size_t n = cds_utf8_next(s, &cp);
        if (n == 0) {
            out[0] = 0;
            return -1;
        }
        s += n;
        char one[2];
        const char *rep = ascii_fold(cp, one);
        size_t rl = strlen(rep);
        if (rl >= cap - o) { /* room for rep and the NUL */
            out[0] = 0;
            return -1;
        }
        memcpy(out + o, rep, rl);
        o += rl;
    }
    out[o] = 0;
    return o > (size_t)INT_MAX ? -1 : (int)o;
}
