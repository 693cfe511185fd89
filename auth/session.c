/* A login's life after it started: POST /v1/auth/refresh rotates the refresh
 * token, POST /v1/auth/logout ends the login: its refresh tokens at once,
 * its access tokens on every node through the revocation notification.
 *
 * Rotation never forks a login. A token has exactly one successor, derived
 * rather than drawn at random: HMAC-SHA256 of the presented token under a
 * server key (cds_auth_refresh_successor). A retry of a just-rotated token
 * within the grace window (the client lost our answer) thus gets the very
 * token it got the first time, on any node, while that successor is unused;
 * any other use of a rotated token (after the window, or once the successor
 * was used) is taken as theft and revokes the whole login
 * (cds_refresh_rotate, db/functions/auth.sql). Derived, not stored: the
 * database keeps only token hashes as before, so neither a copy of it nor of
 * its backups yields a usable token, and there is no second secret at rest (an encrypted copy
 * of the successor would need its own key and its own column). Deriving from
 * the presented plaintext, not from the row id, means the key alone (without
 * a token) derives nothing either. */
#include "internal.h"
#include "core/log.h"
#include "core/problem.h"

#include <stdlib.h>
#include <string.h>

static void refresh_refused(cds_req *r, const char *status)
{
    cds_log(CDS_LOG_INFO, "auth_refresh", "refused: %s", status);
    cds_resp_header(r, "www-authenticate", "Bearer error=\"invalid_token\"");
    cds_problem(r, 401, "refresh_token_invalid",
                "Phiên đăng nhập đã hết hiệu lực, vui lòng đăng nhập lại bằng VNeID.");
}

typedef struct refresh_ctx {
    char token[65];
} refresh_ctx;

static void on_rotated(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "auth_db", res);
        return;
    }
    const char *status = PQgetvalue(res, 0, 0);
    if (strcmp(status, "ok") != 0 && strcmp(status, "grace") != 0) {
        if (strcmp(status, "reused") == 0) cds_revoked_add(PQgetvalue(res, 0, 2));
        refresh_refused(r, status);
        return;
    }
    refresh_ctx *c = cds_req_user(r);
    int ial = PQgetvalue(res, 0, 3)[0] == '2' ? 2 : 1;
    char *access = cds_access_token_issue(PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), ial);
    if (!access) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200,
                     json_pack("{s:s,s:s,s:i,s:s,s:i}", "access_token", access, "token_type",
                               "Bearer", "expires_in", g_auth.access_ttl_s, "refresh_token",
                               c->token, "refresh_expires_in", g_auth.refresh_ttl_s));
    free(access);
}

static int opaque_token(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 16 || n > 128) return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return 0;
    return 1;
}

void cds_auth_refresh(cds_req *r)
{
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *old = json_string_value(json_object_get(j, "refresh_token"));
    if (!opaque_token(old)) {
        refresh_refused(r, "malformed");
        return;
    }
    refresh_ctx *c = cds_req_alloc(r, sizeof *c);
    cds_req_set_user(r, c, NULL);
    char old_hash[64], new_hash[64], ttl[16], grace[16];
    cds_auth_sha256_b64url(old, old_hash, sizeof old_hash);
    cds_auth_refresh_successor(old, c->token);
    cds_auth_sha256_b64url(c->token, new_hash, sizeof new_hash);
    snprintf(ttl, sizeof ttl, "%d", g_auth.refresh_ttl_s);
    snprintf(grace, sizeof grace, "%d", g_auth.refresh_grace_s);
    const char *p[] = {old_hash, new_hash, ttl, grace};
    cds_req_db(r, st_refresh_rotate, 4, p, on_rotated);
}

static void on_logged_out(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_fail(r, CDS_P_DB_UNAVAILABLE);
        return;
    }
    cds_respond(r, 204, NULL, NULL, 0);
}

void cds_auth_logout(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    /* This node stops accepting the login's access tokens at once; the
     * notification tells the others. */
    cds_revoked_add(p->family_id);
    const char *params[] = {p->family_id, p->citizen_id};
    cds_req_db(r, st_logout, 2, params, on_logged_out);
}
