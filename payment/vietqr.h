/* VietQR payloads: the text inside a Vietnamese bank-transfer QR code, as
 * NAPAS profiles EMVCo's merchant-presented QR (EMV QRCPS-MPM) for its
 * 24/7 interbank transfers (IBFT). We print it on fee notices; citizens scan
 * it with any bank app, which fills in bank, account, amount and purpose.
 *
 * A payload is a run of data objects, each "IIllvalue": a two-digit id, a
 * two-digit length (01..99) and that many characters. The ones we read and
 * write, in the order we write them:
 *
 *   00  payload format indicator, "01"
 *   01  point of initiation: "11" static (reusable), "12" dynamic (one payment)
 *   38  merchant account information, a template of
 *         00  GUID "A000000727" (NAPAS)
 *         01  beneficiary organization, a template of
 *               00  acquirer BIN, 6 digits (the bank's NAPAS code, 970403 ...)
 *               01  account number (letters and digits) or card number (digits), 1..19
 *         02  service code "QRIBFTTA" (to an account) or "QRIBFTTC" (to a card)
 *   53  currency "704" (VND)
 *   54  amount, optional: 1..13 digits, no decimals (VND has no minor unit)
 *   58  country "VN"
 *   62  additional data, optional template: 01 bill number and 08 purpose of
 *       transaction, each 1..25 printable ASCII characters
 *   63  CRC: CRC-16/CCITT-FALSE of everything before its value, "6304"
 *       included, as four uppercase hex digits; always last
 *
 * The decoder is strict: anything it accepts, the encoder can write again
 * with the same meaning, and every refusal is one code plus one sentence
 * naming the field and, for structural errors, the offset. Root data objects
 * it does not interpret (52 merchant category, 59 merchant name, 60 city,
 * other merchant account templates ...) and 62 sub-fields other than 01 and
 * 08 are kept, in payload order, for the caller to see. */
#ifndef CDS_VIETQR_H
#define CDS_VIETQR_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CDS_VIETQR_PAYLOAD_MAX 512 /* EMVCo's limit; encode()'s output is far shorter */
#define CDS_VIETQR_BIN_LEN 6
#define CDS_VIETQR_ACCOUNT_MAX 19
#define CDS_VIETQR_TEXT_MAX 25                              /* bill number, purpose */
#define CDS_VIETQR_AMOUNT_MAX 9999999999999ULL              /* 13 digits */
#define CDS_VIETQR_OBJECTS_MAX (CDS_VIETQR_PAYLOAD_MAX / 5) /* a data object takes >= 5 */
#define CDS_VIETQR_SUBFIELDS_MAX (99 / 5)

enum cds_vietqr_service { CDS_VIETQR_ACCOUNT = 1, CDS_VIETQR_CARD = 2 };

/* Point of initiation. AUTO (encoder only): dynamic when there is an amount. */
enum cds_vietqr_initiation { CDS_VIETQR_AUTO = 0, CDS_VIETQR_STATIC = 11, CDS_VIETQR_DYNAMIC = 12 };

/* Error codes: 0 is success, the rest negative. */
enum cds_vietqr_code {
    CDS_VIETQR_OK = 0,
    CDS_VIETQR_E_ARG = -1,         /* NULL argument, output buffer too small */
    CDS_VIETQR_E_SIZE = -2,        /* payload empty or longer than 512 characters */
    CDS_VIETQR_E_CHARSET = -3,     /* a byte outside printable ASCII (0x20..0x7E) */
    CDS_VIETQR_E_TLV = -4,         /* id or length not two digits, or length 00 */
    CDS_VIETQR_E_TRUNCATED = -5,   /* a data object runs past the end of its container */
    CDS_VIETQR_E_DUPLICATE = -6,   /* the same id twice in one container */
    CDS_VIETQR_E_ORDER = -7,       /* 00 not first, or 63 not last */
    CDS_VIETQR_E_MISSING = -8,     /* a mandatory field is absent */
    CDS_VIETQR_E_UNKNOWN = -9,     /* a sub-field NAPAS does not define inside 38 */
    CDS_VIETQR_E_LENGTH = -10,     /* a value's length outside the field's range */
    CDS_VIETQR_E_VALUE = -11,      /* 00, 01, 53 or 58 holds another value */
    CDS_VIETQR_E_GUID = -12,       /* 38.00 is not A000000727 */
    CDS_VIETQR_E_SERVICE = -13,    /* 38.02 is not QRIBFTTA / QRIBFTTC */
    CDS_VIETQR_E_BIN = -14,        /* 38.01.00 not digits */
    CDS_VIETQR_E_ACCOUNT = -15,    /* 38.01.01 has a character its service forbids */
    CDS_VIETQR_E_AMOUNT = -16,     /* 54 not digits, leading zero, or zero */
    CDS_VIETQR_E_TEXT = -17,       /* bill number or purpose outside printable ASCII */
    CDS_VIETQR_E_CRC_FORMAT = -18, /* 63 is not four uppercase hex digits */
    CDS_VIETQR_E_CRC = -19,        /* 63 does not match the payload */
};

/* What a payload says; the encoder's input. Strings are NUL-terminated. */
typedef struct cds_vietqr {
    char bin[CDS_VIETQR_BIN_LEN + 1];
    char account[CDS_VIETQR_ACCOUNT_MAX + 1]; /* account or card number */
    int service;                              /* enum cds_vietqr_service */
    uint64_t amount;                          /* VND; 0: none (the payer types it) */
    char purpose[CDS_VIETQR_TEXT_MAX + 1];    /* "": none */
    char bill[CDS_VIETQR_TEXT_MAX + 1];       /* "": none */
    int initiation;                           /* enum cds_vietqr_initiation */
} cds_vietqr;

/* A data object kept as is: id ("52") and value. */
typedef struct cds_vietqr_object {
    char id[3];
    char value[100];
} cds_vietqr_object;

typedef struct cds_vietqr_decoded {
    cds_vietqr q;   /* initiation is STATIC or DYNAMIC */
    char crc[5];    /* as written, e.g. "2E2E" */
    size_t n_other; /* root objects besides 00 01 38 53 54 58 62 63 */
    cds_vietqr_object other[CDS_VIETQR_OBJECTS_MAX];
    size_t n_extra; /* 62 sub-fields besides 01 and 08 */
    cds_vietqr_object extra[CDS_VIETQR_SUBFIELDS_MAX];
} cds_vietqr_decoded;

typedef struct cds_vietqr_error {
    int code;      /* enum cds_vietqr_code */
    size_t offset; /* payload offset the message refers to (decoder; 0 otherwise) */
    char msg[200]; /* e.g. "field 54 (amount): non-digit character '.' at position 7" */
} cds_vietqr_error;

/* CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no reflection, no
 * final XOR ("123456789" gives 0x29B1). */
uint16_t cds_crc16_ccitt_false(const void *data, size_t len);

/* Writes the payload of q to out (NUL-terminated; CDS_VIETQR_PAYLOAD_MAX + 1
 * bytes always suffice). Every input is checked first: BIN 6 digits; account
 * 1..19 letters or digits (card: digits); amount <= 13 digits; purpose and
 * bill <= 25 printable ASCII characters (Vietnamese without diacritics);
 * service and initiation from their enums. Returns the length, or a negative
 * code with err (may be NULL) saying which field is wrong. */
int cds_vietqr_encode(const cds_vietqr *q, char *out, size_t cap, cds_vietqr_error *err);

/* Parses and checks payload[0..len) into *d: structure (ids, lengths,
 * nesting, duplicates, order), the CRC, then every field we interpret.
 * Returns 0, or a negative code with err (may be NULL) describing the first
 * problem found. *d is zeroed first and only meaningful on success. */
int cds_vietqr_decode(const char *payload, size_t len, cds_vietqr_decoded *d,
                      cds_vietqr_error *err);

/* A stable machine name for a code ("crc_mismatch", "truncated" ...). */
const char *cds_vietqr_code_name(int code);

/* The decoded payload as a JSON object (new reference; NULL when out of
 * memory): bin, account, service, service_code, amount (integer or null),
 * purpose, bill_number (strings or null), initiation ("static"/"dynamic"),
 * guid, currency, country, crc, additional_data and other_fields (arrays of
 * {"id","value"}). */
json_t *cds_vietqr_json(const cds_vietqr_decoded *d);

#endif
