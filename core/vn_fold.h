/* Vietnamese (and other Latin) text folded to printable ASCII without
 * diacritics: what an SMS carries so that it stays in the GSM-7 alphabet
 * (notify/sms_text.h counts its segments), and the form in which names are
 * compared regardless of marks (delivery's tariff) or written where only
 * ASCII fits (a VietQR purpose). */
#ifndef CDS_VN_FOLD_H
#define CDS_VN_FOLD_H
#include <stddef.h>

/* Writes `utf8` without diacritics to out (NUL-terminated):
 *   - every Vietnamese letter, precomposed (ệ, Ở) or decomposed (e + U+0323
 *     + U+0302), becomes its ASCII base letter; đ/Đ become d/D; any other
 *     combining mark (U+0300..U+036F) is dropped, as are the marks of other
 *     Latin letters (ñ -> n, ß -> ss, Æ -> AE);
 *   - typographic punctuation gets an ASCII stand-in: ‘’ -> ', “”«» -> ",
 *     – — − -> -, … -> ..., non-breaking and other spaces -> space, tab ->
 *     space, U+2028/2029 -> LF, fullwidth forms -> ASCII, € -> EUR, ₫ -> d,
 *     £ -> GBP, ¥ -> JPY, © -> (c), ® -> (R), № -> No, • -> -, · -> .;
 *   - ` (not in GSM-7) becomes ', and every other character (emoji, CJK,
 *     control characters, zero-width characters) is dropped.
 * Nothing else changes: spaces are not collapsed, case is kept.
 * Returns the length written, or -1 when utf8 is not well-formed UTF-8
 * (overlong forms, surrogates, code points above U+10FFFF, truncated or
 * stray continuation bytes) or when out (cap bytes, NUL included) is too
 * small; out is then an empty string when cap > 0. */
int cds_vn_fold(const char *utf8, char *out, size_t cap);

#endif
