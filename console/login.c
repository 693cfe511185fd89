/* Logging in to the console and out (auth/staff.h does the checking):
 *
 *   GET  /console/login            the form: login, password, TOTP code;
 *                                  "log in with the City's staff account"
 *                                  when the staff OIDC issuer is configured
 *   POST /console/login            -> the staff token in the session cookie
 *                                  and the overview; refused: the form again
 *                                  with why (401, 429 with Retry-After, 403)
 *   GET  /console/login/oidc       a page with the link to the issuer (its
 *                                  state kept in a cookie of this browser as
 *                                  well as by auth/)
 *   GET  /console/login/callback   ?code=&state= from the issuer: the same
 *                                  session cookie as a password login
 *   POST /console/logout           the login session ends on every node
 *                                  (cds_staff_logout), the cookie is cleared
 *                                  (CSRF-checked), the form again
 *
 * The login form has no session yet, so its CSRF token signs a nonce kept
 * in a cookie of its own (csrf.c). With the city's staff OpenID Connect
 * issuer, CDS_STAFF_OIDC_REDIRECT_URI must be
 * <public base>/console/login/callback, and the callback goes on only in
 * the browser that started the login (its state cookie), so a login cannot
 * be forced into another browser. Agents log in to their own API, not
 * here: a staff token of an agent is not put in a console cookie. */
#include "internal.h"
#include "core/db.h"
#include "core/jose.h"
#include "core/lang.h"
#include "core/log.h"
#include "core/trace.h"

#include <stdio.h>
#include <string.h>

#define LOGIN_NONCE_TTL 1800
#define OIDC_STATE_TTL 600

/* The form, with an error (may be NULL). */
static void form_page(cds_req *r, int status, const char *error, const char *login, int logged_out)
{
    const char *nonce = cn_cookie(r, CN_COOKIE_LOGIN);
    if (!nonce || strlen(nonce) != 32 || strspn(nonce, "0123456789abcdef") != 32) {
        char *fresh = cds_req_alloc(r, 33);
        cds_trace_random_hex(fresh, 16);
        nonce = fresh;
        cn_cookie_set(r, CN_COOKIE_LOGIN, nonce, LOGIN_NONCE_TTL);
    }
    char csrf[65];
    cn_csrf_token("login", nonce, csrf);
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    const cds_html_var v[] = {
        {"csrf", csrf},
        {"error", error},
        {"login", login},
        {"logged_out", logged_out ? "1" : NULL},
        {"oidc", cds_staff_oidc_enabled() ? "1" : NULL},
    };
    cn_render(r, &b, "login", v, sizeof v / sizeof v[0]);
    cn_send(r, status, NULL, cn_t(r, "Đăng nhập bàn điều khiển", "Console login"), &b);
}

static void form(cds_req *r, int status, const char *error, const char *login)
{
    form_page(r, status, error, login, 0);
}

void cds_console_login_form(cds_req *r)
{
    form(r, 200, NULL, NULL);
}

typedef struct login_ctx {
    const char *login;
} login_ctx;

static void on_login(cds_req *r, const cds_staff_login_result *res)
{
    login_ctx *c = cds_req_user(r);
    const char *login = c ? c->login : NULL;
    if (res->status == CDS_STAFF_LOGIN_OK) {
        if (res->who->role != CDS_STAFF_OPERATOR && res->who->role != CDS_STAFF_AUDITOR) {
            form(r, 403, cn_t(r, "Bàn điều khiển dành cho cán bộ vận hành và kiểm soát viên.",
                              "The console is for operators and auditors."),
                 login);
            return;
        }
        cds_log(CDS_LOG_INFO, "console_login", "staff %s (%s) logged in to the console",
                res->who->staff_id, cds_staff_role_name(res->who->role));
        cn_cookie_set(r, CN_COOKIE_SESSION, res->token, res->expires_in);
        cn_cookie_set(r, CN_COOKIE_LOGIN, "", 0);
        if (cn_cookie(r, CN_COOKIE_OIDC)) cn_cookie_set(r, CN_COOKIE_OIDC, "", 0);
        cn_home(r, cn_session_of(r, res->who)); /* the overview, at once */
        return;
    }
    int status = 401;
    const char *msg = cn_t(r, "Tên đăng nhập, mật khẩu hoặc mã xác thực không đúng.",
                           "Wrong login, password or code.");
    switch (res->status) {
    case CDS_STAFF_LOGIN_LOCKED:
    case CDS_STAFF_LOGIN_RATE_LIMITED:
        status = 429;
        cds_resp_header(r, "retry-after", cds_req_printf(r, "%d", res->retry_after_s));
        msg = cds_req_lang(r) == CDS_LANG_EN
                  ? cds_req_printf(r, "Too many failed attempts; try again in %d seconds.",
                                   res->retry_after_s)
                  : cds_req_printf(r, "Đăng nhập sai quá nhiều lần; thử lại sau %d giây.",
                                   res->retry_after_s);
        break;
    case CDS_STAFF_LOGIN_DISABLED:
        status = 403;
        msg = cn_t(r, "Tài khoản đã bị khoá.", "The account is disabled.");
        break;
    case CDS_STAFF_LOGIN_UNAVAILABLE:
        status = 503;
        msg = cn_t(r, "Hệ thống đang bận; vui lòng thử lại sau ít phút.",
                   "The system is busy; please try again in a few minutes.");
        break;
    case CDS_STAFF_LOGIN_NOT_CONFIGURED:
        status = 404;
        msg = cn_t(r, "Đăng nhập bằng tài khoản cán bộ chưa được cấu hình.",
                   "Staff single sign-on is not configured.");
        break;
    case CDS_STAFF_LOGIN_PROVIDER_DOWN:
        status = 502;
        msg = cn_t(r, "Không kết nối được máy chủ đăng nhập của Thành phố; vui lòng thử lại.",
                   "The City's login server could not be reached; please try again.");
        break;
    case CDS_STAFF_LOGIN_STATE_INVALID:
    case CDS_STAFF_LOGIN_CODE_INVALID:
    case CDS_STAFF_LOGIN_ID_TOKEN_INVALID:
        status = 400;
        msg = cn_t(r, "Phiên đăng nhập không hợp lệ hoặc đã hết hạn; vui lòng đăng nhập lại.",
                   "The login is invalid or has expired; please log in again.");
        break;
    default:
        break;
    }
    form(r, status, msg, login);
}

void cds_console_login(cds_req *r)
{
    const char *nonce = cn_cookie(r, CN_COOKIE_LOGIN);
    if (!nonce || !cn_csrf_ok(r, "login", nonce)) {
        cds_log(CDS_LOG_WARN, "console_csrf_refused", "console login posted without a valid CSRF token");
        cn_message(r, 403, NULL, cn_t(r, "Yêu cầu bị từ chối", "Request refused"),
                   cn_t(r, "Biểu mẫu đăng nhập thiếu hoặc sai mã xác thực (CSRF). Hãy mở lại trang "
                           "đăng nhập.",
                        "The login form's CSRF token is missing or wrong. Open the login page "
                        "again."));
        return;
    }
    const char *login = cds_req_form(r, "login"), *password = cds_req_form(r, "password");
    const char *totp = cds_req_form(r, "totp");
    if (!login || !*login || !password || !*password || !totp || !*totp || strlen(login) > 64 ||
        strlen(password) > 256 || strlen(totp) > 16) {
        form(r, 400, cn_t(r, "Cần tên đăng nhập, mật khẩu và mã xác thực 6 chữ số.",
                          "Login, password and the 6-digit code are needed."),
             login && strlen(login) <= 64 ? login : NULL);
        return;
    }
    login_ctx *c = cds_req_alloc(r, sizeof *c);
    c->login = login;
    cds_req_set_user(r, c, NULL);
    cds_staff_login_password(r, login, password, totp, on_login);
}

/* ---------------- staff OpenID Connect ---------------- */

static void on_oidc_started(cds_req *r, cds_staff_login_status status, const char *url,
                            const char *state)
{
    if (!url || !state) {
        if (status == CDS_STAFF_LOGIN_NOT_CONFIGURED) {
            form(r, 404, cn_t(r, "Đăng nhập bằng tài khoản cán bộ chưa được cấu hình.",
                              "Staff single sign-on is not configured."),
                 NULL);
            return;
        }
        form(r, status == CDS_STAFF_LOGIN_PROVIDER_DOWN ? 502 : 503,
             cn_t(r, "Không kết nối được máy chủ đăng nhập của Thành phố; vui lòng thử lại.",
                  "The City's login server could not be reached; please try again."),
             NULL);
        return;
    }
    /* A page with the link on (documented as such, like every answer of the
     * console's actions); the state cookie goes with it. */
    cn_cookie_set(r, CN_COOKIE_OIDC, state, OIDC_STATE_TTL);
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    const cds_html_var v[] = {{"url", url}};
    cn_render(r, &b, "oidc", v, 1);
    cn_send(r, 200, NULL, cn_t(r, "Đăng nhập bằng tài khoản cán bộ", "Staff single sign-on"), &b);
}

void cds_console_oidc_start(cds_req *r)
{
    if (!cds_staff_oidc_enabled()) {
        form(r, 404, cn_t(r, "Đăng nhập bằng tài khoản cán bộ chưa được cấu hình.",
                          "Staff single sign-on is not configured."),
             NULL);
        return;
    }
    cds_req_set_user(r, NULL, NULL);
    cds_staff_oidc_start(r, on_oidc_started);
}

void cds_console_oidc_callback(cds_req *r)
{
    const char *code = cds_req_query(r, "code"), *state = cds_req_query(r, "state");
    const char *mine = cn_cookie(r, CN_COOKIE_OIDC);
    if (!code || !*code || strlen(code) > 2048 || !state || !*state || strlen(state) > 256 || !mine ||
        strlen(mine) != strlen(state) || !cds_ct_equal(mine, state, strlen(state))) {
        cds_log(CDS_LOG_WARN, "console_oidc_refused", "staff OIDC callback without this browser's state");
        form(r, 400, cn_t(r, "Phiên đăng nhập không hợp lệ hoặc đã hết hạn; vui lòng đăng nhập lại.",
                          "The login is invalid or has expired; please log in again."),
             NULL);
        return;
    }
    cds_req_set_user(r, NULL, NULL);
    cds_staff_oidc_finish(r, code, state, on_login);
}

/* ---------------- logout ---------------- */

static int st_logout = -1;

int cn_login_init(void)
{
    /* auth/'s own end of a login session: revoked on every node at once
     * (NOTIFY cds_family_revoked), as POST /v1/staff/logout does. */
    st_logout = cds_db_stmt_register("console_logout", "SELECT cds_staff_logout($1::uuid, $2::uuid)", 2);
    return st_logout < 0 ? -1 : 0;
}

static void on_logout(cds_req *r, PGresult *res)
{
    if (!cn_one(r, "console_logout", res)) return;
    cn_cookie_set(r, CN_COOKIE_SESSION, "", 0);
    form_page(r, 200, NULL, NULL, 1);
}

void cds_console_logout(cds_req *r)
{
    const cn_session *s = cn_action(r, 1);
    if (!s) return;
    cds_log(CDS_LOG_INFO, "console_logout", "staff %s logged out of the console", s->who.staff_id);
    const char *params[] = {s->who.session_id, s->who.staff_id};
    cds_req_db(r, st_logout, 2, params, on_logout);
}
