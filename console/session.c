/* Who is asking the console, and may they. The cookie holds a staff token
 * (auth/staff.h), checked without the database: signature, audience
 * "cds-staff", expiry, session not revoked. Agents have no console. A page
 * without a valid token sends the browser to the login page; an action
 * without one is a 401 page, with a wrong or missing CSRF token a 403 page,
 * by an auditor a 403 page: in each case nothing is done. A token in its
 * last five minutes is renewed on the next page (the database confirms the login session is still open and the
 * account enabled), so a working operator is not logged out every quarter
 * hour, while a closed session or a disabled account ends at once. */
#include "internal.h"
#include "core/log.h"

#include <string.h>
#include <time.h>

#define RENEW_BEFORE_S 300

static int fill(cds_req *r, cn_session *s)
{
    if (s->who.role != CDS_STAFF_OPERATOR && s->who.role != CDS_STAFF_AUDITOR) return -1;
    s->can_act = s->who.role == CDS_STAFF_OPERATOR;
    cn_csrf_token("session", s->who.session_id, s->csrf);
    s->actor = cds_req_printf(r, "staff:%s %s", s->who.staff_id, s->who.login);
    return 1;
}

cn_session *cn_session_of(cds_req *r, const cds_staff_principal *p)
{
    cn_session *s = cds_req_alloc(r, sizeof *s);
    memset(s, 0, sizeof *s);
    s->who = *p;
    return fill(r, s) == 1 ? s : NULL;
}

void cn_done(cds_req *r, const cn_session *s, const char *notice, cn_page_fn fn)
{
    cn_session *copy = cds_req_alloc(r, sizeof *copy);
    *copy = *s;
    copy->notice = notice;
    fn(r, copy);
}

/* 1: a console user in s; 0: no valid token; -1: a staff token of a role
 * that has no console (an agent). */
static int load(cds_req *r, cn_session *s)
{
    const char *tok = cn_cookie(r, CN_COOKIE_SESSION);
    const char *why = NULL;
    if (!tok || !*tok || cds_staff_token_verify(tok, strlen(tok), &s->who, &why) != 0) {
        if (tok && *tok)
            cds_log(CDS_LOG_INFO, "console_session_refused", "staff token refused: %s",
                    why ? why : "invalid");
        return 0;
    }
    return fill(r, s);
}

static void no_console(cds_req *r)
{
    cn_message(r, 403, NULL, cn_t(r, "Không có quyền", "Not allowed"),
               cn_t(r, "Bàn điều khiển dành cho cán bộ vận hành và kiểm soát viên.",
                    "The console is for operators and auditors."));
}

typedef struct renew_ctx {
    cn_session *s;
    cn_page_fn fn;
} renew_ctx;

static void on_renewed(cds_req *r, const char *token, int expires_in)
{
    renew_ctx *c = cds_req_user(r);
    if (!token) {
        /* The login session was closed or the account disabled (or the
         * database could not say): log in again. */
        cn_cookie_set(r, CN_COOKIE_SESSION, "", 0);
        cn_redirect(r, "/console/login");
        return;
    }
    cn_cookie_set(r, CN_COOKIE_SESSION, token, expires_in);
    c->s->who.expires_at = (long long)time(NULL) + expires_in;
    c->fn(r, c->s);
}

void cn_page(cds_req *r, cn_page_fn fn)
{
    cn_session *s = cds_req_alloc(r, sizeof *s);
    memset(s, 0, sizeof *s);
    int rc = load(r, s);
    if (rc == 0) {
        cn_redirect(r, "/console/login");
        return;
    }
    if (rc < 0) {
        no_console(r);
        return;
    }
    if (s->who.expires_at - (long long)time(NULL) < RENEW_BEFORE_S) {
        renew_ctx *c = cds_req_alloc(r, sizeof *c);
        c->s = s;
        c->fn = fn;
        cds_req_set_user(r, c, NULL);
        cds_staff_token_renew(r, &s->who, on_renewed);
        return;
    }
    fn(r, s);
}

const cn_session *cn_action(cds_req *r, int any_role)
{
    cn_session *s = cds_req_alloc(r, sizeof *s);
    memset(s, 0, sizeof *s);
    int rc = load(r, s);
    if (rc == 0) {
        cn_message(r, 401, NULL, cn_t(r, "Phiên đăng nhập đã hết hạn", "Your session has ended"),
                   cn_t(r, "Vui lòng đăng nhập lại; thao tác chưa được thực hiện.",
                        "Please log in again; nothing was done."));
        return NULL;
    }
    if (rc < 0) {
        no_console(r);
        return NULL;
    }
    if (!cn_csrf_ok(r, "session", s->who.session_id)) {
        cds_log(CDS_LOG_WARN, "console_csrf_refused", "POST %s by staff %s without a valid CSRF token",
                cds_req_path(r), s->who.staff_id);
        cn_message(r, 403, s, cn_t(r, "Yêu cầu bị từ chối", "Request refused"),
                   cn_t(r, "Biểu mẫu thiếu hoặc sai mã xác thực (CSRF); thao tác chưa được thực "
                           "hiện. Hãy mở lại trang và gửi lại.",
                        "The form's CSRF token is missing or wrong; nothing was done. Open the "
                        "page again and resend."));
        return NULL;
    }
    if (!any_role && !s->can_act) {
        cds_log(CDS_LOG_WARN, "console_role_refused", "POST %s by auditor %s", cds_req_path(r),
                s->who.staff_id);
        cn_message(r, 403, s, cn_t(r, "Không có quyền", "Not allowed"),
                   cn_t(r, "Kiểm soát viên chỉ được xem; thao tác chưa được thực hiện.",
                        "Auditors may only read; nothing was done."));
        return NULL;
    }
    return s;
}
