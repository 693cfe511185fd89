/* The language of an answer: Vietnamese (the default) or English, chosen
 * from the request's Accept-Language (RFC 9110, section 12.5.4) or from a
 * citizen's stored preference.
 *
 * Accept-Language is a list of language ranges (RFC 4647 basic ranges:
 * "en", "en-US", "*") each with an optional weight ";q=0.8" (qvalue:
 * 0..1, at most three decimals). A range stands for the languages it is a
 * prefix of and for the language its truncation names (RFC 4647 lookup):
 * "en-GB" asks for English, "vi-VN" for Vietnamese; "*" for anything. Each
 * of our two languages gets the weight of the most specific range that
 * names it; q=0 refuses it. The heaviest wins. In a tie a language named
 * beats one reached only through "*", and of two named the first listed
 * wins. An absent or unusable header, "*" alone, or both refused gives
 * Vietnamese (we never answer 406: a Vietnamese page beats no page).
 * Malformed members are skipped, not the whole header.
 *
 * A handler that writes language-dependent text calls cds_req_lang (core/
 * http.h), or cds_req_lang_or when a stored preference stands in for a
 * header that names no language: the answer then carries Content-Language
 * and Vary: Accept-Language. */
#ifndef CDS_LANG_H
#define CDS_LANG_H
#include <stddef.h>

typedef enum { CDS_LANG_VI = 0, CDS_LANG_EN = 1, CDS_LANG__COUNT } cds_lang;

/* The language asked for by an Accept-Language value (NULL: none). */
cds_lang cds_lang_parse(const char *accept_language);
/* The same when the value names one of our languages ("en", "vi-VN",
 * with a weight above 0, or the other one refused by name: "en;q=0, *");
 * -1 when it names neither (absent, "*" alone, "fr", both refused): the
 * caller then has another source, a citizen's stored preference. */
int cds_lang_named(const char *accept_language);
/* "vi" or "en" (the Content-Language value, the page's lang attribute). */
const char *cds_lang_tag(cds_lang l);
/* "vi" or "en" (a stored preference) to the language; anything else is
 * Vietnamese. */
cds_lang cds_lang_from_tag(const char *tag);
/* The text of l among the two given (vi, en); en NULL falls back to vi. */
const char *cds_lang_pick(cds_lang l, const char *vi, const char *en);

#endif
