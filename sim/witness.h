/* What the stand-ins check and sign with code of their own, written from
 * the providers' documents, never the server's (sim/vietqr_read.c,
 * sim/provider_sign.c, sim/witness_jose.c): a misreading shared by the
 * server and its stand-in would otherwise pass every test. Every stand-in
 * uses these and the HTTP frame (core/http*, core/log, core/options,
 * core/server), nothing else of the server (tests/lint/sim_witness.sh). */
#ifndef CDS_SIM_WITNESS_H
#define CDS_SIM_WITNESS_H
#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

/* ---- VietQR (NAPAS's profile of EMVCo merchant-presented QR) ---- */
typedef struct sim_vietqr {
    char bin[16];          /* 38/01/00: the acquirer's BIN */
    char account[32];      /* 38/01/01: the account (or card) number */
    char service[16];      /* 38/02: QRIBFTTA (account) or QRIBFTTC (card) */
    char purpose[128];     /* 62/08, "" when absent */
    unsigned long long amount; /* 54, 0 when absent (a static code) */
    int dynamic;           /* 01 = "12" */
} sim_vietqr;
/* 0, or -1 with a lower-case English reason in err ("crc mismatch: ...",
 * "truncated: ..."). */
int sim_vietqr_read(const char *s, size_t n, sim_vietqr *out, char *err, size_t cap);
/* Writes q as a VietQR code (dynamic when q->dynamic); 0 or -1. */
int sim_vietqr_write(const sim_vietqr *q, char *out, size_t cap);
/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout). */
unsigned sim_crc16_ccitt_false(const char *s, size_t n);

/* ---- signatures ---- */
/* Lower-case hex HMAC of data with "sha256" or "sha512" into out (129 bytes
 * suffice); 0 or -1. */
int sim_hmac_hex(const char *alg, const char *key, const void *data, size_t len, char *out);
/* payOS's signed text of an object: its keys sorted, key=value joined by
 * '&'; null as "", strings as they are, numbers as JavaScript prints them,
 * arrays and objects as compact JSON with sorted keys. malloc'ed. */
char *sim_payos_sorted_text(json_t *obj);
/* payOS's signature of a data object (webhooks, API answers): 64 hex. */
int sim_payos_sign_object(json_t *obj, const char *key, char out[65]);
/* The signature payOS expects on a payment request: HMAC-SHA256 over
 * amount=..&cancelUrl=..&description=..&orderCode=..&returnUrl=.. */
int sim_payos_sign_request(long long amount, const char *cancel_url, const char *description,
                           long long order_code, const char *return_url, const char *key,
                           char out[65]);
/* Casso webhook v2: "t=<t_ms>,v1=<hex HMAC-SHA512(secret, t "." body with
 * every object's keys sorted, compact)>". */
int sim_casso_signature(const char *body, size_t len, const char *secret, long long t_ms,
                        char *out, size_t cap);
/* SePay: "sha256=<hex HMAC-SHA256(secret, ts "." raw body)>". */
int sim_sepay_signature(const char *body, size_t len, const char *secret, long long ts,
                        char out[80]);
/* The TTHC partner signature, as README ("Partner API") and openapi.yaml
 * (securitySchemes partnerHmac) document it: lower-case hex
 * HMAC-SHA256(secret, METHOD "\n" PATH[?QUERY] "\n" TIMESTAMP "\n"
 * hex SHA-256(body)), TIMESTAMP the X-Timestamp header's text. 0 or -1. */
int sim_partner_signature(const char *secret, const char *method, const char *path_and_query,
                          const char *timestamp, const void *body, size_t len, char out[65]);

/* ---- JOSE (sim/witness_jose.c, from RFC 7515/7518/7519) ---- */
/* base64url without padding into out (NUL-terminated); its length, 0 when
 * cap is short. */
size_t sim_b64url_encode(const void *in, size_t n, char *out, size_t cap);
/* Strict base64url (no padding, canonical): 0 with *len bytes, or -1. */
int sim_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *len);
/* Constant-time comparisons: 1 when equal. sim_ct_streq: NULL never equals. */
int sim_ct_equal(const void *a, const void *b, size_t n);
int sim_ct_streq(const char *a, const char *b);

/* A compact JWS read but not yet verified. */
typedef struct sim_jws {
    json_t *header, *claims; /* JSON objects */
    char alg[16], kid[128];  /* from the header; kid "" when absent */
    char *input;             /* ASCII(BASE64URL(header) "." BASE64URL(payload)) */
    size_t input_len;
    unsigned char *sig;
    size_t sig_len;
} sim_jws;
/* 0, or -1 with *why (static English text); sim_jws_free either way is safe. */
int sim_jws_read(const char *s, size_t n, sim_jws *out, const char **why);
void sim_jws_free(sim_jws *j);
/* 0 when j's header alg is `alg` ("RS256" or "ES256"), the key fits it
 * (RSA >= 2048 bits, EC P-256) and the signature checks out; else -1. */
int sim_jws_verify(const sim_jws *j, EVP_PKEY *key, const char *alg);

/* Keys: a fresh RS256 (RSA 2048) or ES256 (P-256) key; a private key from
 * a PEM file; a private key as PKCS#8 PEM (malloc'ed); the public key of a
 * JWK (RSA n/e or EC P-256 x/y). NULL on failure. */
EVP_PKEY *sim_pkey_generate(const char *alg);
EVP_PKEY *sim_pkey_read_pem(const char *path);
char *sim_pkey_pem(EVP_PKEY *key);
EVP_PKEY *sim_jwk_public(json_t *jwk);

#endif
