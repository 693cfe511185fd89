/* Filing at a public-service agent (issue 19 part 1): an agent (staff role
 * agent, auth/staff.h) files a dossier FOR a citizen, who owns it.
 *
 *   POST /v1/agent/consents {personal_id}       a 6-digit code goes by SMS to
 *        the citizen's phone on record (the notification outbox, template
 *        agent_consent); 5 minutes, 5 tries; at most 3 codes per citizen and
 *        20 per agent in 15 minutes
 *   POST /v1/agent/consents/{id}/verify {code}  the citizen reads it out;
 *        granted: the agent may act for the citizen for 2 hours
 *   POST /v1/agent/vneid-consents, .../callback {code, state}   or the
 *        citizen logs in with VNeID on the agent's device (auth/auth.h,
 *        cds_vneid_consent_*): granted at once
 *   GET  /v1/agent/consents/{id}/citizen        the citizen's data to prefill
 *        the form: only after consent
 *   POST /v1/agent/consents/{id}/attachments    scans, owned by the citizen
 *   POST /v1/agent/dossiers {consent_id, procedure_code, form, ...}   filing
 *        (filing.c's checks and SQL), marked as filed by the agent
 *   GET  /v1/agent/dossiers, /v1/agent/dossiers/{id}   only what they filed
 *   POST /v1/agent/dossiers/{id}/cash {amount_vnd}      cash at the counter,
 *        credited and receipted like a transfer (Idempotency-Key required)
 *   GET  /v1/partner/agents/counts?from=&to=   dossiers per location and day
 * and the printed lookup slip (agent_slip.c). Every action is in the audit
 * log with the agent as actor and the citizen or dossier as subject; the
 * citizen's read of the dossier says who filed it, where and when
 * ("filed_by", cds_dossier_json). */
#include "internal.h"
#include "auth/auth.h"
#include "auth/staff.h"
#include "core/date.h"
#include "core/db.h"
#include "core/digest.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/uuid.h"
#include "core/vn.h"
#include "payment/reference.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONSENT_TTL_S 300   /* the code's life: 5 minutes */
#define CONSENT_TRIES 5     /* wrong codes before the consent is locked */
#define CONSENT_ACT_S 7200  /* how long a granted consent lets the agent act */
#define PER_PHONE 3         /* codes per citizen per window */
#define PER_AGENT 20        /* codes per agent per window */
#define WINDOW_S 900

static int st_start, st_verify, st_vneid, st_citizen, st_list, st_get, st_cash, st_counts;

int cds_agents_init(void)
{
    st_start = cds_db_stmt_register(
        "agent_consent_start",
        "SELECT status, expires_at, phone_sealed FROM cds_agent_consent_start($1::uuid, $2::uuid, "
        "$3, $4, $5, $6::int, $7::int, $8::int, $9::int, $10)",
        10);
    st_verify = cds_db_stmt_register(
        "agent_consent_verify",
        "SELECT status, tries_left, act_until FROM cds_agent_consent_verify($1::uuid, $2::uuid, $3, "
        "$4::int, $5::int)",
        5);
    st_vneid = cds_db_stmt_register(
        "agent_consent_vneid",
        "SELECT status, act_until FROM cds_agent_consent_vneid($1::uuid, $2::uuid, $3, $4, $5, $6, "
        "$7::date, $8, $9, $10, $11::smallint, $12::int)",
        12);
    st_citizen = cds_db_stmt_register(
        "agent_consent_citizen",
        "SELECT status, citizen_id, ial, full_name, birth_date, gender, pid_sealed, address_sealed, "
        "phone_sealed FROM cds_agent_consent_citizen($1::uuid, $2::uuid, $3)",
        3);
    st_list = cds_db_stmt_register(
        "agent_dossier_list",
        "SELECT cds_dossier_json(d.id, false), d.created_at::text, d.id FROM dossiers d "
        "WHERE d.filed_by_staff = $1::uuid AND (cds_agent_row($1::uuid)).id IS NOT NULL "
        "AND ($2::timestamptz IS NULL OR (d.created_at, d.id) < ($2::timestamptz, $3::uuid)) "
        "ORDER BY d.created_at DESC, d.id DESC LIMIT $4::int",
        4);
    st_get = cds_db_stmt_register(
        "agent_dossier_get",
        "SELECT d.view, d.code, d.id, cds_dossier_overdue(d.due_date, d.status) FROM dossiers d "
        "WHERE d.id = $1::uuid AND d.filed_by_staff = $2::uuid "
        "AND (cds_agent_row($2::uuid)).id IS NOT NULL",
        2);
    st_cash = cds_db_stmt_register(
        "agent_cash",
        "SELECT status, due, payment_id, payment_status, receipt_id FROM cds_agent_cash($1::uuid, "
        "$2::uuid, $3::bigint, $4, $5, $6)",
        6);
    st_counts = cds_db_stmt_register_ro("agent_counts", "SELECT cds_agent_counts($1::date, $2::date)", 2);
    int all[] = {st_start, st_verify, st_vneid, st_citizen, st_list, st_get, st_cash, st_counts};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] < 0) return -1;
    return 0;
}

void cds_agent_refused(cds_req *r, const char *status)
{
    if (strcmp(status, "agent_disabled") == 0)
        cds_problem(r, 403, "staff_disabled", "Tài khoản đại lý này đã bị vô hiệu hóa.");
    else
        cds_problem(r, 403, "agent_consent_required",
                    "Cần sự đồng ý của công dân (mã xác nhận gửi qua SMS) trước khi thao tác thay "
                    "công dân, hoặc sự đồng ý đã hết hạn.");
}

/* hex SHA-256 of consent id ':' code: what the consent keeps. */
static void code_hash(const char *consent, const char *code, char out[65])
{
    unsigned char md[32];
    char in[64];
    int n = snprintf(in, sizeof in, "%s:%s", consent, code);
    cds_sha256(in, (size_t)n, md);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A uniformly random 6-digit code. */
static int new_code(char out[7])
{
    uint32_t v;
    do {
        if (RAND_bytes((unsigned char *)&v, sizeof v) != 1) return -1;
    } while (v >= 4294000000u); /* a multiple of 10^6: no bias */
    snprintf(out, 7, "%06u", (unsigned)(v % 1000000u));
    return 0;
}

/* "*******678": the last three digits. */
static const char *masked_phone(cds_req *r, const char *sealed)
{
    char *phone = sealed && *sealed ? cds_auth_open(sealed, "citizen.phone") : NULL;
    if (!phone) return NULL;
    size_t n = strlen(phone);
    char *m = cds_req_strdup(r, phone);
    for (size_t i = 0; i + 3 < n; i++) m[i] = '*';
    free(phone);
    return m;
}

/* ---------------- consent ---------------- */

static void on_started(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "agents_db", res, CDS_P_INTERNAL)) return;
    const char *st = PQgetvalue(res, 0, 0);
    const char *id = cds_req_user(r);
    if (strcmp(st, "sent") == 0) {
        const char *phone = masked_phone(r, PQgetvalue(res, 0, 2));
        cds_resp_header(r, "cache-control", "no-store");
        cds_respond_json(r, 201, json_pack("{s:s,s:s,s:s,s:i,s:s?}", "id", id, "method", "sms",
                                           "expires_at", PQgetvalue(res, 0, 1), "max_tries",
                                           CONSENT_TRIES, "phone", phone));
    } else if (strcmp(st, "citizen_not_found") == 0 || strcmp(st, "no_phone") == 0) {
        cds_problem(r, 404, "citizen_not_found",
                    "Không tìm thấy công dân có số định danh này với số điện thoại đã đăng ký; "
                    "công dân cần đăng nhập VNeID trên ứng dụng hoặc có hồ sơ đã nộp trước đó.");
    } else if (strncmp(st, "rate_limited", 12) == 0) {
        cds_resp_header(r, "retry-after", "900");
        cds_problem(r, 429, "too_many_requests",
                    strcmp(st, "rate_limited_phone") == 0
                        ? "Đã gửi quá nhiều mã xác nhận đến số điện thoại này, vui lòng thử lại sau."
                        : "Đại lý đã gửi quá nhiều mã xác nhận, vui lòng thử lại sau.");
    } else {
        cds_agent_refused(r, st);
    }
}

void cds_agent_consent_start(cds_req *r)
{
    const cds_staff_principal *a = cds_auth_staff(r, CDS_STAFF_AGENT);
    if (!a) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *pid = json_string_value(json_object_get(j, "personal_id"));
    if (!json_is_object(j) || !cds_vn_pid_valid(pid)) {
        cds_problem(r, 422, "invalid_applicant", "Số định danh cá nhân phải gồm 12 chữ số hợp lệ.");
        return;
    }
    char *id = cds_req_alloc(r, 37), code[7], hash[65], pid_hash[65], ttl[12], pp[12], pa[12], win[12];
    cds_uuid_v4(id);
    if (new_code(code) != 0) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    code_hash(id, code, hash);
    cds_auth_pid_hash(pid, pid_hash);
    snprintf(ttl, sizeof ttl, "%d", CONSENT_TTL_S);
    snprintf(pp, sizeof pp, "%d", PER_PHONE);
    snprintf(pa, sizeof pa, "%d", PER_AGENT);
    snprintf(win, sizeof win, "%d", WINDOW_S);
    cds_req_set_user(r, id, NULL);
    const char *p[] = {a->staff_id, id, pid_hash, code, hash, ttl, pp, pa, win, cds_req_trace_stored(r)};
    cds_req_db(r, st_start, 10, p, on_started);
}

static void on_verified(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "agents_db", res, CDS_P_INTERNAL)) return;
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "granted") == 0) {
        cds_respond_json(r, 200, json_pack("{s:s,s:s,s:s}", "id", cds_req_param(r, "id"), "status",
                                           "granted", "act_until", PQgetvalue(res, 0, 2)));
    } else if (strcmp(st, "wrong") == 0) {
        cds_resp_header(r, "x-tries-left", PQgetvalue(res, 0, 1));
        cds_problem(r, 403, "consent_code_wrong",
                    cds_req_printf(r, "Mã xác nhận không đúng; còn %s lần thử.", PQgetvalue(res, 0, 1)));
    } else if (strcmp(st, "locked") == 0) {
        cds_problem(r, 429, "consent_code_locked",
                    "Đã nhập sai mã xác nhận quá số lần cho phép; hãy gửi mã mới.");
    } else if (strcmp(st, "expired") == 0) {
        cds_problem(r, 410, "consent_code_expired", "Mã xác nhận đã hết hạn; hãy gửi mã mới.");
    } else if (strcmp(st, "not_found") == 0) {
        cds_problem(r, 404, "consent_not_found", "Không có yêu cầu đồng ý này của đại lý.");
    } else {
        cds_agent_refused(r, st);
    }
}

void cds_agent_consent_verify(cds_req *r)
{
    const cds_staff_principal *a = cds_auth_staff(r, CDS_STAFF_AGENT);
    if (!a) return;
    const char *id = cds_req_param(r, "id");
    if (!cds_uuid_valid(id)) {
        cds_problem(r, 404, "consent_not_found", "Không có yêu cầu đồng ý này của đại lý.");
        return;
    }
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *code = json_string_value(json_object_get(j, "code"));
    size_t n = code ? strlen(code) : 0;
    int digits = n == 6;
    for (size_t i = 0; digits && i < n; i++) digits = code[i] >= '0' && code[i] <= '9';
    if (!json_is_object(j) || !digits) {
        cds_problem(r, 422, "invalid_format", "Mã xác nhận gồm 6 chữ số.");
        return;
    }
    char hash[65], tries[12], act[12];
    code_hash(id, code, hash);
    snprintf(tries, sizeof tries, "%d", CONSENT_TRIES);
    snprintf(act, sizeof act, "%d", CONSENT_ACT_S);
    const char *p[] = {a->staff_id, id, hash, tries, act};
    cds_req_db(r, st_verify, 5, p, on_verified);
}

/* ---------------- consent by a VNeID login on the agent's device ---------------- */

static void vneid_started(cds_req *r, const char *url, const char *state, const char *expires_at)
{
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200, json_pack("{s:s,s:s,s:s}", "authorization_url", url, "state", state,
                                       "expires_at", expires_at));
}

void cds_agent_vneid_consent_start(cds_req *r)
{
    const cds_staff_principal *a = cds_auth_staff(r, CDS_STAFF_AGENT);
    if (!a) return;
    cds_vneid_consent_start(r, a->staff_id, vneid_started);
}

static void on_vneid_granted(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "agents_db", res, CDS_P_INTERNAL)) return;
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "granted") != 0) {
        cds_agent_refused(r, st);
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 201, json_pack("{s:s,s:s,s:s,s:s}", "id", (const char *)cds_req_user(r),
                                       "method", "vneid", "status", "granted", "act_until",
                                       PQgetvalue(res, 0, 1)));
}

static void vneid_identified(cds_req *r, const cds_vneid_person *who)
{
    const cds_staff_principal *a = cds_req_user(r);
    char *id = cds_req_alloc(r, 37), ial[4], act[12];
    cds_uuid_v4(id);
    snprintf(ial, sizeof ial, "%d", who->ial);
    snprintf(act, sizeof act, "%d", CONSENT_ACT_S);
    const char *p[] = {a->staff_id, id, who->pid_hash, who->pid_sealed, who->sub, who->name,
                       who->birthdate, who->gender, who->address_sealed, who->phone_sealed, ial, act};
    cds_req_set_user(r, id, NULL);
    cds_req_db(r, st_vneid, 12, p, on_vneid_granted);
}

void cds_agent_vneid_consent_finish(cds_req *r)
{
    const cds_staff_principal *a = cds_auth_staff(r, CDS_STAFF_AGENT);
    if (!a) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    cds_req_set_user(r, (void *)a, NULL);
    cds_vneid_consent_finish(r, a->staff_id, json_string_value(json_object_get(j, "code")),
                             json_string_value(json_object_get(j, "state")), vneid_identified);
}

/* ---------------- acting under a consent ---------------- */

typedef enum { ACT_PREFILL, ACT_FILE, ACT_UPLOAD } act_kind;
typedef struct act_ctx {
    act_kind kind;
    const cds_staff_principal *agent;
    const char *consent;
    json_t *body;
} act_ctx;

static json_t *opened(const char *sealed, const char *aad)
{
    char *v = sealed && *sealed ? cds_auth_open(sealed, aad) : NULL;
    json_t *j = v ? json_string(v) : json_null();
    free(v);
    return j;
}

static void on_consent(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "agents_db", res, CDS_P_INTERNAL)) return;
    act_ctx *c = cds_req_user(r);
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "ok") != 0) {
        cds_agent_refused(r, st);
        return;
    }
    cds_principal *p = cds_req_alloc(r, sizeof *p);
    memset(p, 0, sizeof *p);
    snprintf(p->citizen_id, sizeof p->citizen_id, "%s", PQgetvalue(res, 0, 1));
    p->ial = (int)strtol(PQgetvalue(res, 0, 2), NULL, 10);
    if (c->kind == ACT_FILE) {
        cds_dossier_file_for(r, p, c->body, c->agent->staff_id, c->consent);
    } else if (c->kind == ACT_UPLOAD) {
        cds_attachment_upload_as(r, p);
    } else {
        json_t *j = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "consent_id", c->consent,
                              "full_name", PQgetvalue(res, 0, 3), "personal_id",
                              opened(PQgetvalue(res, 0, 6), "citizen.pid"), "birth_date",
                              PQgetisnull(res, 0, 4) ? json_null() : json_string(PQgetvalue(res, 0, 4)),
                              "gender",
                              PQgetisnull(res, 0, 5) ? json_null() : json_string(PQgetvalue(res, 0, 5)),
                              "address", opened(PQgetvalue(res, 0, 7), "citizen.address"), "phone",
                              opened(PQgetvalue(res, 0, 8), "citizen.phone"), "identification_level",
                              PQgetisnull(res, 0, 2) ? json_null() : json_integer(p->ial));
        cds_resp_header(r, "cache-control", "no-store");
        cds_respond_json(r, 200, j);
    }
}

static void act(cds_req *r, act_kind kind, const char *consent, json_t *body)
{
    const cds_staff_principal *a = cds_auth_staff(r, CDS_STAFF_AGENT);
    if (!a) return;
    if (!cds_uuid_valid(consent)) {
        cds_agent_refused(r, "no_consent");
        return;
    }
    act_ctx *c = cds_req_alloc(r, sizeof *c);
    c->kind = kind;
    c->agent = a;
    c->consent = consent;
    c->body = body;
    cds_req_set_user(r, c, NULL);
    /* Reading the citizen's data and uploading for them are audited here;
     * filing is, with its outcome, by cds_agent_file. */
    const char *action = kind == ACT_PREFILL ? "agent_prefill_read" : kind == ACT_UPLOAD ? "agent_upload" : NULL;
    const char *p[] = {a->staff_id, consent, action};
    cds_req_db(r, st_citizen, 3, p, on_consent);
}

void cds_agent_consent_citizen(cds_req *r)
{
    act(r, ACT_PREFILL, cds_req_param(r, "id"), NULL);
}

void cds_agent_attachment_upload(cds_req *r)
{
    act(r, ACT_UPLOAD, cds_req_param(r, "id"), NULL);
}

void cds_agent_dossier_file(cds_req *r)
{
    if (!cds_auth_staff(r, CDS_STAFF_AGENT)) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    act(r, ACT_FILE, json_string_value(json_object_get(j, "consent_id")), j);
}

/* ---------------- the agent's own dossiers ---------------- */

static void on_list(cds_req *r, PGresult *res)
{
    if (cds_req_db_rows(r, "agents_db", res)) cds_dossier_list_respond(r, res);
}

void cds_agent_dossiers_list(cds_req *r)
{
    const cds_staff_principal *a = cds_auth_staff(r, CDS_STAFF_AGENT);
    if (!a) return;
    cds_page *pg = cds_req_page_after(r, 20, 100);
    if (!pg) return;
    const char *p[] = {a->staff_id, pg->after_time, pg->after_id, pg->fetch};
    cds_req_db(r, st_list, 4, p, on_list);
}

static void on_get(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "agents_db", res, CDS_P_DOSSIER_NOT_FOUND)) return;
    cds_dossier_respond(r, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1),
                        PQgetvalue(res, 0, 3)[0] == 't');
}

void cds_agent_dossier_get(cds_req *r)
{
    const cds_staff_principal *a = cds_auth_staff(r, CDS_STAFF_AGENT);
    if (!a) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_DOSSIER_NOT_FOUND);
    if (!id) return;
    const char *p[] = {id, a->staff_id};
    cds_req_db(r, st_get, 2, p, on_get);
}

/* ---------------- cash at the counter ---------------- */

static void on_cash(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "agents_db", res, CDS_P_INTERNAL)) return;
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "applied") == 0 || strcmp(st, "duplicate") == 0) {
        cds_respond_json(r, strcmp(st, "applied") == 0 ? 201 : 200,
                         json_pack("{s:s,s:s,s:s,s:o}", "status", st, "payment_id",
                                   PQgetvalue(res, 0, 2), "payment_status", PQgetvalue(res, 0, 3),
                                   "receipt_id",
                                   PQgetisnull(res, 0, 4) ? json_null() : json_string(PQgetvalue(res, 0, 4))));
    } else if (strcmp(st, "not_found") == 0) {
        cds_fail(r, CDS_P_DOSSIER_NOT_FOUND);
    } else if (strcmp(st, "not_payable") == 0) {
        cds_problem(r, 409, "payment_not_requested", "Hồ sơ chưa có yêu cầu nộp phí, lệ phí.");
    } else if (strcmp(st, "amount_mismatch") == 0) {
        cds_problem(r, 422, "bad_amount",
                    cds_req_printf(r, "Số tiền nộp phải đúng số còn phải nộp: %s đồng.",
                                   PQgetvalue(res, 0, 1)));
    } else if (strcmp(st, "no_account") == 0) {
        cds_problem(r, 409, "payment_account_missing", "Cơ quan giải quyết chưa có tài khoản nhận tiền.");
    } else {
        cds_agent_refused(r, st);
    }
}

void cds_agent_cash(cds_req *r)
{
    const cds_staff_principal *a = cds_auth_staff(r, CDS_STAFF_AGENT);
    if (!a) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_DOSSIER_NOT_FOUND);
    if (!id) return;
    const char *key = cds_req_header(r, "idempotency-key");
    if (!key || !cds_printable(key, 100)) {
        cds_problem(r, 400, "invalid_idempotency_key",
                    "Cần Idempotency-Key (1-100 ký tự in được) để một lần thu tiền chỉ được ghi một lần.");
        return;
    }
    json_t *j = cds_req_json(r);
    if (!j) return;
    json_t *amt = json_object_get(j, "amount_vnd");
    if (!json_is_object(j) || !json_is_integer(amt) || json_integer_value(amt) < 1 ||
        json_integer_value(amt) > 999999999999LL) {
        cds_problem(r, 422, "bad_amount", "Số tiền (amount_vnd) phải là số nguyên đồng dương.");
        return;
    }
    char *ref = cds_req_alloc(r, CDS_PAYREF_LEN + 1), amount[24];
    if (cds_payref_new(ref) != 0) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    snprintf(amount, sizeof amount, "%lld", (long long)json_integer_value(amt));
    const char *p[] = {a->staff_id, id, amount, key, ref, cds_req_trace_stored(r)};
    cds_req_db(r, st_cash, 6, p, on_cash);
}

/* ---------------- counts for the partner API ---------------- */

static void on_counts(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "agents_db", res, CDS_P_INTERNAL)) return;
    const char *body = PQgetvalue(res, 0, 0);
    char *out = cds_req_printf(r, "{\"from\":\"%s\",\"to\":\"%s\",\"items\":%s}",
                               cds_req_query(r, "from"), cds_req_query(r, "to"), body);
    cds_respond(r, 200, "application/json", out, strlen(out));
}

void cds_partner_agent_counts(cds_req *r)
{
    if (!cds_partner_auth(r)) return;
    const char *from = cds_req_query(r, "from"), *to = cds_req_query(r, "to");
    long df, dt;
    if (!from || !to || cds_date_parse(from, 2000, 2100, &df) != 0 ||
        cds_date_parse(to, 2000, 2100, &dt) != 0 || dt < df || dt - df > 366) {
        cds_problem(r, 400, "invalid_date_range",
                    "Cần from và to dạng YYYY-MM-DD, from ≤ to, tối đa 367 ngày.");
        return;
    }
    const char *p[] = {from, to};
    cds_req_db(r, st_counts, 2, p, on_counts);
}
