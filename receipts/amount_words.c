/* A VND amount in Vietnamese words (see amount_words.h for the rules).
 *
 * The amount is cut into groups of three digits, most significant first,
 * and each non-zero group is read by read_group() followed by its unit
 * (tỷ, triệu, nghìn or nothing). The first non-zero group is read "short"
 * (7 -> "bảy", 15 -> "mười lăm"); every later one "full", with its hundreds
 * always said (7 -> "không trăm linh bảy"), because the digits before it
 * are there. Words are appended to a bounded buffer through put(), which
 * remembers an overflow instead of writing past the end, and a space goes
 * before every word but the first, so no word-joining rule is needed.
 *
 * Every number word starts with an ASCII letter (k, m, h, b, n, s, t, c),
 * so the capital first letter is one byte changed, never a multibyte
 * character cut in half; the test checks this for Một, Năm and Không. */
#include "receipts/amount_words.h"

#include "core/buf.h"

#include <string.h>

/* A word, with a space before it unless it is the first. */
static void put(cds_buf *b, const char *word)
{
    if (b->len) cds_buf_addc(b, ' ');
    cds_buf_adds(b, word);
}

static const char *const DIGIT[10] = {"không", "một", "hai", "ba",  "bốn",
                                      "năm",   "sáu", "bảy", "tám", "chín"};

/* Reads 0..999; `full` says the hundreds are spoken even when 0. A group
 * of 0 is never passed in. */
static void read_group(cds_buf *b, int g, int full)
{
    int h = g / 100, t = g / 10 % 10, u = g % 10;
    if (h > 0 || full) {
        put(b, DIGIT[h]);
        put(b, "trăm");
    }
    int hundreds_said = h > 0 || full;
    switch (t) {
    case 0:
        if (u == 0) return;
        if (hundreds_said) put(b, "linh");
        put(b, DIGIT[u]);
        return;
    case 1:
        put(b, "mười");
        if (u == 0) return;
        put(b, u == 5 ? "lăm" : DIGIT[u]); /* 11 mười một, 14 mười bốn */
        return;
    default:
        put(b, DIGIT[t]);
        put(b, "mươi");
        if (u == 0) return;
        put(b, u == 1 ? "mốt" : u == 4 ? "tư" : u == 5 ? "lăm" : DIGIT[u]);
        return;
    }
}

int cds_amount_words(long long vnd, char *out, size_t cap)
{
    static const char *const UNIT[4] = {"tỷ", "triệu", "nghìn", NULL};
    static const long long SCALE[4] = {1000000000LL, 1000000LL, 1000LL, 1LL};
    if (!out || cap == 0) return -1;
    out[0] = '\0';
    if (vnd < 0 || vnd > CDS_AMOUNT_WORDS_MAX_VND) return -1;

    cds_buf b;
    cds_buf_init_fixed(&b, out, cap);
    if (vnd == 0) {
        put(&b, "không");
    } else {
        int started = 0;
        for (int i = 0; i < 4; i++) {
            int g = (int)(vnd / SCALE[i] % 1000);
            if (g == 0) continue;
            read_group(&b, g, started);
            if (UNIT[i]) put(&b, UNIT[i]);
            started = 1;
        }
    }
    put(&b, "đồng");
    if (b.err) {
        out[0] = '\0';
        return -1;
    }
    if (out[0] >= 'a' && out[0] <= 'z') out[0] = (char)(out[0] - 'a' + 'A');
    return (int)b.len;
}
