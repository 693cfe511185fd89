/* The citizen's rating of the service and feedback (phản ánh, kiến nghị)
 * about a dossier, and the agencies' monthly summary (issue 18, part 3):
 *
 *   PUT  /v1/dossiers/{id}/rating     {"stars":1..5,"comment"?} after completed/returned;
 *                                     one rating per dossier, edited (same row, version+1)
 *                                     for 7 days after the first
 *   GET  /v1/dossiers/{id}/rating     the rating, or 404 rating_not_found
 *   POST /v1/dossiers/{id}/feedback   {"kind":"phan_anh|kien_nghi","content"} -> a reference
 *                                     PA-<year>-<number> to quote to the 1022 hotline
 *   GET  /v1/partner/ratings/summary?agency=&month=YYYY-MM   count and average per procedure
 *
 * Citizens' routes check the owner as the other /v1/dossiers routes do (another
 * citizen's dossier is a 404); the same checks of stars and text serve the
 * lookup page's forms (rating_page.c). Every rating version and every
 * feedback is written with its TTHC delivery in one SQL call
 * (cds_rating_put, cds_feedback_add) and sent by tthc_outbox.c. */
#include "internal.h"
#include "auth/auth.h"
#include "core/db.h"
#include "core/log.h"
#include "core/lang.h"
#include "core/problem.h"
#include "core/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int st_put = -1, st_get = -1, st_feedback = -1, st_summary = -1;

int cds_rating_init(void)
{
    st_put = cds_db_stmt_register(
        "rating_put",
        "SELECT status, dossier_status, rating::text FROM "
        "cds_rating_put($1::uuid, $2::uuid, $3::int, $4, $5)",
        5);
    st_get = cds_db_stmt_register_ro(
        "rating_get",
        "SELECT cds_rating_json(x)::text FROM dossiers d "
        "JOIN dossier_ratings x ON x.dossier_id = d.id "
        "WHERE d.id = $1::uuid AND d.citizen_id = $2::uuid",
        2);
    st_feedback = cds_db_stmt_register(
        "feedback_add",
        "SELECT status, feedback::text FROM cds_feedback_add($1::uuid, $2::uuid, $3, $4, $5)", 5);
    st_summary = cds_db_stmt_register_ro(
        "rating_summary", "SELECT cds_rating_summary($1, $2::date)::text", 2);
    return (st_put < 0 || st_get < 0 || st_feedback < 0 || st_summary < 0) ? -1 : 0;
}

int cds_rating_stmt_put(void) { return st_put; }
int cds_rating_stmt_feedback(void) { return st_feedback; }

const char *cds_text_check(const char *s, size_t max_chars, int lang)
{
    if (!s || !*s) return cds_lang_pick(lang, "không được để trống", "is empty");
    size_t n = 0;
    for (const char *p = s; *p;) {
        uint32_t cp;
        size_t k = cds_utf8_next(p, &cp);
        if (k == 0)
            return cds_lang_pick(lang, "không phải văn bản UTF-8 hợp lệ", "is not valid UTF-8 text");
        /* A form's textarea sends its line breaks as CRLF. */
        int line_break = cp == '\n' || (cp == '\r' && p[1] == '\n');
        if ((cp < 0x20 && !line_break) || (cp >= 0x7f && cp < 0xa0))
            return cds_lang_pick(lang, "chứa ký tự điều khiển", "contains control characters");
        p += k;
        if (++n > max_chars) return cds_lang_pick(lang, "quá dài", "is too long");
    }
    return NULL;
}

int cds_stars_text(const char *s)
{
    return s && s[0] >= '1' && s[0] <= '5' && s[1] == 0 ? s[0] - '0' : -1;
}

int cds_feedback_kind_ok(const char *s)
{
    return s && (strcmp(s, "phan_anh") == 0 || strcmp(s, "kien_nghi") == 0);
}

static void invalid(cds_req *r, const char *code, const char *msg)
{
    cds_problem(r, 400, code, msg);
}

/* ---- PUT/GET rating ---- */

static void on_put(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "rating_db", res, CDS_P_DOSSIER_NOT_FOUND)) return;
    const char *status = PQgetvalue(res, 0, 0);
    if (strcmp(status, "not_found") == 0) {
        cds_fail(r, CDS_P_DOSSIER_NOT_FOUND);
        return;
    }
    if (strcmp(status, "not_finished") == 0) {
        cds_fail(r, CDS_P_RATING_NOT_FINISHED);
        return;
    }
    if (strcmp(status, "edit_closed") == 0) {
        cds_fail(r, CDS_P_RATING_EDIT_CLOSED);
        return;
    }
    json_t *rating = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
    if (!rating) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, strcmp(status, "created") == 0 ? 201 : 200, rating);
}

void cds_rating_put(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_DOSSIER_NOT_FOUND);
    if (!id) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    json_t *stars = json_object_get(j, "stars"), *comment = json_object_get(j, "comment");
    if (!json_is_object(j) || !json_is_integer(stars) || json_integer_value(stars) < 1 ||
        json_integer_value(stars) > 5) {
        invalid(r, "invalid_rating", "Số sao phải là số nguyên từ 1 đến 5.");
        return;
    }
    const char *text = NULL;
    if (comment && !json_is_null(comment)) {
        text = json_string_value(comment);
        const char *why = text ? cds_text_check(text, CDS_RATING_COMMENT_MAX, CDS_LANG_VI) : "phải là chuỗi";
        if (why) {
            invalid(r, "invalid_rating", cds_req_printf(r, "Nhận xét %s (tối đa %d ký tự).", why,
                                                        CDS_RATING_COMMENT_MAX));
            return;
        }
    }
    char s[4];
    snprintf(s, sizeof s, "%d", (int)json_integer_value(stars));
    const char *params[] = {id, p->citizen_id, s, text, "app"};
    cds_req_db(r, st_put, 5, params, on_put);
}

static void on_get(cds_req *r, PGresult *res)
{
    if (!cds_req_db_rows(r, "rating_db", res)) return;
    if (PQntuples(res) != 1) {
        cds_problem(r, 404, "rating_not_found", "Hồ sơ này chưa được đánh giá.");
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200, json_loads(PQgetvalue(res, 0, 0), 0, NULL));
}

void cds_rating_get(cds_req *r)
{
    cds_auth_citizen_dossier_query(r, st_get, on_get);
}

/* ---- feedback ---- */

static void on_feedback(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "feedback_db", res, CDS_P_DOSSIER_NOT_FOUND)) return;
    if (strcmp(PQgetvalue(res, 0, 0), "created") != 0) {
        cds_fail(r, CDS_P_DOSSIER_NOT_FOUND);
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 201, json_loads(PQgetvalue(res, 0, 1), 0, NULL));
}

void cds_feedback_post(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_DOSSIER_NOT_FOUND);
    if (!id) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *kind = json_string_value(json_object_get(j, "kind"));
    const char *content = json_string_value(json_object_get(j, "content"));
    if (!cds_feedback_kind_ok(kind)) {
        invalid(r, "invalid_feedback", "Loại phải là \"phan_anh\" (phản ánh) hoặc \"kien_nghi\" "
                                       "(kiến nghị).");
        return;
    }
    const char *why = cds_text_check(content, CDS_FEEDBACK_MAX, CDS_LANG_VI);
    if (why) {
        invalid(r, "invalid_feedback",
                cds_req_printf(r, "Nội dung %s (tối đa %d ký tự).", why, CDS_FEEDBACK_MAX));
        return;
    }
    const char *params[] = {id, p->citizen_id, kind, content, "app"};
    cds_req_db(r, st_feedback, 5, params, on_feedback);
}

/* ---- the agencies' summary (partner) ---- */

static void on_summary(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "rating_db", res, CDS_P_INTERNAL)) return;
    json_t *list = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    json_int_t total = 0;
    double sum = 0;
    size_t i;
    json_t *row;
    json_array_foreach(list, i, row)
    {
        json_int_t n = json_integer_value(json_object_get(row, "count"));
        total += n;
        sum += json_number_value(json_object_get(row, "average")) * (double)n;
    }
    const char *month = cds_req_query(r, "month");
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200,
                     json_pack("{s:s,s:s,s:I,s:o,s:o}", "agency", cds_req_query(r, "agency"),
                               "month", month, "count", total, "average",
                               total ? json_real((double)(long long)(sum / (double)total * 100 + 0.5) / 100)
                                     : json_null(),
                               "procedures", list ? list : json_array()));
}

void cds_rating_summary(cds_req *r)
{
    if (!cds_partner_auth(r)) return;
    const char *agency = cds_req_query(r, "agency"), *month = cds_req_query(r, "month");
    if (!agency || !cds_catalog_agency_code_ok(agency)) {
        cds_problem(r, 400, "invalid_query", "Tham số agency phải là mã cơ quan (vd. 000.00.01.H29).");
        return;
    }
    int y = 0, m = 0;
    char tail;
    if (!month || strlen(month) != 7 || sscanf(month, "%4d-%2d%c", &y, &m, &tail) != 2 ||
        month[4] != '-' || y < 2000 || y > 2999 || m < 1 || m > 12) {
        cds_problem(r, 400, "invalid_query", "Tham số month phải có dạng YYYY-MM.");
        return;
    }
    const char *first = cds_req_printf(r, "%04d-%02d-01", y, m);
    const char *params[] = {agency, first};
    cds_req_db(r, st_summary, 2, params, on_summary);
}
