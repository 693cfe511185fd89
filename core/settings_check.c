/* The checks of the SECRET, KEY and URL options (core/options.h), run by
 * `cds serve` before anything starts, so that a wrong setting stops the
 * server with every offending setting named in one message instead of
 * failing at the first send.
 *
 * In every mode: a URL that is set must parse with libcurl's URL API
 * (curl_url), with the scheme http or https and a host.
 *
 * In production (CDS_ENV=production) also:
 *   - a secret or key must be set (inline or as NAME_FILE); unset, it would
 *     be a development key made in the keys directory or a development
 *     default;
 *   - it must not be its development default (the value the module's
 *     defaults give it) nor any value spelled with "cds-dev", which is how
 *     every development secret of scripts/run and the stand-ins is spelled;
 *   - a URL must be set, https, and point neither at this machine
 *     (localhost, 127.0.0.0/8, ::1, 0.0.0.0) nor at a stand-in port
 *     (9000-9099, where cds-sim listens).
 * An option marked CDS_OPT_OPTIONAL is checked only when set, unless it
 * belongs to a provider (a run of CDS_OPT_WITH_PREV options) of which some
 * setting is given: then, in production, every setting of that provider
 * must have a value, whatever its type, and each missing one is named. */
#include "core/buf.h"
#include "core/options.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STANDIN_PORT_MIN 9000
#define STANDIN_PORT_MAX 9099

static int loopback_host(const char *h)
{
    size_t n = strlen(h);
    if (strcasecmp(h, "localhost") == 0) return 1;
    if (n > 10 && strcasecmp(h + n - 10, ".localhost") == 0) return 1;
    if (strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") == n) return 1;
    if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "[::1]") == 0 || strcmp(h, "[::]") == 0 ||
        strcasecmp(h, "[::ffff:127.0.0.1]") == 0)
        return 1;
    return 0;
}

const char *cds_url_problem(const char *url, int production)
{
    CURLU *u = curl_url();
    if (!u) return "cannot be checked (out of memory)";
    const char *why = NULL;
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        why = "is not a URL (libcurl cannot parse it)";
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        why = "must be an http or https URL";
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        why = "has no host";
        goto out;
    }
    if (!production) goto out;
    if (loopback_host(host)) {
        why = "points at this machine (a development default or stand-in)";
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
        long p = strtol(port, NULL, 10);
        if (p >= STANDIN_PORT_MIN && p <= STANDIN_PORT_MAX) {
            why = "points at a stand-in port (9000-9099)";
            goto out;
        }
    }
    if (strcmp(scheme, "https") != 0) why = "must be https in production";
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return why;
}

/* Why a secret or key is not fit for production, or NULL. */
static const char *secret_problem(const char *v, const cds_opt_seen *s)
{
    if (!v || !*v) return NULL; /* missing: the caller says so */
    if (s->set != 1 && s->dflt && *s->dflt) return "is the development default";
    if (s->dflt && strcmp(v, s->dflt) == 0) return "is the development default";
    if (strstr(v, "cds-dev")) return "is a development value (spelled cds-dev...)";
    return NULL;
}

static const char *opt_name(const cds_opt *o)
{
    return o->env ? o->env : o->flag;
}

/* The first given option of the provider (CDS_OPT_WITH_PREV run) option i
 * belongs to, or NULL when i is in none or nothing of it is given. */
static const cds_opt *provider_given(const cds_opt *opts, size_t n, const cds_opt_seen *seen,
                                     size_t i)
{
    size_t first = i, last = i;
    while (first > 0 && (opts[first].type & CDS_OPT_WITH_PREV)) first--;
    while (last + 1 < n && (opts[last + 1].type & CDS_OPT_WITH_PREV)) last++;
    if (first == last) return NULL;
    for (size_t k = first; k <= last; k++)
        if (seen[k].set == 1) return &opts[k];
    return NULL;
}

int cds_opts_check(const cds_opt *opts, size_t n, const cds_opt_seen *seen, int production,
                   char *out, size_t cap)
{
    cds_buf b;
    cds_buf_init_fixed(&b, out, cap);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const cds_opt *o = &opts[i];
        int kind = CDS_OPT_KIND(o->type), optional = (o->type & CDS_OPT_OPTIONAL) != 0;
        if (kind == CDS_OPT_INT || kind == CDS_OPT_SIZE) continue;
        if (seen[i].set < 0) continue; /* reading it failed, and that is reported */
        const char *v = *(const char **)o->dst;
        const char *name = opt_name(o);
        int empty = !v || !*v;
        const cds_opt *given = production && empty ? provider_given(opts, n, seen, i) : NULL;
        if (given) {
            bad++;
            cds_buf_printf(&b, "  %s: missing (%s of the same provider is set)\n", name,
                           opt_name(given));
            continue;
        }
        if (kind != CDS_OPT_SECRET && kind != CDS_OPT_KEY && kind != CDS_OPT_URL) continue;
        const char *why = NULL;
        if (empty) {
            if (production && !optional)
                why = kind == CDS_OPT_URL ? "missing" : "missing (set it, or NAME_FILE)";
        } else if (kind == CDS_OPT_URL) {
            why = cds_url_problem(v, production);
        } else if (production) {
            why = secret_problem(v, &seen[i]);
        }
        if (!why) continue;
        bad++;
        if (strcmp(why, "missing (set it, or NAME_FILE)") == 0)
            cds_buf_printf(&b, "  %s: missing (set it, or %s_FILE)\n", name, name);
        else
            cds_buf_printf(&b, "  %s: %s\n", name, why);
    }
    return bad;
}
