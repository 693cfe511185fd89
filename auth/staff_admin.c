/* Operators manage staff accounts (auth/staff.h): create one (the password
 * hashed with argon2id on the work pool, a fresh TOTP secret sealed), and
 * disable one (its sessions end on every node). The C calls serve the
 * operators' console; the JSON routes (operators' staff token):
 *
 *   POST /v1/staff/accounts               {login, display_name, role,
 *        agent_location_id?, password?, oidc_subject?} -> 201 {id, login,
 *        role, totp_secret?, otpauth_uri?} (the secret shown this once)
 *   POST /v1/staff/accounts/{id}/disable  -> 200 {id, disabled_at}
 *
 * Both are in the audit log with the operator as actor (SQL
 * cds_staff_create / cds_staff_disable, as `cds staff` uses). */
#include "internal.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/uuid.h"
#include "core/workpool.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int st_create, st_disable;

int cds_staff_admin_init(void)
{
    st_create = cds_db_stmt_register(
        "staff_create",
        "SELECT status, id, created_at FROM cds_staff_create($1, $2, $3, $4::uuid, $5, $6, $7, $8)", 8);
    st_disable = cds_db_stmt_register(
        "staff_disable", "SELECT status, COALESCE(disabled_at, '') FROM cds_staff_disable($1::uuid, $2)", 2);
    return st_create < 0 || st_disable < 0 ? -1 : 0;
}

/* ---------------- create ---------------- */

typedef struct create_job create_job;
typedef struct create_ctx {
    void *saved_user;
    cds_staff_create_cont cont;
    cds_staff_new n; /* strings copied into the arena */
    create_job *job;
    cds_staff_created out;
} create_ctx;

struct create_job {
    cds_req *r;
    cds_job *job;
    int slot;
    char password[129];
    int with_password;
    char hash[CDS_STAFF_HASH_MAX];
    char secret[33];
    char *sealed;
    int ok;
};

static void job_free(void *arg)
{
    create_job *j = arg;
    OPENSSL_cleanse(j->password, sizeof j->password);
    OPENSSL_cleanse(j->secret, sizeof j->secret);
    free(j->sealed);
    free(j);
}

static void create_end(cds_req *r, create_ctx *c, cds_staff_create_status st)
{
    c->out.status = st;
    cds_req_set_user(r, c->saved_user, NULL);
    c->cont(r, &c->out);
}

static void on_created(cds_req *r, PGresult *res)
{
    create_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_log(CDS_LOG_WARN, "staff_create", "database: %s", res ? PQresultErrorMessage(res) : "lost");
        create_end(r, c, CDS_STAFF_CREATE_UNAVAILABLE);
        return;
    }
    const char *st = PQgetvalue(res, 0, 0);
    c->out.id = cds_req_strdup(r, PQgetvalue(res, 0, 1));
    if (strcmp(st, "created") == 0) create_end(r, c, CDS_STAFF_CREATED);
    else if (strcmp(st, "exists") == 0) create_end(r, c, CDS_STAFF_CREATE_EXISTS);
    else if (strcmp(st, "no_location") == 0) create_end(r, c, CDS_STAFF_CREATE_NO_LOCATION);
    else create_end(r, c, CDS_STAFF_CREATE_INVALID);
}

static void job_work(void *arg)
{
    create_job *j = arg;
    j->ok = 1;
    if (!j->with_password) return;
    j->ok = cds_staff_password_hash(j->password, j->hash) == 0 && cds_totp_secret_new(j->secret) == 0 &&
            (j->sealed = cds_staff_totp_seal(j->secret)) != NULL;
}

static void job_done(void *arg)
{
    create_job *j = arg;
    cds_req *r = j->r;
    create_ctx *c = cds_req_user(r);
    cds_req_untrack(r, j->slot);
    c->job = NULL;
    if (!j->ok) {
        job_free(j);
        create_end(r, c, CDS_STAFF_CREATE_UNAVAILABLE);
        return;
    }
    if (j->with_password) {
        c->out.totp_secret = cds_req_strdup(r, j->secret);
        char *uri = cds_totp_uri(g_auth.totp_issuer, c->n.login, j->secret);
        c->out.otpauth_uri = uri ? cds_req_strdup(r, uri) : NULL;
        free(uri);
    }
    const char *p[] = {c->n.login, c->n.display_name, cds_staff_role_name(c->n.role),
                       c->n.location_id, j->with_password ? j->hash : NULL, j->sealed,
                       c->n.oidc_subject, c->n.by};
    /* Refused, the request is answered 503 (cds_req_db): cont is not called. */
    if (cds_req_db(r, st_create, 8, p, on_created) != 0) cds_req_set_user(r, c->saved_user, NULL);
    job_free(j);
}

static void job_abandon(void *handle)
{
    create_job *j = handle;
    cds_job_cancel(j->job);
}

static const char *why_invalid(const cds_staff_new *n)
{
    const char *why = NULL;
    size_t ll = n->login ? strlen(n->login) : 0;
    if (ll < 2 || ll > 64) return "login: 2 to 64 characters a-z 0-9 . _ -";
    for (size_t i = 0; i < ll; i++) {
        char ch = n->login[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              (i > 0 && (ch == '.' || ch == '_' || ch == '-'))))
            return "login: 2 to 64 characters a-z 0-9 . _ -";
    }
    if (!n->display_name || !*n->display_name || strlen(n->display_name) > 200)
        return "display_name: 1 to 200 bytes";
    if (!cds_staff_role_name(n->role)) return "role: operator, auditor or agent";
    if ((n->role == CDS_STAFF_AGENT) != (n->location_id && cds_uuid_valid(n->location_id)))
        return "agent_location_id: required (a UUID) for an agent, absent otherwise";
    if (!n->password && !n->oidc_subject) return "password or oidc_subject: one is needed";
    if (n->password && !cds_staff_password_acceptable(n->password, &why)) return why;
    if (n->oidc_subject && (!*n->oidc_subject || strlen(n->oidc_subject) > 255))
        return "oidc_subject: 1 to 255 bytes";
    if (!n->by || !*n->by) return "by: who creates it";
    return NULL;
}

void cds_staff_create(cds_req *r, const cds_staff_new *n, cds_staff_create_cont cont)
{
    create_ctx *c = cds_req_alloc(r, sizeof *c);
    memset(c, 0, sizeof *c);
    c->saved_user = cds_req_user(r);
    c->cont = cont;
    c->out.why = why_invalid(n);
    if (c->out.why) {
        c->out.status = CDS_STAFF_CREATE_INVALID;
        cont(r, &c->out);
        return;
    }
    c->n.login = cds_req_strdup(r, n->login);
    c->n.display_name = cds_req_strdup(r, n->display_name);
    c->n.role = n->role;
    c->n.location_id = n->location_id ? cds_req_strdup(r, n->location_id) : NULL;
    c->n.oidc_subject = n->oidc_subject ? cds_req_strdup(r, n->oidc_subject) : NULL;
    c->n.by = cds_req_strdup(r, n->by);
    create_job *j = calloc(1, sizeof *j);
    if (!j) {
        c->out.status = CDS_STAFF_CREATE_UNAVAILABLE;
        cont(r, &c->out);
        return;
    }
    j->r = r;
    j->slot = -1;
    j->with_password = n->password != NULL;
    if (n->password) snprintf(j->password, sizeof j->password, "%s", n->password);
    cds_req_set_user(r, c, NULL);
    c->job = j;
    j->job = cds_job_submit(cds_req_worker(r)->base, job_work, job_done, job_free, j);
    if (!j->job) {
        job_free(j);
        create_end(r, c, CDS_STAFF_CREATE_UNAVAILABLE);
        return;
    }
    j->slot = cds_req_track(r, job_abandon, j);
}

/* ---------------- disable ---------------- */

typedef struct disable_ctx {
    void *saved_user;
    cds_staff_disable_cont cont;
} disable_ctx;

static void on_disabled(cds_req *r, PGresult *res)
{
    disable_ctx *c = cds_req_user(r);
    cds_req_set_user(r, c->saved_user, NULL);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_log(CDS_LOG_WARN, "staff_disable", "database: %s", res ? PQresultErrorMessage(res) : "lost");
        c->cont(r, -2, NULL);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "not_found") == 0) c->cont(r, -1, NULL);
    else c->cont(r, 0, cds_req_strdup(r, PQgetvalue(res, 0, 1)));
}

void cds_staff_disable(cds_req *r, const char *staff_id, const char *by, cds_staff_disable_cont cont)
{
    if (!cds_uuid_valid(staff_id)) {
        cont(r, -1, NULL);
        return;
    }
    disable_ctx *c = cds_req_alloc(r, sizeof *c);
    c->saved_user = cds_req_user(r);
    c->cont = cont;
    cds_req_set_user(r, c, NULL);
    const char *p[] = {staff_id, by};
    if (cds_req_db(r, st_disable, 2, p, on_disabled) != 0) cds_req_set_user(r, c->saved_user, NULL);
}

/* ---------------- routes ---------------- */

static void created_answer(cds_req *r, const cds_staff_created *out)
{
    switch (out->status) {
    case CDS_STAFF_CREATED: break;
    case CDS_STAFF_CREATE_INVALID:
        cds_problem(r, 422, "invalid_staff_account",
                    cds_req_printf(r, "Thông tin tài khoản không hợp lệ (%s).", out->why ? out->why : "role"));
        return;
    case CDS_STAFF_CREATE_EXISTS:
        cds_problem(r, 409, "staff_exists", "Tên đăng nhập này đã được dùng cho một tài khoản khác.");
        return;
    case CDS_STAFF_CREATE_NO_LOCATION:
        cds_problem(r, 422, "agent_location_not_found", "Không có điểm đại lý với mã này.");
        return;
    default:
        cds_resp_header(r, "retry-after", "1");
        cds_fail(r, CDS_P_SERVICE_BUSY);
        return;
    }
    json_t *j = json_pack("{s:s}", "id", out->id);
    if (out->totp_secret) json_object_set_new(j, "totp_secret", json_string(out->totp_secret));
    if (out->otpauth_uri) json_object_set_new(j, "otpauth_uri", json_string(out->otpauth_uri));
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 201, j);
}

static const char *opt_string(cds_req *r, json_t *j, const char *name, int *bad)
{
    json_t *v = json_object_get(j, name);
    if (!v || json_is_null(v)) return NULL;
    if (!json_is_string(v)) *bad = 1;
    return json_string_value(v);
}

void cds_staff_accounts_create_route(cds_req *r)
{
    const cds_staff_principal *op = cds_auth_staff(r, CDS_STAFF_OPERATOR);
    if (!op) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    int bad = !json_is_object(j);
    cds_staff_new n = {0};
    n.login = opt_string(r, j, "login", &bad);
    n.display_name = opt_string(r, j, "display_name", &bad);
    n.role = cds_staff_role_parse(opt_string(r, j, "role", &bad));
    n.location_id = opt_string(r, j, "agent_location_id", &bad);
    n.password = opt_string(r, j, "password", &bad);
    n.oidc_subject = opt_string(r, j, "oidc_subject", &bad);
    n.by = cds_req_printf(r, "staff:%s", op->staff_id);
    if (bad) {
        cds_problem(r, 422, "invalid_staff_account", "Các trường của tài khoản phải là chuỗi ký tự.");
        return;
    }
    cds_staff_create(r, &n, created_answer);
}

static void disabled_answer(cds_req *r, int status, const char *at)
{
    if (status == -1) {
        cds_problem(r, 404, "staff_not_found", "Không có tài khoản cán bộ này.");
        return;
    }
    if (status != 0) {
        cds_resp_header(r, "retry-after", "1");
        cds_fail(r, CDS_P_SERVICE_BUSY);
        return;
    }
    cds_respond_json(r, 200, json_pack("{s:s,s:s}", "id", cds_req_param(r, "id"), "disabled_at", at));
}

void cds_staff_accounts_disable_route(cds_req *r)
{
    const cds_staff_principal *op = cds_auth_staff(r, CDS_STAFF_OPERATOR);
    if (!op) return;
    cds_staff_disable(r, cds_req_param(r, "id"), cds_req_printf(r, "staff:%s", op->staff_id),
                      disabled_answer);
}
