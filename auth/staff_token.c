/* Staff tokens (auth/staff.h): the citizens' JWT (tokens.c) with audience
 * "cds-staff" and typ "staff", so that no token of one kind passes the
 * check of another: claims iss, aud, typ, sub (staff id), sid (the login
 * session, revocable through the set of tokens.c), role, loc (the agent
 * location, agents only), login, name, iat, exp. */
#include "internal.h"
#include "auth/staff.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STAFF_AUDIENCE "cds-staff"
#define STAFF_TYP "staff"

const char *cds_staff_role_name(int role)
{
    switch (role) {
    case CDS_STAFF_OPERATOR: return "operator";
    case CDS_STAFF_AUDITOR: return "auditor";
    case CDS_STAFF_AGENT: return "agent";
    default: return NULL;
    }
}

int cds_staff_role_parse(const char *name)
{
    if (!name) return 0;
    if (strcmp(name, "operator") == 0) return CDS_STAFF_OPERATOR;
    if (strcmp(name, "auditor") == 0) return CDS_STAFF_AUDITOR;
    if (strcmp(name, "agent") == 0) return CDS_STAFF_AGENT;
    return 0;
}

char *cds_staff_token_issue(const cds_staff_principal *p, int *expires_in)
{
    const char *role = cds_staff_role_name(p->role);
    if (!role || !cds_uuid_valid(p->staff_id) || !cds_uuid_valid(p->session_id)) return NULL;
    if ((p->role == CDS_STAFF_AGENT) != (cds_uuid_valid(p->location_id) != 0)) return NULL;
    time_t now = time(NULL);
    json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "iss", g_auth.token_issuer,
                          "aud", STAFF_AUDIENCE, "typ", STAFF_TYP, "sub", p->staff_id, "sid",
                          p->session_id, "role", role, "login", p->login, "name", p->name, "iat",
                          (json_int_t)now, "exp", (json_int_t)(now + g_auth.staff_token_ttl_s));
    if (c && p->role == CDS_STAFF_AGENT) json_object_set_new(c, "loc", json_string(p->location_id));
    const char *kid;
    EVP_PKEY *key = cds_auth_token_signer(&kid); /* key and kid from one key set */
    char *t = c ? cds_jws_sign(key, CDS_ALG_ES256, kid, c) : NULL;
    json_decref(c);
    if (t && expires_in) *expires_in = g_auth.staff_token_ttl_s;
    return t;
}

int cds_staff_token_verify(const char *token, size_t len, cds_staff_principal *p, const char **why)
{
    cds_jwt jwt;
    if (cds_auth_own_token_open(token, len, STAFF_AUDIENCE, &jwt, why) != 0) return -1;
    int rc = -1;
    json_t *c = jwt.claims;
    const char *typ = json_string_value(json_object_get(c, "typ"));
    const char *sub = json_string_value(json_object_get(c, "sub"));
    const char *sid = json_string_value(json_object_get(c, "sid"));
    const char *loc = json_string_value(json_object_get(c, "loc"));
    const char *login = json_string_value(json_object_get(c, "login"));
    const char *name = json_string_value(json_object_get(c, "name"));
    int role = cds_staff_role_parse(json_string_value(json_object_get(c, "role")));
    json_t *exp = json_object_get(c, "exp");
    if (!typ || strcmp(typ, STAFF_TYP) != 0) *why = "not a staff token";
    else if (!role) *why = "unknown role";
    else if (!cds_uuid_valid(sub) || !cds_uuid_valid(sid)) *why = "bad subject";
    else if ((role == CDS_STAFF_AGENT) != (loc && cds_uuid_valid(loc))) *why = "bad agent location";
    else if (!login || strlen(login) >= sizeof p->login || !name || strlen(name) >= sizeof p->name)
        *why = "bad login or name";
    else if (cds_revoked_has(sid)) *why = "login revoked";
    else {
        memset(p, 0, sizeof *p);
        memcpy(p->staff_id, sub, 37);
        memcpy(p->session_id, sid, 37);
        if (loc) memcpy(p->location_id, loc, 37);
        snprintf(p->login, sizeof p->login, "%s", login);
        snprintf(p->name, sizeof p->name, "%s", name);
        p->role = role;
        p->expires_at = (long long)json_integer_value(exp);
        rc = 0;
    }
    cds_jwt_free(&jwt);
    return rc;
}

int cds_staff_require_role(cds_req *r, const cds_staff_principal *p, int roles)
{
    if (p->role & roles) return 1;
    cds_problem(r, 403, "staff_role_forbidden",
                "Tài khoản của bạn không có quyền thực hiện thao tác này.");
    return 0;
}

const cds_staff_principal *cds_auth_staff(cds_req *r, int roles)
{
    const char *h = cds_req_header(r, "authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        cds_resp_header(r, "www-authenticate", "Bearer realm=\"cds-staff\"");
        cds_problem(r, 401, "authentication_required",
                    "Cán bộ cần đăng nhập (POST /v1/staff/login) để tiếp tục.");
        return NULL;
    }
    const char *tok = h + 7;
    while (*tok == ' ') tok++;
    cds_staff_principal *p = cds_req_alloc(r, sizeof *p);
    const char *why;
    if (cds_staff_token_verify(tok, strlen(tok), p, &why) != 0) {
        cds_log(CDS_LOG_INFO, "staff_token", "refused: %s", why);
        cds_resp_header(r, "www-authenticate", "Bearer realm=\"cds-staff\", error=\"invalid_token\"");
        cds_problem(r, 401, "invalid_token",
                    strcmp(why, "expired") == 0 ? "Phiên đăng nhập của cán bộ đã hết hạn."
                                                : "Mã truy cập không hợp lệ cho tài khoản cán bộ.");
        return NULL;
    }
    return cds_staff_require_role(r, p, roles) ? p : NULL;
}

json_t *cds_staff_principal_json(const cds_staff_principal *p)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s}", "id", p->staff_id, "login", p->login,
                     "display_name", p->name, "role", cds_staff_role_name(p->role),
                     "agent_location_id", p->location_id[0] ? json_string(p->location_id) : json_null(),
                     "session_id", p->session_id);
}

/* ---------------- renewal ---------------- */

typedef struct renew_ctx {
    void *saved_user;
    cds_staff_token_cont cont;
    cds_staff_principal p;
} renew_ctx;

static void on_renew(cds_req *r, PGresult *res)
{
    renew_ctx *c = cds_req_user(r);
    cds_req_set_user(r, c->saved_user, NULL);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
            cds_log(CDS_LOG_WARN, "staff_renew", "database: %s", res ? PQresultErrorMessage(res) : "lost");
        c->cont(r, NULL, 0);
        return;
    }
    /* The account as it is now: a changed name or location shows at once. */
    c->p.role = cds_staff_role_parse(PQgetvalue(res, 0, 0));
    snprintf(c->p.location_id, sizeof c->p.location_id, "%s", PQgetvalue(res, 0, 1));
    snprintf(c->p.name, sizeof c->p.name, "%s", PQgetvalue(res, 0, 2));
    int ttl = 0;
    char *t = cds_staff_token_issue(&c->p, &ttl);
    char *copy = t ? cds_req_strdup(r, t) : NULL;
    free(t);
    c->cont(r, copy, ttl);
}

void cds_staff_token_renew(cds_req *r, const cds_staff_principal *p, cds_staff_token_cont cont)
{
    renew_ctx *c = cds_req_alloc(r, sizeof *c);
    c->saved_user = cds_req_user(r);
    c->cont = cont;
    c->p = *p;
    cds_req_set_user(r, c, NULL);
    const char *params[] = {p->session_id, p->staff_id};
    if (cds_req_db(r, st_staff_session_check, 2, params, on_renew) != 0) cds_req_set_user(r, c->saved_user, NULL);
}
