/* Public-service agents' accounts (auth/staff.h, issue 19 part 1), for
 * operators:
 *
 *   GET  /console/agents                     the agents, newest first, with
 *                                            their agent location
 *   POST /console/agents                     login, display_name, location_id,
 *        password?, oidc_subject?: cds_staff_create (argon2id on the work pool,
 *        a fresh TOTP secret; audited by it with the operator as actor); the
 *        page that answers shows the TOTP secret and its otpauth:// URI once
 *   POST /console/agents/{id}/disable        cds_staff_disable: the agent's
 *        sessions end on every node (audited by it)
 *
 * Agent locations (post offices) are made with `cds staff location`. */
#include "internal.h"
#include "core/db.h"
#include "core/uuid.h"

#include <string.h>

static int st_list = -1;

int cn_agents_init(void)
{
    st_list = cds_db_stmt_register_ro(
        "console_agents",
        "SELECT (SELECT COALESCE(json_agg(json_build_object('id', s.id, 'login', s.login,"
        "  'name', s.display_name, 'location', l.code || ' · ' || l.name,"
        "  'created_at', cds_rfc3339(s.created_at), 'created_by', s.created_by,"
        "  'disabled_at', cds_rfc3339(s.disabled_at), 'oidc', s.oidc_subject IS NOT NULL)"
        "  ORDER BY s.created_at DESC, s.id), '[]')::text"
        "  FROM (SELECT * FROM staff WHERE role = 'agent' ORDER BY created_at DESC, id LIMIT 300) s"
        "  JOIN agent_locations l ON l.id = s.agent_location_id),"
        " (SELECT COALESCE(json_agg(json_build_object('id', id, 'code', code, 'name', name)"
        "  ORDER BY code), '[]')::text FROM agent_locations)",
        0);
    return st_list < 0 ? -1 : 0;
}

static void on_list(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_agents", res)) return;
    cds_buf rows, opts, b;
    cds_buf_init(&rows, CDS_HTML_PAGE_MAX);
    cds_buf_init(&opts, CDS_HTML_PAGE_MAX);
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    json_t *items = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *disabled = cn_js(it, "disabled_at");
        const cds_html_var v[] = {
            {"id", cn_js(it, "id")},
            {"login", cn_js(it, "login")},
            {"name", cn_js(it, "name")},
            {"location", cn_js(it, "location")},
            {"created", cn_when(r, cn_js(it, "created_at"))},
            {"created_by", cn_js(it, "created_by")},
            {"disabled", *disabled ? cn_when(r, disabled) : NULL},
            {"can_disable", s->can_act && !*disabled ? "1" : NULL},
            {"csrf", s->csrf},
        };
        cn_render(r, &rows, "agent_row", v, sizeof v / sizeof v[0]);
    }
    json_decref(items);
    json_t *locs = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    json_array_foreach(locs, i, it)
    {
        const cds_html_var v[] = {
            {"id", cn_js(it, "id")}, {"code", cn_js(it, "code")}, {"name", cn_js(it, "name")}};
        cds_html_render_text(&opts, "<option value=\"{{id}}\">{{code}} · {{name}}</option>", v, 3);
    }
    json_decref(locs);
    const cds_html_var v[] = {
        {"notice", cn_notice(r, s)},
        {"rows", cds_buf_str(&rows)},
        {"none", rows.len ? NULL : "1"},
        {"options", cds_buf_str(&opts)},
        {"can_create", s->can_act && opts.len ? "1" : NULL},
        {"no_locations", opts.len ? NULL : "1"},
        {"csrf", s->csrf},
    };
    cn_render(r, &b, "agents", v, sizeof v / sizeof v[0]);
    if (rows.err || opts.err) cds_buf_fail(&b);
    cds_buf_free(&rows);
    cds_buf_free(&opts);
    cn_send(r, 200, s, cn_t(r, "Đại lý dịch vụ công", "Public-service agents"), &b);
}

void cn_agents_page(cds_req *r, const cn_session *s)
{
    cds_req_set_user(r, (void *)s, NULL);
    cds_req_db(r, st_list, 0, NULL, on_list);
}

void cds_console_agents(cds_req *r)
{
    cn_page(r, cn_agents_page);
}

/* ---------------- create ---------------- */

typedef struct create_ctx {
    const cn_session *s;
    const char *login, *name;
} create_ctx;

static void on_created(cds_req *r, const cds_staff_created *out)
{
    create_ctx *c = cds_req_user(r);
    switch (out->status) {
    case CDS_STAFF_CREATED: {
        cds_buf b;
        cds_buf_init(&b, CDS_HTML_PAGE_MAX);
        const cds_html_var v[] = {
            {"id", out->id},
            {"login", c->login},
            {"name", c->name},
            {"secret", out->totp_secret},
            {"uri", out->otpauth_uri},
        };
        cn_render(r, &b, "agent_created", v, sizeof v / sizeof v[0]);
        cn_send(r, 201, c->s, cn_t(r, "Đã tạo tài khoản đại lý", "Agent account created"), &b);
        return;
    }
    case CDS_STAFF_CREATE_INVALID:
        cn_message(r, 400, c->s, cn_t(r, "Thông tin chưa hợp lệ", "Invalid input"),
                   out->why ? out->why : "");
        return;
    case CDS_STAFF_CREATE_EXISTS:
        cn_message(r, 409, c->s, cn_t(r, "Tên đăng nhập đã có", "Login taken"),
                   cn_t(r, "Tên đăng nhập này đã được dùng; không tạo tài khoản mới.",
                        "This login is taken; no account was created."));
        return;
    case CDS_STAFF_CREATE_NO_LOCATION:
        cn_message(r, 404, c->s, cn_t(r, "Không có điểm đại lý này", "No such agent location"),
                   cn_t(r, "Không có điểm đại lý này; không tạo tài khoản.",
                        "There is no such agent location; no account was created."));
        return;
    default:
        cn_db_failed(r, "console_agent_create", NULL);
    }
}

void cds_console_agent_create(cds_req *r)
{
    const cn_session *s = cn_action(r, 0);
    if (!s) return;
    const char *password = cds_req_form(r, "password"), *oidc = cds_req_form(r, "oidc_subject");
    create_ctx *c = cds_req_alloc(r, sizeof *c);
    c->s = s;
    c->login = cds_req_form(r, "login");
    c->name = cn_form_text(r, "display_name", CN_TEXT_MAX);
    const cds_staff_new n = {
        .login = c->login,
        .display_name = c->name,
        .role = CDS_STAFF_AGENT,
        .location_id = cds_req_form(r, "location_id"),
        .password = password && *password ? password : NULL,
        .oidc_subject = oidc && *oidc ? oidc : NULL,
        .by = s->actor,
    };
    cds_req_set_user(r, c, NULL);
    cds_staff_create(r, &n, on_created);
}

/* ---------------- disable ---------------- */

static void on_disabled(cds_req *r, int status, const char *at)
{
    const cn_session *s = cds_req_user(r);
    (void)at;
    if (status == 0)
        cn_done(r, s, cn_t(r, "Đã khoá tài khoản đại lý; các phiên đăng nhập đã kết thúc.",
                           "The agent account was disabled; its sessions ended."),
                cn_agents_page);
    else if (status == -1)
        cn_message(r, 404, s, cn_t(r, "Không tìm thấy tài khoản", "Account not found"),
                   cn_t(r, "Không có tài khoản này.", "There is no such account."));
    else
        cn_db_failed(r, "console_agent_disable", NULL);
}

void cds_console_agent_disable(cds_req *r)
{
    const cn_session *s = cn_action(r, 0);
    if (!s) return;
    const char *id = cds_req_param(r, "id");
    cds_req_set_user(r, (void *)s, NULL);
    cds_staff_disable(r, id ? id : "", s->actor, on_disabled);
}
