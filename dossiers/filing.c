/* The citizen's dossiers: file one (POST /v1/dossiers, Idempotency-Key
 * honoured), list them (newest first, signed cursor), read one with its
 * timeline, cancel it while the state machine allows, hand in the documents
 * asked for. Every statement is scoped by the token's subject: another
 * citizen's dossier is a 404. State changes are single SQL functions (see
 * 0003_dossiers.sql) that also write the step's notifications. */
#include "internal.h"
#include "auth/auth.h"
#include "delivery/delivery.h"
#include "core/cursor.h"
#include "core/digest.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/uuid.h"
#include "core/vn.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static int st_file_prepare, st_file, st_agent_file, st_get, st_list, st_citizen_step;

static const char *const steps[] = {"submitted", "received", "supplement_requested", "supplemented",
                                    "fee_requested", "paid", "processing", "result_ready",
                                    "out_for_delivery", "ready_for_pickup", "completed",
                                    "rejected", "cancelled"};

int cds_printable(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max) return 0;
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e) return 0;
    return 1;
}

int cds_step_known(const char *s)
{
    for (size_t i = 0; s && i < sizeof steps / sizeof steps[0]; i++)
        if (strcmp(s, steps[i]) == 0) return 1;
    return 0;
}

int cds_filing_init(void)
{
    st_file_prepare = cds_db_stmt_register(
        "dossier_file_prepare",
        "SELECT p.form_schema, p.ial_required, p.postal_allowed, p.required_documents, "
        "k.id, k.idempotency_hash FROM (SELECT 1) one "
        "LEFT JOIN procedures p ON p.code = $1 AND p.active "
        "LEFT JOIN dossiers k ON k.citizen_id = $2::uuid AND k.idempotency_key = $3",
        3);
    st_file = cds_db_stmt_register(
        "dossier_file",
        /* The code comes from the (volatile) JSON: a plain subquery would
         * read the statement's snapshot, taken before the dossier existed. */
        "SELECT f.status, f.dossier_id, j, j::jsonb->>'code' FROM cds_dossier_file("
        "$1::uuid, $2::uuid, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7, $8, $9, $10) f, "
        "LATERAL cds_dossier_json(f.dossier_id, true) j",
        10);
    st_agent_file = cds_db_stmt_register(
        "dossier_agent_file",
        "SELECT f.status, f.dossier_id, j, j::jsonb->>'code' FROM cds_agent_file("
        "$11::uuid, $12::uuid, $1::uuid, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7, $8, $9, $10) f, "
        "LATERAL cds_dossier_json(f.dossier_id, true) j WHERE $2::uuid IS NOT NULL",
        12);
    st_get = cds_db_stmt_register_ro(
        "dossier_get",
        "SELECT view, code, id, cds_dossier_overdue(due_date, status) "
        "FROM dossiers WHERE id = $1::uuid AND citizen_id = $2::uuid",
        2);
    st_list = cds_db_stmt_register(
        "dossier_list",
        "SELECT cds_dossier_json(d.id, false), d.created_at::text, d.id FROM dossiers d "
        "WHERE d.citizen_id = $1::uuid AND ($2::text IS NULL OR d.status = $2) "
        "AND ($3::timestamptz IS NULL OR (d.created_at, d.id) < ($3::timestamptz, $4::uuid)) "
        "ORDER BY d.created_at DESC, d.id DESC LIMIT $5::int",
        5);
    st_citizen_step = cds_db_stmt_register(
        "dossier_citizen_step",
        "SELECT s.status, s.dossier_status, cds_dossier_json($2::uuid, true), "
        "(SELECT code FROM dossiers WHERE id = $2::uuid), $2::uuid::text "
        "FROM cds_dossier_citizen_step($1::uuid, $2::uuid, $3, $4, $5, $6::jsonb, $7) s",
        7);
    return (st_file_prepare < 0 || st_file < 0 || st_agent_file < 0 || st_get < 0 || st_list < 0 ||
            st_citizen_step < 0)
               ? -1
               : 0;
}

/* s (UTF-8) as the inside of a JSON string at o; returns the end. */
static char *json_escape_into(char *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        } else {
            *o++ = (char)c;
        }
    }
    return o;
}

/* The dossier JSON from SQL plus its lookup link and secret (owner only).
 * The object is spliced into PostgreSQL's text rather than parsed and
 * re-serialised: the dossier can be kilobytes, the addition is small. */
void cds_dossier_respond(cds_req *r, int status, const char *json_text, const char *id,
                         const char *code, int overdue)
{
    size_t n = strlen(json_text);
    if (n < 2 || json_text[n - 1] != '}' || !cds_uuid_valid(id)) {
        cds_log(CDS_LOG_ERROR, "dossier_json", "unexpected dossier JSON from SQL (%zu bytes)", n);
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    char secret[CDS_LOOKUP_SECRET_LEN + 1];
    cds_lookup_secret(id, secret);
    const char *url = cds_lookup_url(r, code, secret);
    /* overdue < 0: the JSON has it already; else it is today's flag of a stored view.
     * Plain copies, not a printf or a JSON tree: formatting or parsing kilobytes
     * costs more than the query. */
    const char *flag = overdue < 0 ? "" : overdue ? ", \"overdue\": true" : ", \"overdue\": false";
    static const char k_url[] = ", \"lookup\": {\"url\":\"", k_secret[] = "\",\"secret\":\"", k_end[] = "\"}}";
    size_t fl = strlen(flag), ul = strlen(url), sl = strlen(secret);
    /* Escaped, a byte of the URL takes at most 6 (\u00XX); the secret is plain letters. */
    size_t cap = (n - 1) + fl + sizeof k_url - 1 + 6 * ul + sizeof k_secret - 1 + sl + sizeof k_end - 1;
    char *out = cds_req_alloc(r, cap), *o = out;
    memcpy(o, json_text, n - 1), o += n - 1;
    memcpy(o, flag, fl), o += fl;
    memcpy(o, k_url, sizeof k_url - 1), o += sizeof k_url - 1;
    o = json_escape_into(o, url, ul);
    memcpy(o, k_secret, sizeof k_secret - 1), o += sizeof k_secret - 1;
    o = json_escape_into(o, secret, sl);
    memcpy(o, k_end, sizeof k_end - 1), o += sizeof k_end - 1;
    size_t total = (size_t)(o - out);
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond(r, status, "application/json", out, total);
}

/* ================= filing ================= */

typedef struct file_ctx {
    const cds_principal *p;
    const char *agent_id, *consent_id; /* an agent files for the citizen p (agents.c) */
    json_t *body;         /* borrowed from the request */
    json_t *delivery;     /* the priced choice (delivery/), owned */
    const char *idem_key; /* NULL when none */
    char idem_hash[65];
    char id[37];
} file_ctx;

static void file_ctx_free(void *p)
{
    json_decref(((file_ctx *)p)->delivery);
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[32];
    cds_sha256(data, n, md);
    for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void on_filed(cds_req *r, PGresult *res)
{
    if (!cds_req_db_rows(r, "dossiers_db", res)) return;
    const char *status = PQgetvalue(res, 0, 0);
    if (strcmp(status, "created") == 0 || strcmp(status, "existing") == 0) {
        cds_dossier_respond(r, 201, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3), -1);
    } else if (strcmp(status, "key_reused") == 0) {
        cds_problem(r, 422, "idempotency_key_reused",
                    "Mã Idempotency-Key này đã được dùng cho một yêu cầu khác.");
    } else if (strcmp(status, "unknown_procedure") == 0) {
        cds_problem(r, 422, "unknown_procedure", "Thủ tục không tồn tại hoặc đã ngừng tiếp nhận.");
    } else if (strcmp(status, "level_insufficient") == 0) {
        cds_problem(r, 403, "identification_level_insufficient",
                    "Thủ tục này yêu cầu tài khoản định danh điện tử mức 2. Vui lòng nâng cấp tài "
                    "khoản VNeID lên mức 2 rồi đăng nhập lại.");
    } else if (strcmp(status, "attachment_not_found") == 0) {
        cds_problem(r, 422, "attachment_not_found", "Có tệp đính kèm không tồn tại hoặc không thuộc về bạn.");
    } else if (strcmp(status, "postal_not_allowed") == 0) {
        cds_fail(r, CDS_P_POSTAL_NOT_ALLOWED);
    } else if (strcmp(status, "no_consent") == 0 || strcmp(status, "agent_disabled") == 0) {
        cds_agent_refused(r, status);
    } else {
        cds_log(CDS_LOG_ERROR, "dossier_file", "unexpected status '%s'", status);
        cds_fail(r, CDS_P_INTERNAL);
    }
}

static void on_existing(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "dossiers_db", res, CDS_P_DOSSIER_NOT_FOUND)) return;
    cds_dossier_respond(r, 201, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1),
                    PQgetvalue(res, 0, 3)[0] == 't');
}

/* Every required document has at least one attachment with its code. */
static const char *missing_document(const json_t *required, const json_t *attachments)
{
    size_t i, k;
    json_t *doc, *a;
    json_array_foreach(required, i, doc) {
        if (!json_is_true(json_object_get(doc, "required"))) continue;
        const char *code = json_string_value(json_object_get(doc, "code"));
        int found = 0;
        json_array_foreach(attachments, k, a) {
            const char *dc = json_string_value(json_object_get(a, "document_code"));
            if (code && dc && strcmp(code, dc) == 0) found = 1;
        }
        if (!found) {
            const char *name = json_string_value(json_object_get(doc, "name"));
            return name ? name : (code ? code : "?");
        }
    }
    return NULL;
}

static void on_prepared(cds_req *r, PGresult *res)
{
    if (!cds_req_db_rows(r, "dossiers_db", res)) return;
    file_ctx *f = cds_req_user(r);
    if (!PQgetisnull(res, 0, 4)) { /* this Idempotency-Key was used before */
        if (strcmp(PQgetvalue(res, 0, 5), f->idem_hash) != 0) {
            cds_problem(r, 422, "idempotency_key_reused",
                        "Mã Idempotency-Key này đã được dùng cho một yêu cầu khác.");
            return;
        }
        const char *params[] = {PQgetvalue(res, 0, 4), f->p->citizen_id};
        cds_req_db(r, st_get, 2, params, on_existing);
        return;
    }
    if (PQgetisnull(res, 0, 0)) {
        cds_problem(r, 422, "unknown_procedure", "Thủ tục không tồn tại hoặc đã ngừng tiếp nhận.");
        return;
    }
    int ial_required = PQgetvalue(res, 0, 1)[0] == '2' ? 2 : 1;
    if (!cds_auth_require_level(r, f->p, ial_required)) return;
    json_t *delivery = f->delivery;
    const char *method = json_string_value(json_object_get(delivery, "method"));
    if (method && strcmp(method, "post") == 0 && PQgetvalue(res, 0, 2)[0] != 't') {
        cds_fail(r, CDS_P_POSTAL_NOT_ALLOWED);
        return;
    }
    json_t *schema = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    json_t *required = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
    char field[128], msg[512];
    json_t *form = json_object_get(f->body, "form");
    json_t *atts = json_object_get(f->body, "attachments");
    int form_ok = cds_form_validate(schema, form, field, sizeof field, msg, sizeof msg) == 0;
    const char *missing = form_ok ? missing_document(required, atts) : NULL;
    if (!form_ok) {
        /* The field at fault as a member of its own (the detail is the
         * catalog's English one when English is asked for). */
        json_t *p = json_pack("{s:s}", "field", field);
        cds_problem_with(r, 422, "invalid_form", "Unprocessable Content", msg, p);
        json_decref(p);
    } else if (missing) {
        cds_problem(r, 422, "missing_documents",
                    cds_req_printf(r, "Thiếu giấy tờ bắt buộc: %s.", missing));
    } else {
        char secret[CDS_LOOKUP_SECRET_LEN + 1], hash[65];
        cds_uuid_v4(f->id);
        cds_lookup_secret(f->id, secret);
        cds_lookup_secret_hash(secret, hash);
        char *form_s = json_dumps(form, JSON_COMPACT);
        char *deliv_s = json_dumps(delivery, JSON_COMPACT);
        char *atts_s = json_dumps(atts ? atts : json_array(), JSON_COMPACT);
        const char *params[] = {f->id, f->p->citizen_id, json_string_value(json_object_get(f->body, "procedure_code")),
                                form_s, deliv_s, atts_s, hash, f->idem_key, f->idem_key ? f->idem_hash : NULL,
                                cds_req_trace_stored(r), f->agent_id, f->consent_id};
        if (f->agent_id) cds_req_db(r, st_agent_file, 12, params, on_filed);
        else cds_req_db(r, st_file, 10, params, on_filed);
        free(form_s);
        free(deliv_s);
        free(atts_s);
    }
    json_decref(schema);
    json_decref(required);
}

/* Attachments as [{"id": uuid, "document_code": string}], at most 50. */
static int attachments_valid(const json_t *a, int allow_empty)
{
    if (!json_is_array(a) || json_array_size(a) > 50 || (!allow_empty && json_array_size(a) == 0)) return 0;
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) {
        const char *dc = json_string_value(json_object_get(x, "document_code"));
        json_t *dcj = json_object_get(x, "document_code");
        if (!json_is_object(x) || !cds_uuid_valid(json_string_value(json_object_get(x, "id"))) ||
            (dcj && !json_is_null(dcj) && (!dc || strlen(dc) > 64)))
            return 0;
    }
    return 1;
}

/* Filing by the citizen (p from their token) or, when agent_id is set, by
 * an agent for the citizen p under consent consent_id: the same checks,
 * the same SQL (cds_agent_file wraps cds_dossier_file). */
static void file_start(cds_req *r, const cds_principal *p, json_t *j, const char *agent_id,
                       const char *consent_id)
{
    const char *code = json_string_value(json_object_get(j, "procedure_code"));
    json_t *form = json_object_get(j, "form"), *atts = json_object_get(j, "attachments");
    if (!json_is_object(j) || !code || strlen(code) > 32) {
        cds_problem(r, 422, "unknown_procedure", "Thiếu mã thủ tục (procedure_code) hợp lệ.");
        return;
    }
    if (!json_is_object(form)) {
        cds_problem(r, 422, "invalid_form", "Thiếu nội dung tờ khai (form).");
        return;
    }
    if (atts && !attachments_valid(atts, 1)) {
        cds_problem(r, 422, "invalid_attachments", "Danh sách tệp đính kèm không hợp lệ.");
        return;
    }
    const char *key = cds_req_header(r, "idempotency-key");
    if (key && !cds_printable(key, agent_id ? 200 : 255)) {
        cds_problem(r, 400, "invalid_idempotency_key", "Idempotency-Key phải gồm 1-255 ký tự in được.");
        return;
    }
    /* An agent's keys live beside the citizen's own without meeting them. */
    if (key && agent_id) key = cds_req_printf(r, "agent:%s:%s", agent_id, key);
    char why_buf[300];
    json_t *delivery = cds_delivery_choice(json_object_get(j, "delivery"), code, why_buf, sizeof why_buf);
    if (!delivery) {
        cds_problem(r, 422, "invalid_delivery", why_buf);
        return;
    }
    file_ctx *f = cds_req_alloc(r, sizeof *f);
    memset(f, 0, sizeof *f);
    f->p = p;
    f->agent_id = agent_id;
    f->consent_id = consent_id;
    f->body = j;
    f->delivery = delivery;
    f->idem_key = key;
    size_t blen;
    const char *body = cds_req_body(r, &blen);
    sha256_hex(body, blen, f->idem_hash);
    cds_req_set_user(r, f, file_ctx_free);
    const char *params[] = {code, p->citizen_id, key};
    cds_req_db(r, st_file_prepare, 3, params, on_prepared);
}

void cds_dossier_file(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    file_start(r, p, j, NULL, NULL);
}

void cds_dossier_file_for(cds_req *r, const cds_principal *citizen, json_t *body,
                          const char *agent_id, const char *consent_id)
{
    file_start(r, citizen, body, agent_id, consent_id);
}

/* ================= reading ================= */

static void on_get(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "dossiers_db", res, CDS_P_DOSSIER_NOT_FOUND)) return;
    cds_dossier_respond(r, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1),
                    PQgetvalue(res, 0, 3)[0] == 't');
}

void cds_dossier_get(cds_req *r)
{
    cds_auth_citizen_dossier_query(r, st_get, on_get);
}

void cds_dossier_list_respond(cds_req *r, PGresult *res)
{
    const cds_page *l = cds_req_user(r);
    int n = PQntuples(res);
    json_t *items = json_array();
    for (int i = 0; i < n && i < l->limit; i++) {
        json_t *d = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        if (d) json_array_append_new(items, d);
    }
    json_t *next = json_null();
    if (n > l->limit) {
        char pos[300], cur[512];
        snprintf(pos, sizeof pos, "%s|%s", PQgetvalue(res, l->limit - 1, 1), PQgetvalue(res, l->limit - 1, 2));
        if (cds_cursor_encode(pos, cur, sizeof cur) == 0) next = json_string(cur);
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

static void on_list(cds_req *r, PGresult *res)
{
    if (cds_req_db_rows(r, "dossiers_db", res)) cds_dossier_list_respond(r, res);
}

void cds_dossiers_list(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *status = cds_req_query(r, "status");
    if (status && !cds_step_known(status)) {
        cds_problem(r, 400, "invalid_status", "Trạng thái lọc không hợp lệ.");
        return;
    }
    cds_page *pg = cds_req_page_after(r, 20, 100);
    if (!pg) return;
    const char *params[] = {p->citizen_id, status, pg->after_time, pg->after_id, pg->fetch};
    cds_req_db(r, st_list, 5, params, on_list);
}

/* ================= the citizen's steps ================= */

static void on_citizen_step(cds_req *r, PGresult *res)
{
    if (!cds_req_db_rows(r, "dossiers_db", res)) return;
    const char *status = PQgetvalue(res, 0, 0);
    if (strcmp(status, "applied") == 0 || strcmp(status, "duplicate") == 0) {
        cds_dossier_respond(r, 200, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 3), -1);
    } else if (strcmp(status, "not_found") == 0) {
        cds_fail(r, CDS_P_DOSSIER_NOT_FOUND);
    } else if (strcmp(status, "attachment_not_found") == 0) {
        cds_problem(r, 422, "attachment_not_found", "Có tệp đính kèm không tồn tại hoặc không thuộc về bạn.");
    } else {
        cds_problem(r, 409, "illegal_transition",
                    cds_req_printf(r, "Hồ sơ đang ở trạng thái '%s' nên không thể thực hiện thao tác này.",
                                   PQgetvalue(res, 0, 1)));
    }
}

static void citizen_step(cds_req *r, const char *step, const char *note, json_t *atts)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_DOSSIER_NOT_FOUND);
    if (!id) return;
    const char *key = cds_req_header(r, "idempotency-key");
    if (key && !cds_printable(key, 255)) {
        cds_problem(r, 400, "invalid_idempotency_key", "Idempotency-Key phải gồm 1-255 ký tự in được.");
        return;
    }
    char event[300];
    if (key) snprintf(event, sizeof event, "%s:%s", step, key);
    else {
        char u[37];
        cds_uuid_v4(u);
        snprintf(event, sizeof event, "%s:%s", step, u);
    }
    char *atts_s = atts ? json_dumps(atts, JSON_COMPACT) : NULL;
    const char *params[] = {p->citizen_id, id, step, event, note, atts_s, cds_req_trace_stored(r)};
    cds_req_db(r, st_citizen_step, 7, params, on_citizen_step);
    free(atts_s);
}

void cds_dossier_cancel(cds_req *r)
{
    size_t blen;
    cds_req_body(r, &blen);
    const char *reason = NULL;
    if (blen) {
        json_t *j = cds_req_json(r);
        if (!j) return;
        json_t *rj = json_object_get(j, "reason");
        reason = json_string_value(rj);
        if (!json_is_object(j) || (rj && (!reason || strlen(reason) > 500))) {
            cds_problem(r, 422, "invalid_reason", "Lý do hủy phải là văn bản tối đa 500 ký tự.");
            return;
        }
    }
    citizen_step(r, "cancelled", reason, NULL);
}

void cds_dossier_supplement(cds_req *r)
{
    json_t *j = cds_req_json(r);
    if (!j) return;
    json_t *atts = json_object_get(j, "attachments"), *nj = json_object_get(j, "note");
    const char *note = json_string_value(nj);
    if (!json_is_object(j) || !attachments_valid(atts, 0)) {
        cds_problem(r, 422, "invalid_attachments", "Cần ít nhất một tệp đính kèm hợp lệ để bổ sung hồ sơ.");
        return;
    }
    if (nj && (!note || strlen(note) > 1000)) {
        cds_problem(r, 422, "invalid_note", "Ghi chú phải là văn bản tối đa 1000 ký tự.");
        return;
    }
    citizen_step(r, "supplemented", note, atts);
}
