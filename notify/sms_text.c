/* GSM-7 segment counting (see sms_text.h); the text itself is folded to
 * ASCII by core/vn_fold.c. */
#include "notify/sms_text.h"
#include "core/utf8.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/* The default alphabet's non-ASCII characters (3GPP TS 23.038 6.2.1):
 * £ ¥ è é ù ì ò Ç Ø ø Å å Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ Æ æ ß É ¤ ¡ Ä Ö Ñ Ü § ¿ ä ö ñ ü à */
static const uint16_t gsm_latin[] = {
    0xa3,  0xa5,  0xe8,  0xe9,  0xf9,  0xec,  0xf2,  0xc7,  0xd8,  0xf8, 0xc5, 0xe5, 0x394,
    0x3a6, 0x393, 0x39b, 0x3a9, 0x3a0, 0x3a8, 0x3a3, 0x398, 0x39e, 0xc6, 0xe6, 0xdf, 0xc9,
    0xa4,  0xa1,  0xc4,  0xd6,  0xd1,  0xdc,  0xa7,  0xbf,  0xe4,  0xf6, 0xf1, 0xfc, 0xe0,
};

/* Septets of one GSM-7 character: 1 in the default alphabet, 2 in the
 * extension table (escape + character), 0 when not GSM-7 at all. */
static int gsm_septets(uint32_t cp)
{
    if (cp < 0x80) {
        if (cp == '\n' || cp == '\r') return 1;
        if (cp == '\f') return 2;
        if (cp < 0x20 || cp == 0x7f || cp == '`') return 0;
        if (strchr("^{}\\[~]|", (int)cp)) return 2;
        return 1;
    }
    if (cp == 0x20ac) return 2; /* € */
    for (size_t i = 0; i < sizeof gsm_latin / sizeof gsm_latin[0]; i++)
        if (gsm_latin[i] == cp) return 1;
    return 0;
}

int cds_sms_segments(const char *gsm_text, int *septets)
{
    if (septets) *septets = 0;
    if (!gsm_text) return -1;
    const char *s = gsm_text;
    long total = 0, parts = 1, in_part = 0;
    while (*s) {
        uint32_t cp;
        size_t n = cds_utf8_next(s, &cp);
        if (n == 0) return -1;
        s += n;
        int w = gsm_septets(cp);
        if (w == 0) return -1;
        total += w;
        if (total > INT_MAX / 2) return -1; /* no real SMS; keeps the int results exact */
        /* The concatenated layout, used only when the text exceeds one
         * message: an escape pair that would straddle a boundary starts the
         * next part, as phones and gateways lay it out (Android's
         * GsmAlphabet.findGsmSeptetLimitIndex does), since a part ending in
         * a lone escape would show the wrong character. */
        if (in_part + w > CDS_SMS_PART_SEPTETS) {
            parts++;
            in_part = 0;
        }
        in_part += w;
    }
    if (septets) *septets = (int)total;
    if (total == 0) return 0;
    if (total <= CDS_SMS_SINGLE_SEPTETS) return 1;
    return (int)parts;
}
