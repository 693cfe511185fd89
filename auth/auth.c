/* auth/ start-up and the checks every citizen route uses: the bearer access
 * token (cds_auth_citizen) and the identification level a procedure needs
 * (cds_auth_require_level). Also the prepared statements of the module. */
#include "internal.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int st_login_begin, st_login_consume, st_citizen_login, st_refresh_rotate, st_logout, st_me_get,
    st_me_update, st_device_upsert, st_device_delete, st_revoked_recent;

#define PROFILE_DEVICES                                                                            \
    "COALESCE((SELECT json_agg(json_build_object('id', d.id, 'platform', d.platform, "             \
    "'app_version', d.app_version, 'registered_at', cds_rfc3339(d.created_at)) "                   \
    "ORDER BY d.created_at) FROM devices d WHERE d.citizen_id = c.id), '[]')"
/* The profile's strong ETag: the citizen row's version (xmin changes with
 * every write of the row) and its devices as shown. */
#define PROFILE_ETAG "md5(c.xmin::text || '/' || (" PROFILE_DEVICES ")::text)"
#define PROFILE_COLUMNS                                                                            \
    "c.id, c.pid_sealed, c.full_name, c.birth_date, c.gender, c.address_sealed, c.phone_sealed, "  \
    "c.contact_phone_sealed, c.email, c.ial, c.notify_sms, c.notify_push, " PROFILE_DEVICES        \
    ", " PROFILE_ETAG ", c.language, c.notify_zalo"

static int register_statements(void)
{
    st_login_begin = cds_db_stmt_register(
        "auth_login_begin",
        "SELECT cds_rfc3339(cds_login_begin($1, $2, $3, $4::smallint, $5::int, $6))", 6);
    st_login_consume = cds_db_stmt_register(
        "auth_login_consume",
        "SELECT status, nonce, verifier, ial, language FROM cds_login_consume($1)", 1);
    st_citizen_login = cds_db_stmt_register(
        "auth_citizen_login",
        "SELECT citizen_id, family_id, ial FROM cds_citizen_login($1, $2, $3, $4, $5::date, $6, "
        "$7, $8, $9::smallint, $10, $11::int, $12)",
        12);
    st_refresh_rotate = cds_db_stmt_register(
        "auth_refresh_rotate",
        "SELECT status, citizen_id, family_id, ial FROM cds_refresh_rotate($1, $2, $3::int, $4::int)", 4);
    st_logout = cds_db_stmt_register("auth_logout", "SELECT cds_logout($1::uuid, $2::uuid)", 2);
    st_me_get = cds_db_stmt_register(
        "auth_me_get", "SELECT " PROFILE_COLUMNS " FROM citizens c WHERE c.id = $1::uuid", 1);
    st_me_update = cds_db_stmt_register(
        "auth_me_update",
        "UPDATE citizens c SET "
        "contact_phone_sealed = CASE WHEN $2::boolean THEN $3 ELSE c.contact_phone_sealed END, "
        "email = CASE WHEN $4::boolean THEN $5 ELSE c.email END, "
        "notify_sms = CASE WHEN $6::boolean THEN $7::boolean ELSE c.notify_sms END, "
        "notify_push = CASE WHEN $8::boolean THEN $9::boolean ELSE c.notify_push END, "
        "language = COALESCE($11, c.language), "
        "language_chosen = c.language_chosen OR $11 IS NOT NULL, "
        "notify_zalo = CASE WHEN $12::boolean THEN $13::boolean ELSE c.notify_zalo END "
        "WHERE c.id = $1::uuid AND ($10::text[] IS NULL OR " PROFILE_ETAG " = ANY ($10::text[])) "
        "RETURNING " PROFILE_COLUMNS,
        13);
    st_device_upsert = cds_db_stmt_register(
        "auth_device_upsert",
        "INSERT INTO devices AS d (citizen_id, platform, token, app_version) "
        "VALUES ($1::uuid, $2, $3, $4) ON CONFLICT (platform, token) DO UPDATE SET "
        "citizen_id = EXCLUDED.citizen_id, app_version = EXCLUDED.app_version "
        "RETURNING d.id, d.platform, d.app_version, cds_rfc3339(d.created_at), (d.xmax = 0)",
        4);
    st_device_delete = cds_db_stmt_register(
        "auth_device_delete", "DELETE FROM devices WHERE id = $1::uuid AND citizen_id = $2::uuid", 2);
    int all[] = {st_login_begin, st_login_consume, st_citizen_login, st_refresh_rotate, st_logout,
                 st_me_get, st_me_update, st_device_upsert, st_device_delete};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] < 0) return -1;
    return 0;
}

int cds_auth_init(const cds_auth_config *c, const char *db_conninfo)
{
    if (cds_auth_keys_load(c) != 0) return -1;
    if (register_statements() != 0) return -1;
    if (cds_partner_auth_init() != 0) return -1;
    if (cds_staff_init() != 0) return -1;
    if (strcmp(c->vneid_client_secret, "cds-dev-secret") == 0)
        cds_log(CDS_LOG_WARN, "auth_config", "VNeID client settings are the development stand-in's");
    if (db_conninfo && cds_revocation_listen(db_conninfo) != 0) return -1;
    return 0;
}

void cds_auth_shutdown(void)
{
    cds_revocation_stop();
    cds_partner_auth_shutdown();
    cds_staff_shutdown();
    cds_oidc_reset();
    cds_auth_keys_free();
}

static void unauthorized(cds_req *r, const char *code, const char *detail)
{
    cds_resp_header(r, "www-authenticate",
                    strcmp(code, "authentication_required") == 0
                        ? "Bearer realm=\"cds\""
                        : "Bearer realm=\"cds\", error=\"invalid_token\"");
    cds_problem(r, 401, code, detail);
}

void cds_auth_citizen_dossier_query(cds_req *r, int stmt, cds_req_db_cb cb)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_DOSSIER_NOT_FOUND);
    if (!id) return;
    const char *params[] = {id, p->citizen_id};
    cds_req_db(r, stmt, 2, params, cb);
}

const cds_principal *cds_auth_citizen(cds_req *r)
{
    const char *h = cds_req_header(r, "authorization");
    if (!h) {
        unauthorized(r, "authentication_required", "Vui lòng đăng nhập bằng VNeID để tiếp tục.");
        return NULL;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        unauthorized(r, "invalid_token", "Phiên đăng nhập không hợp lệ, vui lòng đăng nhập lại.");
        return NULL;
    }
    const char *tok = h + 7;
    while (*tok == ' ') tok++;
    cds_principal *p = cds_req_alloc(r, sizeof *p);
    const char *why = "";
    if (cds_access_token_check(tok, strlen(tok), p, &why) != 0) {
        cds_log(CDS_LOG_INFO, "auth_token", "refused: %s", why);
        unauthorized(r, "invalid_token",
                     strcmp(why, "expired") == 0
                         ? "Phiên đăng nhập đã hết hạn, vui lòng làm mới hoặc đăng nhập lại."
                         : "Phiên đăng nhập không hợp lệ, vui lòng đăng nhập lại.");
        return NULL;
    }
    return p;
}

int cds_auth_require_level(cds_req *r, const cds_principal *p, int level)
{
    if (p->ial >= level) return 1;
    cds_problem(r, 403, "identification_level_insufficient",
                level == 2 ? "Thủ tục này yêu cầu tài khoản định danh điện tử mức 2. Vui lòng "
                             "nâng cấp tài khoản VNeID lên mức 2 rồi đăng nhập lại."
                           : "Tài khoản chưa đạt mức định danh cần thiết cho thủ tục này.");
    return 0;
}
