/* A receipt row of the database turned into its content (canonical.h), the
 * way the signer built it when it signed: the same columns (RC_COLS), the
 * personal ID number and address unsealed here (their plaintext never
 * exists in SQL), texts cut between characters to the canonical limits,
 * RC_NO_ADDRESS for an address never given, the amount in words from the
 * amount. Any byte changed in a signed row changes this content (or fails
 * to unseal), so the stored signature no longer verifies.
 *
 * Also the masks of the public check and the verification link. */
#include "internal.h"
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* src into dst (cap bytes with the NUL), cut between UTF-8 characters. */
static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = 0;
}

static const char *col(PGresult *res, int row, int c)
{
    return PQgetvalue(res, row, c);
}

int rc_from_row(PGresult *res, int row, cds_receipt *out, cds_receipt_sig *sig, const char **why)
{
    static const char *dummy;
    if (!why) why = &dummy;
    *why = NULL;
    memset(out, 0, sizeof *out);
    if (sig) {
        memset(sig, 0, sizeof *sig);
        copy_text(sig->alg, sizeof sig->alg, col(res, row, RC_ALG));
        copy_text(sig->kid, sizeof sig->kid, col(res, row, RC_KID));
        copy_text(sig->value, sizeof sig->value, col(res, row, RC_SIG));
    }
    copy_text(out->template_no, sizeof out->template_no, col(res, row, RC_TEMPLATE));
    copy_text(out->serial, sizeof out->serial, col(res, row, RC_SERIAL));
    out->year = (int)strtol(col(res, row, RC_YEAR), NULL, 10);
    out->number = strtol(col(res, row, RC_NUMBER), NULL, 10);
    const char *kind = col(res, row, RC_KIND);
    out->kind = strcmp(kind, "replacement") == 0  ? CDS_RCPT_REPLACEMENT
                : strcmp(kind, "adjustment") == 0 ? CDS_RCPT_ADJUSTMENT
                                                  : CDS_RCPT_ORIGINAL;
    copy_text(out->replaces, sizeof out->replaces, col(res, row, RC_REPLACES));
    copy_text(out->issuer.agency_name, sizeof out->issuer.agency_name,
              col(res, row, RC_ISSUER_NAME));
    copy_text(out->issuer.tax_code, sizeof out->issuer.tax_code, col(res, row, RC_TAX_CODE));
    const char *ia = col(res, row, RC_ISSUER_ADDR);
    copy_text(out->issuer.address, sizeof out->issuer.address, *ia ? ia : RC_NO_ADDRESS);
    copy_text(out->payer.name, sizeof out->payer.name, col(res, row, RC_PAYER_NAME));
    copy_text(out->fee_name, sizeof out->fee_name, col(res, row, RC_FEE));
    copy_text(out->dossier_code, sizeof out->dossier_code, col(res, row, RC_DOSSIER));
    out->amount = strtoll(col(res, row, RC_AMOUNT), NULL, 10);
    copy_text(out->payment_method, sizeof out->payment_method, col(res, row, RC_METHOD));
    copy_text(out->bank_ref, sizeof out->bank_ref, col(res, row, RC_BANK_REF));
    copy_text(out->paid_at, sizeof out->paid_at, col(res, row, RC_PAID_AT));
    copy_text(out->issued_at, sizeof out->issued_at, col(res, row, RC_ISSUED_AT));
    if (cds_amount_words(out->amount, out->amount_words, sizeof out->amount_words) < 0) {
        *why = "amount";
        return -1;
    }
    char *pid = cds_auth_open(col(res, row, RC_PID_SEALED), "citizen.pid");
    if (!pid) {
        *why = "sealed personal ID does not open";
        return -1;
    }
    copy_text(out->payer.personal_id, sizeof out->payer.personal_id, pid);
    int pid_len = (int)strlen(pid);
    free(pid);
    if (pid_len != 12) {
        *why = "payer.personal_id";
        return -1;
    }
    const char *sealed_addr = col(res, row, RC_ADDR_SEALED);
    if (*sealed_addr) {
        char *addr = cds_auth_open(sealed_addr, "citizen.address");
        if (!addr) {
            *why = "sealed address does not open";
            return -1;
        }
        copy_text(out->payer.address, sizeof out->payer.address, *addr ? addr : RC_NO_ADDRESS);
        free(addr);
    } else {
        copy_text(out->payer.address, sizeof out->payer.address, RC_NO_ADDRESS);
    }
    return cds_receipt_check(out, why);
}

/* Bytes of the UTF-8 character at s (n bytes left), 0 when malformed. */
static size_t char_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xe0) == 0xc0 ? 2
                 : (s[0] & 0xf0) == 0xe0 ? 3
                 : (s[0] & 0xf8) == 0xf0 ? 4
                                         : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return len;
}

void rc_mask_name(const char *full, char *out, size_t cap)
{
    /* The family name, then the initial of every other word, as the public
     * dossier lookup shows an applicant. */
    size_t o = 0;
    int first = 1;
    const unsigned char *p = (const unsigned char *)full;
    out[0] = 0;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p) break;
        const unsigned char *w = p;
        while (*p && *p != ' ')
            p++;
        size_t wl = (size_t)(p - w);
        int more = 0;
        for (const unsigned char *q = p; *q; q++)
            if (*q != ' ') more = 1;
        int whole = first && more && wl <= 64;
        size_t take = whole ? wl : char_len(w, wl);
        /* combining marks after a decomposed initial (U+0300..U+036F) */
        while (
            !whole && take && take + 1 < wl &&
            ((w[take] == 0xcc && w[take + 1] >= 0x80) || (w[take] == 0xcd && w[take + 1] <= 0xaf)))
            take += 2;
        if (!take) continue;
        size_t need = (first ? 0 : 1) + take + (whole ? 0 : 1);
        if (o + need + 1 > cap) break;
        if (!first) out[o++] = ' ';
        memcpy(out + o, w, take);
        o += take;
        if (!whole) out[o++] = '.';
        first = 0;
    }
    out[o] = 0;
}

void rc_mask_pid(const char *pid, char out[13])
{
    size_t n = strlen(pid);
    if (n != 12) {
        snprintf(out, 13, "************");
        return;
    }
    memset(out, '*', 9);
    memcpy(out + 9, pid + 9, 3);
    out[12] = 0;
}

int rc_verify_url(const char *id, const char *number, const char *sig, char *out, size_t cap)
{
    const char *base = g_receipts.public_base_url ? g_receipts.public_base_url : "";
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    int n = snprintf(out, cap, "%.*s/r/%s?n=%s&s=%s", (int)bl, base, id, number, sig);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

void rc_number8(const char *number, char out[16])
{
    snprintf(out, 16, "%08ld", strtol(number, NULL, 10));
}
