/* Signing e-receipts with the issuing agency's key, and checking them
 * offline with its public key.
 *
 * What is signed is the canonical form of the content (canonical.h), as it
 * is: no prefix, no header, so a third party can check a receipt with any
 * RFC 8785 library and any ECDSA or Ed25519 implementation.
 *   - "ES256": ECDSA on P-256 with SHA-256; the value is the raw r||s form,
 *     32 + 32 bytes big-endian (IEEE P1363, as in JWS), not DER;
 *   - "EdDSA": Ed25519 (RFC 8032, pure: the message itself, no pre-hash),
 *     64 bytes. The algorithm follows from the key: an Ed25519 PEM signs
 *     EdDSA, a P-256 PEM signs ES256; no other key is accepted.
 * The value is base64url without padding (86 characters for 64 bytes).
 * Beside it goes the key id: the first 16 hex digits (lowercase) of the
 * SHA-256 of the key's DER SubjectPublicKeyInfo, the same bytes a "PUBLIC
 * KEY" PEM holds, so `openssl pkey -pubin -outform DER | sha256sum` gives it.
 *
 * The export, one JSON document a citizen can keep and anyone can check:
 *   {"content":{...canonical...},"signature":{"alg":"ES256","kid":"...","value":"..."}}
 * written itself in canonical form. Checking it never trusts the text of
 * the content: the content is parsed strictly, checked, and its canonical
 * bytes are rebuilt before the signature is verified.
 *
 * An agency key signs receipts and nothing else, which is why the signed
 * bytes need no domain-separation prefix. ECDSA signatures are malleable
 * ((r, n-s) verifies too); nothing here uses the signature value as an id. */
#ifndef CDS_RECEIPT_SIGN_H
#define CDS_RECEIPT_SIGN_H
#include "receipts/canonical.h"

#include <openssl/evp.h>
#include <stddef.h>

#define CDS_RCPT_KID_LEN 16
#define CDS_RCPT_EXPORT_MAX (64 * 1024) /* bytes of an export we read at all */

enum {
    CDS_RCPT_OK = 0,
    CDS_RCPT_EFORMAT = -1, /* export or content malformed, or content fails its checks */
    CDS_RCPT_EKEY = -2,    /* the key is missing, or neither P-256 nor Ed25519 */
    CDS_RCPT_EALG = -3,    /* the signature's alg does not fit the key */
    CDS_RCPT_EKID = -4,    /* signed under another key id than this key's */
    CDS_RCPT_ESIG = -5,    /* the signature does not verify */
    CDS_RCPT_ENOMEM = -6,
};

typedef struct cds_receipt_sig {
    char alg[8];                    /* "ES256" or "EdDSA" */
    char kid[CDS_RCPT_KID_LEN + 1]; /* 16 lowercase hex digits */
    char value[96];                 /* base64url, no padding */
} cds_receipt_sig;

/* A short English phrase for a CDS_RCPT_* code ("signature does not verify"). */
const char *cds_receipt_strerror(int rc);

/* The agency's private key from PEM text (PKCS#8 or traditional, not
 * encrypted; len bytes, no NUL needed), P-256 or Ed25519 only; NULL otherwise. */
EVP_PKEY *cds_receipt_key_from_pem(const char *pem, size_t len);
/* A public key from "PUBLIC KEY" PEM text (SubjectPublicKeyInfo), P-256 or
 * Ed25519 only; NULL otherwise. */
EVP_PKEY *cds_receipt_pubkey_from_pem(const char *pem, size_t len);
/* "PUBLIC KEY" PEM text of a key's public half (malloc'ed, NUL-terminated). */
char *cds_receipt_pubkey_pem(EVP_PKEY *key);

/* The key id (see above) to out. CDS_RCPT_OK or CDS_RCPT_EKEY. */
int cds_receipt_kid(EVP_PKEY *key, char out[CDS_RCPT_KID_LEN + 1]);

/* Signs the canonical form of r with the private key: CDS_RCPT_OK, or
 * _EFORMAT (content fails its checks), _EKEY. */
int cds_receipt_sign(EVP_PKEY *key, const cds_receipt *r, cds_receipt_sig *sig);

/* Checks sig over r with the public (or private) key: kid and alg must be
 * the key's (the kid compared in constant time), the value must decode to
 * exactly 64 bytes and verify over r's canonical bytes. CDS_RCPT_OK or an
 * error code. */
int cds_receipt_verify(EVP_PKEY *key, const cds_receipt *r, const cds_receipt_sig *sig);

/* The signature check alone over arbitrary bytes, the path every receipt
 * check ends in: alg "ES256" (r||s) or "EdDSA", value base64url. Exposed
 * so published test vectors can exercise it. */
int cds_receipt_verify_bytes(EVP_PKEY *key, const char *alg, const void *data, size_t n,
                             const char *value_b64url);

/* The export document (malloc'ed, NUL-terminated, canonical JSON); *len
 * set when len is not NULL. NULL when r fails its checks or sig is not
 * well-formed. */
char *cds_receipt_export(const cds_receipt *r, const cds_receipt_sig *sig, size_t *len);
/* Parses an export (len bytes, at most CDS_RCPT_EXPORT_MAX) without
 * checking the signature: exactly {content, signature:{alg, kid, value}},
 * no member unknown or repeated, the content strict (cds_receipt_from_json),
 * alg one of the two, kid 16 lowercase hex digits, value base64url of at
 * most 95 characters. CDS_RCPT_OK or CDS_RCPT_EFORMAT with *why (when not
 * NULL) naming the problem in static English text: for a content field, the
 * field's name alone ("payer.personal_id", as cds_receipt_check says it). */
int cds_receipt_export_parse(const char *json, size_t len, cds_receipt *r, cds_receipt_sig *sig,
                             const char **why);
/* Parses and verifies with the agency's public key. r and sig (either may
 * be NULL) receive what was parsed once parsing succeeded, whether or not
 * the signature verifies; *why is NULL on success, else the parse problem or
 * cds_receipt_strerror() of the code. */
int cds_receipt_export_verify(const char *json, size_t len, EVP_PKEY *key, cds_receipt *r,
                              cds_receipt_sig *sig, const char **why);

#endif
