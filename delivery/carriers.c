/* The carriers we know (one adapter each) and their webhook secrets
 * ("carrier:secret[,...]", parsed once before the threads start and only
 * read afterwards). A new carrier is one adapter file and one line below. */
#include "internal.h"
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const dl_carrier *const carriers[] = {&dl_vnpost, &dl_ghn};

#define MAX_SECRETS 16
static struct {
    char *carrier, *secret;
} g_secrets[MAX_SECRETS];
static size_t g_nsecrets;

const dl_carrier *dl_carrier_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof carriers / sizeof carriers[0]; i++)
        if (strcmp(carriers[i]->name, name) == 0) return carriers[i];
    return NULL;
}

const char *dl_secret_of(const char *carrier)
{
    for (size_t i = 0; carrier && i < g_nsecrets; i++)
        if (strcmp(g_secrets[i].carrier, carrier) == 0) return g_secrets[i].secret;
    return NULL;
}

int dl_secrets_init(void)
{
    dl_secrets_free();
    const char *p = g_delivery.webhook_secrets;
    while (p && *p) {
        const char *end = strchr(p, ','), *colon = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!colon || colon >= p + len || colon == p || colon + 1 == p + len ||
            g_nsecrets == MAX_SECRETS) {
            cds_log(CDS_LOG_ERROR, "delivery_secrets",
                    "CDS_COURIER_WEBHOOK_SECRETS is malformed (expected carrier:secret[,...])");
            return -1;
        }
        g_secrets[g_nsecrets].carrier = strndup(p, (size_t)(colon - p));
        g_secrets[g_nsecrets].secret = strndup(colon + 1, (size_t)(p + len - colon - 1));
        if (!dl_carrier_find(g_secrets[g_nsecrets].carrier))
            cds_log(CDS_LOG_WARN, "delivery_secrets", "secret for unknown carrier %s",
                    g_secrets[g_nsecrets].carrier);
        g_nsecrets++;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

void dl_secrets_free(void)
{
    for (size_t i = 0; i < g_nsecrets; i++) {
        free(g_secrets[i].carrier);
        free(g_secrets[i].secret);
    }
    g_nsecrets = 0;
}

void dl_http_clear(dl_http *h)
{
    free(h->url);
    for (int i = 0; i < DL_HTTP_MAX_HEADERS && h->headers[i]; i++) free(h->headers[i]);
    free(h->body);
    memset(h, 0, sizeof *h);
}

void dl_event_clear(dl_event *e)
{
    free(e->pod);
    memset(e, 0, sizeof *e);
}

int dl_rfc3339(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 20 || n > 35 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return 0;
    char last = s[n - 1];
    return last == 'Z' || last == 'z' ||
           (n >= 6 && s[n - 3] == ':' && (s[n - 6] == '+' || s[n - 6] == '-'));
}

int dl_tracking_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 4 || n > 40) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
            return 0;
    return 1;
}

int dl_opt_text(const json_t *o, const char *key, size_t max, char *out, size_t cap)
{
    json_t *v = json_object_get(o, key);
    out[0] = 0;
    if (!v || json_is_null(v)) return 1;
    const char *s = json_string_value(v);
    if (!s || strlen(s) > max || strlen(s) != json_string_length(v) || strlen(s) >= cap) return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return 0;
    snprintf(out, cap, "%s", s);
    return 1;
}

char *dl_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

long dl_retry_after_ms(const cds_http_response *resp)
{
    char ra[32];
    if (resp->headers &&
        cds_http_header_get(resp->headers, resp->headers_len, "retry-after", ra, sizeof ra) > 0) {
        long s = strtol(ra, NULL, 10);
        if (s > 0 && s < 86400) return s * 1000;
    }
    return 0;
}

const char *cds_delivery_carriers_offering(int cancel)
{
    static char lists[2][128];
    char *out = lists[cancel ? 1 : 0];
    size_t n = (size_t)snprintf(out, sizeof lists[0], "{");
    for (size_t i = 0; i < sizeof carriers / sizeof carriers[0]; i++)
        if (dl_carrier_offers(carriers[i]->name, cancel) && n < sizeof lists[0])
            n += (size_t)snprintf(out + n, sizeof lists[0] - n, "%s%s", n > 1 ? "," : "",
                                  carriers[i]->name);
    if (n < sizeof lists[0]) snprintf(out + n, sizeof lists[0] - n, "}");
    return out;
}
