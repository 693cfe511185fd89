/* The TTHC stand-in's inbox: the ratings and feedback our server forwards
 * (dossiers/tthc_outbox.c), taken as the city's system would take them:
 *
 *   POST /api/v1/ratings    {"idempotency_key","dossier_code","agency_code","procedure_code",
 *                            "stars":1..5,"comment"?,"version",...}
 *   POST /api/v1/feedback   {"idempotency_key","reference","dossier_code","kind","content",...}
 *
 * Each call must be signed the way the TTHC system and we sign every call
 * between us: X-Client-Id, X-Timestamp (unix seconds, within 300 s of our
 * clock) and X-Signature = hex HMAC-SHA256(secret, METHOD "\n" PATH "\n"
 * TIMESTAMP "\n" hex SHA-256(body)), checked with the stand-ins' own code
 * (sim_partner_signature, not the server's), against CDS_SIM_TTHC_INBOUND_CLIENT (default
 * "cds-app") and CDS_SIM_TTHC_INBOUND_SECRET (default "cds-dev-tthc-secret").
 * A bad or missing signature: 401; a malformed body: 400.
 *
 * Idempotency: an idempotency key seen before changes nothing and answers
 * 200 {"duplicate":true}; a new one is kept (first arrival) and answers 201.
 *
 * Control (tests): POST /_sim/tthc/fail {"count":n} makes the next n valid
 * calls be taken (kept, as a system that crashed before answering) and
 * answered 503, so the sender retries a call that did arrive;
 * GET /_sim/tthc/received -> {"ratings":[...],"feedback":[...]} each item
 * {"key","body","arrivals"} in order of first arrival. */
#include "core/http.h"
#include "core/log.h"
#include "sim/sim.h"
#include "sim/witness.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WINDOW_S 300

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *g_ratings, *g_feedback; /* arrays of {"key","body","arrivals"} */
static int g_fail;

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* 0 when the request carries our sender's valid signature. */
static int signature_ok(cds_req *r, const char **why)
{
    const char *client = cds_req_header(r, "x-client-id"), *ts = cds_req_header(r, "x-timestamp"),
               *sig = cds_req_header(r, "x-signature");
    if (!client || !ts || !sig) return *why = "missing signature headers", -1;
    if (strcmp(client, env_or("CDS_SIM_TTHC_INBOUND_CLIENT", "cds-app")) != 0)
        return *why = "unknown client", -1;
    char *end;
    long long t = strtoll(ts, &end, 10);
    if (*end || end == ts) return *why = "bad timestamp", -1;
    long long now = (long long)time(NULL);
    if (t < now - WINDOW_S || t > now + WINDOW_S) return *why = "stale timestamp", -1;
    size_t blen = 0;
    const char *body = cds_req_body(r, &blen);
    const char *qs = cds_req_query_string(r);
    const char *pq = *qs ? cds_req_printf(r, "%s?%s", cds_req_path(r), qs) : cds_req_path(r);
    char mac_hex[65];
    if (sim_partner_signature(env_or("CDS_SIM_TTHC_INBOUND_SECRET", "cds-dev-tthc-secret"),
                              cds_req_method(r), pq, ts, body, blen, mac_hex) != 0)
        return *why = "cannot sign", -1;
    if (!sim_ct_streq(sig, mac_hex)) return *why = "bad signature", -1;
    return 0;
}

static void refuse(cds_req *r, int status, const char *why)
{
    cds_respond_json(r, status, json_pack("{s:s}", "error", why));
}

static void take(cds_req *r, int rating)
{
    sim_record(r);
    const char *why = NULL;
    if (signature_ok(r, &why) != 0) {
        refuse(r, 401, why);
        return;
    }
    json_t *in = cds_req_json(r);
    if (!in) return;
    const char *key = json_string_value(json_object_get(in, "idempotency_key"));
    json_t *stars = json_object_get(in, "stars");
    if (!key || !json_string_value(json_object_get(in, "dossier_code")) ||
        (rating && (!json_is_integer(stars) || json_integer_value(stars) < 1 ||
                    json_integer_value(stars) > 5)) ||
        (!rating && (!json_string_value(json_object_get(in, "reference")) ||
                     !json_string_value(json_object_get(in, "content"))))) {
        refuse(r, 400, "malformed body");
        return;
    }
    pthread_mutex_lock(&g_lock);
    json_t **list = rating ? &g_ratings : &g_feedback;
    if (!*list) *list = json_array();
    json_t *found = NULL, *item;
    size_t i;
    json_array_foreach(*list, i, item)
    {
        if (strcmp(json_string_value(json_object_get(item, "key")), key) == 0) found = item;
    }
    int dup = found != NULL;
    if (found)
        json_object_set_new(found, "arrivals",
                            json_integer(json_integer_value(json_object_get(found, "arrivals")) + 1));
    else
        json_array_append_new(*list, json_pack("{s:s,s:O,s:i}", "key", key, "body", in, "arrivals", 1));
    int fail = g_fail > 0;
    if (fail) g_fail--;
    pthread_mutex_unlock(&g_lock);
    if (fail) {
        refuse(r, 503, "taken, but the answer is lost (test)");
        return;
    }
    cds_respond_json(r, dup ? 200 : 201, json_pack("{s:b,s:s}", "duplicate", dup, "key", key));
}

void sim_tthc_ratings(cds_req *r) { take(r, 1); }
void sim_tthc_feedback(cds_req *r) { take(r, 0); }

void sim_tthc_fail(cds_req *r)
{
    sim_record(r);
    json_t *in = cds_req_json(r);
    if (!in) return;
    json_t *n = json_object_get(in, "count");
    if (!json_is_integer(n) || json_integer_value(n) < 0 || json_integer_value(n) > 1000) {
        refuse(r, 400, "\"count\" must be 0..1000");
        return;
    }
    pthread_mutex_lock(&g_lock);
    g_fail = (int)json_integer_value(n);
    pthread_mutex_unlock(&g_lock);
    cds_respond_json(r, 200, json_pack("{s:I}", "count", json_integer_value(n)));
}

void sim_tthc_received(cds_req *r)
{
    pthread_mutex_lock(&g_lock);
    json_t *out = json_pack("{s:o,s:o}", "ratings",
                            g_ratings ? json_deep_copy(g_ratings) : json_array(), "feedback",
                            g_feedback ? json_deep_copy(g_feedback) : json_array());
    pthread_mutex_unlock(&g_lock);
    cds_respond_json(r, 200, out);
}
