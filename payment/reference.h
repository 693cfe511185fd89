/* Payment reference codes: the short text a citizen's bank transfer carries
 * so the provider's webhook can be matched to the fee it pays.
 *
 * A reference is "CDS" followed by 10 symbols of Crockford's base32 alphabet
 * (0-9 A-Z without I L O U): 9 random ones (45 bits) and a check symbol,
 * e.g. "CDS7M2K9QX4P1". The check catches every single wrong symbol and
 * every swap of two neighbours; the prefix is what lets the matcher find a
 * reference in the free text banks produce (see reference.c). */
#ifndef CDS_PAYMENT_REFERENCE_H
#define CDS_PAYMENT_REFERENCE_H
#include <stddef.h>

#define CDS_PAYREF_PREFIX "CDS"
#define CDS_PAYREF_BODY 10 /* symbols after the prefix, check symbol included */
#define CDS_PAYREF_LEN 13  /* whole reference, without the NUL */

/* A new random reference into out (CDS_PAYREF_LEN + 1 bytes). 0, or -1 when
 * the random generator failed. */
int cds_payref_new(char out[CDS_PAYREF_LEN + 1]);
/* The reference made of the 9 given symbol values (each taken mod 32) and
 * its check symbol; cds_payref_new feeds it random bytes. */
void cds_payref_make(const unsigned char sym[9], char out[CDS_PAYREF_LEN + 1]);
/* 1 when s is exactly a canonical reference (upper case, no separators,
 * check symbol right), else 0. */
int cds_payref_valid(const char *s);

enum {
    CDS_PAYREF_NONE = 0,    /* no reference in the text */
    CDS_PAYREF_FOUND = 1,   /* one reference (possibly repeated); out holds it */
    CDS_PAYREF_SEVERAL = 2, /* different references; out holds the first */
};
/* Finds a reference in a bank transfer description, tolerating what banks
 * and people do to it (case, separators, O/I/L for 0/1, text around it) and
 * writes its canonical form to out. Looks at the first 4096 bytes. */
int cds_payref_find(const char *description, char out[CDS_PAYREF_LEN + 1]);

#endif
