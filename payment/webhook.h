/* Payment provider webhooks, the pure part: authenticate a provider's call
 * and turn its body into a list of normalized bank transactions, or say
 * precisely why not. No database, no server: the route hands over the raw
 * request and the configured secrets, and records what comes back in one
 * SQL call (the provider transaction id is the idempotency key).
 *
 * Three provider shapes (see each adapter's file comment for the exact
 * rules and where they come from):
 *   payOS   body {code, desc, success, data, signature}; signature = hex
 *           HMAC-SHA256(checksum key, data's fields as sorted k=v&k=v).
 *   Casso   (webhook v2) header X-Casso-Signature: t=<ms>,v1=<hex>;
 *           v1 = hex HMAC-SHA512(secret, t "." JSON of the body with keys
 *           sorted recursively); 5-minute window on t.
 *   SePay   X-SePay-Timestamp + X-SePay-Signature = [sha256=]hex
 *           HMAC-SHA256(secret, timestamp "." raw body), 5-minute window
 *           on the timestamp; or, only where no HMAC secret is
 *           configured, header "Authorization: Apikey <key>".
 *
 * What the route answers once a call verified (whatever the transactions
 * turned out to be, outgoing or unmatched included): HTTP 200 with
 * cds_hook_answer(), i.e. {"success":true}, which is what all three
 * document as success (SePay also takes 201). Any other status makes the
 * provider retry; cds_hook_err_status() suggests one per verdict. */
#ifndef CDS_PAYMENT_WEBHOOK_H
#define CDS_PAYMENT_WEBHOOK_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum { CDS_HOOK_PAYOS = 1, CDS_HOOK_CASSO = 2, CDS_HOOK_SEPAY = 3 };

/* Verdicts; cds_hook_err_code() gives the stable machine code in quotes. */
enum {
    CDS_HOOK_OK = 0,
    CDS_HOOK_BAD_JSON = -1,        /* "bad_json": not JSON, not an object, too deep */
    CDS_HOOK_TOO_LARGE = -2,       /* "too_large": body over CDS_HOOK_BODY_MAX */
    CDS_HOOK_NO_AUTH = -3,         /* "missing_signature": auth header/field absent or malformed */
    CDS_HOOK_BAD_SIGNATURE = -4,   /* "bad_signature": signature or API key does not match */
    CDS_HOOK_STALE_TIMESTAMP = -5, /* "stale_timestamp": outside the replay window */
    CDS_HOOK_MISSING_FIELD = -6,   /* "missing_field" */
    CDS_HOOK_BAD_FIELD = -7,       /* "bad_field": wrong type, too long, unknown value */
    CDS_HOOK_BAD_AMOUNT = -8,      /* "bad_amount": not an integer in 1..1e12-1 VND */
    CDS_HOOK_NOT_CONFIGURED = -9,  /* "not_configured": no usable secret for this provider */
    CDS_HOOK_INTERNAL = -10,       /* "internal": OpenSSL or memory failure */
};
const char *cds_hook_err_code(int rc);
/* Suggested HTTP status: 200 ok, 401 auth verdicts, 413 too large, 400 a
 * verified but unusable body (the provider retries and its delivery log
 * shows it), 500 not configured / internal. */
int cds_hook_err_status(int rc);

#define CDS_HOOK_BODY_MAX 65536
#define CDS_HOOK_WINDOW_S 300  /* Casso and SePay replay window, either way */
#define CDS_HOOK_SECRET_MIN 16 /* shorter secrets and API keys count as not configured */
#define CDS_HOOK_AMOUNT_LIMIT 1000000000000LL /* amounts must be below this (1e12 VND) */
#define CDS_HOOK_TX_MAX 8                     /* transactions in one call (Casso may send a list) */

/* Field caps, in bytes without the NUL. Identity fields (id, amount,
 * account, description, reference, code) over their cap refuse the call;
 * informational ones (names, bank names, time text) are cut at a UTF-8
 * character boundary. */
#define CDS_HOOK_ID_MAX 128
#define CDS_HOOK_DESC_MAX 1024
#define CDS_HOOK_ACCOUNT_MAX 40
#define CDS_HOOK_REF_MAX 64
#define CDS_HOOK_CODE_MAX 64
#define CDS_HOOK_BIN_MAX 16
#define CDS_HOOK_NAME_MAX 128
#define CDS_HOOK_TIME_MAX 40

enum { CDS_HOOK_IN = 1, CDS_HOOK_OUT = 2 };
/* What the caller does with a transaction. Skipped ones are reported, not errors. */
enum {
    CDS_HOOK_CREDIT = 0,        /* incoming and successful: match it and record it */
    CDS_HOOK_SKIP_OUTGOING = 1, /* money left the account: ignore */
    CDS_HOOK_SKIP_FAILED = 2,   /* the provider says it did not succeed (payOS data.code != "00") */
};

typedef struct cds_hook_tx {
    const char *provider;                    /* "payos", "casso", "sepay" (static) */
    char id[CDS_HOOK_ID_MAX + 1];            /* provider transaction id: the idempotency key */
    int64_t amount;                          /* VND, 1 .. 1e12-1 (absolute value when outgoing) */
    int direction;                           /* CDS_HOOK_IN / CDS_HOOK_OUT */
    int disposition;                         /* CDS_HOOK_CREDIT / CDS_HOOK_SKIP_* */
    char description[CDS_HOOK_DESC_MAX + 1]; /* transfer content, control characters as spaces */
    char account[CDS_HOOK_ACCOUNT_MAX + 1];  /* receiving account number */
    char bank_bin[CDS_HOOK_BIN_MAX + 1];     /* receiving bank BIN, "" when not given */
    char bank_name[CDS_HOOK_NAME_MAX + 1];   /* receiving bank name, "" when not given */
    char virtual_account[CDS_HOOK_ACCOUNT_MAX + 1];
    char virtual_account_name[CDS_HOOK_NAME_MAX + 1];
    char reference[CDS_HOOK_REF_MAX + 1];  /* the bank's own transaction reference, if given */
    char code[CDS_HOOK_CODE_MAX + 1];      /* payOS orderCode, SePay payment code; else "" */
    char time_text[CDS_HOOK_TIME_MAX + 1]; /* transaction time as given */
    int64_t time_epoch;                    /* parsed (no zone = +07:00); valid if time_ok */
    int time_ok;
    char counter_account[CDS_HOOK_ACCOUNT_MAX + 1];
    char counter_name[CDS_HOOK_NAME_MAX + 1];
    char counter_bank_bin[CDS_HOOK_BIN_MAX + 1];
    char counter_bank_name[CDS_HOOK_NAME_MAX + 1];
} cds_hook_tx;

typedef struct cds_hook_result {
    int provider;      /* CDS_HOOK_PAYOS ... */
    int error;         /* the verdict returned */
    char message[200]; /* on error: what and where (English, for logs; no secrets) */
    size_t n;          /* transactions, credits and skipped alike */
    cds_hook_tx tx[CDS_HOOK_TX_MAX];
} cds_hook_result;

/* Header lookup by lower-case name, NULL when absent (wrap cds_req_header). */
typedef const char *(*cds_hook_header_fn)(void *ctx, const char *lower_name);

typedef struct cds_hook_req {
    const char *body; /* raw bytes as received */
    size_t body_len;
    cds_hook_header_fn header; /* may be NULL: no headers */
    void *header_ctx;
    time_t now; /* our clock, Unix seconds */
} cds_hook_req;

/* Each returns CDS_HOOK_OK with out->n transactions, or a verdict with
 * out->message. `out` is about 16 KiB: allocate it, don't put it on a
 * small stack. */
int cds_hook_payos(const cds_hook_req *rq, const char *checksum_key, cds_hook_result *out);
int cds_hook_casso(const cds_hook_req *rq, const char *secret, cds_hook_result *out);
/* Either or both may be configured; with an HMAC secret configured the
 * HMAC is required and the API key is never accepted in its place. */
int cds_hook_sepay(const cds_hook_req *rq, const char *api_key, const char *hmac_secret,
                   cds_hook_result *out);

/* The success body for a provider's 200 answer. */
const char *cds_hook_answer(int provider);

/* Signing, as each provider does it: for simulators, tests and the fuzzer.
 * Return CDS_HOOK_OK or a verdict (bad JSON, secret too short, ...). */
/* payOS: data_json is the `data` object; out gets 64 hex digits + NUL. */
int cds_hook_payos_sign(const char *data_json, size_t len, const char *checksum_key, char out[65]);
/* Casso: the X-Casso-Signature value "t=<t_ms>,v1=<128 hex>" for a body. */
int cds_hook_casso_sign(const char *body, size_t len, const char *secret, long long t_ms, char *out,
                        size_t cap);
/* SePay: the X-SePay-Signature value "sha256=<64 hex>" for timestamp + body. */
int cds_hook_sepay_sign(const char *body, size_t len, const char *secret, long long ts,
                        char out[72]);

#endif
