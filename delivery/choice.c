/* The citizen's side of delivery:
 *
 *   PUT /v1/dossiers/{id}/delivery   choose or change how the result comes
 *                                    (pickup, or post with recipient and
 *                                    address), until the result is ready
 *   GET /v1/dossiers/{id}/delivery   the choice as stored, with its ETag
 *   GET /v1/dossiers/{id}/shipment   the delivery choice and the shipment(s)
 *                                    with their timeline and proof of delivery
 *
 * The choice is validated and priced here (tariff.c) with the dossier's
 * procedure, then stored by one call of cds_dossier_delivery_set, which
 * checks what the database knows: the owner, the state (before
 * result_ready), postal_allowed, and that a delivery paid with the fee is
 * still possible. Another citizen's dossier is a 404. The answer carries
 * the choice's strong ETag, as the GET does (its representation is the
 * choice and nothing else, so the tag changes exactly when it does); a PUT
 * with If-Match naming another is a 412. */
#include "internal.h"
#include "auth/auth.h"
#include "core/db.h"
#include "core/etag.h"
#include "core/log.h"
#include "core/problem.h"

#include <stdlib.h>
#include <string.h>

static int st_proc, st_set, st_get, st_choice;

/* The strong tag of a stored choice: MD5 of the jsonb's text ('null' when none). */
#define CHOICE_TAG(col) "md5(COALESCE(" col "::text, 'null'))"

int dl_choice_init(void)
{
    st_proc = cds_db_stmt_register(
        "delivery_procedure",
        "SELECT d.procedure_code, a.carrier FROM dossiers d "
        "LEFT JOIN procedures p ON p.code = d.procedure_code "
        "LEFT JOIN agencies a ON a.code = p.agency_code "
        "WHERE d.id = $1::uuid AND d.citizen_id = $2::uuid", 2);
    /* With If-Match ($4, text[]), the dossier is locked only when its
     * choice's tag is one of them; a concurrent writer is waited for and the
     * tag compared again with its row, so one of two clients that read the
     * same choice gets no row (412) instead of overwriting the other. The tag
     * is the MD5 of the stored jsonb's text, so the new one is known here. */
    st_set = cds_db_stmt_register(
        "delivery_set",
        "WITH target AS (SELECT x.id FROM dossiers x WHERE x.id = $2::uuid AND x.citizen_id = $1::uuid "
        "AND ($4::text[] IS NULL OR " CHOICE_TAG("x.delivery") " = ANY ($4::text[])) "
        "FOR UPDATE) "
        "SELECT s.status, s.dossier_status, md5($3::jsonb::text) FROM target, "
        "LATERAL cds_dossier_delivery_set($1::uuid, target.id, $3::jsonb) s",
        4);
    st_get = cds_db_stmt_register(
        "shipment_get",
        "SELECT d.delivery::text, d.status, cds_shipments_json(d.id, false)::text FROM dossiers d "
        "WHERE d.id = $1::uuid AND d.citizen_id = $2::uuid",
        2);
    st_choice = cds_db_stmt_register_ro(
        "delivery_get",
        "SELECT d.delivery::text, " CHOICE_TAG("d.delivery") " FROM dossiers d "
        "WHERE d.id = $1::uuid AND d.citizen_id = $2::uuid",
        2);
    return (st_proc < 0 || st_set < 0 || st_get < 0 || st_choice < 0) ? -1 : 0;
}

typedef struct put_ctx {
    const cds_principal *p;
    const char *id;
    json_t *body;   /* borrowed from the request */
    json_t *choice; /* owned */
    const char *tags; /* If-Match as text[], or NULL */
} put_ctx;

static void put_free(void *x)
{
    put_ctx *c = x;
    json_decref(c->choice);
    free(c);
}

static void on_set(cds_req *r, PGresult *res)
{
    if (!cds_req_db_rows(r, "delivery_db", res)) return;
    put_ctx *c = cds_req_user(r);
    if (PQntuples(res) != 1) { /* its owner's dossier a moment ago: the tag did not match */
        if (c->tags) cds_precondition_failed(r);
        else cds_fail(r, CDS_P_DOSSIER_NOT_FOUND);
        return;
    }
    const char *status = PQgetvalue(res, 0, 0), *ds = PQgetvalue(res, 0, 1);
    if (strcmp(status, "updated") == 0) {
        cds_resp_header(r, "cache-control", "no-store");
        cds_resp_etag(r, PQgetvalue(res, 0, 2));
        cds_respond_json(r, 200, json_pack("{s:s,s:s,s:O}", "dossier_id", c->id, "dossier_status",
                                           ds, "delivery", c->choice));
    } else if (strcmp(status, "not_found") == 0) {
        cds_fail(r, CDS_P_DOSSIER_NOT_FOUND);
    } else if (strcmp(status, "too_late") == 0) {
        cds_problem(r, 409, "delivery_too_late",
                    cds_req_printf(r, "Hồ sơ đang ở trạng thái '%s': chỉ chọn hoặc đổi cách nhận "
                                      "kết quả trước khi có kết quả.", ds));
    } else if (strcmp(status, "postal_not_allowed") == 0) {
        cds_fail(r, CDS_P_POSTAL_NOT_ALLOWED);
    } else if (strcmp(status, "cod_required") == 0) {
        cds_problem(r, 409, "cod_required",
                    "Phí của hồ sơ đã được tính hoặc đã nộp; phí chuyển phát chỉ có thể trả khi "
                    "nhận (cod: true).");
    } else {
        cds_log(CDS_LOG_ERROR, "delivery_set", "unexpected status '%s'", status);
        cds_fail(r, CDS_P_INTERNAL);
    }
}

static void on_procedure(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "delivery_db", res, CDS_P_DOSSIER_NOT_FOUND)) return;
    put_ctx *c = cds_req_user(r);
    char err[300];
    c->choice = cds_delivery_choice(c->body, PQgetvalue(res, 0, 0), err, sizeof err);
    if (!c->choice) {
        cds_problem(r, 422, "invalid_delivery", err);
        return;
    }
    /* The agency's own carrier (agencies.carrier) names who will deliver. */
    if (!PQgetisnull(res, 0, 1) && json_object_get(c->choice, "carrier"))
        json_object_set_new(c->choice, "carrier", json_string(PQgetvalue(res, 0, 1)));
    char *s = json_dumps(c->choice, JSON_COMPACT);
    const char *params[] = {c->p->citizen_id, c->id, s, c->tags};
    cds_req_db(r, st_set, 4, params, on_set);
    free(s);
}

void cds_delivery_put(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_uuid_param(r, "id", CDS_P_DOSSIER_NOT_FOUND);
    if (!id) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    if (!json_is_object(j)) {
        cds_problem(r, 422, "invalid_delivery", "Thông tin nhận kết quả phải là một đối tượng JSON.");
        return;
    }
    const char *tags;
    if (cds_if_match(r, &tags) == CDS_IFM_BAD) return;
    put_ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->tags = tags;
    c->p = p;
    c->id = id;
    c->body = j;
    cds_req_set_user(r, c, put_free);
    const char *params[] = {id, p->citizen_id};
    cds_req_db(r, st_proc, 2, params, on_procedure);
}

static void on_choice(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "delivery_db", res, CDS_P_DOSSIER_NOT_FOUND)) return;
    json_t *delivery = PQgetisnull(res, 0, 0) ? NULL : json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    cds_resp_header(r, "cache-control", "no-store");
    cds_resp_etag(r, PQgetvalue(res, 0, 1));
    cds_respond_json(r, 200, json_pack("{s:s,s:o}", "dossier_id", cds_req_param(r, "id"),
                                       "delivery", delivery ? delivery : json_null()));
}

void cds_delivery_get(cds_req *r)
{
    cds_auth_citizen_dossier_query(r, st_choice, on_choice);
}

static void on_get(cds_req *r, PGresult *res)
{
    if (!cds_req_db_one(r, "delivery_db", res, CDS_P_DOSSIER_NOT_FOUND)) return;
    json_t *delivery = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    json_t *list = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
    if (!json_is_array(list)) {
        json_decref(list);
        list = json_array();
    }
    json_t *latest = json_array_size(list) ? json_incref(json_array_get(list, 0)) : json_null();
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200, json_pack("{s:s,s:s,s:o,s:o,s:o}", "dossier_id", cds_req_param(r, "id"),
                                       "dossier_status", PQgetvalue(res, 0, 1), "delivery",
                                       delivery ? delivery : json_null(), "shipment", latest,
                                       "shipments", list));
}

void cds_shipment_get(cds_req *r)
{
    cds_auth_citizen_dossier_query(r, st_get, on_get);
}
