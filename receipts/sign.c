/* Receipt signatures and the export document (see sign.h).
 *
 * The signature primitives are the JOSE ones of core/jose.c (ES256 as
 * r||s, EdDSA), already tested against published vectors there; this file
 * adds what a receipt needs around them: the key id, the choice of
 * algorithm from the key, the canonical bytes, and the export.
 *
 * The canonical bytes go to a stack buffer of CDS_RCPT_CANONICAL_CAP: the
 * content's fields are bounded, so the form always fits and signing needs
 * no allocation but OpenSSL's own. The export is parsed with
 * JSON_REJECT_DUPLICATES so that a content holding one member twice (one
 * value for the eye, one for the parser) cannot exist. */
#include "receipts/sign.h"

#include "core/jose.h"

#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#define PEM_MAX (16 * 1024) /* far above any P-256 or Ed25519 PEM */
#define SIG_BYTES 64        /* r||s for P-256, and an Ed25519 signature */

const char *cds_receipt_strerror(int rc)
{
    switch (rc) {
    case CDS_RCPT_OK:
        return "ok";
    case CDS_RCPT_EFORMAT:
        return "malformed receipt";
    case CDS_RCPT_EKEY:
        return "unusable key (P-256 or Ed25519 expected)";
    case CDS_RCPT_EALG:
        return "signature algorithm does not match the key";
    case CDS_RCPT_EKID:
        return "signed with another key";
    case CDS_RCPT_ESIG:
        return "signature does not verify";
    case CDS_RCPT_ENOMEM:
        return "out of memory";
    }
    return "unknown error";
}

/* ---------------- keys ---------------- */

/* CDS_ALG_ES256 for a P-256 key, CDS_ALG_EDDSA for Ed25519, else 0. */
static int key_alg(EVP_PKEY *key)
{
    if (!key) return 0;
    if (EVP_PKEY_is_a(key, "ED25519")) return CDS_ALG_EDDSA;
    if (!EVP_PKEY_is_a(key, "EC")) return 0;
    char name[64];
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, "group", name, sizeof name, &len) != 1) {
        ERR_clear_error();
        return 0;
    }
    return OBJ_txt2nid(name) == NID_X9_62_prime256v1 ? CDS_ALG_ES256 : 0;
}

static int alg_of_name(const char *name)
{
    if (strcmp(name, "ES256") == 0) return CDS_ALG_ES256;
    if (strcmp(name, "EdDSA") == 0) return CDS_ALG_EDDSA;
    return 0;
}

/* Never prompts for a passphrase: an encrypted key is simply refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

static EVP_PKEY *read_pem(const char *pem, size_t len, int private)
{
    if (!pem || len == 0 || len > PEM_MAX) return NULL;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = NULL;
    if (b)
        k = private ? PEM_read_bio_PrivateKey_ex(b, NULL, no_passphrase, NULL, NULL, NULL)
                    : PEM_read_bio_PUBKEY_ex(b, NULL, no_passphrase, NULL, NULL, NULL);
    BIO_free(b);
    if (k && !key_alg(k)) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    ERR_clear_error();
    return k;
}

EVP_PKEY *cds_receipt_key_from_pem(const char *pem, size_t len)
{
    return read_pem(pem, len, 1);
}

EVP_PKEY *cds_receipt_pubkey_from_pem(const char *pem, size_t len)
{
    return read_pem(pem, len, 0);
}

char *cds_receipt_pubkey_pem(EVP_PKEY *key)
{
    if (!key_alg(key)) return NULL;
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL, *p = NULL;
    if (b && PEM_write_bio_PUBKEY(b, key) == 1) {
        long n = BIO_get_mem_data(b, &p);
        if (n > 0 && p && (out = malloc((size_t)n + 1))) {
            memcpy(out, p, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(b);
    ERR_clear_error();
    return out;
}

int cds_receipt_kid(EVP_PKEY *key, char out[CDS_RCPT_KID_LEN + 1])
{
    static const char HEX[] = "0123456789abcdef";
    out[0] = '\0';
    if (!key_alg(key)) return CDS_RCPT_EKEY;
    unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
    int n = i2d_PUBKEY(key, &der);
    if (n <= 0 || !der) {
        ERR_clear_error();
        return CDS_RCPT_EKEY;
    }
    SHA256(der, (size_t)n, md);
    OPENSSL_free(der);
    for (int i = 0; i < CDS_RCPT_KID_LEN / 2; i++) {
        out[2 * i] = HEX[md[i] >> 4];
        out[2 * i + 1] = HEX[md[i] & 15];
    }
    out[CDS_RCPT_KID_LEN] = '\0';
    return CDS_RCPT_OK;
}

/* ---------------- sign and verify ---------------- */

int cds_receipt_sign(EVP_PKEY *key, const cds_receipt *r, cds_receipt_sig *sig)
{
    if (!sig) return CDS_RCPT_EFORMAT;
    memset(sig, 0, sizeof *sig);
    int alg = key_alg(key);
    if (!alg) return CDS_RCPT_EKEY;
    char canon[CDS_RCPT_CANONICAL_CAP];
    int n = cds_receipt_canonical(r, canon, sizeof canon);
    if (n < 0) return CDS_RCPT_EFORMAT;
    unsigned char raw[SIG_BYTES];
    size_t rawlen = 0;
    int rc = cds_jws_sign_raw(key, alg, canon, (size_t)n, raw, sizeof raw, &rawlen);
    ERR_clear_error();
    if (rc != CDS_JOSE_OK || rawlen != SIG_BYTES) return CDS_RCPT_EKEY;
    if (cds_receipt_kid(key, sig->kid) != CDS_RCPT_OK) return CDS_RCPT_EKEY;
    if (cds_b64url_encode(raw, rawlen, sig->value, sizeof sig->value) == 0) return CDS_RCPT_EKEY;
    /* "ES256" / "EdDSA": both fit alg[8]. */
    memcpy(sig->alg, cds_jws_alg_name(alg), strlen(cds_jws_alg_name(alg)) + 1);
    return CDS_RCPT_OK;
}

int cds_receipt_verify_bytes(EVP_PKEY *key, const char *alg_name, const void *data, size_t n,
                             const char *value)
{
    int alg = key_alg(key);
    if (!alg) return CDS_RCPT_EKEY;
    if (!alg_name || alg_of_name(alg_name) != alg) return CDS_RCPT_EALG;
    if (!value) return CDS_RCPT_EFORMAT;
    unsigned char raw[SIG_BYTES];
    size_t rawlen = 0;
    size_t vlen = strnlen(value, 100);
    if (vlen > 95 || cds_b64url_decode(value, vlen, raw, sizeof raw, &rawlen) != 0 ||
        rawlen != SIG_BYTES)
        return CDS_RCPT_ESIG;
    int rc = cds_jws_verify_raw(key, alg, data, n, raw, rawlen);
    ERR_clear_error();
    return rc == CDS_JOSE_OK ? CDS_RCPT_OK : CDS_RCPT_ESIG;
}

int cds_receipt_verify(EVP_PKEY *key, const cds_receipt *r, const cds_receipt_sig *sig)
{
    char kid[CDS_RCPT_KID_LEN + 1];
    if (cds_receipt_kid(key, kid) != CDS_RCPT_OK) return CDS_RCPT_EKEY;
    if (!sig) return CDS_RCPT_EFORMAT;
    /* Constant time over the fixed 16 digits; the length check leaks only
     * that the kid is malformed, which the attacker already knows. */
    if (strnlen(sig->kid, sizeof sig->kid) != CDS_RCPT_KID_LEN ||
        !cds_ct_equal(sig->kid, kid, CDS_RCPT_KID_LEN))
        return CDS_RCPT_EKID;
    char canon[CDS_RCPT_CANONICAL_CAP];
    int n = cds_receipt_canonical(r, canon, sizeof canon);
    if (n < 0) return CDS_RCPT_EFORMAT;
    char alg[sizeof sig->alg], value[sizeof sig->value];
    if (strnlen(sig->alg, sizeof sig->alg) == sizeof sig->alg ||
        strnlen(sig->value, sizeof sig->value) == sizeof sig->value)
        return CDS_RCPT_EFORMAT;
    memcpy(alg, sig->alg, sizeof alg);
    memcpy(value, sig->value, sizeof value);
    return cds_receipt_verify_bytes(key, alg, canon, (size_t)n, value);
}

/* ---------------- export ---------------- */

static int sig_shape_ok(const cds_receipt_sig *sig, const char **why)
{
    const char *bad = NULL;
    size_t kl = strnlen(sig->kid, sizeof sig->kid), vl = strnlen(sig->value, sizeof sig->value);
    if (strnlen(sig->alg, sizeof sig->alg) == sizeof sig->alg || !alg_of_name(sig->alg))
        bad = "signature.alg (ES256 or EdDSA)";
    else if (kl != CDS_RCPT_KID_LEN || strspn(sig->kid, "0123456789abcdef") != kl)
        bad = "signature.kid (16 lowercase hex digits)";
    else if (vl == 0 || vl == sizeof sig->value ||
             strspn(sig->value,
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != vl)
        bad = "signature.value (base64url)";
    if (why) *why = bad;
    return bad == NULL;
}

char *cds_receipt_export(const cds_receipt *r, const cds_receipt_sig *sig, size_t *len)
{
    if (len) *len = 0;
    if (!sig || !sig_shape_ok(sig, NULL)) return NULL;
    char canon[CDS_RCPT_CANONICAL_CAP];
    int n = cds_receipt_canonical(r, canon, sizeof canon);
    if (n < 0) return NULL;
    /* Keys already in order: content < signature, alg < kid < value; the
     * signature fields hold no character that needs escaping. */
    static const char A[] = "{\"content\":", B[] = ",\"signature\":{\"alg\":\"",
                      C[] = "\",\"kid\":\"", D[] = "\",\"value\":\"", E[] = "\"}}";
    size_t total = (sizeof A - 1) + (size_t)n + (sizeof B - 1) + strlen(sig->alg) + (sizeof C - 1) +
                   strlen(sig->kid) + (sizeof D - 1) + strlen(sig->value) + (sizeof E - 1);
    char *out = malloc(total + 1), *p = out;
    if (!out) return NULL;
    const char *parts[] = {A, canon, B, sig->alg, C, sig->kid, D, sig->value, E};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t l = strlen(parts[i]);
        memcpy(p, parts[i], l);
        p += l;
    }
    *p = '\0';
    if (len) *len = total;
    return out;
}

/* Copies string member k of o into dst (cap bytes): 0, or -1. */
static int copy_member(const json_t *o, const char *k, char *dst, size_t cap)
{
    const json_t *v = json_object_get(o, k);
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) != strlen(s) || strlen(s) >= cap) return -1;
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

int cds_receipt_export_parse(const char *json, size_t len, cds_receipt *r, cds_receipt_sig *sig,
                             const char **why)
{
    cds_receipt rr;
    cds_receipt_sig ss;
    memset(&rr, 0, sizeof rr);
    memset(&ss, 0, sizeof ss);
    const char *bad = NULL;
    json_t *root = NULL;
    json_error_t e;
    if (!json || len == 0 || len > CDS_RCPT_EXPORT_MAX)
        bad = "export empty or too large";
    else if (!(root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e)) || !json_is_object(root))
        bad = "export is not a JSON object (or repeats a member)";
    const json_t *content = json_object_get(root, "content");
    const json_t *s = json_object_get(root, "signature");
    if (bad) {
        /* bad set */
    } else if (json_object_size(root) != 2 || !content || !json_is_object(s)) {
        bad = "export must be exactly {\"content\":{...},\"signature\":{...}}";
    } else if (json_object_size(s) != 3 || copy_member(s, "alg", ss.alg, sizeof ss.alg) ||
               copy_member(s, "kid", ss.kid, sizeof ss.kid) ||
               copy_member(s, "value", ss.value, sizeof ss.value)) {
        bad = "signature must be exactly {\"alg\",\"kid\",\"value\"} strings";
    } else if (!sig_shape_ok(&ss, &bad)) {
        /* bad names the signature member */
    } else if (cds_receipt_from_json(content, &rr, &bad) != 0) {
        /* bad names the content field */
    }
    json_decref(root);
    if (why) *why = bad;
    if (bad) return CDS_RCPT_EFORMAT;
    if (r) *r = rr;
    if (sig) *sig = ss;
    return CDS_RCPT_OK;
}

int cds_receipt_export_verify(const char *json, size_t len, EVP_PKEY *key, cds_receipt *r,
                              cds_receipt_sig *sig, const char **why)
{
    cds_receipt rr;
    cds_receipt_sig ss;
    int rc = cds_receipt_export_parse(json, len, &rr, &ss, why);
    if (rc != CDS_RCPT_OK) return rc;
    rc = cds_receipt_verify(key, &rr, &ss);
    if (why) *why = rc == CDS_RCPT_OK ? NULL : cds_receipt_strerror(rc);
    if (r) *r = rr;
    if (sig) *sig = ss;
    return rc;
}
