/* Receipt routes for the agency's systems and operators, behind the signed
 * partner check (auth/partner_auth.c):
 *
 *   POST /v1/partner/receipts/{id}/corrections
 *        {"kind":"replacement"|"adjustment","reason":"...","operator":"...",
 *         "payer_name"?, "payer_address"?, "fee_name"?, "amount_vnd"?}
 *        A new receipt (new number in the agency's series of this year) with
 *        the old content and these changes, pointing to the old one, which
 *        is marked replaced / adjusted; audited (partner client and
 *        operator, time, reason, changes). One SQL call
 *        (cds_receipt_correct). A receipt already replaced or adjusted: 409,
 *        nothing changes. Idempotency-Key: a retry returns the first answer.
 *        A replacement states the full amount (>= 1); an adjustment states
 *        the adjusted amount, which may be 0 (a fee waived after payment).
 *   GET  /v1/partner/receipts/export?from=YYYY-MM-DD&to=YYYY-MM-DD&format=jsonl|csv
 *        The daily export (export.h); at most 31 days; a bad range is a 400
 *        before any query. */
#include "internal.h"
#include "receipts/export.h"
#include "auth/auth.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_MAX_ROWS 200000

static int st_correct = -1, st_export = -1;

int rc_partner_init(void)
{
    st_correct = cds_db_stmt_register(
        "receipt_correct",
        "SELECT status, COALESCE(receipt_id::text, ''), COALESCE(replaced_by::text, '')"
        " FROM cds_receipt_correct($1::uuid, $2, $3, $4, $5::jsonb, $6)",
        6);
    st_export = cds_db_stmt_register("receipt_export",
                                     CDS_RECEIPT_EXPORT_SQL " LIMIT "
                                                            "200001",
                                     2);
    return st_correct < 0 || st_export < 0 ? -1 : 0;
}

/* 1 when s is 1..max bytes of UTF-8 text without control characters. */
static int text_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max) return 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (!len || i + len > n) return 0;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80) return 0;
        if (c < 0x20 || c == 0x7f) return 0;
        if (len == 2 && c == 0xc2 && p[i + 1] < 0xa0) return 0; /* C1 */
        i += len;
    }
    return 1;
}

static void invalid(cds_req *r, const char *field, const char *detail)
{
    cds_problem(r, 422, "invalid_correction", cds_req_printf(r, "%s (%s)", detail, field));
}

static void on_correct(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "receipt_correct", res);
        return;
    }
    const char *st = PQgetvalue(res, 0, 0), *id = PQgetvalue(res, 0, 1),
               *by = PQgetvalue(res, 0, 2);
    if (strcmp(st, "not_found") == 0) {
        cds_fail(r, CDS_P_RECEIPT_NOT_FOUND);
    } else if (strcmp(st, "already_corrected") == 0) {
        cds_problem(r, 409, "receipt_already_corrected",
                    cds_req_printf(r,
                                   "Biên lai đã được thay thế hoặc điều chỉnh bởi biên lai %s; "
                                   "chỉ biên lai đang có hiệu lực mới được thay thế, điều chỉnh.",
                                   by));
    } else if (strcmp(st, "key_reused") == 0) {
        cds_problem(r, 409, "idempotency_key_reused",
                    "Idempotency-Key đã được dùng cho một yêu cầu khác.");
    } else {
        json_t *j = json_pack("{s:s,s:s,s:s}", "receipt_id", id, "replaces", cds_req_param(r, "id"),
                              "state", "being_issued");
        cds_respond_json(r, strcmp(st, "created") == 0 ? 201 : 200, j);
    }
}

void cds_partner_receipt_correct(cds_req *r)
{
    const char *client = cds_partner_auth(r);
    if (!client) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_RECEIPT_NOT_FOUND);
    if (!id) return;
    json_t *body = cds_req_json(r);
    if (!body) return;
    if (!json_is_object(body)) {
        invalid(r, "body", "Nội dung yêu cầu phải là một đối tượng JSON");
        return;
    }
    const char *kind = json_string_value(json_object_get(body, "kind"));
    const char *reason = json_string_value(json_object_get(body, "reason"));
    const char *op = json_string_value(json_object_get(body, "operator"));
    if (!kind || (strcmp(kind, "replacement") != 0 && strcmp(kind, "adjustment") != 0)) {
        invalid(r, "kind", "Loại điều chỉnh phải là replacement hoặc adjustment");
        return;
    }
    if (!text_ok(reason, 2000)) {
        invalid(r, "reason",
                "Cần ghi lý do thay thế, điều chỉnh (1-2000 byte, không ký tự điều khiển)");
        return;
    }
    if (!text_ok(op, 100)) {
        invalid(r, "operator", "Cần ghi người thực hiện (1-100 byte)");
        return;
    }
    json_t *changes = json_object();
    const char *k;
    json_t *v;
    int bad = 0;
    json_object_foreach(body, k, v)
    {
        if (bad) break;
        if (strcmp(k, "kind") == 0 || strcmp(k, "reason") == 0 || strcmp(k, "operator") == 0)
            continue;
        if (strcmp(k, "payer_name") == 0 || strcmp(k, "fee_name") == 0) {
            if (!text_ok(json_string_value(v), CDS_RCPT_TEXT_MAX)) {
                invalid(r, k, "Giá trị phải là chuỗi 1-300 byte, không ký tự điều khiển"), bad = 1;
                break;
            }
            json_object_set(changes, k, v);
        } else if (strcmp(k, "payer_address") == 0) {
            if (!text_ok(json_string_value(v), CDS_RCPT_ADDR_MAX)) {
                invalid(r, k, "Địa chỉ phải là chuỗi 1-500 byte, không ký tự điều khiển"), bad = 1;
                break;
            }
            char *sealed = cds_auth_seal(json_string_value(v), "citizen.address");
            if (!sealed) {
                cds_fail(r, CDS_P_INTERNAL);
                bad = 1;
                break;
            }
            json_object_set_new(changes, "payer_address_sealed", json_string(sealed));
            free(sealed);
        } else if (strcmp(k, "amount_vnd") == 0) {
            json_int_t a = json_is_integer(v) ? json_integer_value(v) : -1;
            json_int_t min = strcmp(kind, "adjustment") == 0 ? 0 : 1;
            if (a < min || a > CDS_AMOUNT_WORDS_MAX_VND) {
                invalid(r, k,
                        min ? "Số tiền phải là số nguyên từ 1 đến 999.999.999.999"
                            : "Số tiền phải là số nguyên từ 0 đến 999.999.999.999"),
                    bad = 1;
                break;
            }
            json_object_set(changes, k, v);
        } else {
            invalid(r, k, "Trường không được phép điều chỉnh"), bad = 1;
        }
    }
    if (bad) {
        json_decref(changes);
        return;
    }
    const char *key = cds_req_header(r, "idempotency-key");
    if (key && (strlen(key) == 0 || strlen(key) > 200 || !text_ok(key, 200))) {
        json_decref(changes);
        cds_problem(r, 400, "invalid_idempotency_key",
                    "Idempotency-Key phải gồm 1-200 ký tự in được.");
        return;
    }
    char *ch = json_dumps(changes, JSON_COMPACT);
    json_decref(changes);
    const char *actor = cds_req_printf(r, "%s/%s", client, op);
    const char *pkey = key ? cds_req_printf(r, "%s:%s", client, key) : NULL;
    const char *params[] = {id, kind, actor, reason, ch, pkey};
    cds_req_db(r, st_correct, 6, params, on_correct);
    free(ch);
}

/* ---------------- export ---------------- */

typedef struct export_ctx {
    int csv;
    char name[64];
} export_ctx;

static void on_export(cds_req *r, PGresult *res)
{
    export_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_req_db_failed(r, "receipt_export", res);
        return;
    }
    if (PQntuples(res) > EXPORT_MAX_ROWS) {
        cds_problem(r, 422, "export_too_large",
                    "Quá nhiều biên lai trong khoảng ngày này, vui lòng kết xuất từng ngày.");
        return;
    }
    size_t len = 0;
    char *out = cds_receipt_export_render(res, c->csv, &len);
    if (!out) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_resp_header(r, "content-disposition",
                    cds_req_printf(r, "attachment; filename=\"%s\"", c->name));
    cds_respond(r, 200, c->csv ? "text/csv; charset=utf-8" : "application/x-ndjson", out, len);
    free(out);
}

void cds_partner_receipts_export(cds_req *r)
{
    const char *client = cds_partner_auth(r);
    if (!client) return;
    const char *from = cds_req_query(r, "from"), *to = cds_req_query(r, "to");
    const char *format = cds_req_query(r, "format"), *why = NULL;
    if (!to) to = from;
    if (cds_receipt_date_range(from, to, &why) != 0) {
        cds_problem(r, 400, "invalid_date_range", why);
        return;
    }
    if (format && strcmp(format, "jsonl") != 0 && strcmp(format, "csv") != 0) {
        cds_problem(r, 400, "invalid_format", "Định dạng kết xuất phải là jsonl hoặc csv.");
        return;
    }
    export_ctx *c = cds_req_alloc(r, sizeof *c);
    c->csv = format && strcmp(format, "csv") == 0;
    snprintf(c->name, sizeof c->name, "bien-lai-%s_%s.%s", from, to, c->csv ? "csv" : "jsonl");
    cds_req_set_user(r, c, NULL);
    const char *params[] = {from, to};
    cds_req_db(r, st_export, 2, params, on_export);
}
