/* Unit tests of receipts/canonical.c and receipts/sign.c:
 *   - the canonical form of known contents, written out as literals, and its
 *     agreement with jansson's sorted compact output; JSON round trips;
 *     strict parsing (unknown, missing, mistyped, repeated members) and the
 *     field checks (dates, ids, amount in words, kind and replaces);
 *   - keys made here with OpenSSL EVP, P-256 and Ed25519: PEM round trips,
 *     other key types refused, key ids stable and equal to the SHA-256 of
 *     the SubjectPublicKeyInfo (and known for two published keys);
 *   - sign and verify; every field changed (content still valid) fails;
 *     every byte of an export changed fails; wrong key, forged kid, swapped
 *     algorithm fail;
 *   - published vectors through the same verification path: RFC 6979
 *     A.2.5 (ECDSA P-256, SHA-256, messages "sample" and "test") and RFC
 *     8032 section 7.1 TEST 1 (Ed25519, empty message). */
#include "core/jose.h"
#include "receipts/sign.h"
#include "tests/lib/t.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- sample content ---------------- */

static void sample(cds_receipt *r)
{
    memset(r, 0, sizeof *r);
#define SET(field, text) memcpy(field, text, sizeof text)
    SET(r->template_no, "01BLP0-001");
    SET(r->serial, "AA-25E");
    r->year = 2025;
    r->number = 123;
    SET(r->issuer.agency_name, "Ủy ban nhân dân Phường Bến Thành");
    SET(r->issuer.tax_code, "0301234567");
    SET(r->issuer.address, "135 Nam Kỳ Khởi Nghĩa, Phường Bến Thành, Thành phố Hồ Chí Minh");
    SET(r->payer.name, "Nguyễn Thị Ánh Tuyết");
    SET(r->payer.personal_id, "079190012345");
    SET(r->payer.address, "12 Lê Lợi, Phường Sài Gòn, Thành phố Hồ Chí Minh");
    SET(r->fee_name, "Lệ phí cấp giấy phép xây dựng nhà ở riêng lẻ");
    SET(r->dossier_code, "000.20.01.H29-250314-0001");
    r->amount = 75000;
    SET(r->amount_words, "Bảy mươi lăm nghìn đồng");
    SET(r->payment_method, "Chuyển khoản VietQR");
    SET(r->bank_ref, "FT25073912345678");
    SET(r->paid_at, "2025-03-14T09:30:00+07:00");
    SET(r->issued_at, "2025-03-14T09:30:05+07:00");
    r->kind = CDS_RCPT_ORIGINAL;
}

static const char SAMPLE_CANONICAL[] =
    "{\"amount\":75000,\"amount_words\":\"Bảy mươi lăm nghìn đồng\","
    "\"bank_ref\":\"FT25073912345678\",\"dossier_code\":\"000.20.01.H29-250314-0001\","
    "\"fee_name\":\"Lệ phí cấp giấy phép xây dựng nhà ở riêng lẻ\","
    "\"issued_at\":\"2025-03-14T09:30:05+07:00\","
    "\"issuer\":{\"address\":\"135 Nam Kỳ Khởi Nghĩa, Phường Bến Thành, Thành phố Hồ Chí Minh\","
    "\"agency_name\":\"Ủy ban nhân dân Phường Bến Thành\",\"tax_code\":\"0301234567\"},"
    "\"kind\":\"original\",\"number\":123,\"paid_at\":\"2025-03-14T09:30:00+07:00\","
    "\"payer\":{\"address\":\"12 Lê Lợi, Phường Sài Gòn, Thành phố Hồ Chí Minh\","
    "\"name\":\"Nguyễn Thị Ánh Tuyết\",\"personal_id\":\"079190012345\"},"
    "\"payment_method\":\"Chuyển khoản VietQR\",\"serial\":\"AA-25E\","
    "\"template_no\":\"01BLP0-001\",\"year\":2025}";

/* A replacement whose texts hold a quote and a backslash. */
static void replacement(cds_receipt *r)
{
    sample(r);
    r->kind = CDS_RCPT_REPLACEMENT;
    SET(r->replaces, "0f8e2c1a-3b4d-4e5f-8a6b-7c8d9e0f1a2b");
    SET(r->fee_name, "Phí \"thẩm định\" \\ hồ sơ");
    r->number = 99999999;
    r->amount = 1050000;
    SET(r->amount_words, "Một triệu không trăm năm mươi nghìn đồng");
}

static const char REPLACEMENT_CANONICAL[] =
    "{\"amount\":1050000,\"amount_words\":\"Một triệu không trăm năm mươi nghìn đồng\","
    "\"bank_ref\":\"FT25073912345678\",\"dossier_code\":\"000.20.01.H29-250314-0001\","
    "\"fee_name\":\"Phí \\\"thẩm định\\\" \\\\ hồ sơ\","
    "\"issued_at\":\"2025-03-14T09:30:05+07:00\","
    "\"issuer\":{\"address\":\"135 Nam Kỳ Khởi Nghĩa, Phường Bến Thành, Thành phố Hồ Chí Minh\","
    "\"agency_name\":\"Ủy ban nhân dân Phường Bến Thành\",\"tax_code\":\"0301234567\"},"
    "\"kind\":\"replacement\",\"number\":99999999,\"paid_at\":\"2025-03-14T09:30:00+07:00\","
    "\"payer\":{\"address\":\"12 Lê Lợi, Phường Sài Gòn, Thành phố Hồ Chí Minh\","
    "\"name\":\"Nguyễn Thị Ánh Tuyết\",\"personal_id\":\"079190012345\"},"
    "\"payment_method\":\"Chuyển khoản VietQR\","
    "\"replaces\":\"0f8e2c1a-3b4d-4e5f-8a6b-7c8d9e0f1a2b\",\"serial\":\"AA-25E\","
    "\"template_no\":\"01BLP0-001\",\"year\":2025}";

static char canon[CDS_RCPT_CANONICAL_CAP];

static const char *C(const cds_receipt *r)
{
    return cds_receipt_canonical(r, canon, sizeof canon) < 0 ? "<-1>" : canon;
}

/* Same content: same canonical bytes (memcmp would see the bytes after
 * each string's NUL, which differ and mean nothing). */
static int same(const cds_receipt *a, const cds_receipt *b)
{
    static char ca[CDS_RCPT_CANONICAL_CAP], cb[CDS_RCPT_CANONICAL_CAP];
    return cds_receipt_canonical(a, ca, sizeof ca) > 0 &&
           cds_receipt_canonical(b, cb, sizeof cb) > 0 && strcmp(ca, cb) == 0;
}

/* ---------------- canonical form ---------------- */

static void test_canonical(void)
{
    cds_receipt r;
    sample(&r);
    CHECK_INT(cds_receipt_check(&r, NULL), 0);
    CHECK_STR(C(&r), SAMPLE_CANONICAL);
    CHECK_INT(cds_receipt_canonical(&r, canon, sizeof canon), strlen(SAMPLE_CANONICAL));
    replacement(&r);
    CHECK_STR(C(&r), REPLACEMENT_CANONICAL);

    /* Same bytes as jansson's sorted compact dump: the written-out key order is right. */
    for (int i = 0; i < 2; i++) {
        i ? replacement(&r) : sample(&r);
        json_t *j = cds_receipt_to_json(&r);
        char *dump = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(C(&r), dump);
        /* and back */
        cds_receipt back;
        const char *why = "x";
        CHECK_INT(cds_receipt_from_json(j, &back, &why), 0);
        CHECK(why == NULL);
        CHECK(same(&back, &r));
        free(dump);
        json_decref(j);
    }

    /* Buffer bounds: exact fit, one short. */
    sample(&r);
    size_t n = strlen(SAMPLE_CANONICAL);
    char *small = malloc(n + 1);
    CHECK_INT(cds_receipt_canonical(&r, small, n + 1), n);
    CHECK_INT(cds_receipt_canonical(&r, small, n), -1);
    CHECK_STR(small, "");
    free(small);

    /* Worst case: every text at its maximum, all quotes (each escaped). */
    replacement(&r);
    memset(r.issuer.agency_name, '"', CDS_RCPT_TEXT_MAX);
    memset(r.issuer.address, '"', CDS_RCPT_ADDR_MAX);
    memset(r.payer.name, '\\', CDS_RCPT_TEXT_MAX);
    memset(r.payer.address, '"', CDS_RCPT_ADDR_MAX);
    memset(r.fee_name, '"', CDS_RCPT_TEXT_MAX);
    memset(r.payment_method, '"', CDS_RCPT_TEXT_MAX);
    memset(r.serial, 'A', CDS_RCPT_CODE_MAX);
    memset(r.template_no, 'A', CDS_RCPT_CODE_MAX);
    memset(r.dossier_code, 'A', CDS_RCPT_REF_MAX);
    memset(r.bank_ref, 'A', CDS_RCPT_REF_MAX);
    r.amount = 777777777777LL;
    cds_amount_words(r.amount, r.amount_words, sizeof r.amount_words);
    memcpy(r.issuer.tax_code, "0301234567-001", 15);
    int worst = cds_receipt_canonical(&r, canon, sizeof canon);
    CHECK(worst > 5000);
    CHECK(worst < 6 * 1024);
}

/* ---------------- checks and strict JSON ---------------- */

/* Parses the sample content after `edit` (a JSON text transformed by
 * replacing the first occurrence of `from` by `to`); returns why or "ok". */
static const char *parse_edit(const char *from, const char *to)
{
    static char buf[4096];
    static char why_copy[128];
    const char *at = strstr(SAMPLE_CANONICAL, from);
    if (!at) return "<edit not found>";
    size_t pre = (size_t)(at - SAMPLE_CANONICAL), fl = strlen(from), tl = strlen(to);
    size_t rest = strlen(at + fl);
    if (pre + tl + rest + 1 > sizeof buf) return "<too long>";
    memcpy(buf, SAMPLE_CANONICAL, pre);
    memcpy(buf + pre, to, tl);
    memcpy(buf + pre + tl, at + fl, rest + 1);
    json_error_t e;
    json_t *j = json_loads(buf, JSON_REJECT_DUPLICATES, &e);
    if (!j) return "<json>";
    cds_receipt r;
    const char *why = NULL;
    int rc = cds_receipt_from_json(j, &r, &why);
    json_decref(j);
    if (rc == 0) return "ok";
    snprintf(why_copy, sizeof why_copy, "%s", why ? why : "(null)");
    return why_copy;
}

static void test_strict(void)
{
    CHECK_STR(parse_edit("\"year\":2025", "\"year\":2025"), "ok");
    CHECK_STR(parse_edit("\"year\":2025", "\"year\":2025,\"extra\":1"), "content (members)");
    CHECK_STR(parse_edit("\"serial\":\"AA-25E\",", ""), "content (members)");
    CHECK_STR(parse_edit("\"tax_code\":\"0301234567\"", "\"tax_code\":\"0301234567\",\"x\":\"\""),
              "issuer (members)");
    CHECK_STR(parse_edit("\"name\":\"Nguyễn Thị Ánh Tuyết\",", ""), "payer (members)");
    CHECK_STR(parse_edit("\"amount\":75000", "\"amount\":75000.0"), "amount");
    CHECK_STR(parse_edit("\"amount\":75000", "\"amount\":\"75000\""), "amount");
    CHECK_STR(parse_edit("\"amount\":75000", "\"amount\":-75000"), "amount");
    CHECK_STR(parse_edit("\"amount\":75000", "\"amount\":75001"), "amount_words");
    CHECK_STR(parse_edit("\"amount\":75000", "\"amount\":0"), "amount"); /* original: >= 1 */
    CHECK_STR(parse_edit("\"amount\":75000", "\"amount\":1000000000000"), "amount");
    CHECK_STR(parse_edit("Bảy mươi lăm", "bảy mươi lăm"), "amount_words");
    CHECK_STR(parse_edit("\"number\":123", "\"number\":0"), "number");
    CHECK_STR(parse_edit("\"number\":123", "\"number\":100000000"), "number");
    CHECK_STR(parse_edit("\"number\":123", "\"number\":99999999"), "ok");
    CHECK_STR(parse_edit("\"year\":2025", "\"year\":2024"), "year");
    CHECK_STR(parse_edit("Tuyết", "Tuy\\u0000t"), "<json>"); /* jansson refuses NUL */
    CHECK_STR(parse_edit("Tuyết", "Tuy\\tt"), "payer.name");
    CHECK_STR(parse_edit("Tuyết", "Tuy\\u0085t"), "payer.name"); /* C1 control */
    CHECK_STR(parse_edit("Tuyết", "Tuy\\u007ft"), "payer.name");
    CHECK_STR(parse_edit("\"name\":\"Nguyễn Thị Ánh Tuyết\"", "\"name\":\"\""), "payer.name");
    CHECK_STR(parse_edit("079190012345", "07919001234"), "payer.personal_id");
    CHECK_STR(parse_edit("079190012345", "099190012345"), "payer.personal_id");
    CHECK_STR(parse_edit("0301234567", "030123456"), "issuer.tax_code");
    CHECK_STR(parse_edit("0301234567", "0301234567-001"), "ok");
    CHECK_STR(parse_edit("0301234567", "0301234567_001"), "issuer.tax_code");
    CHECK_STR(parse_edit("AA-25E", "AA 25E"), "serial");
    CHECK_STR(parse_edit("01BLP0-001", ""), "template_no");
    CHECK_STR(parse_edit("FT25073912345678", "FT2507 3912345678"), "bank_ref");
    CHECK_STR(parse_edit("000.20.01.H29-250314-0001", "000.20.01.H29 250314"), "dossier_code");
    CHECK_STR(parse_edit("2025-03-14T09:30:00", "2025-02-29T09:30:00"), "paid_at");
    CHECK_STR(parse_edit("2025-03-14T09:30:00", "2024-02-29T09:30:00"), "ok");
    CHECK_STR(parse_edit("2025-03-14T09:30:00", "2025-03-14T24:00:00"), "paid_at");
    CHECK_STR(parse_edit("2025-03-14T09:30:00", "2025-03-14T09:30:60"), "paid_at");
    CHECK_STR(parse_edit("2025-03-14T09:30:00+07:00", "2025-03-14T02:30:00Z"), "paid_at");
    CHECK_STR(parse_edit("2025-03-14T09:30:05+07:00", "2025-03-14T09:30:05+00:00"), "issued_at");
    CHECK_STR(parse_edit("2025-03-14T09:30:05+07:00", "2025-03-14T09:30:05.5+07:00"), "issued_at");
    CHECK_STR(parse_edit("\"kind\":\"original\"", "\"kind\":\"copy\""), "kind");
    CHECK_STR(parse_edit("\"kind\":\"original\"", "\"kind\":\"replacement\""), "replaces");
    CHECK_STR(
        parse_edit("\"kind\":\"original\"",
                   "\"kind\":\"original\",\"replaces\":\"0f8e2c1a-3b4d-4e5f-8a6b-7c8d9e0f1a2b\""),
        "replaces");
    CHECK_STR(parse_edit("\"kind\":\"original\"", "\"kind\":\"original\",\"replaces\":\"\""),
              "replaces");
    CHECK_STR(
        parse_edit("\"kind\":\"original\"",
                   "\"kind\":\"adjustment\",\"replaces\":\"0f8e2c1a-3b4d-4e5f-8a6b-7c8d9e0f1a2b\""),
        "ok");
    CHECK_STR(
        parse_edit("\"kind\":\"original\"",
                   "\"kind\":\"adjustment\",\"replaces\":\"0F8E2C1A-3b4d-4e5f-8a6b-7c8d9e0f1a2b\""),
        "replaces");
    CHECK_STR(parse_edit("\"kind\":\"original\"", "\"kind\":\"replacement\",\"replaces\":\"x\""),
              "replaces");
    CHECK_STR(parse_edit("\"issuer\":{", "\"issuer\":[{"), "<json>");

    /* A NUL inside a string (a parser that allows it) is refused too. */
    cds_receipt r;
    json_t *j = json_loads(SAMPLE_CANONICAL, 0, NULL);
    json_object_set_new(json_object_get(j, "payer"), "name", json_stringn("Nguy\0n", 6));
    const char *why = NULL;
    CHECK_INT(cds_receipt_from_json(j, &r, &why), -1);
    CHECK_STR(why, "payer.name");
    json_decref(j);

    /* An adjustment may carry 0 VND (information only); an original may not. */
    replacement(&r);
    r.kind = CDS_RCPT_ADJUSTMENT;
    r.amount = 0;
    memcpy(r.amount_words, "Không đồng", sizeof "Không đồng");
    CHECK_INT(cds_receipt_check(&r, NULL), 0);
    r.kind = CDS_RCPT_REPLACEMENT;
    CHECK_INT(cds_receipt_check(&r, &why), -1);
    CHECK_STR(why, "amount");
    /* Invalid UTF-8 set directly in the struct (JSON could not carry it). */
    sample(&r);
    memcpy(r.payer.name, "Nguy\xe1\xbb", 7);
    CHECK_INT(cds_receipt_check(&r, &why), -1);
    CHECK_STR(why, "payer.name");
    sample(&r);
    memcpy(r.payer.name, "A\xc0\xaf", 4); /* overlong "/" */
    CHECK_INT(cds_receipt_check(&r, &why), -1);
    sample(&r);
    r.kind = (cds_receipt_kind)7;
    CHECK_INT(cds_receipt_check(&r, &why), -1);
    CHECK_STR(why, "kind");
    CHECK(cds_receipt_to_json(&r) == NULL);
    CHECK_INT(cds_receipt_canonical(&r, canon, sizeof canon), -1);
}

/* ---------------- keys ---------------- */

static EVP_PKEY *pub_of(EVP_PKEY *k)
{
    char *pem = cds_receipt_pubkey_pem(k);
    EVP_PKEY *p = pem ? cds_receipt_pubkey_from_pem(pem, strlen(pem)) : NULL;
    free(pem);
    return p;
}

static EVP_PKEY *priv_roundtrip(EVP_PKEY *k)
{
    char *pem = cds_pkey_to_pem(k);
    EVP_PKEY *p = pem ? cds_receipt_key_from_pem(pem, strlen(pem)) : NULL;
    free(pem);
    return p;
}

static void hex16_of_spki(EVP_PKEY *k, char out[17])
{
    unsigned char *der = NULL, md[32];
    int n = i2d_PUBKEY(k, &der);
    unsigned int mdlen = 0;
    EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void test_keys(void)
{
    EVP_PKEY *ec = cds_pkey_generate(CDS_ALG_ES256), *ed = cds_pkey_generate(CDS_ALG_EDDSA);
    CHECK(ec && ed);
    char k1[17], k2[17], k3[17], want[17];
    CHECK_INT(cds_receipt_kid(ec, k1), CDS_RCPT_OK);
    CHECK_INT(cds_receipt_kid(ec, k2), CDS_RCPT_OK);
    CHECK_STR(k1, k2);
    CHECK_INT(strlen(k1), 16);
    hex16_of_spki(ec, want);
    CHECK_STR(k1, want);
    EVP_PKEY *ecpub = pub_of(ec), *ec2 = priv_roundtrip(ec);
    CHECK(ecpub && ec2);
    CHECK_INT(cds_receipt_kid(ecpub, k3), CDS_RCPT_OK);
    CHECK_STR(k3, k1); /* public half, private key: one id */
    CHECK_INT(cds_receipt_kid(ec2, k3), CDS_RCPT_OK);
    CHECK_STR(k3, k1);
    CHECK_INT(cds_receipt_kid(ed, k2), CDS_RCPT_OK);
    CHECK(strcmp(k1, k2) != 0);
    hex16_of_spki(ed, want);
    CHECK_STR(k2, want);
    /* A public PEM is not a private key, and the other way round. */
    char *pem = cds_receipt_pubkey_pem(ed);
    CHECK(pem && strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    CHECK(cds_receipt_key_from_pem(pem, strlen(pem)) == NULL);
    free(pem);
    pem = cds_pkey_to_pem(ed);
    CHECK(cds_receipt_pubkey_from_pem(pem, strlen(pem)) == NULL);
    free(pem);
    /* Other key types are refused. */
    EVP_PKEY *rsa = cds_pkey_generate(CDS_ALG_RS256);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    pem = cds_pkey_to_pem(rsa);
    CHECK(pem && cds_receipt_key_from_pem(pem, strlen(pem)) == NULL);
    free(pem);
    pem = cds_pkey_to_pem(p384);
    CHECK(pem && cds_receipt_key_from_pem(pem, strlen(pem)) == NULL);
    free(pem);
    CHECK_INT(cds_receipt_kid(rsa, k3), CDS_RCPT_EKEY);
    CHECK_INT(cds_receipt_kid(NULL, k3), CDS_RCPT_EKEY);
    cds_receipt r;
    cds_receipt_sig sig;
    sample(&r);
    CHECK_INT(cds_receipt_sign(p384, &r, &sig), CDS_RCPT_EKEY);
    CHECK(cds_receipt_key_from_pem("garbage", 7) == NULL);
    CHECK(cds_receipt_pubkey_from_pem("", 0) == NULL);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec2);
    EVP_PKEY_free(ecpub);
    EVP_PKEY_free(ed);
}

/* ---------------- sign / verify ---------------- */

/* Each edit changes one field and leaves the content valid. */
static void edit(cds_receipt *r, int i)
{
    switch (i) {
    case 0:
        r->template_no[0] = '0' + (r->template_no[0] == '0');
        break;
    case 1:
        r->serial[0] = 'B';
        break;
    case 2: /* year and both dates move together */
        r->year = 2026;
        r->paid_at[3] = '6';
        r->issued_at[3] = '6';
        break;
    case 3:
        r->number ^= 1;
        break;
    case 4:
        memcpy(r->issuer.agency_name, "Ủy ban nhân dân Phường Bến Nghé",
               sizeof "Ủy ban nhân dân Phường Bến Nghé");
        break;
    case 5:
        r->issuer.tax_code[9] = r->issuer.tax_code[9] == '7' ? '8' : '7';
        break;
    case 6:
        r->issuer.address[0] = '2';
        break;
    case 7:
        r->payer.name[0] = 'M';
        break;
    case 8:
        r->payer.personal_id[11] = r->payer.personal_id[11] == '5' ? '6' : '5';
        break;
    case 9:
        r->payer.address[1] = '3';
        break;
    case 10: /* the first letter's case */
        r->fee_name[0] ^= 0x20;
        break;
    case 11:
        r->dossier_code[strlen(r->dossier_code) - 1] ^= 1;
        break;
    case 12: /* amount, with its words */
        r->amount += 1;
        cds_amount_words(r->amount, r->amount_words, sizeof r->amount_words);
        break;
    case 13:
        r->payment_method[0] = 'c';
        break;
    case 14:
        r->bank_ref[2] ^= 1;
        break;
    case 15:
        r->paid_at[18] ^= 1;
        break;
    case 16:
        r->issued_at[18] ^= 1;
        break;
    case 17: /* kind */
        r->kind = r->kind == CDS_RCPT_REPLACEMENT ? CDS_RCPT_ADJUSTMENT : CDS_RCPT_REPLACEMENT;
        break;
    case 18:
        r->replaces[0] = r->replaces[0] == 'a' ? 'b' : 'a';
        break;
    }
}

static void test_sign_verify_with(int alg)
{
    EVP_PKEY *key = cds_pkey_generate(alg), *other = cds_pkey_generate(alg);
    EVP_PKEY *pub = pub_of(key);
    CHECK(key && other && pub);
    cds_receipt r;
    cds_receipt_sig sig, sig2;
    for (int variant = 0; variant < 2; variant++) {
        variant ? replacement(&r) : sample(&r);
        CHECK_INT(cds_receipt_sign(key, &r, &sig), CDS_RCPT_OK);
        CHECK_STR(sig.alg, alg == CDS_ALG_ES256 ? "ES256" : "EdDSA");
        CHECK_INT(strlen(sig.value), 86); /* 64 bytes */
        CHECK_INT(cds_receipt_verify(pub, &r, &sig), CDS_RCPT_OK);
        CHECK_INT(cds_receipt_verify(key, &r, &sig), CDS_RCPT_OK);
        /* Ed25519 is deterministic, ECDSA is not; both verify. */
        CHECK_INT(cds_receipt_sign(key, &r, &sig2), CDS_RCPT_OK);
        CHECK_INT(strcmp(sig.value, sig2.value) == 0, alg == CDS_ALG_EDDSA);
        CHECK_INT(cds_receipt_verify(pub, &r, &sig2), CDS_RCPT_OK);

        /* Every field, changed with the content still valid: the signature fails. */
        int fields = variant ? 19 : 17;
        for (int i = 0; i < fields; i++) {
            cds_receipt t = r;
            edit(&t, i);
            const char *why = NULL;
            int valid = cds_receipt_check(&t, &why) == 0;
            if (!valid) fprintf(stderr, "  edit %d makes the content invalid (%s)\n", i, why);
            CHECK(valid);
            CHECK(memcmp(&t, &r, sizeof r) != 0);
            int rc = cds_receipt_verify(pub, &t, &sig);
            if (rc != CDS_RCPT_ESIG) fprintf(stderr, "  edit %d: verify gave %d\n", i, rc);
            CHECK_INT(rc, CDS_RCPT_ESIG);
        }
    }

    sample(&r);
    CHECK_INT(cds_receipt_sign(key, &r, &sig), CDS_RCPT_OK);
    /* Wrong key: its id differs. */
    CHECK_INT(cds_receipt_verify(other, &r, &sig), CDS_RCPT_EKID);
    /* Wrong key with the kid forged to match it: the signature fails. */
    cds_receipt_sig forged = sig;
    cds_receipt_kid(other, forged.kid);
    CHECK_INT(cds_receipt_verify(other, &r, &forged), CDS_RCPT_ESIG);
    /* Algorithm named wrong. */
    forged = sig;
    memcpy(forged.alg, alg == CDS_ALG_ES256 ? "EdDSA" : "ES256", 6);
    CHECK_INT(cds_receipt_verify(pub, &r, &forged), CDS_RCPT_EALG);
    memcpy(forged.alg, "none", 5);
    CHECK_INT(cds_receipt_verify(pub, &r, &forged), CDS_RCPT_EALG);
    /* Signature value altered, truncated, padded, empty. */
    forged = sig;
    forged.value[10] = forged.value[10] == 'A' ? 'B' : 'A';
    CHECK_INT(cds_receipt_verify(pub, &r, &forged), CDS_RCPT_ESIG);
    forged = sig;
    forged.value[85] = '\0';
    CHECK_INT(cds_receipt_verify(pub, &r, &forged), CDS_RCPT_ESIG);
    forged = sig;
    memcpy(forged.value + 86, "==", 3);
    CHECK_INT(cds_receipt_verify(pub, &r, &forged), CDS_RCPT_ESIG);
    forged.value[0] = '\0';
    CHECK_INT(cds_receipt_verify(pub, &r, &forged), CDS_RCPT_ESIG);
    /* kid altered by one digit, or empty. */
    forged = sig;
    forged.kid[15] = forged.kid[15] == '0' ? '1' : '0';
    CHECK_INT(cds_receipt_verify(pub, &r, &forged), CDS_RCPT_EKID);
    forged.kid[0] = '\0';
    CHECK_INT(cds_receipt_verify(pub, &r, &forged), CDS_RCPT_EKID);
    /* An invalid content is not signed, and does not verify. */
    cds_receipt bad = r;
    bad.payer.personal_id[0] = 'x';
    CHECK_INT(cds_receipt_sign(key, &bad, &sig2), CDS_RCPT_EFORMAT);
    CHECK_INT(cds_receipt_verify(pub, &bad, &sig), CDS_RCPT_EFORMAT);

    /* ---- export ---- */
    size_t len = 0;
    char *doc = cds_receipt_export(&r, &sig, &len);
    CHECK(doc != NULL);
    CHECK_INT(len, strlen(doc));
    CHECK(strncmp(doc, "{\"content\":", 11) == 0);
    CHECK(strstr(doc, SAMPLE_CANONICAL) == doc + 11);
    cds_receipt got;
    cds_receipt_sig gsig;
    const char *why = "x";
    CHECK_INT(cds_receipt_export_verify(doc, len, pub, &got, &gsig, &why), CDS_RCPT_OK);
    CHECK(why == NULL);
    CHECK(same(&got, &r));
    CHECK(memcmp(&gsig, &sig, sizeof sig) == 0);
    CHECK_INT(cds_receipt_export_verify(doc, len, other, NULL, NULL, &why), CDS_RCPT_EKID);
    CHECK_STR(why, "signed with another key");
    /* The export is itself canonical: sorted keys, compact. */
    json_t *j = json_loads(doc, 0, NULL);
    char *dump = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(dump, doc);
    free(dump);
    json_decref(j);

    /* Every byte of the export changed, four ways: never genuine. */
    char *t = malloc(len + 1);
    int genuine = 0, tries = 0;
    static const unsigned char XOR[] = {0x01, 0x20, 0x40};
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof XOR + 1; k++) {
            memcpy(t, doc, len + 1);
            t[i] = k < sizeof XOR ? (char)(t[i] ^ XOR[k]) : (t[i] == '0' ? '1' : '0');
            if (t[i] == '\0') continue; /* a NUL only shortens the text */
            tries++;
            if (cds_receipt_export_verify(t, len, pub, NULL, NULL, NULL) == CDS_RCPT_OK) {
                if (genuine++ < 5) fprintf(stderr, "  byte %zu changed still genuine\n", i);
            }
        }
    }
    CHECK_INT(genuine, 0);
    CHECK(tries > 3000);
    /* Shorter by one byte anywhere, too. */
    for (size_t i = 0; i < len; i++) {
        memcpy(t, doc, i);
        memcpy(t + i, doc + i + 1, len - i);
        if (cds_receipt_export_verify(t, len - 1, pub, NULL, NULL, NULL) == CDS_RCPT_OK) genuine++;
    }
    CHECK_INT(genuine, 0);
    free(t);
    free(doc);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    EVP_PKEY_free(pub);
}

static void test_export_shape(void)
{
    EVP_PKEY *key = cds_pkey_generate(CDS_ALG_EDDSA);
    cds_receipt r;
    cds_receipt_sig sig;
    sample(&r);
    CHECK_INT(cds_receipt_sign(key, &r, &sig), CDS_RCPT_OK);
    char doc[8192];
    const char *why = NULL;
    int n;
#define EXPORT_WITH(fmt, ...)                                                                      \
    (n = snprintf(doc, sizeof doc, fmt, __VA_ARGS__),                                              \
     cds_receipt_export_verify(doc, (size_t)n, key, NULL, NULL, &why))
    CHECK_INT(EXPORT_WITH(
                  "{\"content\":%s,\"signature\":{\"alg\":\"%s\",\"kid\":\"%s\",\"value\":\"%s\"}}",
                  SAMPLE_CANONICAL, sig.alg, sig.kid, sig.value),
              CDS_RCPT_OK);
    /* Whitespace and member order do not matter: the content is rebuilt. */
    CHECK_INT(EXPORT_WITH("{ \"signature\" : {\"value\":\"%s\",\"kid\":\"%s\",\"alg\":\"%s\"},\n"
                          "  \"content\" : %s }",
                          sig.value, sig.kid, sig.alg, SAMPLE_CANONICAL),
              CDS_RCPT_OK);
    /* A repeated member, an extra member, a missing one. */
    CHECK_INT(
        EXPORT_WITH("{\"content\":%s,\"signature\":{\"alg\":\"%s\",\"kid\":\"%s\",\"value\":\"%s\","
                    "\"value\":\"x\"}}",
                    SAMPLE_CANONICAL, sig.alg, sig.kid, sig.value),
        CDS_RCPT_EFORMAT);
    CHECK_INT(EXPORT_WITH(
                  "{\"content\":%s,\"signature\":{\"alg\":\"%s\",\"kid\":\"%s\",\"value\":\"%s\"},"
                  "\"note\":%d}",
                  SAMPLE_CANONICAL, sig.alg, sig.kid, sig.value, 1),
              CDS_RCPT_EFORMAT);
    CHECK_INT(EXPORT_WITH("{\"content\":%s,\"signature\":{\"alg\":\"%s\",\"value\":\"%s\"}}",
                          SAMPLE_CANONICAL, sig.alg, sig.value),
              CDS_RCPT_EFORMAT);
    CHECK_INT(
        EXPORT_WITH(
            "{\"content\":%s,\"signature\":{\"alg\":\"%s\",\"kid\":\"%s\",\"value\":\"%s=\"}}",
            SAMPLE_CANONICAL, sig.alg, sig.kid, sig.value),
        CDS_RCPT_EFORMAT);
    CHECK_INT(EXPORT_WITH(
                  "{\"content\":%s,\"signature\":{\"alg\":\"%s\",\"kid\":\"%s\",\"value\":\"%s\"}}",
                  "{}", sig.alg, sig.kid, sig.value),
              CDS_RCPT_EFORMAT);
    CHECK_STR(why, "content (members)");
    CHECK_INT(EXPORT_WITH("%s", "[]"), CDS_RCPT_EFORMAT);
    CHECK_INT(EXPORT_WITH("%s", "{"), CDS_RCPT_EFORMAT);
    CHECK_INT(cds_receipt_export_verify("", 0, key, NULL, NULL, &why), CDS_RCPT_EFORMAT);
    /* Too large to be a receipt. */
    size_t big = CDS_RCPT_EXPORT_MAX + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    CHECK_INT(cds_receipt_export_verify(huge, big, key, NULL, NULL, &why), CDS_RCPT_EFORMAT);
    free(huge);
    /* An export is not written for a malformed signature. */
    cds_receipt_sig bad = sig;
    memcpy(bad.kid, "ABCDEF0123456789", 17);
    CHECK(cds_receipt_export(&r, &bad, NULL) == NULL);
    EVP_PKEY_free(key);
}

/* ---------------- published vectors ---------------- */

static size_t unhex(const char *h, unsigned char *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    if (n > cap) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = h[2 * i + (size_t)k];
            v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        out[i] = (unsigned char)v;
    }
    return n;
}

/* A public key from the hex of its DER SubjectPublicKeyInfo, through a
 * "PUBLIC KEY" PEM and cds_receipt_pubkey_from_pem (the CLI's path). */
static EVP_PKEY *spki_key(const char *der_hex)
{
    unsigned char der[128];
    size_t n = unhex(der_hex, der, sizeof der);
    const unsigned char *p = der;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)n);
    if (!k) return NULL;
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long len = 0;
    EVP_PKEY *out = NULL;
    if (PEM_write_bio_PUBKEY(b, k) == 1 && (len = BIO_get_mem_data(b, &pem)) > 0)
        out = cds_receipt_pubkey_from_pem(pem, (size_t)len);
    BIO_free(b);
    EVP_PKEY_free(k);
    return out;
}

static void b64u_of_hex(const char *h, char *out, size_t cap)
{
    unsigned char raw[64];
    size_t n = unhex(h, raw, sizeof raw);
    cds_b64url_encode(raw, n, out, cap);
}

static void test_rfc6979_p256(void)
{
    /* RFC 6979 A.2.5: Ux, Uy of the P-256 key, as SubjectPublicKeyInfo. */
    EVP_PKEY *k = spki_key("3059301306072a8648ce3d020106082a8648ce3d03010703420004"
                           "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
                           "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299");
    CHECK(k != NULL);
    char kid[17];
    CHECK_INT(cds_receipt_kid(k, kid), CDS_RCPT_OK);
    CHECK_STR(kid, "5a7a78cca4a0f420"); /* sha256sum of that DER, first 16 digits */
    char sample_sig[100], test_sig[100], v[100];
    /* With SHA-256, message = "sample": r, s */
    b64u_of_hex("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
                "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
                sample_sig, sizeof sample_sig);
    /* With SHA-256, message = "test": r, s */
    b64u_of_hex("F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367"
                "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083",
                test_sig, sizeof test_sig);
    CHECK_INT(cds_receipt_verify_bytes(k, "ES256", "sample", 6, sample_sig), CDS_RCPT_OK);
    CHECK_INT(cds_receipt_verify_bytes(k, "ES256", "test", 4, test_sig), CDS_RCPT_OK);
    /* crossed, altered message, altered signature, wrong alg name */
    CHECK_INT(cds_receipt_verify_bytes(k, "ES256", "sample", 6, test_sig), CDS_RCPT_ESIG);
    CHECK_INT(cds_receipt_verify_bytes(k, "ES256", "samplf", 6, sample_sig), CDS_RCPT_ESIG);
    CHECK_INT(cds_receipt_verify_bytes(k, "ES256", "sample", 5, sample_sig), CDS_RCPT_ESIG);
    memcpy(v, sample_sig, sizeof v);
    v[40] = v[40] == 'A' ? 'B' : 'A';
    CHECK_INT(cds_receipt_verify_bytes(k, "ES256", "sample", 6, v), CDS_RCPT_ESIG);
    CHECK_INT(cds_receipt_verify_bytes(k, "EdDSA", "sample", 6, sample_sig), CDS_RCPT_EALG);
    CHECK_INT(cds_receipt_verify_bytes(k, "ES384", "sample", 6, sample_sig), CDS_RCPT_EALG);
    /* DER instead of r||s is refused (length). */
    CHECK_INT(cds_receipt_verify_bytes(k, "ES256", "sample", 6, "MEUCIQDv1IsqrLao"), CDS_RCPT_ESIG);
    EVP_PKEY_free(k);
}

static void test_rfc8032_ed25519(void)
{
    /* RFC 8032 7.1 TEST 1: PUBLIC KEY, as SubjectPublicKeyInfo (RFC 8410). */
    EVP_PKEY *k = spki_key("302a300506032b6570032100"
                           "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    CHECK(k != NULL);
    char kid[17], sig[100];
    CHECK_INT(cds_receipt_kid(k, kid), CDS_RCPT_OK);
    CHECK_STR(kid, "06e3fd8fda29bb60");
    /* MESSAGE (length 0 bytes), SIGNATURE: */
    b64u_of_hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc"
                "61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
                sig, sizeof sig);
    CHECK_INT(cds_receipt_verify_bytes(k, "EdDSA", "", 0, sig), CDS_RCPT_OK);
    CHECK_INT(cds_receipt_verify_bytes(k, "EdDSA", "x", 1, sig), CDS_RCPT_ESIG);
    sig[3] = sig[3] == 'A' ? 'B' : 'A';
    CHECK_INT(cds_receipt_verify_bytes(k, "EdDSA", "", 0, sig), CDS_RCPT_ESIG);
    EVP_PKEY_free(k);

    /* The secret key of TEST 1 signs "" to that same signature through our signer. */
    unsigned char seed[32];
    unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed, 32);
    EVP_PKEY *sk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    unsigned char raw[64];
    size_t rawlen = 0;
    CHECK_INT(cds_jws_sign_raw(sk, CDS_ALG_EDDSA, "", 0, raw, sizeof raw, &rawlen), CDS_JOSE_OK);
    char got[100];
    cds_b64url_encode(raw, rawlen, got, sizeof got);
    b64u_of_hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc"
                "61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
                sig, sizeof sig);
    CHECK_STR(got, sig);
    CHECK_INT(cds_receipt_kid(sk, kid), CDS_RCPT_OK);
    CHECK_STR(kid, "06e3fd8fda29bb60");
    EVP_PKEY_free(sk);
}

int main(void)
{
    test_canonical();
    test_strict();
    test_keys();
    test_sign_verify_with(CDS_ALG_ES256);
    test_sign_verify_with(CDS_ALG_EDDSA);
    test_export_shape();
    test_rfc6979_p256();
    test_rfc8032_ed25519();
    return t_done();
}
