/* VietQR payloads (see vietqr.h): encoder, strict decoder, JSON form.
 *
 * Decoding goes in passes, so that the error reported is the one a person
 * fixing the payload needs first:
 *   1. size (1..512) and alphabet (printable ASCII: every field VietQR uses
 *      is numeric or "ans", and a UTF-8 byte would make EMVCo's lengths,
 *      counted in characters, disagree with ours, counted in bytes);
 *   2. the root split into data objects: ids and lengths two digits, values
 *      inside the payload, no id twice; 00 first, 63 last;
 *   3. the CRC, over the payload up to and including "6304";
 *   4. each field in payload order (templates 38 and 62 are split the same
 *      way as the root, with offsets counted from the payload's start), then
 *      the mandatory ones.
 * A payload that passes is one our encoder would write with the same fields
 * (the fuzz target checks that), except for the data objects kept aside.
 *
 * Data objects are non-owning slices of the payload (struct tlv); nothing is
 * allocated until cds_vietqr_json(). The encoder checks its input with the
 * same functions as the decoder, so both give the same message for the same
 * mistake, and builds the nested templates in small fixed buffers, innermost
 * first, because each length prefix must be known before its value. */
#include "payment/vietqr.h"

#include "core/buf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define GUID "A000000727"
#define SERVICE_ACCOUNT "QRIBFTTA"
#define SERVICE_CARD "QRIBFTTC"
#define SHOWN 24 /* characters of a bad value quoted in a message */

/* One data object: id, where its id starts in the whole payload, value. */
typedef struct tlv {
    int id;
    size_t off;
    const char *v;
    size_t n;
} tlv;

/* ---------------- errors and names ---------------- */

static int fail(cds_vietqr_error *e, int code, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(cds_vietqr_error *e, int code, size_t off, const char *fmt, ...)
{
    if (!e) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    e->offset = off;
    return code;
}

const char *cds_vietqr_code_name(int code)
{
    static const char *const names[] = {
        "ok",        "bad_argument", "size",  "charset",      "tlv",
        "truncated", "duplicate",    "order", "missing",      "unknown_field",
        "length",    "value",        "guid",  "service_code", "bin",
        "account",   "amount",       "text",  "crc_format",   "crc_mismatch",
    };
    if (code > 0 || (size_t)-code >= sizeof names / sizeof names[0]) return "unknown";
    return names[-code];
}

static const struct {
    const char *path, *name;
} FIELD_NAMES[] = {
    {"00", "payload format indicator"},
    {"01", "point of initiation method"},
    {"38", "merchant account information"},
    {"38.00", "GUID"},
    {"38.01", "beneficiary organization"},
    {"38.01.00", "acquirer BIN"},
    {"38.01.01", "account or card number"},
    {"38.02", "service code"},
    {"52", "merchant category code"},
    {"53", "transaction currency"},
    {"54", "amount"},
    {"58", "country code"},
    {"59", "merchant name"},
    {"60", "merchant city"},
    {"62", "additional data"},
    {"62.01", "bill number"},
    {"62.08", "purpose of transaction"},
    {"63", "CRC"},
};

/* "38.01 (beneficiary organization)", or the bare path for a field we do
 * not name; into buf. */
static const char *named(char *buf, size_t cap, const char *path)
{
    for (size_t i = 0; i < sizeof FIELD_NAMES / sizeof FIELD_NAMES[0]; i++)
        if (strcmp(path, FIELD_NAMES[i].path) == 0) {
            snprintf(buf, cap, "%s (%s)", path, FIELD_NAMES[i].name);
            return buf;
        }
    snprintf(buf, cap, "%s", path);
    return buf;
}

/* The path of sub-field id of parent ("38.01" + 1 -> "38.01.01"). */
static void path_of(char *buf, size_t cap, const char *parent, int id)
{
    if (parent)
        snprintf(buf, cap, "%s.%02d", parent, id % 100);
    else
        snprintf(buf, cap, "%02d", id % 100);
}

/* ---------------- small checks ---------------- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_print(char c)
{
    return (unsigned char)c >= 0x20 && (unsigned char)c <= 0x7e;
}

static int two_digits(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Index of the first character of v[0..n) failing ok(), or n. */
static size_t first_bad(const char *v, size_t n, int (*ok)(char))
{
    size_t i = 0;
    while (i < n && ok(v[i]))
        i++;
    return i;
}

/* The checks below serve both directions: `off` is where the value starts
 * in the payload (decoder) or 0 (encoder); positions in messages count
 * from 1 within the value. */

static int check_bin(const char *v, size_t n, size_t off, cds_vietqr_error *e)
{
    if (n != CDS_VIETQR_BIN_LEN)
        return fail(e, CDS_VIETQR_E_LENGTH, off,
                    "field 38.01.00 (acquirer BIN): %zu characters, must be 6 digits", n);
    size_t i = first_bad(v, n, is_digit);
    if (i < n)
        return fail(e, CDS_VIETQR_E_BIN, off + i,
                    "field 38.01.00 (acquirer BIN): non-digit character '%c' at position %zu", v[i],
                    i + 1);
    return 0;
}

static int check_account(int service, const char *v, size_t n, size_t off, cds_vietqr_error *e)
{
    const char *what = service == CDS_VIETQR_CARD ? "card number" : "account number";
    if (n == 0) return fail(e, CDS_VIETQR_E_MISSING, off, "field 38.01.01 (%s) is missing", what);
    if (n > CDS_VIETQR_ACCOUNT_MAX)
        return fail(e, CDS_VIETQR_E_LENGTH, off, "field 38.01.01 (%s): %zu characters, at most 19",
                    what, n);
    size_t i = first_bad(v, n, service == CDS_VIETQR_CARD ? is_digit : is_alnum);
    if (i < n)
        return fail(e, CDS_VIETQR_E_ACCOUNT, off + i,
                    "field 38.01.01 (%s): character '%c' at position %zu is not %s", what, v[i],
                    i + 1, service == CDS_VIETQR_CARD ? "a digit" : "a letter or digit");
    return 0;
}

/* Digits only: VND has no minor unit, so "180000.00" is refused rather than
 * guessed at; a leading zero or a zero amount is a bug upstream. */
static int check_amount(const char *v, size_t n, size_t off, uint64_t *out, cds_vietqr_error *e)
{
    if (n > 13)
        return fail(e, CDS_VIETQR_E_LENGTH, off, "field 54 (amount): %zu characters, at most 13",
                    n);
    size_t i = first_bad(v, n, is_digit);
    if (i < n)
        return fail(e, CDS_VIETQR_E_AMOUNT, off + i,
                    "field 54 (amount): non-digit character '%c' at position %zu (VND amounts are "
                    "whole numbers)",
                    v[i], i + 1);
    if (v[0] == '0' && n > 1)
        return fail(e, CDS_VIETQR_E_AMOUNT, off, "field 54 (amount): leading zero in \"%.*s\"",
                    (int)n, v);
    uint64_t a = 0;
    for (i = 0; i < n; i++)
        a = a * 10 + (uint64_t)(v[i] - '0');
    if (a == 0)
        return fail(e, CDS_VIETQR_E_AMOUNT, off, "field 54 (amount): must be greater than 0");
    *out = a;
    return 0;
}

/* Bill number and purpose: EMVCo "ans", printable ASCII, 1..25. */
static int check_text(const char *name, const char *v, size_t n, size_t off, cds_vietqr_error *e)
{
    if (n > CDS_VIETQR_TEXT_MAX)
        return fail(e, CDS_VIETQR_E_LENGTH, off, "field %s: %zu characters, at most 25", name, n);
    size_t i = first_bad(v, n, is_print);
    if (i < n)
        return fail(e, CDS_VIETQR_E_TEXT, off + i,
                    "field %s: byte 0x%02X at position %zu is not printable ASCII (write "
                    "Vietnamese without diacritics)",
                    name, (unsigned char)v[i], i + 1);
    return 0;
}

/* ---------------- CRC ---------------- */

uint16_t cds_crc16_ccitt_false(const void *data, size_t len)
{
    /* Bit by bit: payloads are at most 512 bytes and are checked once, so a
     * 512-byte table would buy nothing measurable. */
    const unsigned char *p = data;
    unsigned crc = 0xffff;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = ((crc << 1) ^ ((crc & 0x8000) ? 0x1021u : 0)) & 0xffff;
    }
    return (uint16_t)crc;
}

static int hex_upper(char c)
{
    return is_digit(c) ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* ---------------- TLV structure ---------------- */

/* Splits s[0..n), found at payload offset base, into at most max data
 * objects. parent is the container's path, NULL at the root. */
static int split(const char *s, size_t n, size_t base, const char *parent, tlv *out, size_t max,
                 size_t *count, cds_vietqr_error *e)
{
    char inside[64] = "", pname[48], path[16], name[48];
    if (parent)
        snprintf(inside, sizeof inside, " inside field %s", named(pname, sizeof pname, parent));
    size_t i = 0, k = 0;
    while (i < n) {
        size_t at = base + i, left = n - i;
        if (left < 5)
            return fail(e, CDS_VIETQR_E_TRUNCATED, at,
                        "truncated TLV at offset %zu%s: %zu character%s left, a data object needs "
                        "at least 5",
                        at, inside, left, left == 1 ? "" : "s");
        if (!is_digit(s[i]) || !is_digit(s[i + 1]))
            return fail(e, CDS_VIETQR_E_TLV, at,
                        "malformed TLV at offset %zu%s: id \"%.2s\" is not two digits", at, inside,
                        s + i);
        int id = two_digits(s + i);
        path_of(path, sizeof path, parent, id);
        named(name, sizeof name, path);
        if (!is_digit(s[i + 2]) || !is_digit(s[i + 3]))
            return fail(
                e, CDS_VIETQR_E_TLV, at + 2,
                "malformed TLV at offset %zu: length \"%.2s\" of field %s is not two digits",
                at + 2, s + i + 2, name);
        size_t len = (size_t)two_digits(s + i + 2);
        if (len == 0)
            return fail(e, CDS_VIETQR_E_TLV, at + 2,
                        "malformed TLV at offset %zu: field %s has length 00 (a value has at least "
                        "one character)",
                        at + 2, name);
        if (len > left - 4)
            return fail(e, CDS_VIETQR_E_TRUNCATED, at,
                        "truncated TLV at offset %zu: field %s declares %zu characters, %zu left%s",
                        at, name, len, left - 4, inside);
        for (size_t j = 0; j < k; j++)
            if (out[j].id == id)
                return fail(e, CDS_VIETQR_E_DUPLICATE, at,
                            "field %s appears twice (offsets %zu and %zu)", name, out[j].off, at);
        if (k == max) /* unreachable: max is sized for 5-character objects */
            return fail(e, CDS_VIETQR_E_TLV, at, "too many data objects%s", inside);
        out[k++] = (tlv){id, at, s + i + 4, len};
        i += 4 + len;
    }
    *count = k;
    return 0;
}

/* 00 first, 63 last, then the CRC: its format, then its value. */
static int check_frame(const char *p, const tlv *t, size_t k, char crc_out[5], cds_vietqr_error *e)
{
    if (t[0].id != 0)
        return fail(e, CDS_VIETQR_E_ORDER, 0,
                    "field 00 (payload format indicator) must come first, found field %02d at "
                    "offset 0",
                    t[0].id);
    const tlv *crc = NULL;
    for (size_t i = 0; i < k; i++)
        if (t[i].id == 63) crc = &t[i];
    if (!crc) return fail(e, CDS_VIETQR_E_MISSING, 0, "field 63 (CRC) is missing");
    if (crc != &t[k - 1])
        return fail(e, CDS_VIETQR_E_ORDER, t[k - 1].off,
                    "field 63 (CRC) must come last, found field %02d after it at offset %zu",
                    t[k - 1].id, t[k - 1].off);
    if (crc->n != 4)
        return fail(e, CDS_VIETQR_E_LENGTH, crc->off, "field 63 (CRC): length %02zu, must be 04",
                    crc->n);
    unsigned have = 0;
    for (size_t i = 0; i < 4; i++) {
        int h = hex_upper(crc->v[i]);
        if (h < 0)
            return fail(e, CDS_VIETQR_E_CRC_FORMAT, crc->off + 4 + i,
                        "field 63 (CRC): \"%.4s\" is not four uppercase hex digits", crc->v);
        have = have << 4 | (unsigned)h;
    }
    unsigned want = cds_crc16_ccitt_false(p, crc->off + 4);
    if (have != want)
        return fail(e, CDS_VIETQR_E_CRC, crc->off + 4,
                    "CRC mismatch: payload says %.4s, computed %04X", crc->v, want);
    memcpy(crc_out, crc->v, 4);
    crc_out[4] = 0;
    return 0;
}

/* ---------------- fields ---------------- */

/* A field with one allowed value (00, 53, 58). */
static int check_fixed(const tlv *t, const char *name, const char *want, cds_vietqr_error *e)
{
    size_t n = strlen(want);
    if (t->n != n)
        return fail(e, CDS_VIETQR_E_LENGTH, t->off, "field %s: length %02zu, must be %02zu", name,
                    t->n, n);
    if (memcmp(t->v, want, n) != 0)
        return fail(e, CDS_VIETQR_E_VALUE, t->off + 4, "field %s: \"%.*s\", must be \"%s\"", name,
                    (int)n, t->v, want);
    return 0;
}

static int check_initiation(const tlv *t, int *out, cds_vietqr_error *e)
{
    static const char name[] = "01 (point of initiation method)";
    if (t->n != 2)
        return fail(e, CDS_VIETQR_E_LENGTH, t->off, "field %s: length %02zu, must be 02", name,
                    t->n);
    if (memcmp(t->v, "11", 2) != 0 && memcmp(t->v, "12", 2) != 0)
        return fail(e, CDS_VIETQR_E_VALUE, t->off + 4,
                    "field %s: \"%.2s\", must be \"11\" (static) or \"12\" (dynamic)", name, t->v);
    *out = t->v[1] == '1' ? CDS_VIETQR_STATIC : CDS_VIETQR_DYNAMIC;
    return 0;
}

/* Copies a checked value (n < cap) into a struct's string. */
static void copy(char *dst, size_t cap, const tlv *t)
{
    size_t n = t->n < cap ? t->n : cap - 1;
    memcpy(dst, t->v, n);
    dst[n] = 0;
}

static void keep(cds_vietqr_object *o, const tlv *t)
{
    o->id[0] = (char)('0' + t->id / 10);
    o->id[1] = (char)('0' + t->id % 10);
    o->id[2] = 0;
    copy(o->value, sizeof o->value, t);
}

/* 38.01: acquirer BIN and account or card number; service already known. */
static int check_org(const tlv *org, cds_vietqr *q, cds_vietqr_error *e)
{
    tlv sub[CDS_VIETQR_SUBFIELDS_MAX + 1];
    size_t k = 0;
    int rc = split(org->v, org->n, org->off + 4, "38.01", sub, CDS_VIETQR_SUBFIELDS_MAX + 1, &k, e);
    if (rc) return rc;
    const tlv *bin = NULL, *acct = NULL;
    for (size_t i = 0; i < k; i++) {
        if (sub[i].id == 0)
            bin = &sub[i];
        else if (sub[i].id == 1)
            acct = &sub[i];
        else
            return fail(e, CDS_VIETQR_E_UNKNOWN, sub[i].off,
                        "field 38.01.%02d: NAPAS defines only 38.01.00 (acquirer BIN) and 38.01.01 "
                        "(account or card number)",
                        sub[i].id);
    }
    if (!bin)
        return fail(e, CDS_VIETQR_E_MISSING, org->off, "field 38.01.00 (acquirer BIN) is missing");
    if ((rc = check_bin(bin->v, bin->n, bin->off + 4, e))) return rc;
    if (!acct)
        return fail(e, CDS_VIETQR_E_MISSING, org->off, "field 38.01.01 (%s number) is missing",
                    q->service == CDS_VIETQR_CARD ? "card" : "account");
    if ((rc = check_account(q->service, acct->v, acct->n, acct->off + 4, e))) return rc;
    copy(q->bin, sizeof q->bin, bin);
    copy(q->account, sizeof q->account, acct);
    return 0;
}

/* 38: GUID, service code, then the beneficiary (whose check needs the
 * service). */
static int check_38(const tlv *t, cds_vietqr *q, cds_vietqr_error *e)
{
    tlv sub[CDS_VIETQR_SUBFIELDS_MAX + 1];
    size_t k = 0;
    int rc = split(t->v, t->n, t->off + 4, "38", sub, CDS_VIETQR_SUBFIELDS_MAX + 1, &k, e);
    if (rc) return rc;
    const tlv *f[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < k; i++) {
        if (sub[i].id > 2)
            return fail(e, CDS_VIETQR_E_UNKNOWN, sub[i].off,
                        "field 38.%02d: NAPAS defines only 38.00 (GUID), 38.01 (beneficiary "
                        "organization) and 38.02 (service code)",
                        sub[i].id);
        f[sub[i].id] = &sub[i];
    }
    if (!f[0]) return fail(e, CDS_VIETQR_E_MISSING, t->off, "field 38.00 (GUID) is missing");
    if (f[0]->n != strlen(GUID) || memcmp(f[0]->v, GUID, strlen(GUID)) != 0)
        return fail(e, CDS_VIETQR_E_GUID, f[0]->off + 4,
                    "field 38.00 (GUID): \"%.*s%s\", must be \"" GUID "\" (NAPAS)",
                    (int)(f[0]->n > SHOWN ? SHOWN : f[0]->n), f[0]->v,
                    f[0]->n > SHOWN ? "..." : "");
    if (!f[2])
        return fail(e, CDS_VIETQR_E_MISSING, t->off, "field 38.02 (service code) is missing");
    if (f[2]->n == 8 && memcmp(f[2]->v, SERVICE_ACCOUNT, 8) == 0)
        q->service = CDS_VIETQR_ACCOUNT;
    else if (f[2]->n == 8 && memcmp(f[2]->v, SERVICE_CARD, 8) == 0)
        q->service = CDS_VIETQR_CARD;
    else
        return fail(e, CDS_VIETQR_E_SERVICE, f[2]->off + 4,
                    "field 38.02 (service code): \"%.*s%s\" is not " SERVICE_ACCOUNT
                    " (account) or " SERVICE_CARD " (card)",
                    (int)(f[2]->n > SHOWN ? SHOWN : f[2]->n), f[2]->v,
                    f[2]->n > SHOWN ? "..." : "");
    if (!f[1])
        return fail(e, CDS_VIETQR_E_MISSING, t->off,
                    "field 38.01 (beneficiary organization) is missing");
    return check_org(f[1], q, e);
}

/* 62: bill number and purpose checked, any other sub-field kept. */
static int check_62(const tlv *t, cds_vietqr_decoded *d, cds_vietqr_error *e)
{
    tlv sub[CDS_VIETQR_SUBFIELDS_MAX + 1];
    size_t k = 0;
    int rc = split(t->v, t->n, t->off + 4, "62", sub, CDS_VIETQR_SUBFIELDS_MAX + 1, &k, e);
    if (rc) return rc;
    for (size_t i = 0; i < k; i++) {
        const tlv *s = &sub[i];
        if (s->id == 1) {
            if ((rc = check_text("62.01 (bill number)", s->v, s->n, s->off + 4, e))) return rc;
            copy(d->q.bill, sizeof d->q.bill, s);
        } else if (s->id == 8) {
            if ((rc = check_text("62.08 (purpose of transaction)", s->v, s->n, s->off + 4, e)))
                return rc;
            copy(d->q.purpose, sizeof d->q.purpose, s);
        } else if (d->n_extra < CDS_VIETQR_SUBFIELDS_MAX) {
            keep(&d->extra[d->n_extra++], s);
        }
    }
    return 0;
}

/* One root data object (frame and CRC already checked). */
static int check_root_field(const tlv *t, cds_vietqr_decoded *d, cds_vietqr_error *e)
{
    switch (t->id) {
    case 0:
        return check_fixed(t, "00 (payload format indicator)", "01", e);
    case 1:
        return check_initiation(t, &d->q.initiation, e);
    case 38:
        return check_38(t, &d->q, e);
    case 53:
        return check_fixed(t, "53 (transaction currency)", "704", e);
    case 54:
        return check_amount(t->v, t->n, t->off + 4, &d->q.amount, e);
    case 58:
        return check_fixed(t, "58 (country code)", "VN", e);
    case 62:
        return check_62(t, d, e);
    case 63:
        return 0;
    default:
        if (d->n_other < CDS_VIETQR_OBJECTS_MAX) keep(&d->other[d->n_other++], t);
        return 0;
    }
}

static int check_mandatory(const tlv *t, size_t k, size_t end, cds_vietqr_error *e)
{
    /* 01 too: EMVCo makes it optional, but every NAPAS example carries it
     * and a payer's app treats static and dynamic codes differently. */
    static const struct {
        int id;
        const char *name;
    } need[] = {{1, "01 (point of initiation method)"},
                {38, "38 (merchant account information)"},
                {53, "53 (transaction currency)"},
                {58, "58 (country code)"}};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        size_t j = 0;
        while (j < k && t[j].id != need[i].id)
            j++;
        if (j == k) return fail(e, CDS_VIETQR_E_MISSING, end, "field %s is missing", need[i].name);
    }
    return 0;
}

int cds_vietqr_decode(const char *p, size_t n, cds_vietqr_decoded *d, cds_vietqr_error *e)
{
    if (e) memset(e, 0, sizeof *e);
    if (!p || !d) return fail(e, CDS_VIETQR_E_ARG, 0, "no payload or no output");
    memset(d, 0, sizeof *d);
    if (n == 0 || n > CDS_VIETQR_PAYLOAD_MAX)
        return fail(e, CDS_VIETQR_E_SIZE, 0, "payload of %zu characters, must be 1..512", n);
    for (size_t i = 0; i < n; i++)
        if (!is_print(p[i]))
            return fail(e, CDS_VIETQR_E_CHARSET, i,
                        "byte 0x%02X at offset %zu is not printable ASCII", (unsigned char)p[i], i);
    tlv root[CDS_VIETQR_OBJECTS_MAX + 1];
    size_t k = 0;
    int rc = split(p, n, 0, NULL, root, CDS_VIETQR_OBJECTS_MAX + 1, &k, e);
    if (rc) return rc;
    if ((rc = check_frame(p, root, k, d->crc, e))) return rc;
    for (size_t i = 0; i < k; i++)
        if ((rc = check_root_field(&root[i], d, e))) return rc;
    return check_mandatory(root, k, n, e);
}

/* ---------------- encoder ---------------- */

/* id, two-digit length, value; n is 1..99 (the checks guarantee it). */
static void put_tlv(cds_buf *w, int id, const char *v, size_t n)
{
    char head[4] = {(char)('0' + id / 10), (char)('0' + id % 10), (char)('0' + n / 10 % 10),
                    (char)('0' + n % 10)};
    cds_buf_add(w, head, 4);
    cds_buf_add(w, v, n);
}

static int check_input(const cds_vietqr *q, cds_vietqr_error *e)
{
    int rc;
    if (q->service != CDS_VIETQR_ACCOUNT && q->service != CDS_VIETQR_CARD)
        return fail(e, CDS_VIETQR_E_SERVICE, 0,
                    "field 38.02 (service code): service %d is neither account nor card",
                    q->service);
    if (q->initiation != CDS_VIETQR_AUTO && q->initiation != CDS_VIETQR_STATIC &&
        q->initiation != CDS_VIETQR_DYNAMIC)
        return fail(e, CDS_VIETQR_E_VALUE, 0,
                    "field 01 (point of initiation method): %d is not static (11) or dynamic (12)",
                    q->initiation);
    if ((rc = check_bin(q->bin, strnlen(q->bin, sizeof q->bin), 0, e))) return rc;
    size_t n = strnlen(q->account, sizeof q->account);
    if ((rc = check_account(q->service, q->account, n, 0, e))) return rc;
    if (q->amount > CDS_VIETQR_AMOUNT_MAX)
        return fail(e, CDS_VIETQR_E_LENGTH, 0,
                    "field 54 (amount): %" PRIu64 " has more than 13 digits", q->amount);
    n = strnlen(q->purpose, sizeof q->purpose);
    if ((rc = check_text("62.08 (purpose of transaction)", q->purpose, n, 0, e))) return rc;
    n = strnlen(q->bill, sizeof q->bill);
    return check_text("62.01 (bill number)", q->bill, n, 0, e);
}

int cds_vietqr_encode(const cds_vietqr *q, char *out, size_t cap, cds_vietqr_error *e)
{
    if (e) memset(e, 0, sizeof *e);
    if (!q || !out) return fail(e, CDS_VIETQR_E_ARG, 0, "no input or no output buffer");
    int rc = check_input(q, e);
    if (rc) return rc;
    char obuf[100], mbuf[100], abuf[100], amount[24];
    cds_buf org, mai, add;
    cds_buf_init_fixed(&org, obuf, sizeof obuf);
    cds_buf_init_fixed(&mai, mbuf, sizeof mbuf);
    cds_buf_init_fixed(&add, abuf, sizeof abuf);
    put_tlv(&org, 0, q->bin, strlen(q->bin));
    put_tlv(&org, 1, q->account, strlen(q->account));
    put_tlv(&mai, 0, GUID, strlen(GUID));
    put_tlv(&mai, 1, org.p, org.len);
    put_tlv(&mai, 2, q->service == CDS_VIETQR_CARD ? SERVICE_CARD : SERVICE_ACCOUNT, 8);
    if (q->bill[0]) put_tlv(&add, 1, q->bill, strlen(q->bill));
    if (q->purpose[0]) put_tlv(&add, 8, q->purpose, strlen(q->purpose));
    int dynamic =
        q->initiation == CDS_VIETQR_DYNAMIC || (q->initiation == CDS_VIETQR_AUTO && q->amount);

    /* Past cap the buffer only counts (need), so the caller learns the size
     * it would have needed. */
    cds_buf w;
    cds_buf_init_fixed(&w, out, cap);
    put_tlv(&w, 0, "01", 2);
    put_tlv(&w, 1, dynamic ? "12" : "11", 2);
    put_tlv(&w, 38, mai.p, mai.len);
    put_tlv(&w, 53, "704", 3);
    if (q->amount) {
        int n = snprintf(amount, sizeof amount, "%" PRIu64, q->amount);
        put_tlv(&w, 54, amount, (size_t)n);
    }
    put_tlv(&w, 58, "VN", 2);
    if (add.len) put_tlv(&w, 62, add.p, add.len);
    cds_buf_add(&w, "6304", 4);
    if (w.err || w.need + 4 >= cap) {
        if (cap) out[0] = '\0';
        return fail(e, CDS_VIETQR_E_ARG, 0, "output buffer of %zu bytes is too small, need %zu",
                    cap, w.need + 5);
    }
    static const char hex[] = "0123456789ABCDEF";
    unsigned crc = cds_crc16_ccitt_false(out, w.len);
    for (int i = 0; i < 4; i++)
        out[w.len + (size_t)i] = hex[(crc >> (12 - 4 * i)) & 0xf];
    out[w.len + 4] = 0;
    return (int)(w.len + 4);
}

/* ---------------- JSON ---------------- */

static json_t *objects_json(const cds_vietqr_object *o, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_pack("{s:s, s:s}", "id", o[i].id, "value", o[i].value))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *string_or_null(const char *s)
{
    return *s ? json_string(s) : json_null();
}

json_t *cds_vietqr_json(const cds_vietqr_decoded *d)
{
    if (!d) return NULL;
    const cds_vietqr *q = &d->q;
    int card = q->service == CDS_VIETQR_CARD;
    json_t *o = json_object();
    if (!o) return NULL;
    int rc = 0;
    rc |= json_object_set_new(
        o, "initiation", json_string(q->initiation == CDS_VIETQR_DYNAMIC ? "dynamic" : "static"));
    rc |= json_object_set_new(o, "bin", json_string(q->bin));
    rc |= json_object_set_new(o, "account", json_string(q->account));
    rc |= json_object_set_new(o, "service", json_string(card ? "card" : "account"));
    rc |=
        json_object_set_new(o, "service_code", json_string(card ? SERVICE_CARD : SERVICE_ACCOUNT));
    rc |= json_object_set_new(o, "amount",
                              q->amount ? json_integer((json_int_t)q->amount) : json_null());
    rc |= json_object_set_new(o, "purpose", string_or_null(q->purpose));
    rc |= json_object_set_new(o, "bill_number", string_or_null(q->bill));
    rc |= json_object_set_new(o, "guid", json_string(GUID));
    rc |= json_object_set_new(o, "currency", json_string("704"));
    rc |= json_object_set_new(o, "country", json_string("VN"));
    rc |= json_object_set_new(o, "additional_data", objects_json(d->extra, d->n_extra));
    rc |= json_object_set_new(o, "other_fields", objects_json(d->other, d->n_other));
    rc |= json_object_set_new(o, "crc", json_string(d->crc));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}
