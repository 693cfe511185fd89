/* A citizen's VNeID login on a public-service agent's device, as their
 * consent that the agent files for them (issue 19; dossiers/agents.c owns
 * the consent): the same authorization code flow as the app's login
 * (oidc.c, oidc_flow.c), with its own login sessions (purpose
 * 'agent_consent', bound to the agent: another agent, or the citizens'
 * callback, cannot finish it). The result is the verified identity, sealed
 * and hashed as the citizens' table keeps it; no token family is started:
 * the citizen is not logged in on the agent's device. */
#include "internal.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int st_begin, st_consume;

int cds_vneid_consent_init(void)
{
    st_begin = cds_db_stmt_register(
        "vneid_consent_begin",
        "SELECT cds_rfc3339(cds_vneid_consent_begin($1::uuid, $2, $3, $4, $5::int))", 5);
    st_consume = cds_db_stmt_register(
        "vneid_consent_consume",
        "SELECT status, nonce, verifier FROM cds_vneid_consent_consume($1::uuid, $2)", 2);
    return st_begin < 0 || st_consume < 0 ? -1 : 0;
}

static void provider_down(cds_req *r)
{
    cds_problem(r, 502, "identity_provider_unavailable",
                "Không kết nối được với VNeID, vui lòng thử lại sau.");
}

/* ---------------- start ---------------- */

typedef struct start_ctx {
    void *saved_user;
    cds_vneid_consent_start_cont cont;
    char staff_id[37];
    cds_oidc_attempt a;
} start_ctx;

static void on_begun(cds_req *r, PGresult *res)
{
    start_ctx *s = cds_req_user(r);
    cds_req_set_user(r, s->saved_user, NULL);
    if (!cds_req_db_one(r, "auth_db", res, CDS_P_INTERNAL)) return;
    if (PQgetisnull(res, 0, 0)) {
        cds_problem(r, 403, "staff_disabled", "Tài khoản đại lý này đã bị vô hiệu hóa.");
        return;
    }
    char *url = cds_oidc_authorize_url(r, CDS_OIDC_VNEID, s->a.state, s->a.nonce, s->a.challenge,
                                       "urn:vneid:ial:1");
    if (!url) {
        provider_down(r);
        return;
    }
    s->cont(r, url, s->a.state, PQgetvalue(res, 0, 0));
}

static void start_discovered(cds_req *r, int ok)
{
    start_ctx *s = cds_req_user(r);
    if (ok != 0) {
        cds_req_set_user(r, s->saved_user, NULL);
        provider_down(r);
        return;
    }
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", g_auth.login_ttl_s);
    const char *p[] = {s->staff_id, s->a.state_hash, s->a.nonce, s->a.verifier, ttl};
    if (cds_req_db(r, st_begin, 5, p, on_begun) != 0) cds_req_set_user(r, s->saved_user, NULL);
}

void cds_vneid_consent_start(cds_req *r, const char *staff_id, cds_vneid_consent_start_cont cont)
{
    start_ctx *s = cds_req_alloc(r, sizeof *s);
    memset(s, 0, sizeof *s);
    s->saved_user = cds_req_user(r);
    s->cont = cont;
    snprintf(s->staff_id, sizeof s->staff_id, "%s", staff_id);
    cds_oidc_attempt_new(&s->a);
    cds_req_set_user(r, s, NULL);
    cds_oidc_discover(r, CDS_OIDC_VNEID, start_discovered);
}

/* ---------------- finish ---------------- */

typedef struct finish_ctx {
    void *saved_user;
    cds_vneid_consent_finish_cont cont;
    char staff_id[37], code[513], state_hash[64];
} finish_ctx;

static char *seal_arena(cds_req *r, const char *plain, const char *aad)
{
    if (!plain || !*plain) return NULL;
    char *s = cds_auth_seal(plain, aad);
    char *out = s ? cds_req_strdup(r, s) : NULL;
    free(s);
    return out;
}

static void on_claims(cds_req *r, int status, const json_t *claims)
{
    finish_ctx *f = cds_req_user(r);
    cds_req_set_user(r, f->saved_user, NULL);
    if (status == CDS_OIDC_FLOW_CODE_INVALID) {
        cds_problem(r, 400, "login_code_invalid",
                    "Mã đăng nhập không hợp lệ hoặc đã được sử dụng, vui lòng đăng nhập lại.");
        return;
    }
    const char *why = "the ID token line before says why";
    cds_identity *id = cds_req_alloc(r, sizeof *id);
    if (status == CDS_OIDC_FLOW_OK && cds_identity_from_claims(claims, id, &why) == 0) {
        cds_vneid_person *p = cds_req_alloc(r, sizeof *p);
        memset(p, 0, sizeof *p);
        cds_auth_pid_hash(id->pid, p->pid_hash);
        p->pid_sealed = seal_arena(r, id->pid, "citizen.pid");
        p->address_sealed = seal_arena(r, id->address, "citizen.address");
        p->phone_sealed = seal_arena(r, id->phone, "citizen.phone");
        p->sub = cds_req_strdup(r, id->sub);
        p->name = cds_req_strdup(r, id->name);
        p->birthdate = id->birthdate[0] ? cds_req_strdup(r, id->birthdate) : NULL;
        p->gender = id->gender[0] ? cds_req_strdup(r, id->gender) : NULL;
        p->ial = id->ial;
        if (!p->pid_sealed) {
            cds_fail(r, CDS_P_INTERNAL);
            return;
        }
        f->cont(r, p);
        return;
    }
    if (status == CDS_OIDC_FLOW_OK || status == CDS_OIDC_FLOW_ID_TOKEN_INVALID) {
        cds_log(CDS_LOG_WARN, "vneid_consent", "refused: %s", why);
        cds_problem(r, 401, "id_token_invalid",
                    "Không xác thực được thông tin đăng nhập từ VNeID, vui lòng đăng nhập lại.");
    } else if (status == CDS_OIDC_FLOW_REFUSED) {
        cds_problem(r, 502, "identity_provider_error",
                    "VNeID từ chối yêu cầu đăng nhập, vui lòng thử lại sau.");
    } else {
        provider_down(r);
    }
}

static void on_consumed(cds_req *r, PGresult *res)
{
    finish_ctx *f = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_set_user(r, f->saved_user, NULL);
        cds_req_db_failed(r, "auth_db", res);
        return;
    }
    const char *status = PQgetvalue(res, 0, 0);
    if (strcmp(status, "ok") != 0) {
        cds_req_set_user(r, f->saved_user, NULL);
        cds_problem(r, 400, "login_state_invalid",
                    "Phiên đăng nhập không tồn tại, đã dùng hoặc đã hết hạn, vui lòng đăng nhập lại.");
        return;
    }
    cds_oidc_code_exchange(r, CDS_OIDC_VNEID, f->code, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
                           on_claims);
}

void cds_vneid_consent_finish(cds_req *r, const char *staff_id, const char *code, const char *state,
                              cds_vneid_consent_finish_cont cont)
{
    size_t cl = code ? strlen(code) : 0, sl = state ? strlen(state) : 0;
    int ok = cl > 0 && cl <= 512 && sl > 0 && sl <= 128;
    for (const char *c = code; ok && *c; c++) ok = *c > ' ' && *c <= '~';
    for (const char *c = state; ok && *c; c++) ok = *c > ' ' && *c <= '~';
    if (!ok) {
        cds_problem(r, 422, "invalid_login_callback",
                    "Thiếu mã đăng nhập (code) hoặc mã phiên (state) hợp lệ.");
        return;
    }
    finish_ctx *f = cds_req_alloc(r, sizeof *f);
    memset(f, 0, sizeof *f);
    f->saved_user = cds_req_user(r);
    f->cont = cont;
    snprintf(f->staff_id, sizeof f->staff_id, "%s", staff_id);
    snprintf(f->code, sizeof f->code, "%s", code);
    cds_auth_sha256_b64url(state, f->state_hash, sizeof f->state_hash);
    cds_req_set_user(r, f, NULL);
    const char *p[] = {f->staff_id, f->state_hash};
    if (cds_req_db(r, st_consume, 2, p, on_consumed) != 0) cds_req_set_user(r, f->saved_user, NULL);
}
