/* The carriers we know (one adapter each) and their webhook secrets
 * ("carrier:secret[,...]", parsed once before the threads start and only
 * read afterwards). A new carrier is one adapter file and one line below. */
#include "internal.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

static const dl_carrier *const carriers[] = {&dl_vnpost};

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
