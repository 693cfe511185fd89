/* The outgoing call every provider adapter builds (nt_call): its headers
 * and its start on the message's thread through the curl multi handle. */
#include "notify/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nt_call_header(nt_call *c, const char *name, const char *fmt, ...)
{
    if (c->nheaders >= NT_CALL_HEADERS) return -1;
    char *h = c->hbuf[c->nheaders];
    int n = snprintf(h, sizeof c->hbuf[0], "%s: ", name);
    if (n < 0 || (size_t)n >= sizeof c->hbuf[0]) return -1;
    va_list ap;
    va_start(ap, fmt);
    int v = vsnprintf(h + n, sizeof c->hbuf[0] - (size_t)n, fmt, ap);
    va_end(ap);
    if (v < 0 || (size_t)(n + v) >= sizeof c->hbuf[0]) return -1;
    c->headers[c->nheaders++] = h;
    c->headers[c->nheaders] = NULL;
    return 0;
}

int nt_call_start(nt_msg *m, nt_call *c, const char *method, long timeout_ms,
                  const char *ca_file, int h2c, cds_http_cb cb)
{
    cds_http_request req = {
        .method = method ? method : "POST",
        .url = c->url,
        .headers = c->nheaders ? c->headers : NULL,
        .body = c->body,
        .body_len = c->body_len,
        .timeout_ms = timeout_ms,
        .max_response = 64 * 1024,
        .ca_file = ca_file,
        .http2_prior_knowledge = h2c,
    };
    m->call = cds_http_start(nt_http(m->w), &req, cb, m);
    free(c->body);
    c->body = NULL;
    return m->call ? 0 : -1;
}
