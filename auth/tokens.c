/* Our access tokens and their revocation.
 *
 * An access token is a JWT signed ES256 with our key (header kid, so keys
 * rotate): iss, aud "cds-app", sub = citizen id, sid = login (token family),
 * ial, iat, exp (10 minutes). Checking one needs no database: signature,
 * claims, and the process's set of revoked logins. That set is filled by
 * PostgreSQL notifications (channel cds_family_revoked, sent by cds_logout
 * and by refresh-token reuse) on a LISTEN connection of this process, and
 * reloaded from the table after every reconnection, so a logout on one node
 * ends the login's access tokens on every node within moments. Entries older
 * than an access token's lifetime are dropped: such tokens expired anyway.
 * Staff sessions (auth/staff_token.c) share the set: their `sid` is revoked
 * the same way (cds_staff_logout, cds_staff_disable). */
#include "internal.h"
#include "core/db_listen.h"
#include "core/digest.h"
#include "core/log.h"
#include "core/uuid.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>

#define AUDIENCE "cds-app"

char *cds_access_token_issue(const char *citizen_id, const char *family_id, int ial)
{
    time_t now = time(NULL);
    json_t *claims = json_pack("{s:s,s:s,s:s,s:s,s:i,s:I,s:I}", "iss", g_auth.token_issuer, "aud",
                               AUDIENCE, "sub", citizen_id, "sid", family_id, "ial", ial, "iat",
                               (json_int_t)now, "exp", (json_int_t)(now + g_auth.access_ttl_s));
    const char *kid;
    EVP_PKEY *key = cds_auth_token_signer(&kid);
    char *t = claims ? cds_jws_sign(key, CDS_ALG_ES256, kid, claims) : NULL;
    json_decref(claims);
    return t;
}

/* Tokens that verified, per loop thread: ES256 verification costs tens of
 * microseconds and an app sends the same token for up to ten minutes. Keyed
 * by the token's SHA-256 (equal digests mean equal tokens); a hit still
 * checks expiry and revocation, so logout and expiry act exactly as without
 * the cache. */
#define TOKEN_CACHE 512
typedef struct verified {
    unsigned char digest[32];
    long long exp;
    cds_principal p;
} verified;
static _Thread_local verified token_cache[TOKEN_CACHE];

static int check_uncached(const char *token, size_t len, cds_principal *p, long long *exp,
                          const char **why);

int cds_access_token_check(const char *token, size_t len, cds_principal *p, const char **why)
{
    unsigned char d[32];
    if (len > CDS_JWT_MAX) {
        *why = "token too long";
        return -1;
    }
    long long exp = 0;
    if (cds_sha256(token, len, d) != 0) return check_uncached(token, len, p, &exp, why);
    verified *v = &token_cache[(d[0] | (unsigned)d[1] << 8) % TOKEN_CACHE];
    long long now = (long long)time(NULL);
    if (v->exp && memcmp(v->digest, d, sizeof d) == 0) {
        if (v->exp <= now) *why = "expired";
        else if (cds_revoked_has(v->p.family_id)) *why = "login revoked";
        else {
            *p = v->p;
            return 0;
        }
        return -1;
    }
    if (check_uncached(token, len, p, &exp, why) != 0) return -1;
    memcpy(v->digest, d, sizeof d);
    v->exp = exp;
    v->p = *p;
    return 0;
}

static int check_uncached(const char *token, size_t len, cds_principal *p, long long *exp_out,
                          const char **why)
{
    cds_jwt jwt;
    if (cds_auth_own_token_open(token, len, AUDIENCE, &jwt, why) != 0) return -1;
    int rc = -1;
    json_t *c = jwt.claims;
    const char *sub = json_string_value(json_object_get(c, "sub"));
    const char *sid = json_string_value(json_object_get(c, "sid"));
    json_t *exp = json_object_get(c, "exp");
    json_t *ial = json_object_get(c, "ial");
    if (!cds_uuid_valid(sub) || !cds_uuid_valid(sid)) *why = "bad subject";
    else if (!json_is_integer(ial) || json_integer_value(ial) < 1 || json_integer_value(ial) > 2) *why = "bad level";
    else if (cds_revoked_has(sid)) *why = "login revoked";
    else {
        memcpy(p->citizen_id, sub, 37);
        memcpy(p->family_id, sid, 37);
        p->ial = (int)json_integer_value(ial);
        *exp_out = (long long)json_integer_value(exp);
        rc = 0;
    }
    cds_jwt_free(&jwt);
    return rc;
}

/* ---------------- the revoked-login set ---------------- */

#define BUCKETS 4096
typedef struct rev {
    char id[37];
    time_t at;
    struct rev *next;
} rev;
static rev *table[BUCKETS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static time_t last_prune;

static unsigned bucket(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++) h = (h ^ (unsigned char)tolower((unsigned char)*id)) * 16777619u;
    return h % BUCKETS;
}

static void prune_locked(time_t now)
{
    int ttl = g_auth.access_ttl_s > g_auth.staff_token_ttl_s ? g_auth.access_ttl_s : g_auth.staff_token_ttl_s;
    time_t horizon = now - ttl - 120;
    for (int b = 0; b < BUCKETS; b++)
        for (rev **pp = &table[b]; *pp;) {
            if ((*pp)->at < horizon) {
                rev *dead = *pp;
                *pp = dead->next;
                free(dead);
            } else {
                pp = &(*pp)->next;
            }
        }
    last_prune = now;
}

void cds_revoked_add(const char *family_id)
{
    if (!cds_uuid_valid(family_id)) return;
    time_t now = time(NULL);
    pthread_mutex_lock(&mu);
    unsigned b = bucket(family_id);
    rev *e = table[b];
    while (e && strcasecmp(e->id, family_id) != 0) e = e->next;
    if (!e && (e = calloc(1, sizeof *e)) != NULL) {
        memcpy(e->id, family_id, 37);
        e->next = table[b];
        table[b] = e;
    }
    if (e) e->at = now;
    if (now - last_prune > 60) prune_locked(now);
    pthread_mutex_unlock(&mu);
}

int cds_revoked_has(const char *family_id)
{
    pthread_mutex_lock(&mu);
    rev *e = table[bucket(family_id)];
    while (e && strcasecmp(e->id, family_id) != 0) e = e->next;
    pthread_mutex_unlock(&mu);
    return e != NULL;
}

void cds_revoked_reset(void)
{
    pthread_mutex_lock(&mu);
    for (int b = 0; b < BUCKETS; b++)
        while (table[b]) {
            rev *d = table[b];
            table[b] = d->next;
            free(d);
        }
    pthread_mutex_unlock(&mu);
}

static cds_listener *listener;

static void on_notify(const char *channel, const char *payload, void *arg)
{
    cds_revoked_add(payload);
}

/* After (re)connecting: whatever was revoked while we were not listening. */
static void on_connect(PGconn *c, void *arg)
{
    char secs[16];
    int ttl = g_auth.access_ttl_s > g_auth.staff_token_ttl_s ? g_auth.access_ttl_s : g_auth.staff_token_ttl_s;
    snprintf(secs, sizeof secs, "%d", ttl + 120);
    const char *params[] = {secs};
    PGresult *r = PQexecParams(c,
                               "SELECT id FROM token_families WHERE revoked_at > now() - "
                               "make_interval(secs => $1::int) UNION ALL "
                               "SELECT id FROM staff_sessions WHERE revoked_at > now() - "
                               "make_interval(secs => $1::int)",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        for (int i = 0; i < PQntuples(r); i++) cds_revoked_add(PQgetvalue(r, i, 0));
    else
        cds_log(CDS_LOG_WARN, "auth_revocations", "reload failed: %s", PQerrorMessage(c));
    PQclear(r);
}

int cds_revocation_listen(const char *conninfo)
{
    const char *channels[] = {"cds_family_revoked"};
    listener = cds_listener_start(conninfo, channels, 1, on_notify, on_connect, NULL);
    return listener ? 0 : -1;
}

void cds_revocation_stop(void)
{
    cds_listener_stop(listener);
    listener = NULL;
    cds_revoked_reset();
}
