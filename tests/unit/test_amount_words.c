/* Unit tests of receipts/amount_words.c: a table with a row for every rule
 * (mười / mươi, mốt / một, lăm, tư / bốn, linh, "không trăm" in inner
 * groups, all-zero groups left out, the units, zero, the range ends), the
 * capital first letter on words whose next letters are multibyte (Một, Năm,
 * Không), out-of-range and negative input, the buffer bound, and every
 * amount up to 2 000 000 read back by an independent word parser. */
#include "receipts/amount_words.h"
#include "tests/lib/t.h"

#include <stdlib.h>
#include <string.h>

static char out[CDS_AMOUNT_WORDS_CAP];

static const char *W(long long v)
{
    if (cds_amount_words(v, out, sizeof out) < 0) return "<-1>";
    return out;
}

static const struct {
    long long vnd;
    const char *words;
} TABLE[] = {
    {0, "Không đồng"},
    {1, "Một đồng"},
    {4, "Bốn đồng"},
    {5, "Năm đồng"},
    {9, "Chín đồng"},
    {10, "Mười đồng"},
    {11, "Mười một đồng"}, /* một after mười, not mốt */
    {14, "Mười bốn đồng"}, /* bốn after mười, not tư */
    {15, "Mười lăm đồng"}, /* lăm after mười */
    {19, "Mười chín đồng"},
    {20, "Hai mươi đồng"},
    {21, "Hai mươi mốt đồng"}, /* mốt after mươi */
    {24, "Hai mươi tư đồng"},  /* tư after mươi (the chosen usage) */
    {25, "Hai mươi lăm đồng"}, /* lăm after mươi */
    {31, "Ba mươi mốt đồng"},
    {55, "Năm mươi lăm đồng"},
    {90, "Chín mươi đồng"},
    {99, "Chín mươi chín đồng"},
    {100, "Một trăm đồng"},
    {101, "Một trăm linh một đồng"}, /* linh, and một (not mốt) after it */
    {104, "Một trăm linh bốn đồng"},
    {105, "Một trăm linh năm đồng"}, /* năm after linh, not lăm */
    {110, "Một trăm mười đồng"},
    {111, "Một trăm mười một đồng"},
    {115, "Một trăm mười lăm đồng"},
    {121, "Một trăm hai mươi mốt đồng"},
    {200, "Hai trăm đồng"},
    {999, "Chín trăm chín mươi chín đồng"},
    {1000, "Một nghìn đồng"},
    {1001, "Một nghìn không trăm linh một đồng"}, /* inner group keeps không trăm */
    {1005, "Một nghìn không trăm linh năm đồng"},
    {1010, "Một nghìn không trăm mười đồng"},
    {1015, "Một nghìn không trăm mười lăm đồng"},
    {1021, "Một nghìn không trăm hai mươi mốt đồng"},
    {1100, "Một nghìn một trăm đồng"},
    {2024, "Hai nghìn không trăm hai mươi tư đồng"},
    {10000, "Mười nghìn đồng"},
    {15000, "Mười lăm nghìn đồng"},
    {21000, "Hai mươi mốt nghìn đồng"},
    {100000, "Một trăm nghìn đồng"},
    {105000, "Một trăm linh năm nghìn đồng"},
    {150000, "Một trăm năm mươi nghìn đồng"},
    {999999, "Chín trăm chín mươi chín nghìn chín trăm chín mươi chín đồng"},
    {1000000, "Một triệu đồng"}, /* two all-zero groups left out */
    {1000001, "Một triệu không trăm linh một đồng"},
    {1001000, "Một triệu không trăm linh một nghìn đồng"},
    {1050000, "Một triệu không trăm năm mươi nghìn đồng"},
    {1250000, "Một triệu hai trăm năm mươi nghìn đồng"},
    {5000000, "Năm triệu đồng"},
    {12345678, "Mười hai triệu ba trăm bốn mươi lăm nghìn sáu trăm bảy mươi tám đồng"},
    {100000000, "Một trăm triệu đồng"},
    {1000000000, "Một tỷ đồng"},
    {1000000005, "Một tỷ không trăm linh năm đồng"}, /* three zero groups between */
    {1000001000, "Một tỷ không trăm linh một nghìn đồng"},
    {1001000000, "Một tỷ không trăm linh một triệu đồng"},
    {1234567891, "Một tỷ hai trăm ba mươi tư triệu năm trăm sáu mươi bảy nghìn tám trăm chín "
                 "mươi mốt đồng"},
    {25000000000, "Hai mươi lăm tỷ đồng"},
    {100000000000, "Một trăm tỷ đồng"},
    {999999999999, "Chín trăm chín mươi chín tỷ chín trăm chín mươi chín triệu chín trăm chín "
                   "mươi chín nghìn chín trăm chín mươi chín đồng"},
};

static void test_table(void)
{
    size_t n = sizeof TABLE / sizeof TABLE[0];
    CHECK(n >= 40);
    for (size_t i = 0; i < n; i++) {
        const char *got = W(TABLE[i].vnd);
        if (strcmp(got, TABLE[i].words) != 0)
            fprintf(stderr, "  %lld -> \"%s\"\n", TABLE[i].vnd, got);
        CHECK_STR(got, TABLE[i].words);
        CHECK_INT(cds_amount_words(TABLE[i].vnd, out, sizeof out), strlen(TABLE[i].words));
    }
}

static void test_range(void)
{
    CHECK_STR(W(-1), "<-1>");
    CHECK_STR(W(-1000), "<-1>");
    CHECK_STR(W(-9223372036854775807LL - 1), "<-1>");
    CHECK_STR(W(1000000000000LL), "<-1>"); /* 10^12 */
    CHECK_STR(W(9223372036854775807LL), "<-1>");
    CHECK(strcmp(W(CDS_AMOUNT_WORDS_MAX_VND), "<-1>") != 0);
    /* out is "" after a refusal */
    memcpy(out, "x", 2);
    CHECK_INT(cds_amount_words(-5, out, sizeof out), -1);
    CHECK_STR(out, "");
}

/* The first letter is a capital and the multibyte letters after it are
 * intact: "Một" is M + U+1ED9 (3 bytes) + t, and so on. */
static void test_capital(void)
{
    CHECK_STR(W(1), "Một đồng");
    CHECK(memcmp(out, "M\xe1\xbb\x99t ", 6) == 0);
    CHECK_STR(W(5), "Năm đồng");
    CHECK(memcmp(out, "N\xc4\x83m ", 5) == 0);
    CHECK_STR(W(0), "Không đồng");
    CHECK(memcmp(out, "Kh\xc3\xb4ng ", 7) == 0);
    CHECK_STR(W(4000), "Bốn nghìn đồng");
    CHECK_STR(W(7000000), "Bảy triệu đồng");
    CHECK_STR(W(6), "Sáu đồng");
    CHECK_STR(W(8), "Tám đồng");
    CHECK_STR(W(3), "Ba đồng");
    /* Only the first letter: no other capital anywhere. */
    for (long long v = 1; v < 1000000000000LL; v = v * 7 + 3) {
        W(v);
        CHECK(out[0] >= 'A' && out[0] <= 'Z');
        int lower_rest = 1;
        for (const char *p = out + 1; *p; p++)
            if (*p >= 'A' && *p <= 'Z') lower_rest = 0;
        CHECK(lower_rest);
    }
}

static void test_buffer(void)
{
    const char *want = "Một trăm năm mươi nghìn đồng";
    size_t n = strlen(want);
    char small[64];
    CHECK_INT(cds_amount_words(150000, small, n + 1), (long long)n); /* exact fit */
    CHECK_STR(small, want);
    CHECK_INT(cds_amount_words(150000, small, n), -1); /* one byte short */
    CHECK_STR(small, "");
    CHECK_INT(cds_amount_words(150000, small, 1), -1);
    CHECK_INT(cds_amount_words(150000, NULL, 10), -1);
    CHECK_INT(cds_amount_words(150000, small, 0), -1);
    /* CDS_AMOUNT_WORDS_CAP holds the longest: groups are read independently,
     * so the longest amount repeats the longest group four times. */
    size_t longest = 0;
    for (long long g = 1; g <= 999; g++) {
        long long v = g * 1001001001LL;
        int len = cds_amount_words(v, out, sizeof out);
        CHECK(len > 0);
        if ((size_t)len > longest) longest = (size_t)len;
    }
    CHECK(longest < CDS_AMOUNT_WORDS_CAP);
    CHECK_INT(longest, 151);
    CHECK_INT(cds_amount_words(777777777777LL, out, sizeof out), 151);
}

/* ---------------- read back ---------------- */

/* An independent reader of the words: digits, trăm / mươi / mười, mốt /
 * tư / lăm / linh, the units; -1 on any word it does not know or on a
 * missing " đồng". */
static long long parse_words(const char *s)
{
    static const char *const DIG[10] = {"không", "một", "hai", "ba",  "bốn",
                                        "năm",   "sáu", "bảy", "tám", "chín"};
    char buf[CDS_AMOUNT_WORDS_CAP];
    size_t n = strlen(s);
    if (n >= sizeof buf) return -1;
    memcpy(buf, s, n + 1);
    if (buf[0] >= 'A' && buf[0] <= 'Z') buf[0] = (char)(buf[0] - 'A' + 'a');
    long long total = 0, group = 0, pending = 0;
    int ended = 0;
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (ended) return -1;
        int d = -1;
        for (int i = 0; i < 10; i++)
            if (strcmp(w, DIG[i]) == 0) d = i;
        if (d >= 0) {
            pending = d;
        } else if (strcmp(w, "mốt") == 0) {
            pending = 1;
        } else if (strcmp(w, "tư") == 0) {
            pending = 4;
        } else if (strcmp(w, "lăm") == 0) {
            pending = 5;
        } else if (strcmp(w, "linh") == 0) {
            pending = 0;
        } else if (strcmp(w, "trăm") == 0 || strcmp(w, "mươi") == 0) {
            group += pending * (w[1] == 'r' ? 100 : 10);
            pending = 0;
        } else if (strcmp(w, "mười") == 0) {
            group += 10;
        } else {
            long long unit = strcmp(w, "nghìn") == 0   ? 1000
                             : strcmp(w, "triệu") == 0 ? 1000000
                             : strcmp(w, "tỷ") == 0    ? 1000000000
                             : strcmp(w, "đồng") == 0  ? 1
                                                       : 0;
            if (unit == 0) return -1;
            total += (group + pending) * unit;
            group = pending = 0;
            ended = unit == 1;
        }
    }
    return ended ? total : -1;
}

/* Every amount up to 200 000, every 13th up to 2 000 000 (13 is prime to
 * 1000, so every last-three-digit pattern still appears with every higher
 * group), and a spread of larger ones: the words read back to the amount,
 * hold no double space, and obey the local rules. Sized so the sanitizer
 * build runs it in seconds, not a minute, on a loaded machine. */
static void test_read_back(void)
{
    long long bad = 0, checked = 0;
    for (long long v = 0; v <= 2000000; v += v < 200000 ? 1 : 13) {
        W(v);
        checked++;
        if (parse_words(out) != v || strstr(out, "  ") || strstr(out, "mười mốt") ||
            strstr(out, "mười tư") || strstr(out, "mươi năm đồng") || strstr(out, "linh mốt") ||
            strstr(out, "linh lăm") || strstr(out, "mươi một ") || strstr(out, "mươi bốn ")) {
            if (bad++ < 5) fprintf(stderr, "  %lld -> \"%s\"\n", v, out);
        }
    }
    for (long long v = 2000001; v <= CDS_AMOUNT_WORDS_MAX_VND; v += 7919LL * 104729LL + 1) {
        W(v);
        checked++;
        if (parse_words(out) != v && bad++ < 10) fprintf(stderr, "  %lld -> \"%s\"\n", v, out);
    }
    CHECK_INT(bad, 0);
    CHECK(checked > 330000);
}

int main(void)
{
    test_table();
    test_range();
    test_capital();
    test_buffer();
    test_read_back();
    return t_done();
}
