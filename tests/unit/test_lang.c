/* Accept-Language (core/lang.h), RFC 9110 section 12.5.4 with RFC 4647
 * ranges: weights, "*", regional ranges standing for their language, q=0
 * refusing, ties, malformed members skipped, Vietnamese by default. The
 * header values are those browsers and apps send (Chrome "en-US,en;q=0.9",
 * Safari iOS "vi-VN", Android's OkHttp "en-US") and RFC 9110's own example
 * "da, en-gb;q=0.8, en;q=0.7". */
#include "core/lang.h"
#include "tests/lib/t.h"

#include <string.h>

static void is(const char *h, cds_lang want)
{
    cds_lang got = cds_lang_parse(h);
    if (got != want)
        fprintf(stderr, "Accept-Language \"%s\": got %s\n", h ? h : "(none)", cds_lang_tag(got));
    CHECK_INT((int)got, (int)want);
}

/* cds_lang_named: the language when the header names one, else -1. */
static void named(const char *h, int want)
{
    int got = cds_lang_named(h);
    if (got != want) fprintf(stderr, "named \"%s\": got %d\n", h ? h : "(none)", got);
    CHECK_INT(got, want);
}

int main(void)
{
    /* Vietnamese by default. */
    is(NULL, CDS_LANG_VI);
    is("", CDS_LANG_VI);
    is("*", CDS_LANG_VI);
    is("fr, de;q=0.5", CDS_LANG_VI);
    is("vi", CDS_LANG_VI);
    is("vi-VN", CDS_LANG_VI);
    /* English asked for. */
    is("en", CDS_LANG_EN);
    is("EN", CDS_LANG_EN);
    is("en-US", CDS_LANG_EN);
    is("en-US,en;q=0.9", CDS_LANG_EN);
    is("da, en-gb;q=0.8, en;q=0.7", CDS_LANG_EN); /* RFC 9110's example: no Danish, English next */
    is("fr;q=1, en;q=0.1", CDS_LANG_EN);
    /* Weights decide, not order. */
    is("en;q=0.5, vi", CDS_LANG_VI);
    is("vi;q=0.4, en;q=0.6", CDS_LANG_EN);
    is("vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7", CDS_LANG_VI);
    is("en-US,en;q=0.9,vi;q=0.8", CDS_LANG_EN);
    /* The most specific range names the language: en;q=0 refuses English
     * even though "*" would take it. */
    is("*, en;q=0", CDS_LANG_VI);
    is("en;q=0", CDS_LANG_VI);
    is("en, vi;q=0", CDS_LANG_EN);
    is("vi;q=0, *", CDS_LANG_EN);
    is("vi;q=0, en;q=0", CDS_LANG_VI);
    is("en-US;q=0, en", CDS_LANG_EN); /* en names English more exactly than en-US */
    /* Ties: a named language beats "*"; of two named, the first. */
    is("*, en", CDS_LANG_EN);
    is("en, vi", CDS_LANG_EN);
    is("vi, en", CDS_LANG_VI);
    is("en-GB;q=0.5, vi;q=0.5", CDS_LANG_EN);
    /* Whitespace as RFC 9110's OWS allows. */
    is("  en ;  q=1.0 ,vi;q=0.3", CDS_LANG_EN);
    is("\ten\t", CDS_LANG_EN);
    /* qvalue grammar: at most three decimals, 1 only as 1.000, no sign. */
    is("vi;q=0.5, en;q=0.501", CDS_LANG_EN);
    is("vi;q=0.5, en;q=0.5001", CDS_LANG_VI); /* four decimals: the member is skipped */
    is("vi;q=0.5, en;q=1.001", CDS_LANG_VI);
    is("vi;q=0.5, en;q=1.000", CDS_LANG_EN);
    is("vi;q=0.5, en;q=-1", CDS_LANG_VI);
    is("vi;q=0.5, en;q=", CDS_LANG_VI);
    is("vi;q=0.5, en;q=.7", CDS_LANG_VI);
    is("vi;q=0.5, en;Q=0.7", CDS_LANG_EN);
    is("vi;q=0.5, en;level=1", CDS_LANG_VI); /* not a weight */
    /* Malformed ranges are skipped alone. */
    is("e n, vi;q=0.1", CDS_LANG_VI);
    is("en-, vi;q=0.1", CDS_LANG_VI);
    is("english, vi;q=0.1", CDS_LANG_VI); /* "english" is another language, not en */
    is("toolongrange, en", CDS_LANG_EN);  /* 12 letters: skipped; en stays */
    is("en_US", CDS_LANG_VI);
    is(",,, en ,,", CDS_LANG_EN);
    is("en-a1b2c3d4e5", CDS_LANG_VI); /* subtag over 8 characters */
    is("1en", CDS_LANG_VI);
    /* Named or not: a stored preference stands in for a header that names
     * neither language. */
    named(NULL, -1);
    named("", -1);
    named("*", -1);
    named("fr, de;q=0.5", -1);
    named("fr, *;q=0.5", -1);
    named("vi;q=0, en;q=0", -1);
    named("e n", -1);
    named("en", CDS_LANG_EN);
    named("en-US,en;q=0.9", CDS_LANG_EN);
    named("vi-VN", CDS_LANG_VI);
    named("fr, vi;q=0.1", CDS_LANG_VI);
    named("*, en;q=0", CDS_LANG_VI); /* English refused by name */
    named("vi;q=0, *", CDS_LANG_EN);
    named("vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7", CDS_LANG_VI);
    /* Tags and preferences. */
    CHECK_STR(cds_lang_tag(CDS_LANG_VI), "vi");
    CHECK_STR(cds_lang_tag(CDS_LANG_EN), "en");
    CHECK_INT((int)cds_lang_from_tag("en"), (int)CDS_LANG_EN);
    CHECK_INT((int)cds_lang_from_tag("vi"), (int)CDS_LANG_VI);
    CHECK_INT((int)cds_lang_from_tag("fr"), (int)CDS_LANG_VI);
    CHECK_INT((int)cds_lang_from_tag(NULL), (int)CDS_LANG_VI);
    CHECK_STR(cds_lang_pick(CDS_LANG_EN, "a", "b"), "b");
    CHECK_STR(cds_lang_pick(CDS_LANG_VI, "a", "b"), "a");
    CHECK_STR(cds_lang_pick(CDS_LANG_EN, "a", NULL), "a");
    return t_done();
}
