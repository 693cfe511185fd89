/* The stand-in bank's own reading of a VietQR code, as a bank app reads it,
 * from the documents (not from payment/vietqr.c):
 *
 *  - EMVCo QR Code Specification for Payment Systems, Merchant-Presented
 *    Mode v1.1: a string of data objects ID(2 digits) LEN(2 digits) VALUE;
 *    00 payload format "01", 01 point of initiation ("11" static, "12"
 *    dynamic), 26..51 merchant account information, 53 currency (ISO 4217
 *    numeric), 54 amount, 58 country, 62 additional data (its 08: purpose of
 *    transaction), 63 the CRC: CRC-16/CCITT-FALSE over everything before
 *    its value (its "6304" included), four upper-case hex digits, last;
 *  - NAPAS, "Đặc tả kỹ thuật mã QR chuyển nhanh NAPAS247" (VietQR): the
 *    account information is ID 38 with 00 GUID "A000000727", 01 the
 *    beneficiary organization (00 acquirer BIN, 01 account or card number)
 *    and 02 the service code QRIBFTTA / QRIBFTTC; currency 704, country VN,
 *    the amount in whole dong. */
#include "sim/witness.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

unsigned sim_crc16_ccitt_false(const char *s, size_t n)
{
    unsigned crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= (unsigned)(unsigned char)s[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
    }
    return crc;
}

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

typedef struct tlv {
    char id[3];
    const char *v;
    size_t n;
} tlv;

/* The data objects of s[0..n) into t (at most max); their count, or -1. */
static int split(const char *s, size_t n, tlv *t, int max, const char *where, char *err,
                 size_t cap)
{
    int k = 0;
    size_t i = 0;
    while (i < n) {
        if (n - i < 4)
            return fail(err, cap, "truncated: %s ends inside an ID/length at offset %zu", where, i);
        for (int j = 0; j < 4; j++)
            if (s[i + j] < '0' || s[i + j] > '9')
                return fail(err, cap, "bad data object in %s at offset %zu (ID and length are digits)",
                            where, i);
        size_t len = (size_t)(s[i + 2] - '0') * 10 + (size_t)(s[i + 3] - '0');
        if (len > n - i - 4)
            return fail(err, cap, "truncated: %s object %c%c says %zu bytes, %zu left", where,
                        s[i], s[i + 1], len, n - i - 4);
        if (k == max) return fail(err, cap, "too many data objects in %s", where);
        t[k].id[0] = s[i];
        t[k].id[1] = s[i + 1];
        t[k].id[2] = 0;
        t[k].v = s + i + 4;
        t[k].n = len;
        k++;
        i += 4 + len;
    }
    return k;
}

static const tlv *find(const tlv *t, int k, const char *id)
{
    for (int i = 0; i < k; i++)
        if (strcmp(t[i].id, id) == 0) return &t[i];
    return NULL;
}

static int copy(char *dst, size_t cap, const tlv *t)
{
    if (!t || t->n >= cap) return -1;
    memcpy(dst, t->v, t->n);
    dst[t->n] = 0;
    return 0;
}

int sim_vietqr_read(const char *s, size_t n, sim_vietqr *out, char *err, size_t cap)
{
    tlv top[40], mai[8], org[8], add[16];
    memset(out, 0, sizeof *out);
    int k = split(s, n, top, 40, "the code", err, cap);
    if (k < 0) return -1;
    if (k == 0 || strcmp(top[0].id, "00") != 0 || top[0].n != 2 || memcmp(top[0].v, "01", 2) != 0)
        return fail(err, cap, "the code must start with 000201 (payload format indicator)");
    const tlv *crc = &top[k - 1];
    if (strcmp(crc->id, "63") != 0 || crc->n != 4)
        return fail(err, cap, "truncated: the last data object must be the crc (63, 4 digits)");
    unsigned want = sim_crc16_ccitt_false(s, (size_t)(crc->v - s));
    char hex[5];
    snprintf(hex, sizeof hex, "%04X", want);
    if (memcmp(hex, crc->v, 4) != 0)
        return fail(err, cap, "crc mismatch: the code says %.4s, its content gives %s", crc->v, hex);
    const tlv *pi = find(top, k, "01");
    out->dynamic = pi && pi->n == 2 && memcmp(pi->v, "12", 2) == 0;
    const tlv *m = find(top, k, "38");
    if (!m) return fail(err, cap, "no VietQR merchant account information (38)");
    int km = split(m->v, m->n, mai, 8, "38", err, cap);
    if (km < 0) return -1;
    const tlv *guid = find(mai, km, "00");
    if (!guid || guid->n != 10 || memcmp(guid->v, "A000000727", 10) != 0)
        return fail(err, cap, "38/00 is not NAPAS's GUID A000000727");
    const tlv *o = find(mai, km, "01");
    int ko = o ? split(o->v, o->n, org, 8, "38/01", err, cap) : -1;
    if (ko < 0) return o ? -1 : fail(err, cap, "no beneficiary organization (38/01)");
    if (copy(out->bin, sizeof out->bin, find(org, ko, "00")) != 0 || strlen(out->bin) != 6)
        return fail(err, cap, "38/01/00 must be the 6-digit BIN of the bank");
    if (copy(out->account, sizeof out->account, find(org, ko, "01")) != 0 || !out->account[0])
        return fail(err, cap, "no account number (38/01/01)");
    if (copy(out->service, sizeof out->service, find(mai, km, "02")) != 0 ||
        (strcmp(out->service, "QRIBFTTA") != 0 && strcmp(out->service, "QRIBFTTC") != 0))
        return fail(err, cap, "38/02 must be QRIBFTTA or QRIBFTTC");
    const tlv *cur = find(top, k, "53"), *cty = find(top, k, "58"), *amt = find(top, k, "54");
    if (!cur || cur->n != 3 || memcmp(cur->v, "704", 3) != 0)
        return fail(err, cap, "currency (53) must be 704 (VND)");
    if (!cty || cty->n != 2 || memcmp(cty->v, "VN", 2) != 0)
        return fail(err, cap, "country (58) must be VN");
    if (amt) {
        if (amt->n == 0 || amt->n > 13) return fail(err, cap, "amount (54) must be 1..13 digits");
        for (size_t i = 0; i < amt->n; i++) {
            if (amt->v[i] < '0' || amt->v[i] > '9')
                return fail(err, cap, "amount (54) must be whole dong, digits only");
            out->amount = out->amount * 10 + (unsigned)(amt->v[i] - '0');
        }
    }
    const tlv *a = find(top, k, "62");
    if (a) {
        int ka = split(a->v, a->n, add, 16, "62", err, cap);
        if (ka < 0) return -1;
        const tlv *p = find(add, ka, "08");
        if (p && copy(out->purpose, sizeof out->purpose, p) != 0)
            return fail(err, cap, "purpose (62/08) too long");
    }
    return 0;
}

static int put(char *out, size_t cap, size_t *o, const char *id, const char *v)
{
    size_t n = strlen(v);
    if (n > 99) return -1;
    int k = snprintf(out + *o, cap - *o, "%s%02zu%s", id, n, v);
    if (k < 0 || (size_t)k >= cap - *o) return -1;
    *o += (size_t)k;
    return 0;
}

int sim_vietqr_write(const sim_vietqr *q, char *out, size_t cap)
{
    char org[64], mai[128], add[128], amount[24];
    size_t o = 0, on = 0, mn = 0, an = 0;
    if (put(org, sizeof org, &on, "00", q->bin) || put(org, sizeof org, &on, "01", q->account) ||
        put(mai, sizeof mai, &mn, "00", "A000000727") || put(mai, sizeof mai, &mn, "01", org) ||
        put(mai, sizeof mai, &mn, "02", q->service[0] ? q->service : "QRIBFTTA"))
        return -1;
    if (q->purpose[0] && put(add, sizeof add, &an, "08", q->purpose)) return -1;
    snprintf(amount, sizeof amount, "%llu", q->amount);
    if (put(out, cap, &o, "00", "01") || put(out, cap, &o, "01", q->dynamic ? "12" : "11") ||
        put(out, cap, &o, "38", mai) || put(out, cap, &o, "53", "704") ||
        (q->amount && put(out, cap, &o, "54", amount)) || put(out, cap, &o, "58", "VN") ||
        (an && put(out, cap, &o, "62", add)))
        return -1;
    if (cap - o < 9) return -1;
    memcpy(out + o, "6304", 4);
    o += 4;
    snprintf(out + o, cap - o, "%04X", sim_crc16_ccitt_false(out, o));
    return 0;
}
