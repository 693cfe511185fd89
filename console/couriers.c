/* Courier accounts (delivery/, issue 19 part 2), for operators:
 *
 *   GET  /console/couriers                      the accounts, newest first
 *   POST /console/couriers                      carrier, external_id, name, phone?, reason?
 *        issues an account as the carrier's system does through the partner
 *        API (the same checks, cds_courier_create through
 *        cds_console_courier_create, audited); the page that answers shows
 *        the login secret this once (the database keeps its SHA-256 only)
 *   POST /console/couriers/{id}/disable         reason
 *        the courier's tokens stop working at once (cds_courier_disable
 *        through cds_console_courier_disable, audited) */
#include "internal.h"
#include "core/db.h"
#include "delivery/delivery.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static int st_list = -1, st_create = -1, st_disable = -1;

int cn_couriers_init(void)
{
    st_list = cds_db_stmt_register_ro(
        "console_couriers",
        "SELECT COALESCE(json_agg(json_build_object('id', c.id, 'carrier', c.carrier,"
        " 'external_id', c.external_id, 'name', c.name, 'phone', c.phone, 'issued_by', c.issued_by,"
        " 'created_at', cds_rfc3339(c.created_at), 'disabled_at', cds_rfc3339(c.disabled_at),"
        " 'disabled_by', c.disabled_by) ORDER BY c.created_at DESC, c.id), '[]')::text"
        " FROM (SELECT * FROM couriers ORDER BY created_at DESC, id LIMIT 300) c",
        0);
    st_create = cds_db_stmt_register(
        "console_courier_create",
        "SELECT status, id, created_at FROM cds_console_courier_create($1, $2, $3, $4, $5, $6, $7)", 7);
    st_disable = cds_db_stmt_register(
        "console_courier_disable",
        "SELECT status, disabled_at FROM cds_console_courier_disable($1::uuid, $2, $3)", 3);
    return st_list < 0 || st_create < 0 || st_disable < 0 ? -1 : 0;
}

static size_t courier_row(cds_req *r, const cn_session *s, json_t *it, cds_html_var *v)
{
    const char *disabled = cn_js(it, "disabled_at");
    size_t n = 0;
    v[n++] = (cds_html_var){"id", cn_js(it, "id")};
    v[n++] = (cds_html_var){"carrier", cn_js(it, "carrier")};
    v[n++] = (cds_html_var){"external_id", cn_js(it, "external_id")};
    v[n++] = (cds_html_var){"name", cn_js(it, "name")};
    v[n++] = (cds_html_var){"phone", cn_js(it, "phone")};
    v[n++] = (cds_html_var){"issued_by", cn_js(it, "issued_by")};
    v[n++] = (cds_html_var){"created", cn_when(r, cn_js(it, "created_at"))};
    v[n++] = (cds_html_var){"disabled", *disabled ? cn_when(r, disabled) : NULL};
    v[n++] = (cds_html_var){"disabled_by", cn_js(it, "disabled_by")};
    v[n++] = (cds_html_var){"can_disable", s->can_act && !*disabled ? "1" : NULL};
    v[n++] = (cds_html_var){"csrf", s->csrf};
    return n;
}

static void on_list(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_couriers", res)) return;
    cds_buf rows;
    cds_buf_init(&rows, CDS_HTML_PAGE_MAX);
    cn_render_rows(r, s, &rows, PQgetvalue(res, 0, 0), "courier_row", courier_row);
    cn_list_send(r, s, "couriers", cn_t(r, "Bưu tá", "Couriers"), &rows, NULL, 0);
}

void cn_couriers_page(cds_req *r, const cn_session *s)
{
    cds_req_set_user(r, (void *)s, NULL);
    cds_req_db(r, st_list, 0, NULL, on_list);
}

void cds_console_couriers(cds_req *r)
{
    cn_page(r, cn_couriers_page);
}

/* ---------------- create ---------------- */

typedef struct create_ctx {
    const cn_session *s;
    char secret[65];
    const char *carrier, *ext, *name;
} create_ctx;

static void on_create(cds_req *r, PGresult *res)
{
    create_ctx *c = cds_req_user(r);
    if (!cn_one(r, "console_courier_create", res)) {
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "exists") == 0) {
        cn_message(r, 409, c->s, cn_t(r, "Bưu tá đã có tài khoản", "Courier exists"),
                   cds_req_printf(r, "%s %s/%s (id %s). %s",
                                  cn_t(r, "Đơn vị vận chuyển đã có bưu tá mã", "The carrier already has courier"),
                                  c->carrier, c->ext, PQgetvalue(res, 0, 1),
                                  cn_t(r, "Mã bí mật không được cấp lại; không thay đổi gì.",
                                       "The secret is not issued again; nothing was changed.")));
        return;
    }
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    const cds_html_var v[] = {
        {"id", PQgetvalue(res, 0, 1)},
        {"carrier", c->carrier},
        {"external_id", c->ext},
        {"name", c->name},
        {"secret", c->secret},
    };
    cn_render(r, &b, "courier_created", v, sizeof v / sizeof v[0]);
    OPENSSL_cleanse(c->secret, sizeof c->secret);
    cn_send(r, 201, c->s, cn_t(r, "Đã tạo tài khoản bưu tá", "Courier account created"), &b);
}

void cds_console_courier_create(cds_req *r)
{
    const cn_session *s = cn_action(r, 0);
    if (!s) return;
    const char *carrier = cds_req_form(r, "carrier"), *ext = cds_req_form(r, "external_id");
    const char *name = cn_form_text(r, "name", CN_TEXT_MAX), *phone = cds_req_form(r, "phone");
    const char *reason = cds_req_form(r, "reason");
    if (reason && !*reason) reason = NULL;
    if (reason && !(reason = cn_form_text(r, "reason", CN_REASON_MAX))) reason = "";
    const char *why = reason && !*reason ? "lý do tối đa 2000 ký tự"
                                         : cds_courier_fields_check(carrier, ext, name, phone);
    if (why) {
        cn_message(r, 400, s, cn_t(r, "Thông tin chưa hợp lệ", "Invalid input"), why);
        return;
    }
    create_ctx *c = cds_req_alloc(r, sizeof *c);
    c->s = s;
    c->carrier = carrier;
    c->ext = ext;
    c->name = name;
    char sha[65];
    cds_courier_secret_new(c->secret, sha);
    cds_req_set_user(r, c, NULL);
    const char *params[] = {carrier, ext, name, phone && *phone ? phone : NULL,
                            cds_req_strdup(r, sha), s->actor,
                            reason ? reason : cn_t(r, "Cấp tài khoản bưu tá", "Courier account issued")};
    cds_req_db(r, st_create, 7, params, on_create);
}

/* ---------------- disable ---------------- */

static const cn_thing no_courier = {"Không tìm thấy bưu tá", "Courier not found",
                                    "Không có bưu tá này.", "There is no such courier."};

static void on_disable(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_courier_disable", res)) return;
    if (strcmp(PQgetvalue(res, 0, 0), "not_found") == 0) {
        cn_not_found(r, s, &no_courier);
        return;
    }
    cn_done(r, s, cn_t(r, "Đã khoá tài khoản bưu tá.", "The courier account was disabled."),
            cn_couriers_page);
}

void cds_console_courier_disable(cds_req *r)
{
    const cn_session *s = cn_action(r, 0);
    if (!s) return;
    const char *id = cn_uuid_param(r, s, &no_courier);
    const char *reason = id ? cn_reason(r, s) : NULL;
    if (!reason) return;
    cds_req_set_user(r, (void *)s, NULL);
    const char *params[] = {id, s->actor, reason};
    cds_req_db(r, st_disable, 3, params, on_disable);
}
