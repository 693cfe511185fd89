/* Unit tests of core/vn_fold.c and notify/sms_text.c: every accented Vietnamese letter, lower
 * and upper case, precomposed (the 134 listed one by one) and decomposed
 * (built from the 12 vowel forms, the 5 tone marks and the 3 modifiers, in
 * canonical and in other orders), đ/Đ; whole sentences; the ASCII stand-ins
 * for punctuation and symbols; every Unicode scalar value giving GSM-7 text;
 * invalid UTF-8 (overlong, surrogates, out of range, truncated, stray bytes);
 * the buffer bound; GSM-7 segment counting at 160/161, 306/307 and with
 * extension characters on a part boundary. */
#include "core/vn_fold.h"
#include "notify/sms_text.h"
#include "tests/lib/t.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { BUF = 8192 };
static char out[4096];

/* The stripped text, or "<-1>" when stripping failed. */
static const char *S(const char *in)
{
    int n = cds_vn_fold(in, out, sizeof out);
    if (n < 0) return "<-1>";
    if ((size_t)n != strlen(out)) return "<length mismatch>";
    return out;
}

static size_t put_utf8(uint32_t cp, char *b)
{
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    b[0] = (char)(0xf0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    b[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Splits a UTF-8 string into its characters (each a NUL-terminated string of
 * up to 4 bytes); returns how many. */
static int chars_of(const char *s, char (*cs)[8], int max)
{
    int n = 0;
    const unsigned char *u = (const unsigned char *)s;
    while (*u && n < max) {
        size_t l = *u < 0x80 ? 1 : *u < 0xe0 ? 2 : *u < 0xf0 ? 3 : 4;
        memcpy(cs[n], u, l);
        cs[n][l] = 0;
        n++;
        u += l;
    }
    return n;
}

/* ---------------- every Vietnamese letter ---------------- */

/* The 12 vowel forms and, in the same order, each with the five tones in
 * the order none, huyền (grave), sắc (acute), hỏi (hook), ngã (tilde),
 * nặng (dot below). */
static const char VOWEL_BASE[] = "aaaeeiooouuy";
static const char *const LOWER[12] = {
    "aàáảãạ", "ăằắẳẵặ", "âầấẩẫậ", "eèéẻẽẹ", "êềếểễệ", "iìíỉĩị",
    "oòóỏõọ", "ôồốổỗộ", "ơờớởỡợ", "uùúủũụ", "ưừứửữự", "yỳýỷỹỵ",
};
static const char *const UPPER[12] = {
    "AÀÁẢÃẠ", "ĂẰẮẲẴẶ", "ÂẦẤẨẪẬ", "EÈÉẺẼẸ", "ÊỀẾỂỄỆ", "IÌÍỈĨỊ",
    "OÒÓỎÕỌ", "ÔỒỐỔỖỘ", "ƠỜỚỞỠỢ", "UÙÚỦŨỤ", "ƯỪỨỬỮỰ", "YỲÝỶỸỴ",
};
/* The modifier of each vowel form (0 for none): breve U+0306, circumflex
 * U+0302, horn U+031B. */
static const uint32_t MODIFIER[12] = {0, 0x306, 0x302, 0, 0x302, 0, 0, 0x302, 0x31b, 0, 0x31b, 0};
static const uint32_t TONE[6] = {0, 0x300, 0x301, 0x309, 0x303, 0x323};

/* The 134 precomposed letters, listed one by one. */
static const char *const PRECOMPOSED[] = {
    "à", "á", "ả", "ã", "ạ", "ă", "ằ", "ắ", "ẳ", "ẵ", "ặ", "â", "ầ", "ấ", "ẩ", "ẫ", "ậ",
    "è", "é", "ẻ", "ẽ", "ẹ", "ê", "ề", "ế", "ể", "ễ", "ệ", "ì", "í", "ỉ", "ĩ", "ị", "ò",
    "ó", "ỏ", "õ", "ọ", "ô", "ồ", "ố", "ổ", "ỗ", "ộ", "ơ", "ờ", "ớ", "ở", "ỡ", "ợ", "ù",
    "ú", "ủ", "ũ", "ụ", "ư", "ừ", "ứ", "ử", "ữ", "ự", "ỳ", "ý", "ỷ", "ỹ", "ỵ", "đ", "À",
    "Á", "Ả", "Ã", "Ạ", "Ă", "Ằ", "Ắ", "Ẳ", "Ẵ", "Ặ", "Â", "Ầ", "Ấ", "Ẩ", "Ẫ", "Ậ", "È",
    "É", "Ẻ", "Ẽ", "Ẹ", "Ê", "Ề", "Ế", "Ể", "Ễ", "Ệ", "Ì", "Í", "Ỉ", "Ĩ", "Ị", "Ò", "Ó",
    "Ỏ", "Õ", "Ọ", "Ô", "Ồ", "Ố", "Ổ", "Ỗ", "Ộ", "Ơ", "Ờ", "Ớ", "Ở", "Ỡ", "Ợ", "Ù", "Ú",
    "Ủ", "Ũ", "Ụ", "Ư", "Ừ", "Ứ", "Ử", "Ữ", "Ự", "Ỳ", "Ý", "Ỷ", "Ỹ", "Ỵ", "Đ",
};
/* What each of them becomes, in the same order. */
static const char PRECOMPOSED_BASE[] =
    "aaaaaaaaaaaaaaaaaeeeeeeeeeeeiiiiiooooooooooooooooouuuuuuuuuuuyyyyyd"
    "AAAAAAAAAAAAAAAAAEEEEEEEEEEEIIIIIOOOOOOOOOOOOOOOOOUUUUUUUUUUUYYYYYD";

static void test_precomposed_list(void)
{
    size_t n = sizeof PRECOMPOSED / sizeof PRECOMPOSED[0];
    CHECK_INT(n, 134);
    CHECK_INT(strlen(PRECOMPOSED_BASE), 134);
    for (size_t i = 0; i < n; i++) {
        char want[2] = {PRECOMPOSED_BASE[i], 0};
        const char *got = S(PRECOMPOSED[i]);
        if (strcmp(got, want) != 0)
            fprintf(stderr, "  precomposed %s -> \"%s\", expected %s\n", PRECOMPOSED[i], got, want);
        CHECK_STR(got, want);
        /* Each is one character, and none is listed twice. */
        char cs[4][8];
        CHECK_INT(chars_of(PRECOMPOSED[i], cs, 4), 1);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(PRECOMPOSED[i], PRECOMPOSED[j]) != 0);
    }
}

/* The table by vowel form and tone: the same letters as the list, built
 * another way, and every decomposed spelling of them. */
static void test_every_letter_every_spelling(void)
{
    int precomposed = 0, decomposed = 0, failures = 0;
    for (int v = 0; v < 12; v++) {
        char lo[6][8], up[6][8];
        CHECK_INT(chars_of(LOWER[v], lo, 6), 6);
        CHECK_INT(chars_of(UPPER[v], up, 6), 6);
        for (int t = 0; t < 6; t++) {
            for (int upper = 0; upper < 2; upper++) {
                char base = upper ? (char)(VOWEL_BASE[v] - 'a' + 'A') : VOWEL_BASE[v];
                char want[2] = {base, 0};
                const char *pre = upper ? up[t] : lo[t];
                /* Precomposed, also inside a word. */
                if (MODIFIER[v] || TONE[t]) {
                    precomposed++;
                    if (strcmp(S(pre), want) != 0) failures++;
                    CHECK_STR(S(pre), want);
                    char word[32], wword[8] = {'x', base, 'x', 0};
                    snprintf(word, sizeof word, "x%sx", pre);
                    CHECK_STR(S(word), wword);
                }
                /* Decomposed in canonical order (NFD: horn 216 < dot below
                 * 220 < the others 230) and in the other order; and half
                 * composed (ê + U+0301), as some keyboards produce. */
                uint32_t marks[2] = {MODIFIER[v], TONE[t]};
                for (int order = 0; order < 2; order++) {
                    char d[32];
                    size_t o = 0;
                    d[o++] = base;
                    for (int k = 0; k < 2; k++) {
                        uint32_t m = marks[order ? 1 - k : k];
                        if (m) o += put_utf8(m, d + o);
                    }
                    d[o] = 0;
                    if (o == 1) continue; /* plain a, e, i, o, u, y */
                    if (order == 1 && !(marks[0] && marks[1])) continue; /* one order only */
                    decomposed++;
                    if (strcmp(S(d), want) != 0) failures++;
                    CHECK_STR(S(d), want);
                }
                if (MODIFIER[v] && TONE[t]) {
                    char half[32];
                    size_t o = 0;
                    const char *with_mod = upper ? up[0] : lo[0];
                    o = strlen(with_mod);
                    memcpy(half, with_mod, o);
                    o += put_utf8(TONE[t], half + o);
                    half[o] = 0;
                    CHECK_STR(S(half), want);
                }
            }
        }
    }
    /* 66 letters with marks in each case; all the decomposed spellings. */
    CHECK_INT(precomposed, 132);
    /* Per case: 6 with a modifier only, 30 with a tone only, 30 with both
     * in two orders. */
    CHECK_INT(decomposed, 2 * (6 + 30 + 2 * 30));
    CHECK_INT(failures, 0);
    CHECK_STR(S("đ"), "d");
    CHECK_STR(S("Đ"), "D");
    CHECK_STR(S("ĐĐđđ"), "DDdd");
}

/* The whole Vietnamese range of Latin Extended Additional maps to letters,
 * upper case at even code points. */
static void test_viet_block(void)
{
    for (uint32_t cp = 0x1ea0; cp <= 0x1ef9; cp++) {
        char b[8];
        b[put_utf8(cp, b)] = 0;
        const char *s = S(b);
        CHECK_INT(strlen(s), 1);
        CHECK(cp % 2 == 0 ? (s[0] >= 'A' && s[0] <= 'Z') : (s[0] >= 'a' && s[0] <= 'z'));
        CHECK(strchr("AaEeIiOoUuYy", s[0]) != NULL);
    }
}

/* ---------------- sentences and other characters ---------------- */

static void test_sentences(void)
{
    CHECK_STR(S("Hồ sơ 000.20.01.H29-261123-0001 đã được tiếp nhận"),
              "Ho so 000.20.01.H29-261123-0001 da duoc tiep nhan");
    /* The same sentence decomposed (NFD), as macOS and some Android
     * keyboards write it. */
    CHECK_STR(S("Ho\xcc\x82\xcc\x80 so\xcc\x9b 000.20.01.H29-261123-0001 \xc4\x91\x61\xcc\x83 "
                "\xc4\x91u\xcc\x9bo\xcc\x9b\xcc\xa3\x63 tie\xcc\x82\xcc\x81p nha\xcc\xa3\xcc\x82n"),
              "Ho so 000.20.01.H29-261123-0001 da duoc tiep nhan");
    CHECK_STR(S("ĐƯỜNG NGUYỄN THỊ MINH KHAI, PHƯỜNG BẾN THÀNH"),
              "DUONG NGUYEN THI MINH KHAI, PHUONG BEN THANH");
    CHECK_STR(S("Ủy ban nhân dân Phường Sài Gòn"), "Uy ban nhan dan Phuong Sai Gon");
    CHECK_STR(S("Hồ sơ cần bổ sung: Giấy chứng nhận quyền sử dụng đất; Tờ khai (bản chính)"),
              "Ho so can bo sung: Giay chung nhan quyen su dung dat; To khai (ban chinh)");
    CHECK_STR(S("Lệ phí 37.500 đ, hạn nộp: 05/12/2026."), "Le phi 37.500 d, han nop: 05/12/2026.");
    CHECK_STR(S("Quý khách vui lòng mang theo căn cước, ảnh 4×6 và bản sao sổ hộ khẩu."),
              "Quy khach vui long mang theo can cuoc, anh 4x6 va ban sao so ho khau.");
    /* Nothing else changes: spaces, case, ASCII punctuation, line breaks. */
    CHECK_STR(S("  a  B\r\nc@d_e$f!#%&'()*+,-./:;<=>?\"  "),
              "  a  B\r\nc@d_e$f!#%&'()*+,-./:;<=>?\"  ");
    CHECK_STR(S(""), "");
}

static void test_symbols(void)
{
    CHECK_STR(S("Phí: 37.500 ₫ — “nộp ngay” ‘hôm nay’ – xong…"),
              "Phi: 37.500 d - \"nop ngay\" 'hom nay' - xong...");
    CHECK_STR(S("Giá 5 €"), "Gia 5 EUR");
    CHECK_STR(S("£1 ¥2 ©® № 5 • a · b «x»"), "GBP1 JPY2 (c)(R) No 5 - a . b \"x\"");
    CHECK_STR(S("a\xc2\xa0"
                "b\xe2\x80\xaf"
                "c\xe3\x80\x80"
                "d"),
              "a b c d"); /* NBSP, NNBSP, ideographic */
    CHECK_STR(S("a\tb"), "a b");
    CHECK_STR(S("a`b"), "a'b");
    CHECK_STR(S("a\x01\x1b\x7f"
                "b"),
              "ab");
    CHECK_STR(S("a\xe2\x80\xa8"
                "b"),
              "a\nb"); /* line separator */
    CHECK_STR(S("ＡＢＣ１２３！"), "ABC123!");
    /* Every entry of the stand-in table, found by its binary search. */
    CHECK_STR(
        S("\xc2\x85|Ơơ|Ưư|\xe2\x80\x80\xe2\x80\x85\xe2\x80\x8a|‐‑‒–—―|‘’‚‛|“”„‟|•|…|"
          "\xe2\x80\xa8\xe2\x80\xa9|\xe2\x80\xaf|′″|‹›|⁃|\xe2\x81\x9f|₫|€|№|™|−|\xe3\x80\x80"),
        "\n|Oo|Uu|   |------|''''|\"\"\"\"|-|...|\n\n| |'\"|''|-| |d|EUR|No|TM|-| ");
    /* Zero-width space, word joiner, variation selector 16: dropped. */
    CHECK_STR(S("a\xe2\x80\x8b\xe2\x81\xa0\xef\xb8\x8f"
                "b"),
              "ab");
    /* Emoji (with a zero-width joiner and a variation selector), CJK, other
     * scripts and the BOM are dropped; GSM-7's extension characters kept. */
    CHECK_STR(S("Xin chào 👋🏽 👨‍👩‍👧 ❤️ 你好 Привет \xef\xbb\xbf!"),
              "Xin chao      !");
    CHECK_STR(S("^{}\\[~]|"), "^{}\\[~]|");
    /* Other Latin letters lose their marks too (names of foreigners). */
    CHECK_STR(S("Ñandú Müller Ærø Straße Łódź Œuvre ĳ"),
              "Nandu Muller AEro Strasse Lodz OEuvre ij");
}

/* Whatever the input, the output is printable ASCII (but `) plus CR LF, so
 * GSM-7: checked for every Unicode scalar value, alone and after a letter. */
static void test_every_code_point(void)
{
    int bad = 0, dropped = 0;
    for (uint32_t cp = 1; cp <= 0x10ffff; cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        char b[16];
        size_t l = put_utf8(cp, b + 1);
        b[0] = 'a';
        b[l + 1] = 0;
        int n = cds_vn_fold(b, out, sizeof out);
        if (n < 1 || out[0] != 'a') {
            bad++;
            continue;
        }
        if (n == 1) dropped++;
        for (int i = 0; i < n; i++) {
            unsigned char c = (unsigned char)out[i];
            if (!((c >= 0x20 && c < 0x7f && c != '`') || c == '\n' || c == '\r')) bad++;
        }
        int sept;
        if (cds_sms_segments(out, &sept) != 1 || sept < n) bad++;
    }
    CHECK_INT(bad, 0);
    CHECK(dropped > 1000000); /* nearly everything outside Latin is dropped */
}

/* ---------------- invalid UTF-8 and the buffer ---------------- */

static void test_invalid_utf8(void)
{
    static const char *const bad[] = {
        "\xc0\xaf",                 /* overlong '/' */
        "\xc1\xbf",                 /* overlong */
        "\xe0\x80\xaf",             /* overlong, 3 bytes */
        "\xe0\x9f\xbf",             /* overlong U+07FF */
        "\xf0\x80\x80\xaf",         /* overlong, 4 bytes */
        "\xf0\x8f\xbf\xbf",         /* overlong U+FFFF */
        "\xed\xa0\x80",             /* U+D800, a surrogate */
        "\xed\xbf\xbf",             /* U+DFFF */
        "\xed\xa0\xbd\xed\xb8\x80", /* a CESU-8 surrogate pair */
        "\xf4\x90\x80\x80",         /* U+110000 */
        "\xf5\x80\x80\x80",         /* impossible lead byte */
        "\xfe",
        "\xff",
        "\x80",
        "a\xbf"
        "b",        /* stray continuation bytes */
        "a\xc3",    /* truncated at the end */
        "\xe1\xba", /* truncated ạ */
        "\xe1\xba"
        "a",              /* truncated, then ASCII */
        "\xf0\x9f\x91",   /* truncated emoji */
        "Hồ sơ \xe1\xbb", /* truncated after valid text */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(out, "junk", 5);
        CHECK_INT(cds_vn_fold(bad[i], out, sizeof out), -1);
        CHECK_STR(out, "");
        CHECK_INT(cds_sms_segments(bad[i], NULL), -1);
    }
    /* The edges that are valid. */
    CHECK_STR(S("\xed\x9f\xbf"), "");     /* U+D7FF */
    CHECK_STR(S("\xee\x80\x80"), "");     /* U+E000 */
    CHECK_STR(S("\xef\xbf\xbf"), "");     /* U+FFFF */
    CHECK_STR(S("\xf4\x8f\xbf\xbf"), ""); /* U+10FFFF */
    CHECK_STR(S("\xc2\x80"), "");         /* U+0080 */
    CHECK_INT(cds_vn_fold(NULL, out, sizeof out), -1);
}

static void test_buffer_bound(void)
{
    char small[8];
    CHECK_INT(cds_vn_fold("abc", small, 4), 3);
    CHECK_STR(small, "abc");
    CHECK_INT(cds_vn_fold("abc", small, 3), -1);
    CHECK_STR(small, "");
    CHECK_INT(cds_vn_fold("ệệệ", small, 4), 3); /* 9 bytes in, 3 out */
    CHECK_STR(small, "eee");
    CHECK_INT(cds_vn_fold("€", small, 4), 3);
    CHECK_INT(cds_vn_fold("€", small, 3), -1); /* the expansion is bounded too */
    CHECK_INT(cds_vn_fold("a", small, 0), -1);
    CHECK_INT(cds_vn_fold("", small, 1), 0);
    CHECK_INT(cds_vn_fold("a", NULL, 8), -1);
}

/* ---------------- segments ---------------- */

/* Appends n copies of unit to the string in b (cap bytes); returns b. */
static char *app(char *b, size_t cap, const char *unit, int n)
{
    size_t len = strlen(b), ul = strlen(unit);
    for (int i = 0; i < n && len + ul < cap; i++) {
        memcpy(b + len, unit, ul);
        len += ul;
    }
    b[len] = 0;
    return b;
}

/* b set to n copies of unit. */
static char *rep(char *b, const char *unit, int n)
{
    b[0] = 0;
    return app(b, BUF, unit, n);
}

static void test_segments(void)
{
    char *b = malloc(BUF);
    int sept = -7;
    CHECK_INT(cds_sms_segments("", &sept), 0);
    CHECK_INT(sept, 0);
    CHECK_INT(cds_sms_segments("a", &sept), 1);
    CHECK_INT(cds_sms_segments(rep(b, "a", 160), &sept), 1);
    CHECK_INT(sept, 160);
    CHECK_INT(cds_sms_segments(rep(b, "a", 161), &sept), 2);
    CHECK_INT(sept, 161);
    CHECK_INT(cds_sms_segments(rep(b, "a", 306), &sept), 2);
    CHECK_INT(cds_sms_segments(rep(b, "a", 307), &sept), 3);
    CHECK_INT(cds_sms_segments(rep(b, "a", 459), &sept), 3);
    CHECK_INT(cds_sms_segments(rep(b, "a", 460), &sept), 4);
    CHECK_INT(cds_sms_segments(rep(b, "a", 460), NULL), 4);

    /* Extension characters cost 2. */
    CHECK_INT(cds_sms_segments("^{}\\[~]|", &sept), 1);
    CHECK_INT(sept, 16);
    CHECK_INT(cds_sms_segments("\f", &sept), 1);
    CHECK_INT(sept, 2);
    app(rep(b, "a", 158), BUF, "{", 1); /* 160 */
    CHECK_INT(cds_sms_segments(b, &sept), 1);
    CHECK_INT(sept, 160);
    app(rep(b, "a", 159), BUF, "}", 1); /* 161 */
    CHECK_INT(cds_sms_segments(b, &sept), 2);
    CHECK_INT(sept, 161);
    /* An escape pair on the 153/154 boundary moves to the next part: 306
     * septets, yet three parts. One septet earlier it fits in two. */
    app(app(rep(b, "a", 152), BUF, "[", 1), BUF, "a", 152);
    CHECK_INT(cds_sms_segments(b, &sept), 3);
    CHECK_INT(sept, 306);
    app(app(rep(b, "a", 151), BUF, "]", 1), BUF, "a", 153);
    CHECK_INT(cds_sms_segments(b, &sept), 2);
    CHECK_INT(sept, 306);
    app(app(rep(b, "a", 151), BUF, "~", 1), BUF, "a", 154);
    CHECK_INT(cds_sms_segments(b, &sept), 3);
    CHECK_INT(sept, 307);
    /* A single message has no parts: a pair at septets 160/161 is just too long. */
    app(rep(b, "a", 159), BUF, "|", 1);
    CHECK_INT(cds_sms_segments(b, &sept), 2);

    /* The euro sign, if a text has it in GSM form, costs 2 as well. */
    CHECK_INT(cds_sms_segments(rep(b, "€", 80), &sept), 1);
    CHECK_INT(sept, 160);
    CHECK_INT(cds_sms_segments(rep(b, "€", 81), &sept), 2);
    CHECK_INT(sept, 162);
    /* GSM-7's own non-ASCII letters cost 1; anything else is not GSM-7. */
    CHECK_INT(cds_sms_segments("éèùìòÇØøÅåÆæßÉÄÖÑÜ§¿äöñüà£¥¤¡ΔΦΓΛΩΠΨΣΘΞ@$_", &sept), 1);
    CHECK_INT(sept, 42); /* all 39 non-ASCII ones and three ASCII ones not at their ASCII code */
    CHECK_INT(cds_sms_segments("ệ", &sept), -1);
    CHECK_INT(cds_sms_segments("â", NULL), -1);
    CHECK_INT(cds_sms_segments("a`b", NULL), -1);
    CHECK_INT(cds_sms_segments("a\tb", NULL), -1);
    CHECK_INT(cds_sms_segments("👍", NULL), -1);
    CHECK_INT(cds_sms_segments(NULL, &sept), -1);

    /* A stripped Vietnamese text: 160 letters with marks are 160 septets. */
    int n = cds_vn_fold(rep(b, "ệ", 160), out, sizeof out);
    CHECK_INT(n, 160);
    CHECK_INT(cds_sms_segments(out, &sept), 1);
    CHECK_INT(sept, 160);
    free(b);
}

int main(void)
{
    test_precomposed_list();
    test_every_letter_every_spelling();
    test_viet_block();
    test_sentences();
    test_symbols();
    test_every_code_point();
    test_invalid_utf8();
    test_buffer_bound();
    test_segments();
    return t_done();
}
