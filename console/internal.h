/* Shared between the console's files (console.h says what the console is):
 *
 *   console.c        options, key, start-up, the home page
 *   cookie.c         reading the Cookie header, writing Set-Cookie
 *   csrf.c           the CSRF token of a session and of the login form
 *   session.c        who is asking: the staff token of the cookie, its
 *                    renewal, the checks every page and every action make
 *   page.c           the console's layout, error pages, the login redirect, small
 *                    formatting helpers
 *   login.c          logging in and out
 *   payments.c       unmatched transfers, refunds due, their resolution
 *   dossier.c        one dossier, as the operators see it
 *   shipments.c      shipments that failed to book, are stuck or came back
 *   notifications.c  notifications that failed for good; resending
 *   gateways.c       the SMS gateways' breakers and the queues
 *   couriers.c       courier accounts
 *   agents.c         public-service agents' accounts (auth/staff.h) and
 *                    their agent locations
 *   audit.c          the audit log
 *   list.c           what the list pages and their actions share */
#ifndef CDS_CONSOLE_INTERNAL_H
#define CDS_CONSOLE_INTERNAL_H
#include "console/console.h"
#include "auth/staff.h"
#include "core/buf.h"
#include "core/html.h"

#include <jansson.h>

extern cds_console_config g_console;

/* Free text of a form (a reason, a name): at most this many bytes. */
#define CN_REASON_MAX 2000
#define CN_TEXT_MAX 200

/* ---------------- cookie.c ---------------- */
#define CN_COOKIE_SESSION "cds_console"     /* the staff token */
#define CN_COOKIE_LOGIN "cds_console_login" /* the login form's nonce */
#define CN_COOKIE_OIDC "cds_console_oidc"   /* the staff OIDC login's state */
/* The value of cookie `name` in the request (arena), or NULL. */
const char *cn_cookie(cds_req *r, const char *name);
/* Set-Cookie for /console: HttpOnly, SameSite=Strict, Secure over TLS;
 * max_age 0 deletes it. */
void cn_cookie_set(cds_req *r, const char *name, const char *value, int max_age);

/* ---------------- csrf.c ---------------- */
int cn_csrf_init(const char *configured_key, const char *keys_dir);
/* The token of a login session (hex, 64). */
void cn_csrf_token(const char *purpose, const char *id, char out[65]);
/* 1 when the form's "csrf" field is the token of (purpose, id). */
int cn_csrf_ok(cds_req *r, const char *purpose, const char *id);

/* ---------------- session.c ---------------- */
typedef struct cn_session {
    cds_staff_principal who;
    char csrf[65];     /* the token every form of this session carries */
    const char *actor; /* audit_log.actor: "staff:<id> <login>" */
    int can_act;       /* an operator (auditors read only) */
    const char *notice; /* what the action just done says atop the page it answers with */
} cn_session;
/* A page (GET): fn runs with the session; without one (none, expired,
 * revoked, not a staff token) the browser is sent to the login page.
 * A token past half its life is renewed first (a new cookie). */
typedef void (*cn_page_fn)(cds_req *r, const cn_session *s);
void cn_page(cds_req *r, cn_page_fn fn);
/* An action (POST): the session (401 page without one), the CSRF token
 * (403 page when missing or wrong) and the operator role (403 page for an
 * auditor), in that order; NULL having answered. Nothing is changed
 * before this returns a session. any_role: logout, which auditors may do. */
const cn_session *cn_action(cds_req *r, int any_role);
/* The session of a principal just logged in (arena), or NULL for a role
 * without console. */
cn_session *cn_session_of(cds_req *r, const cds_staff_principal *p);
/* An action's answer: the page fn with `notice` atop it (200; the action
 * was done, so the page shows its result at once). */
void cn_done(cds_req *r, const cn_session *s, const char *notice, cn_page_fn fn);

/* ---------------- page.c ---------------- */
/* The console's CSP: nothing loads, nothing runs, forms post to us. */
#define CN_CSP CDS_HTML_CSP
/* Answers r with a console page: the navigation (s NULL: none, the login
 * page), then body (freed). `title` is shown as the heading too. */
void cn_send(cds_req *r, int status, const cn_session *s, const char *title, cds_buf *body);
/* A page with a message only (an error, a refusal); s may be NULL. */
void cn_message(cds_req *r, int status, const cn_session *s, const char *title, const char *msg);
/* 303 See Other to a path of ours. */
void cn_redirect(cds_req *r, const char *location);
/* The database failed: logs and answers a 503 page. */
void cn_db_failed(cds_req *r, const char *what, PGresult *res);
/* res has rows (TUPLES_OK); else 503 page and 0. */
int cn_rows(cds_req *r, const char *what, PGresult *res);
/* res has exactly one row; else 503 page and 0. */
int cn_one(cds_req *r, const char *what, PGresult *res);
/* Renders the page template `name` of console/pages/ (".html" added) in the
 * request's language into out. */
void cn_render(cds_req *r, cds_buf *out, const char *name, const cds_html_var *v, size_t nv);
/* Vietnamese or English text, as the request asks. */
const char *cn_t(cds_req *r, const char *vi, const char *en);
/* "2026-11-23T10:20:30+07:00" as "23/11/2026 10:20" (arena). */
const char *cn_when(cds_req *r, const char *rfc3339);
/* An amount as "1.250.000 đ" / "VND 1,250,000" (arena). */
const char *cn_vnd(cds_req *r, long long vnd);
/* The notice atop a page: the action's that answers with it (NULL: none). */
const char *cn_notice(cds_req *r, const cn_session *s);
/* A form's text field, trimmed of nothing: NULL when absent, empty, longer
 * than max bytes or holding control characters. */
const char *cn_form_text(cds_req *r, const char *name, size_t max);
/* JSON helpers for rows read as json_agg. */
const char *cn_js(json_t *o, const char *key);  /* string or "" */
long long cn_ji(json_t *o, const char *key);    /* integer or 0 */
/* 1 when name is an element of a text[] literal "{a,b}". */
int cn_listed(const char *list, const char *name);

/* ---------------- list.c ---------------- */
#define CN_ROW_VARS 24
/* Writes one row's template variables for item into v (CN_ROW_VARS at
 * most); returns how many. */
typedef size_t (*cn_row_fill)(cds_req *r, const cn_session *s, json_t *item, cds_html_var *v);
/* Renders template tpl once per element of the JSON array text json. */
void cn_render_rows(cds_req *r, const cn_session *s, cds_buf *out, const char *json,
                    const char *tpl, cn_row_fill fill);
/* Answers with page_tpl around rows (freed): its variables notice, rows,
 * none, can_act, csrf, then extra. */
void cn_list_send(cds_req *r, const cn_session *s, const char *page_tpl, const char *title,
                  cds_buf *rows, const cds_html_var *extra, size_t nextra);
/* What an action names: its "not found" page's title and message. */
typedef struct cn_thing {
    const char *title_vi, *title_en, *msg_vi, *msg_en;
} cn_thing;
void cn_not_found(cds_req *r, const cn_session *s, const cn_thing *t);
/* The {id} path parameter as a UUID; NULL having answered t's 404 page. */
const char *cn_uuid_param(cds_req *r, const cn_session *s, const cn_thing *t);
/* The action's required reason field; NULL having answered a 400 page. */
const char *cn_reason(cds_req *r, const cn_session *s);

/* ---------------- the pages an action answers with ---------------- */
void cn_home(cds_req *r, const cn_session *s);
void cn_payments_page(cds_req *r, const cn_session *s);
void cn_dossier_page(cds_req *r, const cn_session *s, const char *code);
void cn_shipments_page(cds_req *r, const cn_session *s);
void cn_notifications_page(cds_req *r, const cn_session *s);
void cn_couriers_page(cds_req *r, const cn_session *s);
void cn_agents_page(cds_req *r, const cn_session *s);

/* ---------------- start-up of the parts ---------------- */
int cn_payments_init(void);
int cn_dossier_init(void);
int cn_shipments_init(void);
int cn_notifications_init(void);
int cn_gateways_init(void);
int cn_couriers_init(void);
int cn_agents_init(void);
int cn_login_init(void);
int cn_audit_init(void);

#endif
