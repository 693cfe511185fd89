/* An OpenID Connect provider seen from our side (relying party): VNeID for
 * citizens, the city's staff issuer for staff (auth/staff_oidc.c), each with
 * its own settings (cds_oidc_rp_get) and cache. Discovery and JWKS cached
 * per process and provider, fetched through the loop thread's
 * curl multi handle (never blocking); an unknown `kid` triggers one JWKS
 * refetch, at most one per jwks_min_refetch_ms for the whole process, so key
 * rotation works and a flood of made-up kids cannot hammer VNeID. Also the
 * pure checks of ID-token claims and the mapping of claims to a citizen.
 *
 * What this is checked against, and what is not public:
 *   - The protocol is OpenID Connect Core 1.0 and Discovery 1.0
 *     (openid.net/specs): /.well-known/openid-configuration with issuer,
 *     authorization_endpoint, token_endpoint, userinfo_endpoint, jwks_uri;
 *     the authorization code flow with PKCE (RFC 7636, S256); the ID token
 *     checks of Core 3.1.3.7 (iss, aud/azp, exp, iat, nonce, signature by
 *     kid); the standard claims of Core 5.1: sub, name, birthdate
 *     (YYYY-MM-DD), gender ("male"/"female"), address (5.1.1: formatted,
 *     street_address, locality, region, country), phone_number; acr.
 *   - VNeID (Bộ Công an, Trung tâm dữ liệu quốc gia về dân cư) publishes NO
 *     relying-party integration document that we could find (searched
 *     December 2026: vneid.gov.vn, dichvucong.gov.vn's integration guide
 *     "Tài liệu hướng dẫn kết nối, tích hợp, chia sẻ dữ liệu với Cổng DVC
 *     quốc gia" v1.4 (2020, about the national portal, no VNeID claims),
 *     code hosts, integration write-ups). VNeID's own web login runs under
 *     vneid.gov.vn/api/idp/sso/ (seen in public client code), but its
 *     discovery document, endpoints, scopes and claim names are given to
 *     partners under agreement only. Banks reach VNeID through their own
 *     connectors (e.g. NCB's "VNeID service" API: biometric-share-info
 *     init/get-transaction), not through a public OIDC profile.
 *   - Therefore UNVERIFIED and ours: the claim "personal_id" (the 12-digit
 *     số định danh cá nhân), "identification_level" (1|2, mức độ 2) and the
 *     acr values that carry the level, the scope "openid profile", and
 *     CDS_VNEID_USERINFO_ONLY (the partner mode where only userinfo carries
 *     the identity). Each is one name in this file or login.c; when VNeID's
 *     partner documentation arrives, map its names here and in the
 *     stand-in (sim/vneid_citizens.c). */
#include "internal.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/vn.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 16

/* One cache per provider (VNeID, the staff issuer). */
typedef struct provider_cache {
    pthread_mutex_t mu;
    char authz[512], token[512], userinfo[512], jwks[512];
    time_t discovered_at;
    struct {
        char kid[128];
        EVP_PKEY *key;
    } keys[MAX_KEYS];
    int nkeys;
    int jwks_ok;          /* a JWKS was fetched at least once */
    uint64_t jwks_try_ms; /* last fetch attempt */
} provider_cache;
static provider_cache caches[CDS_OIDC_N] = {
    [CDS_OIDC_VNEID] = {.mu = PTHREAD_MUTEX_INITIALIZER},
    [CDS_OIDC_STAFF] = {.mu = PTHREAD_MUTEX_INITIALIZER},
};

/* The log event of a provider's step: "vneid_discovery", "staff_oidc_jwks"... */
const char *cds_oidc_event(int which, const char *step)
{
    static const char *const ev[CDS_OIDC_N][4] = {
        {"vneid_discovery", "vneid_jwks", "vneid_token", "vneid_id_token"},
        {"staff_oidc_discovery", "staff_oidc_jwks", "staff_oidc_token", "staff_oidc_id_token"},
    };
    int k = !strcmp(step, "discovery") ? 0 : !strcmp(step, "jwks") ? 1 : !strcmp(step, "token") ? 2 : 3;
    return ev[which == CDS_OIDC_STAFF][k];
}

cds_oidc_rp cds_oidc_rp_get(int which)
{
    if (which == CDS_OIDC_STAFF)
        return (cds_oidc_rp){"staff_oidc", g_auth.staff_oidc_issuer, g_auth.staff_oidc_client_id,
                             g_auth.staff_oidc_client_secret, g_auth.staff_oidc_redirect_uri,
                             g_auth.staff_oidc_ca_file, 0};
    return (cds_oidc_rp){"vneid", g_auth.vneid_issuer, g_auth.vneid_client_id,
                         g_auth.vneid_client_secret, g_auth.vneid_redirect_uri, g_auth.vneid_ca_file,
                         g_auth.vneid_userinfo_only};
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cds_oidc_reset(void)
{
    for (int w = 0; w < CDS_OIDC_N; w++) {
        provider_cache *P = &caches[w];
        pthread_mutex_lock(&P->mu);
        for (int i = 0; i < P->nkeys; i++) EVP_PKEY_free(P->keys[i].key);
        P->nkeys = 0;
        P->discovered_at = 0;
        P->jwks_ok = 0;
        P->jwks_try_ms = 0;
        pthread_mutex_unlock(&P->mu);
    }
}

/* ---------------- fetching ---------------- */

typedef struct fetch {
    cds_req *r;
    int which;
    int slot;
    cds_oidc_cont cont;
    cds_oidc_key_cont kcont;
    char kid[128];
} fetch;

static void cancel_call(void *call)
{
    cds_http_cancel(call);
}

static int start_get(cds_req *r, const char *url, fetch *f, cds_http_cb cb)
{
    cds_http_request hr = {.method = "GET", .url = url, .timeout_ms = 5000,
                           .max_response = 256 * 1024, .ca_file = cds_oidc_rp_get(f->which).ca_file};
    const char *hdrs[] = {"Accept: application/json", NULL};
    hr.headers = hdrs;
    cds_http_call *call = cds_http_start(cds_req_worker(r)->http, &hr, cb, f);
    if (!call) return -1;
    f->slot = cds_req_track(r, cancel_call, call);
    return 0;
}

static void copy_url(json_t *doc, const char *name, char *dst, size_t cap)
{
    const char *v = json_string_value(json_object_get(doc, name));
    snprintf(dst, cap, "%s", v ? v : "");
}

static void on_discovery(void *arg, const cds_http_response *resp)
{
    fetch *f = arg;
    cds_req_untrack(f->r, f->slot);
    provider_cache *P = &caches[f->which];
    cds_oidc_rp rp = cds_oidc_rp_get(f->which);
    json_t *doc = NULL;
    int ok = -1;
    if (resp->error || resp->status != 200) {
        cds_log(CDS_LOG_WARN, cds_oidc_event(f->which, "discovery"), "status %ld %s", resp->status,
                resp->error ? resp->error : "");
    } else if (!(doc = json_loadb(resp->body, resp->body_len, 0, NULL))) {
        cds_log(CDS_LOG_WARN, cds_oidc_event(f->which, "discovery"), "not JSON");
    } else {
        const char *iss = json_string_value(json_object_get(doc, "issuer"));
        /* OpenID Connect Discovery 4.3: the issuer must be exactly ours. */
        if (!iss || !rp.issuer || strcmp(iss, rp.issuer) != 0) {
            cds_log(CDS_LOG_WARN, cds_oidc_event(f->which, "discovery"), "issuer mismatch");
        } else {
            pthread_mutex_lock(&P->mu);
            copy_url(doc, "authorization_endpoint", P->authz, sizeof P->authz);
            copy_url(doc, "token_endpoint", P->token, sizeof P->token);
            copy_url(doc, "userinfo_endpoint", P->userinfo, sizeof P->userinfo);
            copy_url(doc, "jwks_uri", P->jwks, sizeof P->jwks);
            if (P->authz[0] && P->token[0] && P->jwks[0]) {
                P->discovered_at = time(NULL);
                ok = 0;
            }
            pthread_mutex_unlock(&P->mu);
        }
    }
    json_decref(doc);
    f->cont(f->r, ok);
}

void cds_oidc_discover(cds_req *r, int which, cds_oidc_cont cont)
{
    provider_cache *P = &caches[which];
    const char *issuer = cds_oidc_rp_get(which).issuer;
    if (!issuer || !*issuer) {
        cont(r, -1);
        return;
    }
    pthread_mutex_lock(&P->mu);
    int fresh = P->discovered_at && time(NULL) - P->discovered_at < 3600;
    pthread_mutex_unlock(&P->mu);
    if (fresh) {
        cont(r, 0);
        return;
    }
    fetch *f = cds_req_alloc(r, sizeof *f);
    memset(f, 0, sizeof *f);
    f->r = r;
    f->which = which;
    f->cont = cont;
    char *url = cds_req_printf(r, "%s/.well-known/openid-configuration", issuer);
    if (start_get(r, url, f, on_discovery) != 0) cont(r, -1);
}

const char *cds_oidc_endpoint(cds_req *r, int which, const char *name)
{
    provider_cache *P = &caches[which];
    pthread_mutex_lock(&P->mu);
    const char *src = strcmp(name, "authorization") == 0 ? P->authz
                      : strcmp(name, "token") == 0       ? P->token
                      : strcmp(name, "userinfo") == 0    ? P->userinfo
                                                         : P->jwks;
    char *out = cds_req_strdup(r, src);
    pthread_mutex_unlock(&P->mu);
    return out;
}

/* With P->mu held: a new reference to the key for kid, or NULL. */
static EVP_PKEY *find_key_locked(provider_cache *P, const char *kid)
{
    for (int i = 0; i < P->nkeys; i++)
        if (strcmp(P->keys[i].kid, kid) == 0) {
            EVP_PKEY_up_ref(P->keys[i].key);
            return P->keys[i].key;
        }
    return NULL;
}

static void on_jwks(void *arg, const cds_http_response *resp)
{
    fetch *f = arg;
    cds_req_untrack(f->r, f->slot);
    provider_cache *P = &caches[f->which];
    json_t *doc = NULL, *keys;
    if (resp->error || resp->status != 200 ||
        !(doc = json_loadb(resp->body, resp->body_len, 0, NULL)) ||
        !json_is_array(keys = json_object_get(doc, "keys"))) {
        cds_log(CDS_LOG_WARN, cds_oidc_event(f->which, "jwks"), "JWKS unavailable: status %ld %s",
                resp->status, resp->error ? resp->error : "");
        json_decref(doc);
        f->kcont(f->r, -2, NULL);
        return;
    }
    pthread_mutex_lock(&P->mu);
    for (int i = 0; i < P->nkeys; i++) EVP_PKEY_free(P->keys[i].key);
    P->nkeys = 0;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        const char *kid = json_string_value(json_object_get(k, "kid"));
        const char *use = json_string_value(json_object_get(k, "use"));
        if (!kid || strlen(kid) >= sizeof P->keys[0].kid || (use && strcmp(use, "sig") != 0)) continue;
        const char *err;
        EVP_PKEY *pk = cds_jwk_to_pkey(k, &err);
        if (!pk) continue;
        if (P->nkeys == MAX_KEYS) {
            EVP_PKEY_free(pk);
            break;
        }
        snprintf(P->keys[P->nkeys].kid, sizeof P->keys[0].kid, "%s", kid);
        P->keys[P->nkeys++].key = pk;
    }
    P->jwks_ok = 1;
    EVP_PKEY *key = find_key_locked(P, f->kid);
    pthread_mutex_unlock(&P->mu);
    json_decref(doc);
    f->kcont(f->r, key ? 0 : -1, key);
}

void cds_oidc_key(cds_req *r, int which, const char *kid, cds_oidc_key_cont cont)
{
    provider_cache *P = &caches[which];
    pthread_mutex_lock(&P->mu);
    EVP_PKEY *key = find_key_locked(P, kid);
    uint64_t now = now_ms();
    int may_fetch = !key && (P->jwks_try_ms == 0 ||
                             now - P->jwks_try_ms >= (uint64_t)g_auth.jwks_min_refetch_ms);
    int ever_ok = P->jwks_ok;
    if (may_fetch) P->jwks_try_ms = now;
    char *url = cds_req_strdup(r, P->jwks);
    pthread_mutex_unlock(&P->mu);
    if (key) {
        cont(r, 0, key);
        return;
    }
    if (!may_fetch) {
        cont(r, ever_ok ? -1 : -2, NULL);
        return;
    }
    fetch *f = cds_req_alloc(r, sizeof *f);
    memset(f, 0, sizeof *f);
    f->r = r;
    f->which = which;
    f->kcont = cont;
    snprintf(f->kid, sizeof f->kid, "%s", kid);
    if (start_get(r, url, f, on_jwks) != 0) cont(r, -2, NULL);
}

/* ---------------- claims ---------------- */

static int aud_contains(const json_t *aud, const char *client_id, size_t *count)
{
    *count = 0;
    if (json_is_string(aud)) {
        *count = 1;
        return strcmp(json_string_value(aud), client_id) == 0;
    }
    if (!json_is_array(aud)) return 0;
    int found = 0;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v) {
        if (!json_is_string(v)) return 0;
        (*count)++;
        if (strcmp(json_string_value(v), client_id) == 0) found = 1;
    }
    return found;
}

int cds_oidc_check_claims(const json_t *c, const cds_oidc_expect *e, const char **why)
{
    const char *iss = json_string_value(json_object_get(c, "iss"));
    const char *azp = json_string_value(json_object_get(c, "azp"));
    const char *nonce = json_string_value(json_object_get(c, "nonce"));
    json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");
    size_t naud;
    if (!iss || strcmp(iss, e->issuer) != 0) return *why = "wrong issuer", -1;
    if (!aud_contains(json_object_get(c, "aud"), e->client_id, &naud))
        return *why = "audience does not contain our client id", -1;
    if ((naud > 1 || azp) && (!azp || strcmp(azp, e->client_id) != 0))
        return *why = "authorized party is not our client id", -1;
    if (!json_is_integer(exp) || json_integer_value(exp) + e->skew_s <= e->now)
        return *why = "expired", -1;
    if (!json_is_integer(iat) || json_integer_value(iat) > e->now + e->skew_s)
        return *why = "issued in the future", -1;
    if (!nonce || !e->nonce || strlen(nonce) != strlen(e->nonce) ||
        !cds_ct_equal(nonce, e->nonce, strlen(nonce)))
        return *why = "nonce mismatch", -1;
    return 0;
}

static int valid_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) return 0;
    int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

int cds_identity_from_claims(const json_t *c, cds_identity *id, const char **why)
{
    memset(id, 0, sizeof *id);
    const char *sub = json_string_value(json_object_get(c, "sub"));
    const char *pid = json_string_value(json_object_get(c, "personal_id"));
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *bd = json_string_value(json_object_get(c, "birthdate"));
    const char *gender = json_string_value(json_object_get(c, "gender"));
    const char *phone = json_string_value(json_object_get(c, "phone_number"));
    json_t *addr = json_object_get(c, "address");
    json_t *lvl = json_object_get(c, "identification_level");
    const char *acr = json_string_value(json_object_get(c, "acr"));
    if (!sub || !*sub || strlen(sub) >= sizeof id->sub) return *why = "no subject", -1;
    if (!cds_vn_pid_valid(pid)) return *why = "no valid personal ID number", -1;
    if (!name || !*name || strlen(name) > 200) return *why = "no name", -1;
    snprintf(id->sub, sizeof id->sub, "%s", sub);
    memcpy(id->pid, pid, 13);
    snprintf(id->name, sizeof id->name, "%s", name);
    if (bd && valid_date(bd)) memcpy(id->birthdate, bd, 11);
    if (gender && (!strcmp(gender, "male") || !strcmp(gender, "female") || !strcmp(gender, "other")))
        snprintf(id->gender, sizeof id->gender, "%s", gender);
    const char *formatted = json_is_string(addr) ? json_string_value(addr)
                                                 : json_string_value(json_object_get(addr, "formatted"));
    if (formatted && strlen(formatted) < sizeof id->address)
        snprintf(id->address, sizeof id->address, "%s", formatted);
    if (phone && cds_vn_phone_normalize(phone, id->phone, sizeof id->phone) != 0) id->phone[0] = 0;
    if (json_is_integer(lvl)) id->ial = (int)json_integer_value(lvl);
    else if (acr && strncmp(acr, "urn:vneid:ial:", 14) == 0) id->ial = acr[14] - '0';
    else id->ial = 1;
    if (id->ial != 1 && id->ial != 2) return *why = "unknown identification level", -1;
    return 0;
}
