/* What the stand-ins of payment providers check and sign with code of their
 * own, written from the providers' documents, never the server's
 * (sim/vietqr_read.c, sim/provider_sign.c): a misreading shared by the
 * server and its stand-in would otherwise pass every test. */
#ifndef CDS_SIM_WITNESS_H
#define CDS_SIM_WITNESS_H
#include <jansson.h>
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

#endif
