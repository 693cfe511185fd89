/* The citizen's own data: GET /v1/me (profile with the personal ID number,
 * opened from its sealed form, shown to its owner only), PATCH /v1/me
 * (contact phone, email, notification preferences, the language of push and
 * inbox texts: "vi" or "en") and the push devices
 * (POST /v1/me/devices, DELETE /v1/me/devices/{id}). Every statement is
 * scoped by the token's subject: another citizen's device id is a 404. */
#include "internal.h"
#include "core/etag.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/uuid.h"
#include "core/vn.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void put_opened(json_t *o, const char *key, PGresult *res, int row, int col, const char *aad)
{
    if (PQgetisnull(res, row, col)) {
        json_object_set_new(o, key, json_null());
        return;
    }
    char *v = cds_auth_open(PQgetvalue(res, row, col), aad);
    json_object_set_new(o, key, v ? json_string(v) : json_null());
    if (!v) cds_log(CDS_LOG_ERROR, "pdata", "sealed %s of a citizen does not open", aad);
    free(v);
}

static json_t *text_or_null(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* Columns of st_me_get / st_me_update: id, pid_sealed, full_name, birth_date,
 * gender, address_sealed, phone_sealed, contact_phone_sealed, email, ial,
 * notify_sms, notify_push, devices (json), etag, language, notify_zalo. */
json_t *cds_me_profile_json(PGresult *res, int row)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(PQgetvalue(res, row, 0)));
    put_opened(o, "personal_id", res, row, 1, "citizen.pid");
    json_object_set_new(o, "full_name", json_string(PQgetvalue(res, row, 2)));
    json_object_set_new(o, "birth_date", text_or_null(res, row, 3));
    json_object_set_new(o, "gender", text_or_null(res, row, 4));
    put_opened(o, "address", res, row, 5, "citizen.address");
    put_opened(o, "phone", res, row, 6, "citizen.phone");
    put_opened(o, "contact_phone", res, row, 7, "citizen.contact_phone");
    json_object_set_new(o, "email", text_or_null(res, row, 8));
    json_object_set_new(o, "identification_level",
                        PQgetisnull(res, row, 9) ? json_null()
                                                 : json_integer(PQgetvalue(res, row, 9)[0] - '0'));
    json_object_set_new(o, "notification_preferences",
                        json_pack("{s:b,s:b,s:b}", "sms", PQgetvalue(res, row, 10)[0] == 't',
                                  "push", PQgetvalue(res, row, 11)[0] == 't', "zalo",
                                  PQgetvalue(res, row, 15)[0] == 't'));
    json_object_set_new(o, "language", json_string(PQgetvalue(res, row, 14)));
    json_t *devices = json_loads(PQgetvalue(res, row, 12), 0, NULL);
    json_object_set_new(o, "devices", devices ? devices : json_array());
    return o;
}

/* The request's user slot points here when PATCH sent If-Match. */
static char g_conditional;

static void on_profile(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_req_db_failed(r, "auth_db", res);
        return;
    }
    if (PQntuples(res) != 1) {
        /* The token's citizen exists unless deleted since: no row from the
         * update means its If-Match named an older version. */
        if (cds_req_user(r) == &g_conditional)
            cds_precondition_failed(r);
        else
            cds_problem(r, 404, "citizen_not_found", "Không tìm thấy thông tin công dân.");
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_resp_etag(r, PQgetvalue(res, 0, 13));
    cds_respond_json(r, 200, cds_me_profile_json(res, 0));
}

typedef struct profile_ctx {
    void (*cont)(cds_req *r, json_t *profile);
    void *saved_user; /* the caller's request state, given back before cont */
} profile_ctx;

static void on_profile_for(cds_req *r, PGresult *res)
{
    profile_ctx *c = cds_req_user(r);
    cds_req_set_user(r, c->saved_user, NULL);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_req_db_failed(r, "auth_db", res);
        c->cont(r, NULL);
        return;
    }
    if (PQntuples(res) != 1) {
        cds_problem(r, 404, "citizen_not_found", "Không tìm thấy thông tin công dân.");
        c->cont(r, NULL);
        return;
    }
    c->cont(r, cds_me_profile_json(res, 0));
}

void cds_auth_profile(cds_req *r, const cds_principal *p, void (*cont)(cds_req *r, json_t *profile))
{
    /* The request's user slot carries our state through the query; the
     * caller's (arena-owned) state is put back before cont runs. */
    profile_ctx *c = cds_req_alloc(r, sizeof *c);
    c->cont = cont;
    c->saved_user = cds_req_user(r);
    cds_req_set_user(r, c, NULL);
    const char *params[] = {p->citizen_id};
    if (cds_req_db(r, st_me_get, 1, params, on_profile_for) != 0) {
        cds_req_set_user(r, c->saved_user, NULL);
        cont(r, NULL);
    }
}

void cds_me_get(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *params[] = {p->citizen_id};
    cds_req_db(r, st_me_get, 1, params, on_profile);
}

static int email_valid(const char *s)
{
    const char *at = strchr(s, '@');
    size_t n = strlen(s);
    if (n < 3 || n > 254 || !at || at == s || strchr(at + 1, '@') || !strchr(at + 1, '.')) return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '<' || *s == '>' || *s == '"') return 0;
    return at[1] != '.' && s[-1] != '.';
}

static void invalid(cds_req *r, const char *code, const char *detail)
{
    cds_problem(r, 422, code, detail);
}

void cds_me_patch(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    if (!json_is_object(j)) {
        invalid(r, "invalid_profile", "Dữ liệu cập nhật phải là một đối tượng JSON.");
        return;
    }
    const char *known[] = {"contact_phone", "email", "notification_preferences", "language"};
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            invalid(r, "invalid_profile", cds_req_printf(r, "Không thể cập nhật trường '%.40s'.", key));
            return;
        }
    }
    /* Each field: absent = unchanged, null = cleared (prefs cannot be null). */
    const char *set_phone = "f", *phone_sealed = NULL, *set_email = "f", *email = NULL;
    const char *set_sms = "f", *sms = NULL, *set_push = "f", *push = NULL;
    const char *set_zalo = "f", *zalo = NULL;
    char *sealed = NULL;
    json_t *cp = json_object_get(j, "contact_phone");
    if (cp) {
        set_phone = "t";
        if (!json_is_null(cp)) {
            char norm[16];
            if (!json_is_string(cp) || cds_vn_phone_normalize(json_string_value(cp), norm, sizeof norm) != 0) {
                invalid(r, "invalid_phone", "Số điện thoại di động không hợp lệ (ví dụ: 0912345678).");
                return;
            }
            sealed = cds_auth_seal(norm, "citizen.contact_phone");
            phone_sealed = sealed;
        }
    }
    json_t *em = json_object_get(j, "email");
    if (em) {
        set_email = "t";
        if (!json_is_null(em)) {
            if (!json_is_string(em) || !email_valid(json_string_value(em))) {
                free(sealed);
                invalid(r, "invalid_email", "Địa chỉ email không hợp lệ.");
                return;
            }
            email = json_string_value(em);
        }
    }
    json_t *np = json_object_get(j, "notification_preferences");
    if (np) {
        json_t *s = json_object_get(np, "sms"), *pu = json_object_get(np, "push");
        json_t *z = json_object_get(np, "zalo");
        if (!json_is_object(np) || json_object_size(np) > 3 || (s && !json_is_boolean(s)) ||
            (pu && !json_is_boolean(pu)) || (z && !json_is_boolean(z)) ||
            json_object_size(np) != (size_t)(!!s + !!pu + !!z)) {
            free(sealed);
            invalid(r, "invalid_preferences",
                    "Tùy chọn thông báo chỉ gồm 'sms', 'push' và 'zalo' với giá trị true hoặc false.");
            return;
        }
        if (s) set_sms = "t", sms = json_is_true(s) ? "t" : "f";
        if (pu) set_push = "t", push = json_is_true(pu) ? "t" : "f";
        if (z) set_zalo = "t", zalo = json_is_true(z) ? "t" : "f";
    }
    /* The language of push and inbox texts; absent = unchanged. */
    json_t *lg = json_object_get(j, "language");
    const char *language = NULL;
    if (lg) {
        language = json_string_value(lg);
        if (!language || (strcmp(language, "vi") != 0 && strcmp(language, "en") != 0)) {
            free(sealed);
            invalid(r, "invalid_language", "Ngôn ngữ chỉ có thể là 'vi' (tiếng Việt) hoặc 'en' (tiếng Anh).");
            return;
        }
    }
    const char *tags;
    enum cds_if_match im = cds_if_match(r, &tags);
    if (im == CDS_IFM_BAD) {
        free(sealed);
        return;
    }
    if (im == CDS_IFM_TAGS) cds_req_set_user(r, &g_conditional, NULL); /* see on_profile */
    const char *params[] = {p->citizen_id, set_phone, phone_sealed, set_email, email,
                            set_sms, sms, set_push, push, tags, language, set_zalo, zalo};
    cds_req_db(r, st_me_update, 13, params, on_profile);
    free(sealed);
}

static void on_device(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_req_db_failed(r, "auth_db", res);
        return;
    }
    int created = PQgetvalue(res, 0, 4)[0] == 't';
    cds_respond_json(r, created ? 201 : 200,
                     json_pack("{s:s,s:s,s:o,s:s}", "id", PQgetvalue(res, 0, 0), "platform",
                               PQgetvalue(res, 0, 1), "app_version", text_or_null(res, 0, 2),
                               "registered_at", PQgetvalue(res, 0, 3)));
}

void cds_me_device_add(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    json_t *j = cds_req_json(r);
    if (!j) return;
    const char *platform = json_string_value(json_object_get(j, "platform"));
    const char *token = json_string_value(json_object_get(j, "token"));
    json_t *ver = json_object_get(j, "app_version");
    if (!platform || (strcmp(platform, "fcm") != 0 && strcmp(platform, "apns") != 0)) {
        invalid(r, "invalid_platform", "Nền tảng phải là 'fcm' (Android) hoặc 'apns' (iOS).");
        return;
    }
    size_t tl = token ? strlen(token) : 0;
    int token_ok = tl >= 8 && tl <= 4096;
    for (size_t i = 0; token_ok && i < tl; i++)
        token_ok = isalnum((unsigned char)token[i]) || strchr("-_:.", token[i]);
    /* APNs device tokens are 64 hex digits (32 bytes) today; be lenient on length. */
    if (!token_ok) {
        invalid(r, "invalid_device_token", "Mã thiết bị nhận thông báo không hợp lệ.");
        return;
    }
    if (ver && !json_is_null(ver) && (!json_is_string(ver) || strlen(json_string_value(ver)) > 32)) {
        invalid(r, "invalid_app_version", "Phiên bản ứng dụng không hợp lệ.");
        return;
    }
    const char *params[] = {p->citizen_id, platform, token, ver ? json_string_value(ver) : NULL};
    cds_req_db(r, st_device_upsert, 4, params, on_device);
}

static void on_device_deleted(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        cds_req_db_failed(r, "auth_db", res);
        return;
    }
    if (strcmp(PQcmdTuples(res), "1") != 0) {
        cds_problem(r, 404, "device_not_found", "Không tìm thấy thiết bị này.");
        return;
    }
    cds_respond(r, 204, NULL, NULL, 0);
}

void cds_me_device_remove(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_param(r, "id");
    if (!cds_uuid_valid(id)) {
        cds_problem(r, 404, "device_not_found", "Không tìm thấy thiết bị này.");
        return;
    }
    const char *params[] = {id, p->citizen_id};
    cds_req_db(r, st_device_delete, 2, params, on_device_deleted);
}
