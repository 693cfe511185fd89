/* Outgoing HTTP for one event-loop thread: a libcurl multi handle driven by the
 * thread's event_base (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION), so a
 * call to VNeID, an SMS gateway, FCM or APNs never blocks the loop. HTTP/2 is
 * used when the peer offers it, with multiplexing over one connection. */
#ifndef CDS_HTTP_CLIENT_H
#define CDS_HTTP_CLIENT_H
#include <stddef.h>

struct event_base;
typedef struct cds_http_client cds_http_client;
typedef struct cds_http_call cds_http_call;

typedef struct cds_http_request {
    const char *method;         /* "GET", "POST", ... */
    const char *url;
    const char *const *headers; /* "Name: value" strings, NULL-terminated, may be NULL */
    const char *body;           /* may be NULL */
    size_t body_len;
    long timeout_ms;            /* whole call; default 10000 */
    size_t max_response;        /* body cap; default 1 MiB, at most 1 GiB; over it: error */
    const char *ca_file;        /* extra trust anchor (the simulators' certificate) */
    int insecure;               /* skip TLS verification (development only) */
    int http2_prior_knowledge;  /* h2c without upgrade */
} cds_http_request;

typedef struct cds_http_response {
    long status;          /* 0 when no response (an error may come with a status) */
    const char *error;    /* NULL on a complete exchange, else what went wrong;
                             the body is then whatever arrived */
    const char *body;     /* NUL-terminated, may contain NULs */
    size_t body_len;
    const char *headers;  /* raw response header block of the last response */
    size_t headers_len;
} cds_http_response;

/* Called exactly once per call unless cancelled first; memory in `r` is valid
 * only during the callback. It runs on the loop, never inside cds_http_start,
 * and may start calls, cancel other calls and free the client. */
typedef void (*cds_http_cb)(void *arg, const cds_http_response *r);

/* curl_global_init, once per process (pthread_once); cds_http_client_new calls
 * it, so only code that uses libcurl directly needs to call it first. */
void cds_http_global_init(void);

cds_http_client *cds_http_client_new(struct event_base *base);
/* Fails pending calls (callback with error "client closed") and frees. */
void cds_http_client_free(cds_http_client *c);

/* Start a call; the request is copied. Returns NULL on a bad request. */
cds_http_call *cds_http_start(cds_http_client *c, const cds_http_request *req, cds_http_cb cb,
                              void *arg);
/* Abort a call; its callback is never called. */
void cds_http_cancel(cds_http_call *call);

/* Value of header `name` (case-insensitive) in a raw header block, copied into
 * out (NUL-terminated). Returns its length or -1 if absent (or if it does not
 * fit in cap; out is then ""). The first occurrence wins. */
int cds_http_header_get(const char *headers, size_t len, const char *name, char *out, size_t cap);

#endif
