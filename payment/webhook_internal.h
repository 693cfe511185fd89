/* What the three webhook adapters share (payment/webhook.c): loading a body
 * with caps, HMAC and constant-time checks, reproducing JavaScript's key
 * order and JSON.stringify (payOS and Casso sign what a Node.js signer
 * produces), reading and capping fields, parsing transaction times.
 * Only payment/webhook*.c include this. */
#ifndef CDS_PAYMENT_WEBHOOK_INTERNAL_H
#define CDS_PAYMENT_WEBHOOK_INTERNAL_H
#include "payment/webhook.h"
#include "core/buf.h"

#include <jansson.h>
#include <stdarg.h>

#define HOOK_DEPTH_MAX 16

void hook_result_init(cds_hook_result *out, int provider);
/* Records the verdict and its message; returns rc. */
int hook_fail(cds_hook_result *out, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A fresh transaction slot (zeroed, provider set), or NULL when full. */
cds_hook_tx *hook_tx_add(cds_hook_result *out, const char *provider);

/* A secret usable for this provider: non-NULL and at least CDS_HOOK_SECRET_MIN bytes. */
int hook_secret_ok(const char *s);
/* Header value or NULL. */
const char *hook_header(const cds_hook_req *rq, const char *lower_name);

/* Parses the body: size cap, strict JSON (duplicate keys refused), an
 * object, nesting within HOOK_DEPTH_MAX. NULL and a verdict in out. */
json_t *hook_load(const char *body, size_t len, cds_hook_result *out);

/* Exactly 2*n hex digits (either case) from s[0..slen) into out[n]. */
int hook_hex_decode(const char *s, size_t slen, unsigned char *out, size_t n);
void hook_hex_encode(const unsigned char *in, size_t n, char *out); /* 2n chars + NUL */

typedef struct hook_part {
    const void *p;
    size_t n;
} hook_part;
/* HMAC with digest "SHA256" / "SHA512" over the concatenated parts. */
int hook_hmac(const char *digest, const char *key, const hook_part *parts, size_t nparts,
              unsigned char *out, size_t outlen);
/* Constant-time equality of two equal-length MACs; 1 when equal. */
int hook_mac_equal(const unsigned char *a, const unsigned char *b, size_t n);
/* Constant-time equality of two strings of any lengths (hashed first, so
 * the time tells nothing about the length either); 1 when equal. */
int hook_str_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Key order of a JavaScript object whose keys were inserted sorted:
 * array-index keys ("0".."4294967294") first by value, then the others by
 * UTF-16 code units, as Array.prototype.sort compares strings. */
int hook_js_key_cmp(const char *a, const char *b);
/* Object keys in that order (sorted != 0), or in the order a parsed
 * object enumerates in JavaScript (index keys first, then insertion
 * order). Caller frees the array (not the keys). NULL on no memory. */
const char **hook_object_keys(json_t *obj, int sorted, size_t *n);

/* payOS's signature of a data object (webhooks, and the answers of its
 * payment-request API): HMAC-SHA256 over the sorted key=value text of
 * webhook_payos.c. CDS_HOOK_OK or a verdict. */
int hook_payos_data_mac(json_t *data, const char *key, unsigned char mac[32]);

/* Number::toString of a double (shortest round trip, JS exponent rules). */
void hook_js_number(double d, char *out, size_t cap);

enum { HOOK_ESC_JS = 0, HOOK_ESC_PHP = 1 };
/* JSON text of v. sort_levels: -1 sort every object's keys, k > 0 sort the
 * next k object levels, 0 keep JavaScript's enumeration order. HOOK_ESC_JS
 * escapes as JSON.stringify; HOOK_ESC_PHP as PHP's json_encode default
 * (also "\/" and \uXXXX for every non-ASCII character). Returns 0, or -1
 * when an array element is not allowed (never here) or the buffer failed. */
int hook_json_write(cds_buf *b, json_t *v, int sort_levels, int esc);

/* Field reading. REQ: present and not null. NONEMPTY: and not "". NUM: an
 * integer is taken as its decimal text. CUT: over the cap, cut at a UTF-8
 * boundary instead of refusing. ID: printable ASCII without spaces.
 * Control characters become spaces. A missing optional field gives "". */
enum { HOOK_REQ = 1, HOOK_NONEMPTY = 2 | 1, HOOK_NUM = 4, HOOK_CUT = 8, HOOK_ID = 16 };
int hook_get_str(cds_hook_result *out, json_t *obj, const char *where, const char *key, int flags,
                 char *dst, size_t cap);
/* A JSON integer, not zero, |v| below CDS_HOOK_AMOUNT_LIMIT; negative only
 * when allow_negative. */
int hook_get_amount(cds_hook_result *out, json_t *obj, const char *where, const char *key,
                    int allow_negative, int64_t *amount);
/* Fills time_text / time_epoch / time_ok from a field (optional). */
int hook_get_time(cds_hook_result *out, json_t *obj, const char *where, const char *key,
                  cds_hook_tx *tx);

/* "YYYY-MM-DD[ T]HH:MM[:SS[.frac]][Z|+HH:MM|+HHMM]" or "YYYY-MM-DD"; no
 * zone means Vietnam time (+07:00). 0 and the Unix time, or -1. */
int hook_parse_time(const char *s, int64_t *epoch);

/* Digits only, no sign, no leading zero, 1..max_digits; 0 or -1. */
int hook_parse_uint(const char *s, size_t n, int max_digits, long long *v);

#endif
