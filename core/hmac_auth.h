/* Signed server-to-server requests (the city's TTHC system, couriers):
 *   X-Client-Id: <client>
 *   X-Timestamp: <unix seconds>
 *   X-Signature: hex(HMAC-SHA256(secret, METHOD "\n" PATH?QUERY "\n" TIMESTAMP "\n" hex(SHA-256(body))))
 * checked against a per-client secret in constant time, within a replay
 * window (5 minutes by default) around our clock. Retries are made harmless
 * by each endpoint's own idempotency key (an event id), so a replay inside
 * the window changes nothing. The same code signs (simulators, tests). */
#ifndef CDS_HMAC_AUTH_H
#define CDS_HMAC_AUTH_H
#include <stddef.h>
#include <time.h>

typedef struct cds_hmac_clients cds_hmac_clients;

/* "client:secret[,client:secret]"; NULL + *err on a malformed spec. */
cds_hmac_clients *cds_hmac_clients_parse(const char *spec, const char **err);
void cds_hmac_clients_free(cds_hmac_clients *c);

/* Writes the hex signature (64 chars + NUL) of a request into out[65]. */
void cds_hmac_sign(const char *secret, const char *method, const char *path_and_query,
                   long long timestamp, const void *body, size_t body_len, char out[65]);

enum {
    CDS_HMAC_OK = 0,
    CDS_HMAC_MISSING = -1,   /* a header is absent or malformed */
    CDS_HMAC_UNKNOWN = -2,   /* unknown client id */
    CDS_HMAC_STALE = -3,     /* timestamp outside the window */
    CDS_HMAC_BAD = -4,       /* signature does not match */
};
/* Checks a request. client_id/timestamp/signature are the header values (may
 * be NULL). `now` is our clock; window_s the allowed distance either way. */
int cds_hmac_verify(const cds_hmac_clients *c, const char *client_id, const char *timestamp,
                    const char *signature, const char *method, const char *path_and_query,
                    const void *body, size_t body_len, time_t now, int window_s);

#endif
