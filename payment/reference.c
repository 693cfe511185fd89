/* Payment reference codes (see reference.h): making them, and finding one
 * again in whatever text a bank delivers.
 *
 * Format. "CDS" + 9 random symbols + 1 check symbol, all from Crockford's
 * base32 alphabet 0123456789ABCDEFGHJKMNPQRSTVWXYZ. Crockford leaves out I
 * and L (read as 1), O (read as 0) and U, so whatever a person copies by
 * eye decodes to one value. Thirteen characters fit the transfer content of
 * every Vietnamese bank app with room to spare, and contain only letters
 * and digits, which no bank strips. 45 random bits make a collision between
 * two live references negligible, and guessing one pointless.
 *
 * Check symbol. Damm's algorithm over GF(32) (elements = symbol values,
 * field polynomial x^5 + x^2 + 1): interim = 2*interim XOR symbol for each
 * symbol, starting from 0; the check symbol is the one that brings the
 * interim back to 0. x -> 2x XOR y is a quasigroup, so any single wrong
 * symbol changes the result; it is totally anti-symmetric because 2 != 1,
 * so swapping any two neighbours (the check symbol included) does too.
 * Unlike Crockford's own mod-37 check it needs no symbol outside the
 * alphabet (* ~ $ = would not survive bank apps). A random 10-symbol string
 * passes with probability 1/32.
 *
 * Matching, cds_payref_find. Bank apps and people change the reference:
 * case ("cds7m2k9qx4p1"), separators inside it ("CDS 7M2-K9QX4P1"), text
 * glued around it ("MBVCB.1234.567.CDS7M2K9QX4P1.CT tu ..."), look-alike
 * letters ("CDSOO11ORENAJ" for CDS00110RENAJ). The description is read as
 * ASCII letters and digits (symbols) and separators: space - . _ / : , # +
 * ; tab CR LF. Any other byte (a '(' or a Vietnamese letter like "đ") ends
 * a candidate. A candidate starts at each C (either case) and must read
 *     C D S s1 s2 ... s10
 * where letters are upper-cased and O becomes 0, I and L become 1, each s
 * is in the alphabet, and between any two of these 13 symbols there are at
 * most 3 separators (so "CDS 7M2 K9Q X4P 1" matches, words farther apart
 * do not). Nothing is required before the C or after s10: banks glue text
 * to both sides ("...567.CDS...", "CDS...P1-TPB"). The check symbol must then
 * hold. The "CDS" anchor is what keeps false matches rare: without it every
 * 10-symbol window of an account number would pass the check one time in
 * 32; with it, random text must also contain C, D, S in a row. What still
 * passes by chance (a reference with a wrong symbol swallowing the next
 * word's letter, 1 in 32) is a well-formed reference that, having 45 random
 * bits, matches no issued one: the database lookup is the last guard.
 * After a match, the search continues after it; a second, different
 * reference makes the answer CDS_PAYREF_SEVERAL (a person paying two fees
 * in one transfer: a human decides). */
#include "payment/reference.h"

#include <openssl/rand.h>
#include <string.h>

#define SCAN_MAX 4096
#define SEP_RUN_MAX 3
#define RANDOM_SYMBOLS 9

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Value of an already upper-cased symbol, with the look-alikes; -1 if none. */
static int symbol_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c == 'O') return 0;
    if (c == 'I' || c == 'L') return 1;
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

static unsigned damm_step(unsigned interim, unsigned sym)
{
    unsigned x = interim << 1;
    if (x & 32) x ^= 0x25; /* reduce by x^5 + x^2 + 1 */
    return (x ^ sym) & 31;
}

void cds_payref_make(const unsigned char sym[RANDOM_SYMBOLS], char out[CDS_PAYREF_LEN + 1])
{
    unsigned interim = 0;
    memcpy(out, CDS_PAYREF_PREFIX, 3);
    for (int i = 0; i < RANDOM_SYMBOLS; i++) {
        unsigned v = sym[i] & 31u;
        out[3 + i] = alphabet[v];
        interim = damm_step(interim, v);
    }
    out[3 + RANDOM_SYMBOLS] = alphabet[damm_step(interim, 0)]; /* the c with step(i, c) = 0 */
    out[CDS_PAYREF_LEN] = 0;
}

int cds_payref_new(char out[CDS_PAYREF_LEN + 1])
{
    unsigned char r[RANDOM_SYMBOLS];
    /* 256 is a multiple of 32: each byte's low 5 bits are uniform */
    if (RAND_bytes(r, sizeof r) != 1) {
        out[0] = 0;
        return -1;
    }
    cds_payref_make(r, out);
    memset(r, 0, sizeof r);
    return 0;
}

int cds_payref_valid(const char *s)
{
    unsigned interim = 0;
    if (!s || strncmp(s, CDS_PAYREF_PREFIX, 3) != 0) return 0;
    for (int i = 0; i < CDS_PAYREF_BODY; i++) {
        unsigned char c = (unsigned char)s[3 + i];
        const char *p = c ? strchr(alphabet, c) : NULL;
        if (!p) return 0;
        interim = damm_step(interim, (unsigned)(p - alphabet));
    }
    return s[CDS_PAYREF_LEN] == 0 && interim == 0;
}

static int is_sep(unsigned char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '_' || c == '/' || c == ':' || c == ',' ||
           c == '#' || c == '+' || c == ';' || c == '\t' || c == '\r' || c == '\n';
}

static unsigned char upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
}

/* Tries a reference starting at s[i]; on success writes the canonical form
 * and returns the index just past it, else returns 0. */
static size_t match_at(const unsigned char *s, size_t n, size_t i, char out[CDS_PAYREF_LEN + 1])
{
    unsigned vals[CDS_PAYREF_BODY], interim = 0;
    size_t k = 0;
    for (; k < CDS_PAYREF_LEN; k++) {
        if (k > 0) { /* separators between symbols, not before the first */
            size_t run = 0;
            while (i < n && is_sep(s[i]) && run <= SEP_RUN_MAX) {
                i++;
                run++;
            }
            if (run > SEP_RUN_MAX) return 0;
        }
        if (i >= n) return 0;
        unsigned char c = upper(s[i]);
        if (k < 3) {
            if (c != (unsigned char)CDS_PAYREF_PREFIX[k]) return 0;
        } else {
            int v = symbol_value(c);
            if (v < 0) return 0;
            vals[k - 3] = (unsigned)v;
        }
        i++;
    }
    for (k = 0; k < CDS_PAYREF_BODY; k++)
        interim = damm_step(interim, vals[k]);
    if (interim != 0) return 0;
    memcpy(out, CDS_PAYREF_PREFIX, 3);
    for (k = 0; k < CDS_PAYREF_BODY; k++)
        out[3 + k] = alphabet[vals[k]];
    out[CDS_PAYREF_LEN] = 0;
    return i;
}

int cds_payref_find(const char *description, char out[CDS_PAYREF_LEN + 1])
{
    char cand[CDS_PAYREF_LEN + 1];
    int found = CDS_PAYREF_NONE;
    out[0] = 0;
    if (!description) return CDS_PAYREF_NONE;
    const unsigned char *s = (const unsigned char *)description;
    size_t n = strnlen(description, SCAN_MAX);
    for (size_t i = 0; i < n;) {
        size_t end = upper(s[i]) == 'C' ? match_at(s, n, i, cand) : 0;
        if (!end) {
            i++;
            continue;
        }
        if (found == CDS_PAYREF_NONE) {
            memcpy(out, cand, sizeof cand);
            found = CDS_PAYREF_FOUND;
        } else if (strcmp(out, cand) != 0) {
            return CDS_PAYREF_SEVERAL;
        }
        i = end;
    }
    return found;
}
