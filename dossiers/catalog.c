/* The procedure catalog (thủ tục hành chính): the public search and detail
 * pages of the app, the form of a procedure filled from the citizen's VNeID
 * profile, and the update call of the city's TTHC system.
 *
 *   GET /v1/procedures?q=&sector=&cursor=&limit=   public, no login
 *   GET /v1/procedures/{code}                      public, no login
 *   GET /v1/procedures/{code}/form                 citizen (bearer token)
 *   PUT /v1/partner/procedures/{code}              TTHC system (signed request)
 *
 * Search folds the query in SQL with the same cds_fold() that filled
 * procedures.name_folded, so "giay phep xay dung", "Giấy phép XÂY DỰNG" and
 * "xây dựng, giấy phép" all find "Cấp giấy phép xây dựng ...": the query is
 * folded and split into words once (anything not a letter or digit separates
 * words, so LIKE's '%' and '_' mean nothing special), and every word must
 * appear in the folded name (strpos). The city's ~1 000 procedures make that
 * a scan of about a millisecond (measured on 1 144 rows), so no index is
 * needed for it. A query without any word is no filter. Pages are ordered
 * by code; the cursor is the last code signed with the shared cursor key
 * (core/cursor.h), so it means the same on every node and a tampered one is
 * a 400 invalid_cursor.
 *
 * The shape of a procedure (catalog file and the TTHC system's PUT body) is
 * checked here, by cds_catalog_procedure_check, for both callers: the `cds
 * catalog load` command and the partner route. */
#include "auth/auth.h"
#include "core/db.h"
#include "core/etag.h"
#include "core/cursor.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/utf8.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Until dossiers.h / internal.h declare them: the procedure check is also
 * used by cli/catalog_cmd.c, the schema check lives in form.c. */

#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100
#define QUERY_MAX 200 /* bytes of a search text */
#define CODE_MAX 32

static int st_list, st_get, st_form, st_upsert, st_version;

int cds_catalog_init(void)
{
    /* Columns: code, name, sector, agency code, agency name, fee, online fee,
     * processing days, ial, postal. The online fee is computed exactly as
     * cds_dossier_file charges it. Codes compare byte-wise (COLLATE "C") in
     * both the cursor test and the order, whatever the database's locale. */
    st_list = cds_db_stmt_register(
        "catalog_list",
        "SELECT p.code, p.name, p.sector, p.agency_code, a.name, p.fee_vnd, "
        "       p.fee_vnd - p.fee_vnd * p.online_discount_pct / 100, p.processing_days, "
        "       p.ial_required, p.postal_allowed "
        "FROM procedures p JOIN agencies a ON a.code = p.agency_code "
        "WHERE p.active "
        "  AND ($1::text IS NULL OR p.sector = $1) "
        "  AND ($2::text IS NULL OR p.code COLLATE \"C\" > $2::text COLLATE \"C\") "
        "  AND ($3::text IS NULL OR NOT EXISTS ("
        "        SELECT 1 FROM unnest((SELECT array_agg(x) FROM regexp_split_to_table("
        "                                  cds_fold($3::text), '[^[:alnum:]]+') x "
        "                              WHERE x <> '')) w "
        "        WHERE strpos(p.name_folded, w) = 0)) "
        "ORDER BY p.code COLLATE \"C\" "
        "LIMIT $4::int",
        4);
    st_get = cds_db_stmt_register(
        "catalog_get",
        "SELECT p.code, p.name, p.sector, p.agency_code, a.name, a.address, p.fee_vnd, "
        "       p.online_discount_pct, p.fee_vnd - p.fee_vnd * p.online_discount_pct / 100, "
        "       p.processing_days, p.ial_required, p.postal_allowed, p.required_documents, "
        "       p.form_schema, p.active, p.version, "
        "       to_char(p.updated_at AT TIME ZONE 'Asia/Ho_Chi_Minh', "
        "               'YYYY-MM-DD\"T\"HH24:MI:SS\"+07:00\"') "
        "FROM procedures p JOIN agencies a ON a.code = p.agency_code "
        "WHERE p.code = $1",
        1);
    st_form = cds_db_stmt_register(
        "catalog_form",
        "SELECT code, name, ial_required, form_schema FROM procedures WHERE code = $1 AND active",
        1);
    /* Conditional (core/etag.h): $3 the If-Match tags ("v<version>"), NULL
     * for "*"; $4 'create' for If-None-Match: * (only when absent), else the
     * procedure must exist (and match). The row is locked first, so a
     * concurrent writer is waited for and its new version compared; no row
     * answered means the condition failed (412). */
    st_upsert = cds_db_stmt_register(
        "catalog_upsert",
        "WITH cur AS (SELECT code FROM procedures WHERE code = $2 "
        "AND ($3::text[] IS NULL OR 'v' || version = ANY ($3::text[])) FOR UPDATE) "
        "SELECT cds_procedure_upsert($1::jsonb) WHERE ($4 = 'create') <> EXISTS (SELECT 1 FROM cur)",
        4);
    /* Read after the upsert committed: inside the upsert's own statement the
     * snapshot predates the change. */
    st_version = cds_db_stmt_register("catalog_version",
                                      "SELECT version FROM procedures WHERE code = $1", 1);
    return (st_list < 0 || st_get < 0 || st_form < 0 || st_upsert < 0 || st_version < 0) ? -1 : 0;
}

/* ------------------------------------------------------------ shared bits */

static void not_found(cds_req *r)
{
    cds_problem(r, 404, "procedure_not_found", "Không tìm thấy thủ tục hành chính này.");
}

static int code_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > CODE_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= 'a' && s[i] <= 'z') || s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

int cds_catalog_agency_code_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || n > 32) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '.'))
            return 0;
    return 1;
}

/* Sector slugs: "ho_tich", "xay_dung"... stable keys the app labels. */
static int slug_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || n > max || !(s[0] >= 'a' && s[0] <= 'z')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static long long ll_of(PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int bool_of(PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

static json_t *jsonb_of(PGresult *res, int row, int col)
{
    json_t *j = json_loads(PQgetvalue(res, row, col), 0, NULL);
    return j ? j : json_null();
}

/* ------------------------------------------------- procedure shape check */

static int line_ok(const json_t *v, size_t max_chars)
{
    const char *s = json_string_value(v);
    if (!s || !*s || json_string_length(v) != strlen(s) || cds_utf8_chars(s) > max_chars) return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
    return 1;
}

/* The string `key` of the j-th object of an array (NULL when absent). */
static const char *key_at(const json_t *arr, size_t j, const char *key)
{
    return json_string_value(json_object_get(json_array_get(arr, j), key));
}

static int int_in(const json_t *v, long long lo, long long hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static int check_documents(const json_t *docs, char *err, size_t cap)
{
    if (!json_is_array(docs) || json_array_size(docs) > 50) {
        snprintf(err, cap, "'required_documents' phải là mảng tối đa 50 giấy tờ");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(docs); i++) {
        const json_t *d = json_array_get(docs, i);
        const char *code = json_string_value(json_object_get(d, "code"));
        const json_t *req = json_object_get(d, "required");
        if (!json_is_object(d) || json_object_size(d) != 3 || !slug_ok(code, 48) ||
            !line_ok(json_object_get(d, "name"), 300) || !json_is_boolean(req)) {
            snprintf(
                err, cap,
                "required_documents[%zu] phải là {\"code\": [a-z][a-z0-9_]{1,47}, \"name\": 1..300 "
                "ký tự, \"required\": true|false}",
                i);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(code, key_at(docs, j, "code")) == 0) {
                snprintf(err, cap, "required_documents: mã giấy tờ '%s' bị lặp", code);
                return -1;
            }
    }
    return 0;
}

/* A procedure as the catalog file and the TTHC system describe it. The
 * database re-checks ranges and the agency; this gives the sender a message
 * that names what is wrong. `code` may be absent (the PUT path names it). */
int cds_catalog_procedure_check(const json_t *p, char *err, size_t cap)
{
    static const char *const keys[] = {"code",
                                       "name",
                                       "sector",
                                       "agency_code",
                                       "fee_vnd",
                                       "online_discount_pct",
                                       "processing_days",
                                       "ial_required",
                                       "postal_allowed",
                                       "required_documents",
                                       "form_schema",
                                       "active"};
    if (cap) err[0] = 0;
    if (!json_is_object(p)) {
        snprintf(err, cap, "thủ tục phải là một đối tượng JSON");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)p, k, v) {
        size_t i = 0;
        while (i < sizeof keys / sizeof keys[0] && strcmp(k, keys[i]) != 0)
            i++;
        if (i == sizeof keys / sizeof keys[0]) {
            /* The key is the sender's text: echo it only when it is short
             * plain ASCII, so the message stays valid UTF-8. */
            size_t kl = strlen(k), ascii = kl <= 40;
            for (size_t x = 0; ascii && x < kl; x++)
                ascii = k[x] > 0x20 && k[x] < 0x7f && k[x] != '\'';
            snprintf(err, cap, "khóa '%s' không được hỗ trợ", ascii ? k : "?");
            return -1;
        }
    }
    v = json_object_get(p, "code");
    if (v && !code_ok(json_string_value(v))) {
        snprintf(err, cap, "'code' phải khớp [0-9A-Za-z.-]{1,32}");
        return -1;
    }
    if (!line_ok(json_object_get(p, "name"), 500)) {
        snprintf(err, cap, "'name' phải là chuỗi 1..500 ký tự trên một dòng");
        return -1;
    }
    if (!slug_ok(json_string_value(json_object_get(p, "sector")), 40)) {
        snprintf(err, cap, "'sector' phải khớp [a-z][a-z0-9_]{1,39} (ví dụ \"xay_dung\")");
        return -1;
    }
    if (!cds_catalog_agency_code_ok(json_string_value(json_object_get(p, "agency_code")))) {
        snprintf(err, cap, "'agency_code' phải khớp [0-9A-Z.]{2,32}");
        return -1;
    }
    if (!int_in(json_object_get(p, "fee_vnd"), 0, 1000000000000LL)) {
        snprintf(err, cap, "'fee_vnd' phải là số nguyên đồng, từ 0 đến 1000000000000");
        return -1;
    }
    v = json_object_get(p, "online_discount_pct");
    if (v && !int_in(v, 0, 100)) {
        snprintf(err, cap, "'online_discount_pct' phải là số nguyên 0..100");
        return -1;
    }
    if (!int_in(json_object_get(p, "processing_days"), 0, 365)) {
        snprintf(err, cap, "'processing_days' phải là số nguyên 0..365 (ngày làm việc)");
        return -1;
    }
    v = json_object_get(p, "ial_required");
    if (v && !int_in(v, 1, 2)) {
        snprintf(err, cap, "'ial_required' phải là 1 hoặc 2");
        return -1;
    }
    v = json_object_get(p, "postal_allowed");
    if (v && !json_is_boolean(v)) {
        snprintf(err, cap, "'postal_allowed' phải là true hoặc false");
        return -1;
    }
    v = json_object_get(p, "active");
    if (v && !json_is_boolean(v)) {
        snprintf(err, cap, "'active' phải là true hoặc false");
        return -1;
    }
    v = json_object_get(p, "required_documents");
    if (v && check_documents(v, err, cap) != 0) return -1;
    v = json_object_get(p, "form_schema");
    if (v && cds_form_schema_check(v, err, cap) != 0) return -1;
    return 0;
}

/* ----------------------------------------------------------------- cursor */

/* The position is "proc:" + the last code, signed by core/cursor.c: the
 * prefix keeps a cursor of another list (dossiers) from being taken here. */
#define CURSOR_PREFIX "proc:"

static char *cursor_make(cds_req *r, const char *code)
{
    char pos[sizeof CURSOR_PREFIX + CODE_MAX], out[128];
    snprintf(pos, sizeof pos, CURSOR_PREFIX "%s", code);
    return cds_cursor_encode(pos, out, sizeof out) == 0 ? cds_req_strdup(r, out) : NULL;
}

/* The code the request's cursor stands for (arena), or NULL having answered
 * 400 invalid_cursor. */
static char *cursor_open(cds_req *r)
{
    char pos[300];
    if (cds_req_cursor(r, pos, sizeof pos) < 0) return NULL;
    if (strncmp(pos, CURSOR_PREFIX, sizeof CURSOR_PREFIX - 1) != 0 ||
        !code_ok(pos + sizeof CURSOR_PREFIX - 1)) {
        cds_fail(r, CDS_P_INVALID_CURSOR);
        return NULL;
    }
    return cds_req_strdup(r, pos + sizeof CURSOR_PREFIX - 1);
}

/* ------------------------------------------------------ GET /v1/procedures */

/* A query parameter: 0 with *out (NULL when absent), or -1 when it is
 * present but not decodable (bad %-escape, %00): cds_req_query returns NULL
 * for both, and a broken parameter must not silently mean "no filter". */
static int qparam(cds_req *r, const char *name, const char **out)
{
    *out = cds_req_query(r, name);
    if (*out) return 0;
    size_t nl = strlen(name);
    for (const char *p = cds_req_query_string(r); p && *p;) {
        if (strncmp(p, name, nl) == 0 && (p[nl] == '=' || p[nl] == '&' || p[nl] == 0)) return -1;
        p = strchr(p, '&');
        if (p) p++;
    }
    return 0;
}

static void bad_query(cds_req *r, const char *code, const char *detail)
{
    cds_problem(r, 400, code, detail);
}

static void on_list(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_req_db_failed(r, "catalog_db", res);
        return;
    }
    int *limit = cds_req_user(r);
    int rows = PQntuples(res);
    int shown = rows > *limit ? *limit : rows;
    json_t *items = json_array();
    for (int i = 0; i < shown; i++) {
        json_t *it = json_pack(
            "{s:s,s:s,s:s,s:{s:s,s:s},s:I,s:I,s:I,s:I,s:b}", "code", PQgetvalue(res, i, 0), "name",
            PQgetvalue(res, i, 1), "sector", PQgetvalue(res, i, 2), "agency", "code",
            PQgetvalue(res, i, 3), "name", PQgetvalue(res, i, 4), "fee_vnd",
            (json_int_t)ll_of(res, i, 5), "online_fee_vnd", (json_int_t)ll_of(res, i, 6),
            "processing_days", (json_int_t)ll_of(res, i, 7), "identification_level_required",
            (json_int_t)ll_of(res, i, 8), "postal_allowed", bool_of(res, i, 9));
        if (it) json_array_append_new(items, it);
    }
    /* One row more than asked was fetched: its presence says there is a next page. */
    const char *cur =
        rows > *limit && shown > 0 ? cursor_make(r, PQgetvalue(res, shown - 1, 0)) : NULL;
    json_t *next = cur ? json_string(cur) : json_null();
    cds_resp_header(r, "cache-control", "public, max-age=60");
    cds_respond_json(r, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

void cds_procedures_list(cds_req *r)
{
    const char *q, *sector, *cursor, *limit_s;
    if (qparam(r, "q", &q) || qparam(r, "sector", &sector) || qparam(r, "cursor", &cursor) ||
        qparam(r, "limit", &limit_s)) {
        bad_query(r, "invalid_query", "Tham số tìm kiếm không hợp lệ.");
        return;
    }
    int *limit = cds_req_alloc(r, sizeof *limit);
    *limit = LIMIT_DEFAULT;
    if (limit_s) {
        char *end = NULL;
        long v = 0;
        int digits = limit_s[0] >= '0' && limit_s[0] <= '9' && strlen(limit_s) <= 4;
        if (digits) v = strtol(limit_s, &end, 10);
        if (!digits || !end || *end || v < 1 || v > LIMIT_MAX) {
            bad_query(r, "invalid_limit",
                      "Số kết quả mỗi trang (limit) phải là số nguyên từ 1 đến 100.");
            return;
        }
        *limit = (int)v;
    }
    const char *after = NULL;
    if (cursor && !(after = cursor_open(r))) return;
    if (sector && *sector == 0) sector = NULL;
    if (sector && !slug_ok(sector, 40)) {
        bad_query(r, "invalid_sector", "Lĩnh vực (sector) không hợp lệ.");
        return;
    }
    if (q) {
        /* jansson's strict UTF-8 check (no overlong forms, no surrogates)
         * keeps PostgreSQL from refusing the text with an error. */
        size_t n = strlen(q);
        json_t *probe = n <= QUERY_MAX ? json_stringn(q, n) : NULL;
        int ok = probe != NULL;
        json_decref(probe);
        for (const char *s = q; ok && *s; s++)
            if ((unsigned char)*s < 0x20 || *s == 0x7f) ok = 0;
        if (!ok) {
            bad_query(
                r, "invalid_query",
                "Nội dung tìm kiếm không hợp lệ (tối đa 200 byte, không chứa ký tự điều khiển).");
            return;
        }
        if (strspn(q, " ") == n) q = NULL;
    }
    cds_req_set_user(r, limit, NULL);
    char lim[16];
    snprintf(lim, sizeof lim, "%d", *limit + 1);
    const char *params[] = {sector, after, q, lim};
    cds_req_db(r, st_list, 4, params, on_list);
}

/* ------------------------------------------------ GET /v1/procedures/{code} */

static void on_get(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_req_db_failed(r, "catalog_db", res);
        return;
    }
    if (PQntuples(res) != 1) {
        not_found(r);
        return;
    }
    json_t *agency =
        json_pack("{s:s,s:s}", "code", PQgetvalue(res, 0, 3), "name", PQgetvalue(res, 0, 4));
    json_object_set_new(agency, "address",
                        PQgetisnull(res, 0, 5) ? json_null() : json_string(PQgetvalue(res, 0, 5)));
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:b,s:o,s:o,s:b,s:I,s:s}", "code",
        PQgetvalue(res, 0, 0), "name", PQgetvalue(res, 0, 1), "sector", PQgetvalue(res, 0, 2),
        "agency", agency, "fee_vnd", (json_int_t)ll_of(res, 0, 6), "online_discount_pct",
        (json_int_t)ll_of(res, 0, 7), "online_fee_vnd", (json_int_t)ll_of(res, 0, 8),
        "processing_days", (json_int_t)ll_of(res, 0, 9), "identification_level_required",
        (json_int_t)ll_of(res, 0, 10), "postal_allowed", bool_of(res, 0, 11), "required_documents",
        jsonb_of(res, 0, 12), "form_schema", jsonb_of(res, 0, 13), "active", bool_of(res, 0, 14),
        "version", (json_int_t)ll_of(res, 0, 15), "updated_at", PQgetvalue(res, 0, 16));
    if (!o) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    cds_resp_header(r, "cache-control", "public, max-age=60");
    cds_resp_etag(r, cds_req_printf(r, "v%lld", ll_of(res, 0, 15)));
    cds_respond_json(r, 200, o);
}

void cds_procedure_get(cds_req *r)
{
    const char *code = cds_req_param(r, "code");
    if (!code_ok(code)) {
        not_found(r);
        return;
    }
    const char *params[] = {code};
    cds_req_db(r, st_get, 1, params, on_get);
}

/* ------------------------------------------- GET /v1/procedures/{code}/form */

/* Arena state kept across the profile read (cds_auth_profile wants arena
 * memory without a free function): the schema stays text until the end so
 * nothing needs freeing if the client goes away in between. */
typedef struct form_ctx {
    const cds_principal *who;
    char *code, *name, *schema;
    int ial_required;
} form_ctx;

static void on_form_profile(cds_req *r, json_t *profile)
{
    if (!profile) return; /* answered already */
    form_ctx *c = cds_req_user(r);
    json_t *schema = json_loads(c->schema, 0, NULL);
    json_t *fields = json_object_get(schema, "fields");
    json_t *values = cds_form_prefill(schema, profile);
    json_t *o =
        json_pack("{s:{s:s,s:s},s:o,s:o,s:i,s:b}", "procedure", "code", c->code, "name", c->name,
                  "fields", json_is_array(fields) ? json_incref(fields) : json_array(), "values",
                  values, "identification_level_required", c->ial_required,
                  "identification_level_sufficient", c->who->ial >= c->ial_required);
    json_decref(schema);
    json_decref(profile);
    if (!o) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    /* Personal data inside: never cached along the way. */
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond_json(r, 200, o);
}

static void on_form_procedure(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_req_db_failed(r, "catalog_db", res);
        return;
    }
    if (PQntuples(res) != 1) {
        not_found(r);
        return;
    }
    form_ctx *c = cds_req_user(r);
    c->code = cds_req_strdup(r, PQgetvalue(res, 0, 0));
    c->name = cds_req_strdup(r, PQgetvalue(res, 0, 1));
    c->ial_required = (int)ll_of(res, 0, 2);
    c->schema = cds_req_strdup(r, PQgetvalue(res, 0, 3));
    cds_auth_profile(r, c->who, on_form_profile);
}

void cds_procedure_form(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *code = cds_req_param(r, "code");
    if (!code_ok(code)) {
        not_found(r);
        return;
    }
    form_ctx *c = cds_req_alloc(r, sizeof *c);
    memset(c, 0, sizeof *c);
    c->who = p;
    cds_req_set_user(r, c, NULL);
    const char *params[] = {code};
    cds_req_db(r, st_form, 1, params, on_form_procedure);
}

/* ---------------------------------------- PUT /v1/partner/procedures/{code} */

typedef struct put_ctx {
    const char *client, *code, *result;
} put_ctx;

static void on_version(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "catalog_db", res);
        return;
    }
    put_ctx *c = cds_req_user(r);
    cds_resp_etag(r, cds_req_printf(r, "v%lld", ll_of(res, 0, 0)));
    cds_respond_json(r, 200,
                     json_pack("{s:s,s:s,s:I}", "code", c->code, "result", c->result, "version",
                               (json_int_t)ll_of(res, 0, 0)));
}

static void on_upserted(cds_req *r, PGresult *res)
{
    put_ctx *c = cds_req_user(r);
    if (res && PQresultStatus(res) == PGRES_FATAL_ERROR) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "23503") == 0) {
            cds_problem(r, 422, "unknown_agency",
                        "Mã cơ quan (agency_code) không có trong danh mục cơ quan.");
            return;
        }
        /* Data errors and check violations: what the C check let through
         * and the database's constraints refuse. */
        if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)) {
            cds_log(CDS_LOG_WARN, "catalog_partner", "procedure %s refused: %s", c->code,
                    PQresultErrorMessage(res));
            cds_problem(r, 422, "invalid_procedure", "Mô tả thủ tục không hợp lệ.");
            return;
        }
    }
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0) {
        cds_precondition_failed(r);
        return;
    }
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "catalog_db", res);
        return;
    }
    c->result = cds_req_strdup(r, PQgetvalue(res, 0, 0));
    cds_log(CDS_LOG_INFO, "catalog_partner", "client %s procedure %s %s", c->client, c->code,
            c->result);
    const char *params[] = {c->code};
    cds_req_db(r, st_version, 1, params, on_version);
}

void cds_partner_procedure_put(cds_req *r)
{
    const char *client = cds_partner_auth(r);
    if (!client) return;
    const char *code = cds_req_param(r, "code");
    if (!code_ok(code)) {
        cds_problem(r, 422, "invalid_procedure",
                    "Mã thủ tục trên đường dẫn phải gồm 1..32 ký tự 0-9, A-Z, a-z, '.', '-'.");
        return;
    }
    /* Two back offices editing one procedure must not overwrite each other:
     * an update names the version it read (If-Match), a creation says it
     * expects none (If-None-Match: *). */
    const char *tags, *mode = "match";
    enum cds_if_match im = cds_if_match(r, &tags);
    if (im == CDS_IFM_BAD) return;
    const char *inm = cds_req_header(r, "if-none-match");
    if (im == CDS_IFM_NONE) {
        if (!inm) {
            cds_precondition_required(r);
            return;
        }
        while (*inm == ' ') inm++;
        if (strcmp(inm, "*") != 0) {
            cds_problem(r, 400, "invalid_if_none_match",
                        "Chỉ hỗ trợ If-None-Match: * (tạo mới thủ tục chưa có).");
            return;
        }
        mode = "create";
    }
    json_t *j = cds_req_json(r);
    if (!j) return;
    if (!json_is_object(j)) {
        cds_problem(r, 422, "invalid_procedure",
                    "Nội dung phải là một đối tượng JSON mô tả thủ tục.");
        return;
    }
    json_t *bc = json_object_get(j, "code");
    if (bc && (!json_is_string(bc) || strcmp(json_string_value(bc), code) != 0)) {
        cds_problem(r, 422, "code_mismatch",
                    "Mã thủ tục trong nội dung khác với mã trên đường dẫn.");
        return;
    }
    char err[256];
    if (cds_catalog_procedure_check(j, err, sizeof err) != 0) {
        cds_problem(r, 422, "invalid_procedure",
                    cds_req_printf(r, "Mô tả thủ tục không hợp lệ: %s.", err));
        return;
    }
    if (!bc) json_object_set_new(j, "code", json_string(code));
    char *body = json_dumps(j, JSON_COMPACT);
    if (!body) {
        cds_fail(r, CDS_P_INTERNAL);
        return;
    }
    put_ctx *c = cds_req_alloc(r, sizeof *c);
    c->client = client;
    c->code = cds_req_strdup(r, code);
    c->result = NULL;
    cds_req_set_user(r, c, NULL);
    const char *params[] = {body, c->code, tags, mode};
    cds_req_db(r, st_upsert, 4, params, on_upserted); /* the pool copies the text */
    free(body);
}
