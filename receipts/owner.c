/* The citizen's own receipts:
 *
 *   GET /v1/receipts               list, newest first, signed cursor
 *   GET /v1/receipts/{id}          the receipt as JSON: full content (the
 *                                  personal ID number in clear: the owner's
 *                                  own), signature, status, the correction
 *                                  chain and the verification link
 *   GET /v1/receipts/{id}/export   the signed export document, byte for byte
 *                                  what `cds receipt verify` checks offline
 *   GET /v1/receipts/{id}/pdf      the printable A5 receipt
 *
 * Every query is keyed by the citizen: another citizen's receipt id is a
 * 404 like an unknown one. A receipt read in the instant between its
 * payment's commit and its number and signature (the signer adds both
 * within the second) is "being issued": the JSON says so (state
 * "being_issued", no number, content or signature); export and PDF answer 503 with
 * Retry-After: 1. PDF rendering (about a millisecond of CPU) runs on the
 * worker pool, never on the loop thread. */
#include "internal.h"
#include "receipts/pdf.h"
#include "auth/auth.h"
#include "core/cursor.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/workpool.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int st_list = -1, st_get = -1;

/* Columns of st_get after RC_COLS. */
enum {
    G_REPL_NUMBER = RC_NCOLS,
    G_REPL_SERIAL,
    G_REPL_TEMPLATE,
    G_BY_NUMBER,
    G_BY_SERIAL,
    G_BY_TEMPLATE,
    G_BY_KIND,
    G_STATE
};

int rc_owner_init(void)
{
    st_list = cds_db_stmt_register(
        "receipts_list",
        "SELECT r.id::text, r.template_no, r.serial, r.year, r.number, r.kind, r.status,"
        " r.fee_name, r.dossier_code, r.amount_vnd, cds_rfc3339(r.issued_at), r.issued_at::text,"
        " r.signature IS NOT NULL"
        " FROM receipts r WHERE r.citizen_id = $1"
        " AND ($2::timestamptz IS NULL OR (r.issued_at, r.id) < ($2::timestamptz, $3::uuid))"
        " ORDER BY r.issued_at DESC, r.id DESC LIMIT $4::int",
        4);
    st_get = cds_db_stmt_register("receipt_get",
                                  "SELECT " RC_COLS
                                  ", o.number, o.serial, o.template_no, n.number, n.serial,"
                                  " n.template_no, n.kind, CASE WHEN r.signature IS NULL THEN "
                                  "'being_issued' ELSE 'issued' END"
                                  " FROM receipts r LEFT JOIN receipts o ON o.id = r.replaces"
                                  " LEFT JOIN receipts n ON n.id = r.replaced_by"
                                  " WHERE r.id = $1 AND r.citizen_id = $2",
                                  2);
    return st_list < 0 || st_get < 0 ? -1 : 0;
}

static void being_issued(cds_req *r)
{
    cds_resp_header(r, "retry-after", "1");
    cds_problem(r, 503, "receipt_being_issued",
                "Biên lai đang được phát hành (ký số), vui lòng thử lại sau giây lát.");
}

/* ---------------- list ---------------- */

static void on_list(cds_req *r, PGresult *res)
{
    const cds_page *l = cds_req_user(r);
    if (!cds_req_db_rows(r, "receipts_db", res)) return;
    int n = PQntuples(res), shown = n > l->limit ? l->limit : n;
    json_t *items = json_array();
    for (int i = 0; i < shown; i++) {
        char num[16];
        int numbered = !PQgetisnull(res, i, 4);
        rc_number8(PQgetvalue(res, i, 4), num);
        json_array_append_new(
            items, json_pack("{s:s,s:o,s:o,s:i,s:o,s:o,s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "id",
                             PQgetvalue(res, i, 0), "template_no",
                             numbered ? json_string(PQgetvalue(res, i, 1)) : json_null(), "serial",
                             numbered ? json_string(PQgetvalue(res, i, 2)) : json_null(), "year",
                             (int)strtol(PQgetvalue(res, i, 3), NULL, 10), "number",
                             numbered ? json_integer(strtoll(PQgetvalue(res, i, 4), NULL, 10))
                                      : json_null(),
                             "number_text", numbered ? json_string(num) : json_null(), "kind",
                             PQgetvalue(res, i, 5), "status", PQgetvalue(res, i, 6), "fee_name",
                             PQgetvalue(res, i, 7), "dossier_code", PQgetvalue(res, i, 8),
                             "amount_vnd", (json_int_t)strtoll(PQgetvalue(res, i, 9), NULL, 10),
                             "issued_at", PQgetvalue(res, i, 10), "state",
                             PQgetvalue(res, i, 12)[0] == 't' ? "issued" : "being_issued"));
    }
    json_t *out = json_pack("{s:o}", "items", items);
    if (n > l->limit) {
        char pos[160], cur[400];
        snprintf(pos, sizeof pos, "%s|%s", PQgetvalue(res, shown - 1, 11),
                 PQgetvalue(res, shown - 1, 0));
        if (cds_cursor_encode(pos, cur, sizeof cur) == 0)
            json_object_set_new(out, "next_cursor", json_string(cur));
    } else {
        json_object_set_new(out, "next_cursor", json_null());
    }
    cds_resp_header(r, "cache-control", "private, no-store");
    cds_respond_json(r, 200, out);
}

void cds_receipts_list(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    cds_page *pg = cds_req_page_after(r, 20, 100);
    if (!pg) return;
    const char *params[] = {p->citizen_id, pg->after_time, pg->after_id, pg->fetch};
    cds_req_db(r, st_list, 4, params, on_list);
}

/* ---------------- one receipt ---------------- */

enum { MODE_JSON, MODE_EXPORT, MODE_PDF };

typedef struct get_ctx {
    int mode;
} get_ctx;

static json_t *chain_ref(PGresult *res, const char *id, int c_num, int c_serial, int c_tmpl)
{
    if (!*id) return json_null();
    const char *num = PQgetvalue(res, 0, c_num);
    return json_pack("{s:s,s:s,s:s,s:o}", "id", id, "template_no", PQgetvalue(res, 0, c_tmpl),
                     "serial", PQgetvalue(res, 0, c_serial), "number",
                     *num ? json_integer(strtoll(num, NULL, 10))
                          : json_null()); /* null: being numbered */
}

static void answer_json(cds_req *r, PGresult *res, const cds_receipt *rc,
                        const cds_receipt_sig *sig)
{
    int signed_ = *sig->value != 0;
    json_t *content = cds_receipt_to_json(rc);
    if (!content) {
        cds_problem(r, 500, "receipt_content_invalid",
                    "Nội dung biên lai không hợp lệ, vui lòng liên hệ cơ quan thu.");
        return;
    }
    char url[CDS_RECEIPT_URL_MAX + 1] = "", num[16];
    rc_number8(PQgetvalue(res, 0, RC_NUMBER), num);
    if (signed_) rc_verify_url(PQgetvalue(res, 0, RC_ID), num, sig->value, url, sizeof url);
    json_t *replaced =
        chain_ref(res, PQgetvalue(res, 0, RC_REPLACED_BY), G_BY_NUMBER, G_BY_SERIAL, G_BY_TEMPLATE);
    if (json_is_object(replaced))
        json_object_set_new(replaced, "kind", json_string(PQgetvalue(res, 0, G_BY_KIND)));
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "id", PQgetvalue(res, 0, RC_ID), "state",
        PQgetvalue(res, 0, G_STATE), "status", PQgetvalue(res, 0, RC_STATUS), "number_text", num,
        "content", content, "signature",
        signed_ ? json_pack("{s:s,s:s,s:s}", "alg", sig->alg, "kid", sig->kid, "value", sig->value)
                : json_null(),
        "verify_url", signed_ ? json_string(url) : json_null(), "replaces",
        chain_ref(res, PQgetvalue(res, 0, RC_REPLACES), G_REPL_NUMBER, G_REPL_SERIAL,
                  G_REPL_TEMPLATE),
        "replaced_by", replaced);
    cds_resp_header(r, "cache-control", "private, no-store");
    cds_respond_json(r, 200, j);
}

/* ---- PDF on the worker pool ---- */

typedef struct pdf_job {
    cds_req *r;
    cds_job *job;
    int slot;
    cds_receipt rc;
    char kid[CDS_RCPT_KID_LEN + 1];
    char url[CDS_RECEIPT_URL_MAX + 1];
    char file[64];
    unsigned char *pdf;
    size_t len;
    int err;
} pdf_job;

static void pdf_free(void *arg)
{
    pdf_job *j = arg;
    free(j->pdf);
    OPENSSL_cleanse(&j->rc, sizeof j->rc);
    free(j);
}

static void pdf_work(void *arg)
{
    pdf_job *j = arg;
    j->err = cds_receipt_pdf(&j->rc, j->kid, j->url, &j->pdf, &j->len);
}

static void pdf_done(void *arg)
{
    pdf_job *j = arg;
    cds_req *r = j->r;
    cds_req_untrack(r, j->slot);
    if (j->err != CDS_PDF_OK) {
        cds_log(CDS_LOG_ERROR, "receipt_pdf", "rendering failed (%d)", j->err);
        cds_problem(r, 500, "pdf_failed", "Không tạo được bản in biên lai, vui lòng thử lại sau.");
    } else {
        cds_resp_header(r, "cache-control", "private, no-store");
        cds_resp_header(r, "content-disposition",
                        cds_req_printf(r, "inline; filename=\"%s\"", j->file));
        cds_respond(r, 200, "application/pdf", (const char *)j->pdf, j->len);
    }
    pdf_free(j);
}

static void pdf_abandon(void *handle)
{
    pdf_job *j = handle;
    cds_job_cancel(j->job); /* cleanup (pdf_free) runs instead of done */
}

static void answer_pdf(cds_req *r, PGresult *res, const cds_receipt *rc, const cds_receipt_sig *sig)
{
    pdf_job *j = calloc(1, sizeof *j);
    if (!j) {
        cds_fail(r, CDS_P_SERVICE_BUSY);
        return;
    }
    j->r = r;
    j->slot = -1;
    j->rc = *rc;
    snprintf(j->kid, sizeof j->kid, "%s", sig->kid);
    char num[16];
    rc_number8(PQgetvalue(res, 0, RC_NUMBER), num);
    snprintf(j->file, sizeof j->file, "bien-lai-%.20s-%s.pdf", rc->serial, num);
    for (char *c = j->file; *c; c++)
        if (*c == '/' || *c == '"' || *c == '\\') *c = '-';
    if (rc_verify_url(PQgetvalue(res, 0, RC_ID), num, sig->value, j->url, sizeof j->url) != 0) {
        pdf_free(j);
        cds_problem(r, 500, "pdf_failed", "Không tạo được bản in biên lai, vui lòng thử lại sau.");
        return;
    }
    j->job = cds_job_submit(cds_req_worker(r)->base, pdf_work, pdf_done, pdf_free, j);
    if (!j->job) {
        pdf_free(j);
        cds_resp_header(r, "retry-after", "1");
        cds_fail(r, CDS_P_SERVICE_BUSY);
        return;
    }
    j->slot = cds_req_track(r, pdf_abandon, j);
    if (j->slot < 0) {
        pdf_abandon(j);
        cds_fail(r, CDS_P_INTERNAL);
    }
}

static void on_get(cds_req *r, PGresult *res)
{
    get_ctx *c = cds_req_user(r);
    if (!cds_req_db_one(r, "receipts_db", res, CDS_P_RECEIPT_NOT_FOUND)) return;
    if (!*PQgetvalue(res, 0, RC_NUMBER)) {
        /* Paid a moment ago: numbered and signed within the second. */
        if (c->mode != MODE_JSON) {
            being_issued(r);
            return;
        }
        json_t *j = json_pack("{s:s,s:s,s:s,s:n,s:n,s:n,s:n,s:n,s:n}", "id",
                              PQgetvalue(res, 0, RC_ID), "state", "being_issued", "status",
                              PQgetvalue(res, 0, RC_STATUS), "number_text", "content", "signature",
                              "verify_url", "replaces", "replaced_by");
        cds_resp_header(r, "cache-control", "private, no-store");
        cds_resp_header(r, "retry-after", "1");
        cds_respond_json(r, 200, j);
        return;
    }
    cds_receipt rc;
    cds_receipt_sig sig;
    const char *why = NULL;
    if (rc_from_row(res, 0, &rc, &sig, &why) != 0) {
        cds_log(CDS_LOG_ERROR, "receipt_content", "receipt %s: %s", PQgetvalue(res, 0, RC_ID),
                why ? why : "?");
        cds_problem(r, 500, "receipt_content_invalid",
                    "Nội dung biên lai không hợp lệ, vui lòng liên hệ cơ quan thu.");
        return;
    }
    if (c->mode == MODE_JSON) {
        answer_json(r, res, &rc, &sig);
    } else if (!*sig.value) {
        being_issued(r);
    } else if (c->mode == MODE_EXPORT) {
        size_t len = 0;
        char *doc = cds_receipt_export(&rc, &sig, &len);
        if (!doc) {
            cds_problem(r, 500, "receipt_content_invalid",
                        "Nội dung biên lai không hợp lệ, vui lòng liên hệ cơ quan thu.");
        } else {
            cds_resp_header(r, "cache-control", "private, no-store");
            cds_respond(r, 200, "application/json", doc, len);
            OPENSSL_cleanse(doc, len);
            free(doc);
        }
    } else {
        answer_pdf(r, res, &rc, &sig);
    }
    OPENSSL_cleanse(&rc, sizeof rc);
}

static void get_start(cds_req *r, int mode)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_RECEIPT_NOT_FOUND);
    if (!id) return;
    get_ctx *c = cds_req_alloc(r, sizeof *c);
    c->mode = mode;
    cds_req_set_user(r, c, NULL);
    const char *params[] = {id, p->citizen_id};
    cds_req_db(r, st_get, 2, params, on_get);
}

void cds_receipt_get(cds_req *r)
{
    get_start(r, MODE_JSON);
}

void cds_receipt_export_doc(cds_req *r)
{
    get_start(r, MODE_EXPORT);
}

void cds_receipt_pdf_get(cds_req *r)
{
    get_start(r, MODE_PDF);
}
