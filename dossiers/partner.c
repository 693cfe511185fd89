/* The city's TTHC processing system talks to us here, with HMAC-signed
 * requests (auth/partner_auth.c): it pushes each dossier step (with its
 * event id, time, note, the fee for fee_requested, the missing documents for
 * supplement_requested), imports dossiers filed at a counter so those
 * citizens get the same updates, and reads the overdue list. Steps are
 * idempotent by (client, event id); a step older than the dossier's last one
 * is kept in the timeline without moving the state back; an illegal move is
 * a 409 and changes nothing. */
#include "internal.h"
#include "auth/auth.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/uuid.h"
#include "core/vn.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int st_step, st_import, st_overdue;

int cds_partner_init(void)
{
    st_step = cds_db_stmt_register(
        "partner_step",
        "SELECT s.status, s.dossier_status FROM cds_dossier_step($1, $2, $3, $4, $5::timestamptz, "
        "$6, $7::bigint, $8::jsonb, $9::jsonb, $10) s",
        10);
    st_import = cds_db_stmt_register(
        "partner_import",
        "SELECT i.status, i.dossier_id, (SELECT code FROM dossiers WHERE id = i.dossier_id) "
        "FROM cds_dossier_import($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10::timestamptz, "
        "$11::date, $12, $13, $14) i",
        14);
    st_overdue = cds_db_stmt_register(
        "partner_overdue",
        "SELECT COALESCE(jsonb_agg(x ORDER BY x->>'due_date', x->>'code'), '[]') FROM ("
        " SELECT jsonb_build_object('code', d.code, 'procedure_code', d.procedure_code,"
        "  'status', d.status, 'due_date', d.due_date, 'channel', d.channel,"
        "  'days_overdue', (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date - d.due_date) AS x"
        " FROM dossiers d WHERE d.status NOT IN ('completed', 'rejected', 'cancelled')"
        " AND d.due_date < (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
        " ORDER BY d.due_date, d.code LIMIT $1::int) o",
        1);
    return (st_step < 0 || st_import < 0 || st_overdue < 0) ? -1 : 0;
}

static int db_ok(cds_req *r, PGresult *res)
{
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) return 1;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && strncmp(state, "22", 2) == 0) { /* data exception: a bad time or date */
        cds_problem(r, 422, "invalid_step", "Thời điểm hoặc dữ liệu của bước xử lý không hợp lệ.");
        return 0;
    }
    cds_req_db_failed(r, "partner_db", res);
    return 0;
}

/* RFC 3339 with an explicit offset, e.g. 2026-11-22T09:30:00+07:00 (PostgreSQL
 * then parses it exactly; this only rejects what is not that shape). */
static int rfc3339(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 20 || n > 35 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return 0;
    char last = s[n - 1];
    return last == 'Z' || last == 'z' || (n >= 6 && s[n - 3] == ':' && (s[n - 6] == '+' || s[n - 6] == '-'));
}

static void on_step(cds_req *r, PGresult *res)
{
    if (!db_ok(r, res)) return;
    const char *status = PQgetvalue(res, 0, 0), *dstatus = PQgetvalue(res, 0, 1);
    if (strcmp(status, "not_found") == 0) {
        cds_fail(r, CDS_P_DOSSIER_NOT_FOUND);
    } else if (strcmp(status, "illegal") == 0) {
        cds_problem(r, 409, "illegal_transition",
                    cds_req_printf(r, "Hồ sơ đang ở trạng thái '%s', không thể chuyển sang bước này.", dstatus));
    } else {
        const char *result = strcmp(status, "late") == 0 ? "recorded_late" : status;
        cds_respond_json(r, 200, json_pack("{s:s,s:s}", "result", result, "dossier_status", dstatus));
    }
}

void cds_partner_step(cds_req *r)
{
    const char *client = cds_partner_auth(r);
    if (!client) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *code = cds_req_param(r, "code");
    const char *event = json_string_value(json_object_get(j, "event_id"));
    const char *step = json_string_value(json_object_get(j, "step"));
    const char *at = json_string_value(json_object_get(j, "occurred_at"));
    json_t *note_j = json_object_get(j, "note"), *fee_j = json_object_get(j, "fee_vnd");
    json_t *miss = json_object_get(j, "missing_documents");
    const char *note = json_string_value(note_j);
    if (!json_is_object(j) || !cds_printable(event, 128) || !cds_step_known(step) ||
        strcmp(step, "submitted") == 0 || !rfc3339(at) ||
        (note_j && !json_is_null(note_j) && (!note || strlen(note) > 2000))) {
        cds_problem(r, 422, "invalid_step",
                    "Bước xử lý phải có event_id, step hợp lệ và occurred_at theo RFC 3339.");
        return;
    }
    char fee[24] = "";
    if (fee_j && !json_is_null(fee_j)) {
        if (!json_is_integer(fee_j) || json_integer_value(fee_j) < 0 ||
            json_integer_value(fee_j) > 1000000000000LL) {
            cds_problem(r, 422, "invalid_fee", "Lệ phí phải là số nguyên VND từ 0 đến 1.000.000.000.000.");
            return;
        }
        snprintf(fee, sizeof fee, "%lld", (long long)json_integer_value(fee_j));
    } else if (strcmp(step, "fee_requested") == 0) {
        cds_problem(r, 422, "invalid_fee", "Bước yêu cầu nộp phí phải có số tiền (fee_vnd).");
        return;
    }
    /* What the citizen already paid at the counter towards this fee: the
     * payment deducts it (payment/, cds_payment_breakdown). */
    json_t *adv_j = json_object_get(j, "advance_vnd");
    char detail[64] = "";
    if (adv_j && !json_is_null(adv_j)) {
        if (strcmp(step, "fee_requested") != 0 || !json_is_integer(adv_j) ||
            json_integer_value(adv_j) < 0 || json_integer_value(adv_j) > 1000000000000LL) {
            cds_problem(r, 422, "invalid_advance",
                        "Tiền tạm ứng (advance_vnd) chỉ đi kèm bước yêu cầu nộp phí, là số nguyên VND "
                        "từ 0 đến 1.000.000.000.000.");
            return;
        }
        snprintf(detail, sizeof detail, "{\"advance_vnd\":%lld}", (long long)json_integer_value(adv_j));
    }
    int miss_ok = !miss || json_is_null(miss) ||
                  (json_is_array(miss) && json_array_size(miss) >= 1 && json_array_size(miss) <= 50);
    size_t i;
    json_t *m;
    if (miss_ok && json_is_array(miss))
        json_array_foreach(miss, i, m) miss_ok &= json_is_string(m) && json_string_length(m) >= 1 &&
                                                  json_string_length(m) <= 300;
    if (!miss_ok || (strcmp(step, "supplement_requested") == 0 && !json_is_array(miss))) {
        cds_problem(r, 422, "invalid_missing_documents",
                    "Yêu cầu bổ sung phải kèm danh sách giấy tờ còn thiếu (missing_documents).");
        return;
    }
    char *source = cds_req_printf(r, "tthc:%s", client);
    char *miss_s = json_is_array(miss) ? json_dumps(miss, JSON_COMPACT) : NULL;
    const char *params[] = {code,   source, event, step, at, note, fee[0] ? fee : NULL,
                            miss_s, detail[0] ? detail : NULL, cds_req_trace_stored(r)};
    cds_req_db(r, st_step, 10, params, on_step);
    free(miss_s);
}

typedef struct import_ctx {
    char id[37];
    char secret[CDS_LOOKUP_SECRET_LEN + 1];
} import_ctx;

static void on_import(cds_req *r, PGresult *res)
{
    if (!db_ok(r, res)) return;
    import_ctx *c = cds_req_user(r);
    const char *status = PQgetvalue(res, 0, 0);
    if (strcmp(status, "unknown_procedure") == 0) {
        cds_problem(r, 422, "unknown_procedure", "Thủ tục không tồn tại.");
    } else if (strcmp(status, "code_taken") == 0) {
        cds_problem(r, 409, "dossier_code_taken", "Mã hồ sơ đã được dùng cho hồ sơ khác.");
    } else {
        int created = strcmp(status, "created") == 0;
        const char *id = PQgetvalue(res, 0, 1), *code = PQgetvalue(res, 0, 2);
        /* An existing import's secret derives from its own id, not the new one. */
        if (!created) cds_lookup_secret(id, c->secret);
        cds_respond_json(r, created ? 201 : 200,
                         json_pack("{s:s,s:s,s:s,s:s,s:s}", "result", created ? "created" : "existing",
                                   "dossier_id", id, "code", code, "lookup_secret", c->secret,
                                   "lookup_url", cds_lookup_url(r, code, c->secret)));
    }
}

void cds_partner_import(cds_req *r)
{
    const char *client = cds_partner_auth(r);
    if (!client) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *ref = json_string_value(json_object_get(j, "ref"));
    const char *code = json_string_value(json_object_get(j, "code"));
    const char *proc = json_string_value(json_object_get(j, "procedure_code"));
    json_t *ap = json_object_get(j, "applicant");
    const char *pid = json_string_value(json_object_get(ap, "personal_id"));
    const char *name = json_string_value(json_object_get(ap, "full_name"));
    const char *phone = json_string_value(json_object_get(ap, "phone"));
    const char *at = json_string_value(json_object_get(j, "submitted_at"));
    const char *status = json_string_value(json_object_get(j, "status"));
    const char *due = json_string_value(json_object_get(j, "due_date"));
    char norm[16] = "";
    if (!json_is_object(j) || !cds_printable(ref, 128) || !cds_printable(code, 64) || !cds_printable(proc, 32)) {
        cds_problem(r, 422, "invalid_import", "Hồ sơ nhập phải có ref, code và procedure_code.");
        return;
    }
    if (!cds_vn_pid_valid(pid) || !name || !*name || strlen(name) > 200) {
        cds_problem(r, 422, "invalid_applicant", "Người nộp phải có số định danh cá nhân (12 số) và họ tên.");
        return;
    }
    if (phone && cds_vn_phone_normalize(phone, norm, sizeof norm) != 0) {
        cds_problem(r, 422, "invalid_phone", "Số điện thoại di động của người nộp không hợp lệ.");
        return;
    }
    if ((at && !rfc3339(at)) || (status && !cds_step_known(status)) ||
        (due && (strlen(due) != 10 || due[4] != '-' || due[7] != '-'))) {
        cds_problem(r, 422, "invalid_import", "Thời điểm nộp, trạng thái hoặc hạn trả kết quả không hợp lệ.");
        return;
    }
    import_ctx *c = cds_req_alloc(r, sizeof *c);
    cds_uuid_v4(c->id);
    cds_lookup_secret(c->id, c->secret);
    cds_req_set_user(r, c, NULL);
    char hash[65], pid_hash[65];
    cds_lookup_secret_hash(c->secret, hash);
    cds_auth_pid_hash(pid, pid_hash);
    char *pid_sealed = cds_auth_seal(pid, "citizen.pid");
    char *phone_sealed = norm[0] ? cds_auth_seal(norm, "citizen.phone") : NULL;
    char now[40];
    if (!at) {
        time_t t = time(NULL) + 7 * 3600;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
        at = now;
    }
    const char *source = cds_req_printf(r, "tthc:%s", client);
    const char *params[] = {c->id, source, ref, code, proc, pid_hash, pid_sealed, name,
                            phone_sealed, at, due, status ? status : "received", hash,
                            cds_req_trace_stored(r)};
    cds_req_db(r, st_import, 14, params, on_import);
    free(pid_sealed);
    free(phone_sealed);
}

static void on_overdue(cds_req *r, PGresult *res)
{
    if (!db_ok(r, res)) return;
    json_t *items = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    cds_respond_json(r, 200, json_pack("{s:o}", "items", items ? items : json_array()));
}

void cds_partner_overdue(cds_req *r)
{
    if (!cds_partner_auth(r)) return;
    int limit = cds_req_limit(r, 500, 5000);
    if (limit < 0) return;
    char lim[24];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[] = {lim};
    cds_req_db(r, st_overdue, 1, params, on_overdue);
}
