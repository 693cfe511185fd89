/* Courier accounts (issue 19 part 2), issued by the carrier's system through
 * the signed partner API:
 *
 *   POST /v1/partner/couriers               {carrier, external_id, name, phone?}
 *        -> 201 with the courier id and its login secret (shown this once;
 *        kept as SHA-256: 256 random bits need no password KDF); the same
 *        carrier + external_id again -> 409 courier_exists, nothing changes
 *   POST /v1/partner/couriers/{id}/disable  -> 200; the courier's tokens stop
 *        working at once (every courier route asks cds_courier_active)
 *
 * The operators' `cds couriers add|disable` (cli/couriers_cmd.c) calls the
 * same SQL (cds_courier_create, cds_courier_disable). */
#include "internal.h"
#include "auth/auth.h"
#include "core/db.h"
#include "core/problem.h"
#include "core/trace.h"
#include "core/uuid.h"

#include <stdlib.h>

#include <stdio.h>
#include <string.h>

static int st_create, st_disable;

int dl_couriers_init(void)
{
    st_create = cds_db_stmt_register(
        "courier_create", "SELECT status, id, created_at FROM cds_courier_create($1, $2, $3, $4, $5, $6)", 6);
    st_disable = cds_db_stmt_register(
        "courier_disable", "SELECT status, disabled_at FROM cds_courier_disable($1::uuid, NULL, $2)", 2);
    return st_create < 0 || st_disable < 0 ? -1 : 0;
}

void dl_courier_secret(char out[65])
{
    cds_trace_random_hex(out, 32);
}

void cds_courier_secret_new(char secret[65], char sha256_hex[65])
{
    dl_courier_secret(secret);
    dl_sha256_hex(secret, strlen(secret), sha256_hex);
}

const char *cds_courier_fields_check(const char *carrier, const char *ext, const char *name,
                                     const char *phone)
{
    if (!carrier || !cds_delivery_carrier_known(carrier)) return "carrier phải là vnpost hoặc ghn";
    if (!ext || !*ext || strlen(ext) > 64 ||
        strspn(ext, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.:-") != strlen(ext))
        return "external_id: 1-64 ký tự [0-9A-Za-z_.:-] (mã nhân viên của đơn vị vận chuyển)";
    if (!name || !name[0] || strlen(name) > 200) return "name (1-200 ký tự) là bắt buộc";
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return "name (1-200 ký tự) là bắt buộc";
    if (phone && phone[0] &&
        (strlen(phone) != 10 || phone[0] != '0' || strspn(phone, "0123456789") != 10))
        return "phone: 10 chữ số bắt đầu bằng 0";
    return NULL;
}

typedef struct create_ctx {
    char secret[65];
    json_t *answer;
} create_ctx;

static void create_free(void *p)
{
    create_ctx *c = p;
    json_decref(c->answer);
    free(c);
}

static void on_create(cds_req *r, PGresult *res)
{
    create_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "courier_create_db", res);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "exists") == 0) {
        cds_problem(r, 409, "courier_exists",
                    cds_req_printf(r, "Đơn vị vận chuyển đã có bưu tá mã %s (id %s); mã bí mật "
                                      "không được cấp lại.",
                                   json_string_value(json_object_get(c->answer, "external_id")),
                                   PQgetvalue(res, 0, 1)));
        return;
    }
    json_object_set_new(c->answer, "id", json_string(PQgetvalue(res, 0, 1)));
    json_object_set_new(c->answer, "secret", json_string(c->secret));
    json_object_set_new(c->answer, "created_at", json_string(PQgetvalue(res, 0, 2)));
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 201, json_incref(c->answer));
}

void cds_partner_courier_create(cds_req *r)
{
    const char *client = cds_partner_auth(r);
    if (!client) return;
    json_t *b = cds_req_json(r);
    if (!b) return;
    const char *carrier = json_string_value(json_object_get(b, "carrier"));
    const char *ext = json_string_value(json_object_get(b, "external_id"));
    char name[201], phone[16];
    const char *why = NULL;
    if (!dl_opt_text(b, "name", 200, name, sizeof name)) why = "name (1-200 ký tự) là bắt buộc";
    else if (!dl_opt_text(b, "phone", 10, phone, sizeof phone)) why = "phone: 10 chữ số bắt đầu bằng 0";
    else why = cds_courier_fields_check(carrier, ext, name, phone);
    if (why) {
        cds_problem(r, 422, "invalid_courier", why);
        return;
    }
    create_ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    char sha[65];
    cds_courier_secret_new(c->secret, sha);
    c->answer = json_pack("{s:s,s:s,s:s}", "carrier", carrier, "external_id", ext, "name", name);
    if (phone[0]) json_object_set_new(c->answer, "phone", json_string(phone));
    cds_req_set_user(r, c, create_free);
    const char *params[] = {carrier, ext, cds_req_strdup(r, name), phone[0] ? cds_req_strdup(r, phone) : NULL,
                            cds_req_strdup(r, sha), cds_req_printf(r, "partner:%s", client)};
    cds_req_db(r, st_create, 6, params, on_create);
}

static void on_disable(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "courier_disable_db", res);
        return;
    }
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "not_found") == 0) {
        cds_problem(r, 404, "courier_not_found", "Không có bưu tá này.");
        return;
    }
    cds_respond_json(r, 200, json_pack("{s:s,s:s,s:s}", "id", cds_req_param(r, "id"), "status",
                                       "disabled", "disabled_at", PQgetvalue(res, 0, 1)));
}

void cds_partner_courier_disable(cds_req *r)
{
    const char *client = cds_partner_auth(r);
    if (!client) return;
    const char *id = cds_req_param(r, "id");
    if (!id || !cds_uuid_valid(id)) {
        cds_problem(r, 404, "courier_not_found", "Không có bưu tá này.");
        return;
    }
    const char *params[] = {id, cds_req_printf(r, "partner:%s", client)};
    cds_req_db(r, st_disable, 2, params, on_disable);
}
