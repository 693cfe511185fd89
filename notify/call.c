/* The outgoing call every provider adapter builds (nt_call): its headers
 * (URL, headers), its start on the message's thread through the curl multi
 * handle, and the reading every adapter shares (no answer, Retry-After). */
#include "internal.h"

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

int nt_call_url(nt_call *c, const char *base, const char *fmt, ...)
{
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/') bl--;
    int n = snprintf(c->url, sizeof c->url, "%.*s", (int)bl, base);
    if (n < 0 || (size_t)n >= sizeof c->url) return -1;
    va_list ap;
    va_start(ap, fmt);
    int v = vsnprintf(c->url + n, sizeof c->url - (size_t)n, fmt, ap);
    va_end(ap);
    return v < 0 || (size_t)(n + v) >= sizeof c->url ? -1 : 0;
}

int nt_call_unanswered(nt_msg *m, const cds_http_response *resp, const char *provider,
                       const char *label)
{
    if (!resp->error) return 0;
    nt_fail(m, NT_TEMPORARY, provider, "%s: %s", label, resp->error);
    return 1;
}

long nt_retry_after_ms(const cds_http_response *resp)
{
    char v[32];
    if (!resp->headers || cds_http_header_get(resp->headers, resp->headers_len, "retry-after", v,
                                              sizeof v) <= 0)
        return 0;
    long s = strtol(v, NULL, 10);
    return s > 0 && s < 86400 ? s * 1000 : 0;
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
    /* Under the row's trace, whatever started this call (the row itself, an
     * FCM token that came, a failover from another gateway's answer). */
    cds_log_ctx prev;
    cds_log_ctx_set(&m->log, &prev);
    m->call = cds_http_start(nt_http(m->w), &req, cb, m);
    cds_log_ctx_set(&prev, NULL);
    free(c->body);
    c->body = NULL;
    return m->call ? 0 : -1;
}
