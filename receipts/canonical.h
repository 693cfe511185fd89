/* The content of an e-receipt for fees and charges (biên lai điện tử thu
 * phí, lệ phí), its strict checks, and its canonical bytes: the exact bytes
 * the issuing agency signs and anyone can rebuild to check the signature.
 *
 * The canonical form is JSON, written by cds_receipt_canonical():
 *   - one object with exactly the members below (replaces only when kind is
 *     not "original"), issuer and payer nested objects;
 *   - members sorted by key, byte by byte (every key is ASCII, so this is
 *     also RFC 8785's UTF-16 order), at every level;
 *   - no whitespace anywhere: {"a":1,"b":"x"};
 *   - strings as their UTF-8 bytes, with only " and \ escaped (as \" and
 *     \\): the checks refuse control characters, so nothing else ever needs
 *     an escape, and no Unicode normalisation is applied;
 *   - integers (year, number, amount) in plain decimal, no sign, no leading
 *     zero, no exponent.
 * For every content the checks accept, these bytes are exactly the RFC 8785
 * (JSON Canonicalization Scheme) serialisation of the content, so a third
 * party can rebuild them with any JCS library.
 *
 *   amount          integer VND, 1..999 999 999 999 (0 allowed in an adjustment)
 *   amount_words    must equal cds_amount_words(amount)
 *   bank_ref        the bank's transaction reference, 1..64 printable ASCII, no space
 *   dossier_code    1..64 of [0-9A-Za-z._/-]
 *   fee_name        text (tên phí, lệ phí)
 *   issued_at       "YYYY-MM-DDTHH:MM:SS+07:00", a real date and time
 *   issuer          {address, agency_name, tax_code}: texts; tax code 10 digits
 *                   or 10 + "-" + 3 (a branch)
 *   kind            "original" | "replacement" | "adjustment"
 *   number          1..99 999 999 (số biên lai: up to 8 digits, gapless per
 *                   template, serial and year; printed zero-padded to 8)
 *   paid_at         same form as issued_at
 *   payer           {address, name, personal_id}: texts; personal ID 12 digits
 *   payment_method  text, e.g. "Chuyển khoản VietQR"
 *   replaces        id (lowercase UUID) of the receipt this one replaces or
 *                   adjusts; present exactly when kind is not "original"
 *   serial          ký hiệu, 1..20 of [0-9A-Za-z./-]
 *   template_no     mẫu số, 1..20 of [0-9A-Za-z./-]
 *   year            the year of issued_at
 * A "text" is 1..CDS_RCPT_TEXT_MAX (addresses CDS_RCPT_ADDR_MAX) bytes of
 * well-formed UTF-8 without control characters (C0, DEL, C1). */
#ifndef CDS_RECEIPT_CANONICAL_H
#define CDS_RECEIPT_CANONICAL_H
#include "receipts/amount_words.h"

#include <jansson.h>
#include <stddef.h>

#define CDS_RCPT_CODE_MAX 20  /* template_no, serial */
#define CDS_RCPT_REF_MAX 64   /* dossier_code, bank_ref */
#define CDS_RCPT_TEXT_MAX 300 /* names, fee name, payment method */
#define CDS_RCPT_ADDR_MAX 500 /* addresses */
#define CDS_RCPT_TIME_LEN 25  /* "2025-03-14T09:30:00+07:00" */
/* Bytes that hold the canonical form of any valid content (the worst case,
 * every text at its maximum and made of " characters, is under 6 KiB). */
#define CDS_RCPT_CANONICAL_CAP 8192

typedef enum cds_receipt_kind {
    CDS_RCPT_ORIGINAL,
    CDS_RCPT_REPLACEMENT,
    CDS_RCPT_ADJUSTMENT,
} cds_receipt_kind;

typedef struct cds_receipt {
    char template_no[CDS_RCPT_CODE_MAX + 1];
    char serial[CDS_RCPT_CODE_MAX + 1];
    int year;
    long number;
    struct {
        char agency_name[CDS_RCPT_TEXT_MAX + 1];
        char tax_code[15];
        char address[CDS_RCPT_ADDR_MAX + 1];
    } issuer;
    struct {
        char name[CDS_RCPT_TEXT_MAX + 1];
        char personal_id[13];
        char address[CDS_RCPT_ADDR_MAX + 1];
    } payer;
    char fee_name[CDS_RCPT_TEXT_MAX + 1];
    char dossier_code[CDS_RCPT_REF_MAX + 1];
    long long amount;
    char amount_words[CDS_AMOUNT_WORDS_CAP];
    char payment_method[CDS_RCPT_TEXT_MAX + 1];
    char bank_ref[CDS_RCPT_REF_MAX + 1];
    char paid_at[CDS_RCPT_TIME_LEN + 1];
    char issued_at[CDS_RCPT_TIME_LEN + 1];
    char replaces[37]; /* "" for an original */
    cds_receipt_kind kind;
} cds_receipt;

/* "original", "replacement", "adjustment" (NULL for anything else). */
const char *cds_receipt_kind_name(cds_receipt_kind kind);

/* 0 when every field obeys the rules above; -1 otherwise, with *why (when
 * not NULL) naming the first field that does not, e.g. "payer.personal_id". */
int cds_receipt_check(const cds_receipt *r, const char **why);

/* Fills *out from a content object, strictly: no member missing (replaces
 * aside), none unknown, each of its JSON type (integers as integers, not
 * 1.0), strings without NUL, then cds_receipt_check(). 0, or -1 with *why. */
int cds_receipt_from_json(const json_t *content, cds_receipt *out, const char **why);

/* The content as a new JSON object (NULL when it fails the checks). */
json_t *cds_receipt_to_json(const cds_receipt *r);

/* Writes the canonical form to out (NUL-terminated; cap >=
 * CDS_RCPT_CANONICAL_CAP always suffices). Returns its length, or -1 when the
 * content fails the checks or out is too small. */
int cds_receipt_canonical(const cds_receipt *r, char *out, size_t cap);

#endif
