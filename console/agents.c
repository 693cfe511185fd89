/* Public-service agents' accounts (auth/staff.h, issue 19 part 1) and their
 * agent locations (post offices), for operators:
 *
 *   GET  /console/agents                     the agents, newest first, with
 *                                            their agent location; the locations
 *   POST /console/agents                     login, display_name, location_id,
 *        password?, oidc_subject?: cds_staff_create (argon2id on the work pool,
 *        a fresh TOTP secret; audited by it with the operator as actor); the
 *        page that answers shows the TOTP secret and its otpauth:// URI once
 *   POST /console/agents/{id}/disable        cds_staff_disable: the agent's
 *        sessions end on every node (audited by it)
 *   POST /console/agents/locations           code, name, address, agency_code:
 *        cds_agent_location_create (as `cds staff location`; audited by it
 *        with the operator as actor). Shapes checked here as the table
 *        checks them; a bad field or an unknown agency: 400, a code taken:
 *        409, nothing made
 *   POST /console/agents/locations/{id}/disable   reason: closes the
 *        location (no new agents there) and disables its agents
 *        (cds_agent_location_disable, audited) */
#include "internal.h"
#include "core/db.h"

#include <string.h>

static int st_list = -1, st_loc_create = -1, st_loc_disable = -1;

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
        " (SELECT COALESCE(json_agg(json_build_object('id', id, 'code', code, 'name', name,"
        "  'address', address, 'agency', agency_code, 'created_at', cds_rfc3339(created_at),"
        "  'created_by', created_by, 'disabled_at', cds_rfc3339(disabled_at))"
        "  ORDER BY disabled_at IS NOT NULL, code), '[]')::text FROM agent_locations),"
        " (SELECT COALESCE(json_agg(json_build_object('code', code, 'name', name) ORDER BY code),"
        "  '[]')::text FROM agencies)",
        0);
    st_loc_create = cds_db_stmt_register(
        "console_location_create",
        "SELECT status, id FROM cds_agent_location_create($1, $2, $3, $4, $5)", 5);
    st_loc_disable = cds_db_stmt_register(
        "console_location_disable",
        "SELECT status, agents FROM cds_agent_location_disable($1::uuid, $2, $3)", 3);
    return st_list < 0 || st_loc_create < 0 || st_loc_disable < 0 ? -1 : 0;
}

static size_t agent_row(cds_req *r, const cn_session *s, json_t *it, cds_html_var *v)
{
    const char *disabled = cn_js(it, "disabled_at");
    size_t n = 0;
    v[n++] = (cds_html_var){"id", cn_js(it, "id")};
    v[n++] = (cds_html_var){"login", cn_js(it, "login")};
    v[n++] = (cds_html_var){"name", cn_js(it, "name")};
    v[n++] = (cds_html_var){"location", cn_js(it, "location")};
    v[n++] = (cds_html_var){"created", cn_when(r, cn_js(it, "created_at"))};
    v[n++] = (cds_html_var){"created_by", cn_js(it, "created_by")};
    v[n++] = (cds_html_var){"disabled", *disabled ? cn_when(r, disabled) : NULL};
    v[n++] = (cds_html_var){"can_disable", s->can_act && !*disabled ? "1" : NULL};
    v[n++] = (cds_html_var){"csrf", s->csrf};
    return n;
}

static size_t location_row(cds_req *r, const cn_session *s, json_t *it, cds_html_var *v)
{
    size_t n = agent_row(r, s, it, v); /* id, name, created, disabled, can_disable, csrf */
    v[n++] = (cds_html_var){"code", cn_js(it, "code")};
    v[n++] = (cds_html_var){"address", cn_js(it, "address")};
    v[n++] = (cds_html_var){"agency", cn_js(it, "agency")};
    return n;
}

/* An <option>: an open location (its id) or an agency (its code). */
static size_t option_row(cds_req *r, const cn_session *s, json_t *it, cds_html_var *v)
{
    (void)r;
    (void)s;
    v[0] = (cds_html_var){"value", *cn_js(it, "id") ? cn_js(it, "id") : cn_js(it, "code")};
    v[1] = (cds_html_var){"code", cn_js(it, "code")};
    v[2] = (cds_html_var){"name", cn_js(it, "name")};
    v[3] = (cds_html_var){"open", *cn_js(it, "disabled_at") ? NULL : "1"};
    return 4;
}

static void on_list(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_agents", res)) return;
    cds_buf rows, locs, opts, agencies;
    cds_buf_init(&rows, CDS_HTML_PAGE_MAX);
    cds_buf_init(&locs, CDS_HTML_PAGE_MAX);
    cds_buf_init(&opts, CDS_HTML_PAGE_MAX);
    cds_buf_init(&agencies, CDS_HTML_PAGE_MAX);
    cn_render_rows(r, s, &rows, PQgetvalue(res, 0, 0), "agent_row", agent_row);
    cn_render_rows(r, s, &locs, PQgetvalue(res, 0, 1), "location_row", location_row);
    cn_render_rows(r, s, &opts, PQgetvalue(res, 0, 1), "option", option_row);
    cn_render_rows(r, s, &agencies, PQgetvalue(res, 0, 2), "option", option_row);
    if (locs.err || opts.err || agencies.err) cds_buf_fail(&rows);
    const cds_html_var v[] = {
        {"options", cds_buf_str(&opts)},
        {"can_create", s->can_act && opts.len ? "1" : NULL},
        {"no_locations", opts.len ? NULL : "1"},
        {"locations", cds_buf_str(&locs)},
        {"no_location_rows", locs.len ? NULL : "1"},
        {"agencies", cds_buf_str(&agencies)},
    };
    cn_list_send(r, s, "agents", cn_t(r, "Đại lý dịch vụ công", "Public-service agents"), &rows,
                 v, sizeof v / sizeof v[0]);
    cds_buf_free(&locs);
    cds_buf_free(&opts);
    cds_buf_free(&agencies);
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

/* ---------------- agent locations ---------------- */

static const cn_thing no_location = {"Không tìm thấy điểm đại lý", "Agent location not found",
                                     "Không có điểm đại lý này.", "There is no such agent location."};

static int code_ok(const char *c)
{
    size_t n = c ? strlen(c) : 0;
    return n >= 1 && n <= 32 &&
           strspn(c, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.-") == n;
}

static void on_location_created(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_location_create", res)) return;
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "created") == 0)
        cn_done(r, s, cn_t(r, "Đã tạo điểm đại lý.", "The agent location was created."),
                cn_agents_page);
    else if (strcmp(st, "exists") == 0)
        cn_message(r, 409, s, cn_t(r, "Mã điểm đại lý đã có", "Code taken"),
                   cn_t(r, "Mã điểm đại lý này đã được dùng; không tạo điểm mới.",
                        "This location code is taken; nothing was created."));
    else
        cn_message(r, 400, s, cn_t(r, "Thông tin chưa hợp lệ", "Invalid input"),
                   cn_t(r, "Không có cơ quan này; không tạo điểm đại lý.",
                        "There is no such agency; nothing was created."));
}

void cds_console_location_create(cds_req *r)
{
    const cn_session *s = cn_action(r, 0);
    if (!s) return;
    const char *code = cds_req_form(r, "code"), *agency = cds_req_form(r, "agency_code");
    const char *name = cn_form_text(r, "name", CN_TEXT_MAX);
    const char *address = cn_form_text(r, "address", 500);
    const char *why = !code_ok(code) ? cn_t(r, "Mã điểm đại lý: 1–32 ký tự chữ, số, _ . -",
                                            "Location code: 1 to 32 letters, digits, _ . -")
                      : !name ? cn_t(r, "Cần tên điểm đại lý (tối đa 200 ký tự).",
                                     "A name (at most 200 characters) is needed.")
                      : !address ? cn_t(r, "Cần địa chỉ (tối đa 500 ký tự).",
                                        "An address (at most 500 characters) is needed.")
                      : !agency || !*agency || strlen(agency) > 64
                          ? cn_t(r, "Cần cơ quan mà điểm đại lý nộp hồ sơ.",
                                 "The agency the location files for is needed.")
                          : NULL;
    if (why) {
        cn_message(r, 400, s, cn_t(r, "Thông tin chưa hợp lệ", "Invalid input"), why);
        return;
    }
    cds_req_set_user(r, (void *)s, NULL);
    const char *params[] = {code, name, address, agency, s->actor};
    cds_req_db(r, st_loc_create, 5, params, on_location_created);
}

static void on_location_disabled(cds_req *r, PGresult *res)
{
    const cn_session *s = cds_req_user(r);
    if (!cn_one(r, "console_location_disable", res)) return;
    if (strcmp(PQgetvalue(res, 0, 0), "not_found") == 0) {
        cn_not_found(r, s, &no_location);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "already") == 0) {
        cn_done(r, s, cn_t(r, "Điểm đại lý đã đóng từ trước; không thay đổi gì.",
                           "The agent location was closed already; nothing was changed."),
                cn_agents_page);
        return;
    }
    cn_done(r, s,
            cds_req_printf(r, "%s %s",
                           cn_t(r, "Đã đóng điểm đại lý; số tài khoản đại lý bị khoá:",
                                "The agent location is closed; agent accounts disabled:"),
                           PQgetvalue(res, 0, 1)),
            cn_agents_page);
}

void cds_console_location_disable(cds_req *r)
{
    const cn_session *s = cn_action(r, 0);
    if (!s) return;
    const char *id = cn_uuid_param(r, s, &no_location);
    const char *reason = id ? cn_reason(r, s) : NULL;
    if (!reason) return;
    cds_req_set_user(r, (void *)s, NULL);
    const char *params[] = {id, s->actor, reason};
    cds_req_db(r, st_loc_disable, 3, params, on_location_disabled);
}
