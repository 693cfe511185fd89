/* Unit tests of payment/vietqr.c against published payloads:
 *
 *   - NAPAS's VietQR specification (IBFT, v1.5.2), examples 6.1.1 to 6.1.4:
 *     static and dynamic, to an account and to a card (reproduced verbatim in
 *     the test suites of several open VietQR libraries). 6.1.1 as published
 *     declares 12 characters for a 13-character account number: its CRC is
 *     right but its structure is not, so we refuse it, and encoding the same
 *     fields gives the corrected payload;
 *   - the README examples of subiz/vietqr (Go) and xuannghia/vietnam-qr-pay
 *     (JavaScript), and a card payload with a 62.02 sub-field from the tests
 *     of vocolboy/promptpay-generator (PHP);
 *   - published payloads we must refuse: the specification's QR cash
 *     withdrawal example (service QRCASH), a README payload with format
 *     indicator "00" (thanhtinhpas1/vietqr-parser) and one whose 62.08
 *     length disagrees with its text (unicubevn/vietqr-payment-js).
 *
 * Then the CRC check value ("123456789" -> 0x29B1), every refusal of the
 * decoder with its exact code and message (structure, CRC, each field), the
 * encoder's input checks, its choice of static/dynamic, the largest payload
 * it can write, a few thousand generated round trips, and the JSON form. */
#include "payment/vietqr.h"
#include "tests/lib/t.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NAPAS examples 6.1.1 .. 6.1.4, as published. */
#define NAPAS_611                                                                                  \
    "00020101021138570010A00000072701270006970403011200110123456780208QRIBFTTA53037045802VN6304"   \
    "F4E5"
#define NAPAS_612                                                                                  \
    "00020101021138600010A00000072701300006970403011697040311012345670208QRIBFTTC53037045802VN630" \
    "4"                                                                                            \
    "4F52"
#define NAPAS_613                                                                                  \
    "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA5303704540618000058" \
    "02"                                                                                           \
    "VN62340107NPS68690819thanh toan don hang63042E2E"
#define NAPAS_614                                                                                  \
    "00020101021238600010A00000072701300006970403011697040311012345670208QRIBFTTC5303704540618000" \
    "05802"                                                                                        \
    "VN62340107NPS68690819thanh toan don hang6304A203"
/* 6.1.1 with the account number's length corrected to 13. */
#define NAPAS_611_FIXED                                                                            \
    "00020101021138570010A00000072701270006970403011300110123456780208QRIBFTTA53037045802VN6304"   \
    "9E6F"
/* subiz/vietqr README: 120 000 VND to 0011001932418 at 970415, "ủng hộ lũ lụt". */
#define SUBIZ                                                                                      \
    "00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA5303704540612000058" \
    "02"                                                                                           \
    "VN62170813ung ho lu lut6304C15C"
/* xuannghia/vietnam-qr-pay README: static, dynamic, and its decoding example. */
#define XN_STATIC                                                                                  \
    "00020101021138530010A0000007270123000697041601092576788590208QRIBFTTA53037045802VN6304AE9F"
#define XN_DYNAMIC                                                                                 \
    "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA53037045405100005802VN6" \
    "215"                                                                                          \
    "0811Chuyen tien630453E6"
#define XN_DECODE                                                                                  \
    "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA5303704540410005802VN62" \
    "15"                                                                                           \
    "0811Chuyen tien6304BBB8"
/* vocolboy/promptpay-generator tests: to a 19-digit card, 62.02 (mobile number). */
#define VOCOLBOY                                                                                   \
    "00020101021238630010A00000072701330006970422011997042292087067309020208QRIBFTTC5303704540610" \
    "0000"                                                                                         \
    "5802VN621502118432917204163047793"
/* NAPAS specification: ATM cash withdrawal, not a transfer. */
#define NAPAS_CASH                                                                                 \
    "00020101021238500010A000000727012200069704030108123456780206QRCASH5204601153037045802VN5915N" \
    "GUY"                                                                                          \
    "EN HUU HUAN6005HANOI6237052120190109155714228384707080000111163041009"
/* thanhtinhpas1/vietqr-parser README: payload format indicator "00". */
#define TT_FORMAT00                                                                                \
    "00020001021238570010A00000072701270006970436011308810004580860208QRIBFTTA53037045802VN6304CD" \
    "60"
/* unicubevn/vietqr-payment-js README: 62.08 declares 35 characters, has 30. */
#define UNICUBE                                                                                    \
    "00020101021238590010A0000007270129000697044101156607040600001290208QRIBFTTA52049999530370454" \
    "0510"                                                                                         \
    "0005802VN62390835THANH TOAN BILL 12-12 CHO JEAN6304F6B3"

static cds_vietqr_decoded dec;
static cds_vietqr_error err;

/* ---------------- payload builders ---------------- */

static char bufs[64][1024];
static int nbuf;

static char *next_buf(void)
{
    return bufs[nbuf++ % 64];
}

/* One data object: id, its value's length in two digits, the value. */
static const char *T(const char *id, const char *v)
{
    char *b = next_buf();
    snprintf(b, sizeof bufs[0], "%s%02zu%s", id, strlen(v), v);
    return b;
}

/* The strings up to NULL, joined. */
static const char *J(const char *first, ...)
{
    char *b = next_buf();
    size_t n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        size_t l = strlen(s);
        if (n + l >= sizeof bufs[0]) abort();
        memcpy(b + n, s, l);
        n += l;
    }
    va_end(ap);
    b[n] = 0;
    return b;
}

/* body + "6304" + its CRC: a payload whose only faults are the ones built in. */
static const char *CRC(const char *body)
{
    static const char hex[] = "0123456789ABCDEF";
    char *b = next_buf();
    size_t n = strlen(body);
    if (n + 9 > sizeof bufs[0]) abort();
    memcpy(b, body, n);
    memcpy(b + n, "6304", 4);
    unsigned crc = cds_crc16_ccitt_false(b, n + 4);
    for (int i = 0; i < 4; i++)
        b[n + 4 + (size_t)i] = hex[(crc >> (12 - 4 * i)) & 0xf];
    b[n + 8] = 0;
    return b;
}

#define GUID_T T("00", "A000000727")
#define ORG(bin, acct) T("01", J(T("00", bin), T("01", acct), NULL))
#define MAI(bin, acct, svc) T("38", J(GUID_T, ORG(bin, acct), T("02", svc), NULL))
#define HEAD J(T("00", "01"), T("01", "12"), NULL)
#define STD_MAI MAI("970403", "0011012345678", "QRIBFTTA")
/* A valid dynamic payload with `mid` between 38 and 58 (53 included). */
#define WITH(mid) CRC(J(HEAD, STD_MAI, T("53", "704"), mid, T("58", "VN"), NULL))

/* ---------------- checkers ---------------- */

#define OK(p)                                                                                      \
    do {                                                                                           \
        const char *p_ = (p);                                                                      \
        int rc_ = cds_vietqr_decode(p_, strlen(p_), &dec, &err);                                   \
        CHECK_INT(rc_, 0);                                                                         \
        if (rc_) fprintf(stderr, "  payload %s: %s\n", p_, err.msg);                               \
    } while (0)

#define BAD(p, want_code, want_msg)                                                                \
    do {                                                                                           \
        const char *p_ = (p);                                                                      \
        CHECK_INT(cds_vietqr_decode(p_, strlen(p_), &dec, &err), want_code);                       \
        CHECK_INT(err.code, want_code);                                                            \
        CHECK_STR(err.msg, want_msg);                                                              \
    } while (0)

static char out[CDS_VIETQR_PAYLOAD_MAX + 1];

static cds_vietqr input(const char *bin, const char *acct, int service, uint64_t amount,
                        const char *purpose, const char *bill, int initiation)
{
    cds_vietqr q;
    memset(&q, 0, sizeof q);
    snprintf(q.bin, sizeof q.bin, "%s", bin);
    snprintf(q.account, sizeof q.account, "%s", acct);
    q.service = service;
    q.amount = amount;
    snprintf(q.purpose, sizeof q.purpose, "%s", purpose);
    snprintf(q.bill, sizeof q.bill, "%s", bill);
    q.initiation = initiation;
    return q;
}

/* The payload of q, or "<error: message>". */
static const char *ENC(cds_vietqr q)
{
    int n = cds_vietqr_encode(&q, out, sizeof out, &err);
    if (n < 0) {
        char *b = next_buf();
        snprintf(b, sizeof bufs[0], "<error: %s>", err.msg);
        return b;
    }
    if ((size_t)n != strlen(out)) return "<length mismatch>";
    return out;
}

#define ENC_BAD(q, want_code, want_msg)                                                            \
    do {                                                                                           \
        cds_vietqr q_ = (q);                                                                       \
        CHECK_INT(cds_vietqr_encode(&q_, out, sizeof out, &err), want_code);                       \
        CHECK_STR(err.msg, want_msg);                                                              \
    } while (0)

/* ---------------- CRC ---------------- */

static void test_crc(void)
{
    CHECK_INT(cds_crc16_ccitt_false("123456789", 9), 0x29B1);
    CHECK_INT(cds_crc16_ccitt_false("", 0), 0xFFFF);
    CHECK_INT(cds_crc16_ccitt_false("A", 1), 0xB915);
    /* The specification's own examples, CRC over everything before the value. */
    const char *v[] = {NAPAS_611, NAPAS_612, NAPAS_613, NAPAS_614, SUBIZ, XN_STATIC, XN_DYNAMIC};
    const unsigned want[] = {0xF4E5, 0x4F52, 0x2E2E, 0xA203, 0xC15C, 0xAE9F, 0x53E6};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        CHECK_INT(cds_crc16_ccitt_false(v[i], strlen(v[i]) - 4), want[i]);
}

/* ---------------- published payloads ---------------- */

static void check_fields(const char *bin, const char *acct, int service, uint64_t amount,
                         const char *purpose, const char *bill, int initiation, const char *crc)
{
    CHECK_STR(dec.q.bin, bin);
    CHECK_STR(dec.q.account, acct);
    CHECK_INT(dec.q.service, service);
    CHECK_INT(dec.q.amount, amount);
    CHECK_STR(dec.q.purpose, purpose);
    CHECK_STR(dec.q.bill, bill);
    CHECK_INT(dec.q.initiation, initiation);
    CHECK_STR(dec.crc, crc);
}

static void test_napas_examples(void)
{
    /* 6.1.2 static, to a card */
    OK(NAPAS_612);
    check_fields("970403", "9704031101234567", CDS_VIETQR_CARD, 0, "", "", CDS_VIETQR_STATIC,
                 "4F52");
    CHECK_INT(dec.n_other, 0);
    CHECK_INT(dec.n_extra, 0);
    CHECK_STR(ENC(input("970403", "9704031101234567", CDS_VIETQR_CARD, 0, "", "", 0)), NAPAS_612);
    CHECK_STR(ENC(dec.q), NAPAS_612);

    /* 6.1.3 dynamic, to an account, with bill number and purpose */
    OK(NAPAS_613);
    check_fields("970403", "0011012345678", CDS_VIETQR_ACCOUNT, 180000, "thanh toan don hang",
                 "NPS6869", CDS_VIETQR_DYNAMIC, "2E2E");
    CHECK_STR(ENC(input("970403", "0011012345678", CDS_VIETQR_ACCOUNT, 180000,
                        "thanh toan don hang", "NPS6869", 0)),
              NAPAS_613);
    CHECK_STR(ENC(dec.q), NAPAS_613);

    /* 6.1.4 dynamic, to a card */
    OK(NAPAS_614);
    check_fields("970403", "9704031101234567", CDS_VIETQR_CARD, 180000, "thanh toan don hang",
                 "NPS6869", CDS_VIETQR_DYNAMIC, "A203");
    CHECK_STR(ENC(input("970403", "9704031101234567", CDS_VIETQR_CARD, 180000,
                        "thanh toan don hang", "NPS6869", CDS_VIETQR_DYNAMIC)),
              NAPAS_614);

    /* 6.1.1 static, to an account: published with 38.01.01 declared 12 long
     * for 13 characters, which leaves "8" dangling inside 38.01. */
    BAD(NAPAS_611, CDS_VIETQR_E_TRUNCATED,
        "truncated TLV at offset 60 inside field 38.01 (beneficiary organization): 1 character "
        "left, a data object needs at least 5");
    CHECK_INT(err.offset, 60);
    CHECK_STR(ENC(input("970403", "0011012345678", CDS_VIETQR_ACCOUNT, 0, "", "", 0)),
              NAPAS_611_FIXED);
    OK(NAPAS_611_FIXED);
    check_fields("970403", "0011012345678", CDS_VIETQR_ACCOUNT, 0, "", "", CDS_VIETQR_STATIC,
                 "9E6F");
}

static void test_library_examples(void)
{
    OK(SUBIZ);
    check_fields("970415", "0011001932418", CDS_VIETQR_ACCOUNT, 120000, "ung ho lu lut", "",
                 CDS_VIETQR_DYNAMIC, "C15C");
    CHECK_STR(
        ENC(input("970415", "0011001932418", CDS_VIETQR_ACCOUNT, 120000, "ung ho lu lut", "", 0)),
        SUBIZ);

    OK(XN_STATIC);
    check_fields("970416", "257678859", CDS_VIETQR_ACCOUNT, 0, "", "", CDS_VIETQR_STATIC, "AE9F");
    CHECK_STR(ENC(input("970416", "257678859", CDS_VIETQR_ACCOUNT, 0, "", "", 0)), XN_STATIC);
    OK(XN_DYNAMIC);
    check_fields("970416", "257678859", CDS_VIETQR_ACCOUNT, 10000, "Chuyen tien", "",
                 CDS_VIETQR_DYNAMIC, "53E6");
    CHECK_STR(ENC(input("970416", "257678859", CDS_VIETQR_ACCOUNT, 10000, "Chuyen tien", "", 0)),
              XN_DYNAMIC);
    OK(XN_DECODE);
    check_fields("970416", "257678859", CDS_VIETQR_ACCOUNT, 1000, "Chuyen tien", "",
                 CDS_VIETQR_DYNAMIC, "BBB8");
    CHECK_STR(ENC(dec.q), XN_DECODE);

    /* A sub-field of 62 we do not interpret is kept; re-encoding drops it. */
    OK(VOCOLBOY);
    check_fields("970422", "9704229208706730902", CDS_VIETQR_CARD, 100000, "", "",
                 CDS_VIETQR_DYNAMIC, "7793");
    CHECK_INT(dec.n_extra, 1);
    CHECK_STR(dec.extra[0].id, "02");
    CHECK_STR(dec.extra[0].value, "84329172041");
    CHECK_STR(ENC(dec.q), CRC("00020101021238630010A00000072701330006970422011997042292087067309"
                              "020208QRIBFTTC530370454061000005802VN"));
}

static void test_published_refusals(void)
{
    BAD(NAPAS_CASH, CDS_VIETQR_E_SERVICE,
        "field 38.02 (service code): \"QRCASH\" is not QRIBFTTA (account) or QRIBFTTC (card)");
    BAD(TT_FORMAT00, CDS_VIETQR_E_VALUE,
        "field 00 (payload format indicator): \"00\", must be \"01\"");
    /* 62 takes 39 characters, reaching into the CRC; "6B3" is left. */
    BAD(UNICUBE, CDS_VIETQR_E_TRUNCATED,
        "truncated TLV at offset 148: 3 characters left, a data object needs at least 5");
    /* A real-world payload with a lowercase CRC. */
    BAD("00020101021138540010A00000072701240006970422011008129452690208QRIBFTTA53037045802VN6304"
        "d5f3",
        CDS_VIETQR_E_CRC_FORMAT, "field 63 (CRC): \"d5f3\" is not four uppercase hex digits");
}

/* ---------------- decoder refusals ---------------- */

static void test_size_and_charset(void)
{
    BAD("", CDS_VIETQR_E_SIZE, "payload of 0 characters, must be 1..512");
    char big[600];
    memset(big, '0', sizeof big - 1);
    big[513] = 0;
    BAD(big, CDS_VIETQR_E_SIZE, "payload of 513 characters, must be 1..512");
    CHECK_INT(cds_vietqr_decode(NULL, 3, &dec, &err), CDS_VIETQR_E_ARG);
    CHECK_INT(cds_vietqr_decode("x", 1, NULL, &err), CDS_VIETQR_E_ARG);
    CHECK_INT(cds_vietqr_decode("x", 1, &dec, NULL), CDS_VIETQR_E_TRUNCATED); /* err optional */

    /* What a scanner prints: the payload and a newline. */
    BAD(NAPAS_613 "\n", CDS_VIETQR_E_CHARSET, "byte 0x0A at offset 142 is not printable ASCII");
    /* Diacritics in the purpose (UTF-8 "ủ"). */
    BAD(WITH(T("62", T("08", "\xe1\xbb\xa7ng ho"))), CDS_VIETQR_E_CHARSET,
        "byte 0xE1 at offset 88 is not printable ASCII");
    /* An embedded NUL, counted in the length. */
    CHECK_INT(cds_vietqr_decode(NAPAS_612, strlen(NAPAS_612) + 1, &dec, &err),
              CDS_VIETQR_E_CHARSET);
    CHECK_STR(err.msg, "byte 0x00 at offset 97 is not printable ASCII");
    CHECK_INT(err.offset, 97);
}

static void test_structure(void)
{
    /* Cut inside 38: declares 57, 34 left. */
    char cut[64];
    memcpy(cut, NAPAS_613, 50);
    cut[50] = 0;
    BAD(cut, CDS_VIETQR_E_TRUNCATED,
        "truncated TLV at offset 12: field 38 (merchant account information) declares 57 "
        "characters, 34 left");
    /* Cut after a whole object: a header alone. */
    BAD("0002016304", CDS_VIETQR_E_TRUNCATED,
        "truncated TLV at offset 6: 4 characters left, a data object needs at least 5");
    BAD("000", CDS_VIETQR_E_TRUNCATED,
        "truncated TLV at offset 0: 3 characters left, a data object needs at least 5");
    /* Inside 62: 08 declares 19, 62 holds only 14 for it. */
    BAD(WITH(T("62", "0808Hoc phi")), CDS_VIETQR_E_TRUNCATED,
        "truncated TLV at offset 84: field 62.08 (purpose of transaction) declares 8 characters, "
        "7 left inside field 62 (additional data)");
    BAD(CRC("0002010102123X0712345"), CDS_VIETQR_E_TLV,
        "malformed TLV at offset 12: id \"3X\" is not two digits");
    BAD(CRC("00020101021253O3704"), CDS_VIETQR_E_TLV,
        "malformed TLV at offset 14: length \"O3\" of field 53 (transaction currency) is not two "
        "digits");
    BAD(CRC("0002010100"), CDS_VIETQR_E_TLV,
        "malformed TLV at offset 8: field 01 (point of initiation method) has length 00 (a value "
        "has at least one character)");
    BAD(WITH(J(T("54", "1000"), T("54", "2000"), NULL)), CDS_VIETQR_E_DUPLICATE,
        "field 54 (amount) appears twice (offsets 80 and 88)");
    BAD(CRC(J(HEAD, T("38", J(GUID_T, GUID_T, NULL)), NULL)), CDS_VIETQR_E_DUPLICATE,
        "field 38.00 (GUID) appears twice (offsets 16 and 30)");
    /* Order: 00 first, 63 last. */
    BAD(CRC(J(T("01", "12"), T("00", "01"), STD_MAI, T("53", "704"), T("58", "VN"), NULL)),
        CDS_VIETQR_E_ORDER,
        "field 00 (payload format indicator) must come first, found field 01 at offset 0");
    BAD(J(NAPAS_612, "5802VN", NULL), CDS_VIETQR_E_DUPLICATE,
        "field 58 (country code) appears twice (offsets 83 and 97)");
    BAD(J(NAPAS_612, "9903abc", NULL), CDS_VIETQR_E_ORDER,
        "field 63 (CRC) must come last, found field 99 after it at offset 97");
    BAD(J(HEAD, STD_MAI, T("53", "704"), T("58", "VN"), NULL), CDS_VIETQR_E_MISSING,
        "field 63 (CRC) is missing");
}

static void test_crc_field(void)
{
    char p[256];
    snprintf(p, sizeof p, "%s", NAPAS_614);
    p[strlen(p) - 1] = '1';
    BAD(p, CDS_VIETQR_E_CRC, "CRC mismatch: payload says A201, computed A203");
    CHECK_INT(err.offset, strlen(p) - 4);
    /* One character of the body changed: the CRC catches it. */
    snprintf(p, sizeof p, "%s", NAPAS_613);
    p[84] = '9'; /* 180000 -> 980000 */
    BAD(p, CDS_VIETQR_E_CRC, "CRC mismatch: payload says 2E2E, computed 8D92");
    p[84] = '1';
    OK(p);
    /* Lowercase and non-hex. */
    snprintf(p, sizeof p, "%s", NAPAS_614);
    p[strlen(p) - 4] = 'a';
    BAD(p, CDS_VIETQR_E_CRC_FORMAT, "field 63 (CRC): \"a203\" is not four uppercase hex digits");
    p[strlen(p) - 4] = 'G';
    BAD(p, CDS_VIETQR_E_CRC_FORMAT, "field 63 (CRC): \"G203\" is not four uppercase hex digits");
    /* Wrong length. */
    BAD("0002016305A2031", CDS_VIETQR_E_LENGTH, "field 63 (CRC): length 05, must be 04");
    BAD("0002016303A20", CDS_VIETQR_E_LENGTH, "field 63 (CRC): length 03, must be 04");
}

static void test_root_fields(void)
{
    BAD(CRC(J(T("00", "02"), T("01", "12"), STD_MAI, T("53", "704"), T("58", "VN"), NULL)),
        CDS_VIETQR_E_VALUE, "field 00 (payload format indicator): \"02\", must be \"01\"");
    BAD(CRC(J(T("00", "001"), T("01", "12"), NULL)), CDS_VIETQR_E_LENGTH,
        "field 00 (payload format indicator): length 03, must be 02");
    BAD(CRC(J(T("00", "01"), T("01", "13"), NULL)), CDS_VIETQR_E_VALUE,
        "field 01 (point of initiation method): \"13\", must be \"11\" (static) or \"12\" "
        "(dynamic)");
    BAD(CRC(J(T("00", "01"), T("01", "1"), NULL)), CDS_VIETQR_E_LENGTH,
        "field 01 (point of initiation method): length 01, must be 02");
    BAD(CRC(J(HEAD, STD_MAI, T("53", "840"), T("58", "VN"), NULL)), CDS_VIETQR_E_VALUE,
        "field 53 (transaction currency): \"840\", must be \"704\"");
    BAD(CRC(J(HEAD, STD_MAI, T("53", "7040"), T("58", "VN"), NULL)), CDS_VIETQR_E_LENGTH,
        "field 53 (transaction currency): length 04, must be 03");
    BAD(CRC(J(HEAD, STD_MAI, T("53", "704"), T("58", "vn"), NULL)), CDS_VIETQR_E_VALUE,
        "field 58 (country code): \"vn\", must be \"VN\"");

    /* Mandatory fields, reported after every present field is checked. */
    BAD(CRC(J(T("00", "01"), STD_MAI, T("53", "704"), T("58", "VN"), NULL)), CDS_VIETQR_E_MISSING,
        "field 01 (point of initiation method) is missing");
    BAD(CRC(J(HEAD, T("53", "704"), T("58", "VN"), NULL)), CDS_VIETQR_E_MISSING,
        "field 38 (merchant account information) is missing");
    BAD(CRC(J(HEAD, STD_MAI, T("58", "VN"), NULL)), CDS_VIETQR_E_MISSING,
        "field 53 (transaction currency) is missing");
    BAD(CRC(J(HEAD, STD_MAI, T("53", "704"), NULL)), CDS_VIETQR_E_MISSING,
        "field 58 (country code) is missing");
    CHECK_STR(cds_vietqr_code_name(err.code), "missing");
}

static void test_amount(void)
{
    BAD(WITH(T("54", "180000.00")), CDS_VIETQR_E_AMOUNT,
        "field 54 (amount): non-digit character '.' at position 7 (VND amounts are whole "
        "numbers)");
    CHECK_INT(err.offset, 84 + 6);
    BAD(WITH(T("54", "-5000")), CDS_VIETQR_E_AMOUNT,
        "field 54 (amount): non-digit character '-' at position 1 (VND amounts are whole "
        "numbers)");
    BAD(WITH(T("54", "1 000")), CDS_VIETQR_E_AMOUNT,
        "field 54 (amount): non-digit character ' ' at position 2 (VND amounts are whole "
        "numbers)");
    BAD(WITH(T("54", "0180000")), CDS_VIETQR_E_AMOUNT,
        "field 54 (amount): leading zero in \"0180000\"");
    BAD(WITH(T("54", "0")), CDS_VIETQR_E_AMOUNT, "field 54 (amount): must be greater than 0");
    BAD(WITH(T("54", "12345678901234")), CDS_VIETQR_E_LENGTH,
        "field 54 (amount): 14 characters, at most 13");
    OK(WITH(T("54", "9999999999999")));
    CHECK_INT(dec.q.amount, 9999999999999ULL);
    OK(WITH(T("54", "1")));
    CHECK_INT(dec.q.amount, 1);
}

static void test_merchant_account(void)
{
    /* Copied: the builders' buffers are reused. */
    char base[16], tail[16];
    snprintf(base, sizeof base, "%s", HEAD);
    snprintf(tail, sizeof tail, "%s", J(T("53", "704"), T("58", "VN"), NULL));
#define M38(v) CRC(J(base, T("38", v), tail, NULL))
    char org[64], svc[16];
    snprintf(org, sizeof org, "%s", ORG("970403", "0011012345678"));
    snprintf(svc, sizeof svc, "%s", T("02", "QRIBFTTA"));
    BAD(M38(J(T("00", "A000000728"), org, svc, NULL)), CDS_VIETQR_E_GUID,
        "field 38.00 (GUID): \"A000000728\", must be \"A000000727\" (NAPAS)");
    BAD(M38(J(T("00", "A0000007270"), org, svc, NULL)), CDS_VIETQR_E_GUID,
        "field 38.00 (GUID): \"A0000007270\", must be \"A000000727\" (NAPAS)");
    BAD(M38(J(T("00", "a000000727"), org, svc, NULL)), CDS_VIETQR_E_GUID,
        "field 38.00 (GUID): \"a000000727\", must be \"A000000727\" (NAPAS)");
    BAD(M38(J(org, svc, NULL)), CDS_VIETQR_E_MISSING, "field 38.00 (GUID) is missing");
    BAD(M38(J(GUID_T, org, NULL)), CDS_VIETQR_E_MISSING, "field 38.02 (service code) is missing");
    BAD(M38(J(GUID_T, svc, NULL)), CDS_VIETQR_E_MISSING,
        "field 38.01 (beneficiary organization) is missing");
    BAD(M38(J(GUID_T, org, T("02", "QRIBFTTB"), NULL)), CDS_VIETQR_E_SERVICE,
        "field 38.02 (service code): \"QRIBFTTB\" is not QRIBFTTA (account) or QRIBFTTC (card)");
    BAD(M38(J(GUID_T, org, T("02", "qribftta"), NULL)), CDS_VIETQR_E_SERVICE,
        "field 38.02 (service code): \"qribftta\" is not QRIBFTTA (account) or QRIBFTTC (card)");
    BAD(M38(J(GUID_T, org, svc, T("03", "x"), NULL)), CDS_VIETQR_E_UNKNOWN,
        "field 38.03: NAPAS defines only 38.00 (GUID), 38.01 (beneficiary organization) and "
        "38.02 (service code)");
    /* Order inside 38 does not matter. */
    OK(M38(J(svc, org, GUID_T, NULL)));
    CHECK_STR(dec.q.account, "0011012345678");

    BAD(M38(J(GUID_T, ORG("97040", "0011012345678"), svc, NULL)), CDS_VIETQR_E_LENGTH,
        "field 38.01.00 (acquirer BIN): 5 characters, must be 6 digits");
    BAD(M38(J(GUID_T, ORG("97040X", "0011012345678"), svc, NULL)), CDS_VIETQR_E_BIN,
        "field 38.01.00 (acquirer BIN): non-digit character 'X' at position 6");
    BAD(M38(J(GUID_T, T("01", T("01", "0011012345678")), svc, NULL)), CDS_VIETQR_E_MISSING,
        "field 38.01.00 (acquirer BIN) is missing");
    BAD(M38(J(GUID_T, T("01", T("00", "970403")), svc, NULL)), CDS_VIETQR_E_MISSING,
        "field 38.01.01 (account number) is missing");
    BAD(M38(J(GUID_T, T("01", J(T("00", "970403"), T("01", "1"), T("02", "x"), NULL)), svc, NULL)),
        CDS_VIETQR_E_UNKNOWN,
        "field 38.01.02: NAPAS defines only 38.01.00 (acquirer BIN) and 38.01.01 (account or "
        "card number)");
    BAD(M38(J(GUID_T, ORG("970403", "00110123456789012345"), svc, NULL)), CDS_VIETQR_E_LENGTH,
        "field 38.01.01 (account number): 20 characters, at most 19");
    BAD(M38(J(GUID_T, ORG("970403", "0011 012345"), svc, NULL)), CDS_VIETQR_E_ACCOUNT,
        "field 38.01.01 (account number): character ' ' at position 5 is not a letter or digit");
    BAD(M38(J(GUID_T, ORG("970403", "97040311O1234567"), T("02", "QRIBFTTC"), NULL)),
        CDS_VIETQR_E_ACCOUNT,
        "field 38.01.01 (card number): character 'O' at position 9 is not a digit");
    /* Virtual accounts carry letters. */
    OK(M38(J(GUID_T, ORG("970418", "V3CAS6262723924"), svc, NULL)));
    CHECK_STR(dec.q.account, "V3CAS6262723924");
#undef M38
}

static void test_additional_data(void)
{
    BAD(WITH(T("62", T("08", "thanh toan le phi ho so xd"))), CDS_VIETQR_E_LENGTH,
        "field 62.08 (purpose of transaction): 26 characters, at most 25");
    BAD(WITH(T("62", T("01", "HS-2026-000000000000000001"))), CDS_VIETQR_E_LENGTH,
        "field 62.01 (bill number): 26 characters, at most 25");
    OK(WITH(T("62", J(T("08", "thanh toan le phi ho so x"), T("01", "~!@#$%^&*()_+{}|:<>?`-=[]"),
                      NULL))));
    CHECK_STR(dec.q.purpose, "thanh toan le phi ho so x");
    CHECK_STR(dec.q.bill, "~!@#$%^&*()_+{}|:<>?`-=[]");
    /* Other 62 sub-fields and root objects are kept in order. */
    OK(CRC(J(HEAD, STD_MAI, T("52", "9399"), T("53", "704"), T("58", "VN"), T("59", "UBND QUAN 1"),
             T("62", J(T("07", "TERM01"), T("08", "le phi"), T("05", "REF9"), NULL)), NULL)));
    CHECK_INT(dec.n_other, 2);
    CHECK_STR(dec.other[0].id, "52");
    CHECK_STR(dec.other[0].value, "9399");
    CHECK_STR(dec.other[1].id, "59");
    CHECK_STR(dec.other[1].value, "UBND QUAN 1");
    CHECK_INT(dec.n_extra, 2);
    CHECK_STR(dec.extra[0].id, "07");
    CHECK_STR(dec.extra[1].value, "REF9");
    CHECK_STR(dec.q.purpose, "le phi");
    BAD(WITH(T("62", J(T("08", "a"), T("08", "b"), NULL))), CDS_VIETQR_E_DUPLICATE,
        "field 62.08 (purpose of transaction) appears twice (offsets 84 and 89)");
}

/* ---------------- encoder ---------------- */

static void test_initiation_choice(void)
{
    const char *acct = "0011012345678";
    /* AUTO: dynamic exactly when there is an amount. */
    OK(ENC(input("970403", acct, CDS_VIETQR_ACCOUNT, 50000, "", "", CDS_VIETQR_AUTO)));
    CHECK_INT(dec.q.initiation, CDS_VIETQR_DYNAMIC);
    OK(ENC(input("970403", acct, CDS_VIETQR_ACCOUNT, 0, "", "", CDS_VIETQR_AUTO)));
    CHECK_INT(dec.q.initiation, CDS_VIETQR_STATIC);
    /* As asked otherwise. */
    CHECK_STR(ENC(input("970403", acct, CDS_VIETQR_ACCOUNT, 0, "", "", CDS_VIETQR_DYNAMIC)),
              CRC(J(HEAD, STD_MAI, T("53", "704"), T("58", "VN"), NULL)));
    CHECK_STR(ENC(input("970403", acct, CDS_VIETQR_ACCOUNT, 50000, "", "", CDS_VIETQR_STATIC)),
              CRC(J(T("00", "01"), T("01", "11"), STD_MAI, T("53", "704"), T("54", "50000"),
                    T("58", "VN"), NULL)));
    /* Bill number without purpose, purpose without bill number. */
    CHECK_STR(ENC(input("970403", acct, CDS_VIETQR_ACCOUNT, 0, "", "HS01", CDS_VIETQR_DYNAMIC)),
              CRC(J(HEAD, STD_MAI, T("53", "704"), T("58", "VN"), T("62", T("01", "HS01")), NULL)));
    CHECK_STR(
        ENC(input("970403", acct, CDS_VIETQR_ACCOUNT, 0, "le phi", "", CDS_VIETQR_DYNAMIC)),
        CRC(J(HEAD, STD_MAI, T("53", "704"), T("58", "VN"), T("62", T("08", "le phi")), NULL)));
}

static void test_encoder_refusals(void)
{
    const char *acct = "0011012345678";
    ENC_BAD(input("97040", acct, CDS_VIETQR_ACCOUNT, 0, "", "", 0), CDS_VIETQR_E_LENGTH,
            "field 38.01.00 (acquirer BIN): 5 characters, must be 6 digits");
    ENC_BAD(input("9704O3", acct, CDS_VIETQR_ACCOUNT, 0, "", "", 0), CDS_VIETQR_E_BIN,
            "field 38.01.00 (acquirer BIN): non-digit character 'O' at position 5");
    ENC_BAD(input("970403", "", CDS_VIETQR_ACCOUNT, 0, "", "", 0), CDS_VIETQR_E_MISSING,
            "field 38.01.01 (account number) is missing");
    ENC_BAD(input("970403", "0011-0123", CDS_VIETQR_ACCOUNT, 0, "", "", 0), CDS_VIETQR_E_ACCOUNT,
            "field 38.01.01 (account number): character '-' at position 5 is not a letter or "
            "digit");
    ENC_BAD(input("970403", "9704A", CDS_VIETQR_CARD, 0, "", "", 0), CDS_VIETQR_E_ACCOUNT,
            "field 38.01.01 (card number): character 'A' at position 5 is not a digit");
    ENC_BAD(input("970403", acct, 3, 0, "", "", 0), CDS_VIETQR_E_SERVICE,
            "field 38.02 (service code): service 3 is neither account nor card");
    ENC_BAD(input("970403", acct, CDS_VIETQR_ACCOUNT, 0, "", "", 13), CDS_VIETQR_E_VALUE,
            "field 01 (point of initiation method): 13 is not static (11) or dynamic (12)");
    ENC_BAD(input("970403", acct, CDS_VIETQR_ACCOUNT, 10000000000000ULL, "", "", 0),
            CDS_VIETQR_E_LENGTH, "field 54 (amount): 10000000000000 has more than 13 digits");
    ENC_BAD(input("970403", acct, CDS_VIETQR_ACCOUNT, 0, "L\xe1\xbb\x87 ph\xc3\xad", "", 0),
            CDS_VIETQR_E_TEXT,
            "field 62.08 (purpose of transaction): byte 0xE1 at position 2 is not printable ASCII "
            "(write Vietnamese without diacritics)");
    ENC_BAD(input("970403", acct, CDS_VIETQR_ACCOUNT, 0, "", "HS\t01", 0), CDS_VIETQR_E_TEXT,
            "field 62.01 (bill number): byte 0x09 at position 3 is not printable ASCII (write "
            "Vietnamese without diacritics)");

    /* Strings that fill their arrays with no NUL: too long, not read past. */
    cds_vietqr q = input("970403", acct, CDS_VIETQR_ACCOUNT, 0, "", "", 0);
    memset(q.account, '1', sizeof q.account);
    ENC_BAD(q, CDS_VIETQR_E_LENGTH, "field 38.01.01 (account number): 20 characters, at most 19");
    q = input("970403", acct, CDS_VIETQR_ACCOUNT, 0, "", "", 0);
    memset(q.purpose, 'a', sizeof q.purpose);
    ENC_BAD(q, CDS_VIETQR_E_LENGTH,
            "field 62.08 (purpose of transaction): 26 characters, at most 25");
    q = input("970403", acct, CDS_VIETQR_ACCOUNT, 0, "", "", 0);
    memset(q.bin, '9', sizeof q.bin);
    ENC_BAD(q, CDS_VIETQR_E_LENGTH,
            "field 38.01.00 (acquirer BIN): 7 characters, must be 6 digits");

    /* Output too small: says what it needs, writes nothing past cap. */
    q = input("970403", acct, CDS_VIETQR_ACCOUNT, 0, "", "", 0);
    char small[96];
    memset(small, 'z', sizeof small);
    CHECK_INT(cds_vietqr_encode(&q, small, 94, &err), CDS_VIETQR_E_ARG);
    CHECK_STR(err.msg, "output buffer of 94 bytes is too small, need 95");
    CHECK_INT(small[94], 'z');
    CHECK_INT(cds_vietqr_encode(&q, small, 95, &err), 94);
    CHECK_STR(small, NAPAS_611_FIXED);
    CHECK_INT(cds_vietqr_encode(NULL, out, sizeof out, &err), CDS_VIETQR_E_ARG);
    CHECK_INT(cds_vietqr_encode(&q, NULL, 0, NULL), CDS_VIETQR_E_ARG);
}

static void test_largest(void)
{
    cds_vietqr q = input("970499", "9999999999999999999", CDS_VIETQR_CARD, 9999999999999ULL,
                         "ABCDEFGHIJKLMNOPQRSTUVWXY", "0123456789012345678901234", 0);
    const char *p = ENC(q);
    CHECK_INT(strlen(p), 179);
    OK(p);
    CHECK_STR(dec.q.account, "9999999999999999999");
    CHECK_STR(dec.q.bill, "0123456789012345678901234");
    CHECK_INT(dec.q.amount, 9999999999999ULL);
}

/* Generated inputs: encode, decode, same fields, same bytes again. */
static void test_round_trips(void)
{
    uint32_t s = 12345;
#define RND() (s = s * 1103515245u + 12345u, (s >> 8))
    static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    int bad = 0;
    for (int i = 0; i < 5000; i++) {
        cds_vietqr q;
        memset(&q, 0, sizeof q);
        q.service = RND() % 2 ? CDS_VIETQR_CARD : CDS_VIETQR_ACCOUNT;
        for (int j = 0; j < 6; j++)
            q.bin[j] = (char)('0' + RND() % 10);
        size_t n = 1 + RND() % 19;
        for (size_t j = 0; j < n; j++)
            q.account[j] = q.service == CDS_VIETQR_CARD ? (char)('0' + RND() % 10)
                                                        : alnum[RND() % (sizeof alnum - 1)];
        static const uint64_t amounts[] = {0, 1, 9, 10, 180000, 2000000, 9999999999999ULL};
        q.amount = RND() % 2 ? amounts[RND() % 7] : (uint64_t)RND() * 1000u;
        n = RND() % 26;
        for (size_t j = 0; j < n; j++)
            q.purpose[j] = (char)(0x20 + RND() % 95);
        n = RND() % 26;
        for (size_t j = 0; j < n; j++)
            q.bill[j] = (char)(0x20 + RND() % 95);
        static const int inits[] = {CDS_VIETQR_AUTO, CDS_VIETQR_STATIC, CDS_VIETQR_DYNAMIC};
        q.initiation = inits[RND() % 3];

        char p1[CDS_VIETQR_PAYLOAD_MAX + 1], p2[CDS_VIETQR_PAYLOAD_MAX + 1];
        int n1 = cds_vietqr_encode(&q, p1, sizeof p1, &err);
        if (n1 < 0 || cds_vietqr_decode(p1, (size_t)n1, &dec, &err) != 0) {
            if (!bad++) fprintf(stderr, "round trip %d: %s\n", i, err.msg);
            continue;
        }
        int same = strcmp(dec.q.bin, q.bin) == 0 && strcmp(dec.q.account, q.account) == 0 &&
                   dec.q.service == q.service && dec.q.amount == q.amount &&
                   strcmp(dec.q.purpose, q.purpose) == 0 && strcmp(dec.q.bill, q.bill) == 0 &&
                   (q.initiation == CDS_VIETQR_AUTO
                        ? dec.q.initiation == (q.amount ? CDS_VIETQR_DYNAMIC : CDS_VIETQR_STATIC)
                        : dec.q.initiation == q.initiation);
        int n2 = cds_vietqr_encode(&dec.q, p2, sizeof p2, &err);
        if (!same || n2 != n1 || strcmp(p1, p2) != 0) {
            if (!bad++) fprintf(stderr, "round trip %d differs: %s\n", i, p1);
        }
    }
#undef RND
    CHECK_INT(bad, 0);
}

/* ---------------- JSON ---------------- */

static void test_json(void)
{
    OK(NAPAS_614);
    json_t *j = cds_vietqr_json(&dec);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "initiation")), "dynamic");
    CHECK_STR(json_string_value(json_object_get(j, "bin")), "970403");
    CHECK_STR(json_string_value(json_object_get(j, "account")), "9704031101234567");
    CHECK_STR(json_string_value(json_object_get(j, "service")), "card");
    CHECK_STR(json_string_value(json_object_get(j, "service_code")), "QRIBFTTC");
    CHECK_INT(json_integer_value(json_object_get(j, "amount")), 180000);
    CHECK_STR(json_string_value(json_object_get(j, "purpose")), "thanh toan don hang");
    CHECK_STR(json_string_value(json_object_get(j, "bill_number")), "NPS6869");
    CHECK_STR(json_string_value(json_object_get(j, "guid")), "A000000727");
    CHECK_STR(json_string_value(json_object_get(j, "currency")), "704");
    CHECK_STR(json_string_value(json_object_get(j, "country")), "VN");
    CHECK_STR(json_string_value(json_object_get(j, "crc")), "A203");
    CHECK_INT(json_array_size(json_object_get(j, "additional_data")), 0);
    json_decref(j);

    OK(XN_STATIC);
    j = cds_vietqr_json(&dec);
    CHECK(json_is_null(json_object_get(j, "amount")));
    CHECK(json_is_null(json_object_get(j, "purpose")));
    CHECK(json_is_null(json_object_get(j, "bill_number")));
    CHECK_STR(json_string_value(json_object_get(j, "initiation")), "static");
    json_decref(j);

    OK(VOCOLBOY);
    j = cds_vietqr_json(&dec);
    char *s = json_dumps(json_object_get(j, "additional_data"), JSON_COMPACT);
    CHECK_STR(s, "[{\"id\":\"02\",\"value\":\"84329172041\"}]");
    free(s);
    json_decref(j);
    CHECK(cds_vietqr_json(NULL) == NULL);
}

static void test_code_names(void)
{
    CHECK_STR(cds_vietqr_code_name(CDS_VIETQR_OK), "ok");
    CHECK_STR(cds_vietqr_code_name(CDS_VIETQR_E_CRC), "crc_mismatch");
    CHECK_STR(cds_vietqr_code_name(CDS_VIETQR_E_CRC_FORMAT), "crc_format");
    CHECK_STR(cds_vietqr_code_name(CDS_VIETQR_E_TRUNCATED), "truncated");
    CHECK_STR(cds_vietqr_code_name(CDS_VIETQR_E_AMOUNT), "amount");
    CHECK_STR(cds_vietqr_code_name(-99), "unknown");
    CHECK_STR(cds_vietqr_code_name(1), "unknown");
}

int main(void)
{
    test_crc();
    test_napas_examples();
    test_library_examples();
    test_published_refusals();
    test_size_and_charset();
    test_structure();
    test_crc_field();
    test_root_fields();
    test_amount();
    test_merchant_account();
    test_additional_data();
    test_initiation_choice();
    test_encoder_refusals();
    test_largest();
    test_round_trips();
    test_json();
    test_code_names();
    return t_done();
}
