/* libFuzzer target: VietQR payloads (payment/vietqr.c), which arrive from
 * cameras, partners and operators.
 *
 * Every input is decoded. When the decoder accepts it, its fields are
 * encoded again; that payload must decode to the same fields, encode to the
 * same bytes a second time, and, when nothing was set aside (no other root
 * objects, no other 62 sub-fields), have the input's length, since only the
 * order of data objects may differ. The JSON form is built each time. Any
 * mismatch aborts.
 *
 * A random CRC matches one time in 65536, which would keep the fuzzer at
 * the CRC check; so each input is also tried with its CRC made right: the
 * last four characters replaced when they follow "6304", else "6304" and
 * the CRC appended.
 *
 * An input holding '|' also drives the encoder, read as
 * "bin|account|amount digits|purpose|bill|flags": whatever the encoder
 * accepts must decode to exactly what it was given. */
#include "payment/vietqr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int same_fields(const cds_vietqr *a, const cds_vietqr *b)
{
    return strcmp(a->bin, b->bin) == 0 && strcmp(a->account, b->account) == 0 &&
           a->service == b->service && a->amount == b->amount &&
           strcmp(a->purpose, b->purpose) == 0 && strcmp(a->bill, b->bill) == 0 &&
           a->initiation == b->initiation;
}

static void die(const char *what, const char *payload)
{
    fprintf(stderr, "fuzz_vietqr: %s: %s\n", what, payload);
    abort();
}

static void round_trip(const uint8_t *data, size_t size)
{
    static cds_vietqr_decoded d, d2;
    cds_vietqr_error err;
    if (cds_vietqr_decode((const char *)data, size, &d, &err) != 0) {
        if (err.code >= 0 || !err.msg[0]) die("refusal without a code or message", "");
        return;
    }
    char p1[CDS_VIETQR_PAYLOAD_MAX + 1], p2[CDS_VIETQR_PAYLOAD_MAX + 1];
    int n1 = cds_vietqr_encode(&d.q, p1, sizeof p1, &err);
    if (n1 < 0) die(err.msg, "re-encoding a decoded payload");
    if (cds_vietqr_decode(p1, (size_t)n1, &d2, &err) != 0) die(err.msg, p1);
    if (!same_fields(&d.q, &d2.q)) die("fields changed on the round trip", p1);
    int n2 = cds_vietqr_encode(&d2.q, p2, sizeof p2, &err);
    if (n2 != n1 || memcmp(p1, p2, (size_t)n1 + 1) != 0) die("second encoding differs", p2);
    if (d.n_other == 0 && d.n_extra == 0 && (size_t)n1 != size)
        die("same fields, different length", p1);
    json_t *j = cds_vietqr_json(&d);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!s) die("no JSON", p1);
    free(s);
    json_decref(j);
}

/* Copies field i of the '|'-separated text into dst, cut to fit. */
static void field(const char *text, int i, char *dst, size_t cap)
{
    const char *p = text;
    while (i-- > 0 && p) {
        p = strchr(p, '|');
        if (p) p++;
    }
    size_t n = 0;
    while (p && p[n] && p[n] != '|' && n + 1 < cap)
        n++;
    if (p) memcpy(dst, p, n);
    dst[n] = 0;
}

static void encode_side(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return;
    memcpy(text, data, size);
    text[size] = 0;
    cds_vietqr q;
    memset(&q, 0, sizeof q);
    char amount[16], flags[4];
    field(text, 0, q.bin, sizeof q.bin);
    field(text, 1, q.account, sizeof q.account);
    field(text, 2, amount, sizeof amount);
    field(text, 3, q.purpose, sizeof q.purpose);
    field(text, 4, q.bill, sizeof q.bill);
    field(text, 5, flags, sizeof flags);
    free(text);
    for (const char *a = amount; *a >= '0' && *a <= '9'; a++)
        q.amount = q.amount * 10 + (uint64_t)(*a - '0');
    unsigned f = (unsigned char)flags[0];
    q.service = f & 1 ? CDS_VIETQR_CARD : CDS_VIETQR_ACCOUNT;
    static const int inits[] = {CDS_VIETQR_AUTO, CDS_VIETQR_STATIC, CDS_VIETQR_DYNAMIC, 7};
    q.initiation = inits[(f >> 1) & 3];

    char p[CDS_VIETQR_PAYLOAD_MAX + 1];
    static cds_vietqr_decoded d;
    cds_vietqr_error err;
    int n = cds_vietqr_encode(&q, p, sizeof p, &err);
    if (n < 0) return;
    if (cds_vietqr_decode(p, (size_t)n, &d, &err) != 0) die(err.msg, p);
    if (q.initiation == CDS_VIETQR_AUTO)
        q.initiation = q.amount ? CDS_VIETQR_DYNAMIC : CDS_VIETQR_STATIC;
    if (!same_fields(&q, &d.q)) die("encoder input and decoded fields differ", p);
}

/* data with a correct CRC, into buf (size + 9 bytes); returns its length. */
static size_t with_crc(const uint8_t *data, size_t size, char *buf)
{
    static const char hex[] = "0123456789ABCDEF";
    memcpy(buf, data, size);
    size_t body = size - 4;
    if (size < 8 || memcmp(buf + size - 8, "6304", 4) != 0) {
        memcpy(buf + size, "6304", 4);
        body = size + 4;
    }
    unsigned crc = cds_crc16_ccitt_false(buf, body);
    for (size_t i = 0; i < 4; i++)
        buf[body + i] = hex[(crc >> (12 - 4 * i)) & 0xf];
    return body + 4;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    round_trip(data, size);
    if (size <= CDS_VIETQR_PAYLOAD_MAX) {
        char buf[CDS_VIETQR_PAYLOAD_MAX + 9];
        round_trip((const uint8_t *)buf, with_crc(data, size, buf));
    }
    if (memchr(data, '|', size)) encode_side(data, size);
    return 0;
}
