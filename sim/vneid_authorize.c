/* The authorization endpoint of the VNeID stand-in (OpenID Connect Core 3.1.2,
 * RFC 6749 4.1, RFC 7636 PKCE).
 *
 * GET /authorize validates the request, then either shows the login page (a
 * Vietnamese, phone-sized list of the test citizens, each a link to
 * /authorize/approve with the same parameters plus citizen=<personal ID>) or,
 * when login_hint names a test citizen, skips the page and redirects with a
 * code at once: that is how tests and curl log in without a browser.
 * /authorize/approve issues the code; /authorize/deny answers access_denied.
 *
 * Validation follows RFC 6749 4.1.2.1: while the client or its redirect URI
 * is in doubt the error is shown as a 400 page and never redirected (an open
 * redirector otherwise); once both are known, every other error goes back to
 * the client as ?error=...&state=... Parameters are strict where VNeID's
 * partner rules are strict: state, nonce and PKCE S256 are required, and
 * redirect URIs compare exactly. The redirect also carries iss (RFC 9207) so
 * a client can tell which provider answered.
 *
 * The same three endpoints re-validate everything: the page keeps no session,
 * the link carries the whole request. */
#include "sim/vneid.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define STATE_MAX 512
#define SCOPE_MAX 256
#define ACR_MAX 128
#define PAGE_MAX 65536

typedef struct authz {
    vneid_form q;
    int client;
    const char *redirect_uri, *state, *nonce, *challenge, *scope, *acr_values, *prompt;
    char granted[VNEID_SCOPE_MAX];
} authz;

static void error_page(cds_req *r, int status, const char *vi, const char *en)
{
    vneid_buf b;
    vneid_buf_init(&b, PAGE_MAX);
    vneid_buf_puts(&b, "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                       "<title>Lỗi đăng nhập VNeID (giả lập)</title></head><body "
                       "style=\"font-family:system-ui,sans-serif;margin:1.5em;max-width:36em\">"
                       "<h1 style=\"font-size:1.3em;color:#b00020\">Không thể đăng nhập</h1><p>");
    vneid_buf_html(&b, vi);
    vneid_buf_puts(&b, "</p><p style=\"color:#666;font-size:.9em\">");
    vneid_buf_html(&b, en);
    vneid_buf_puts(&b, "</p></body></html>\n");
    cds_resp_header(r, "cache-control", "no-store");
    cds_respond(r, status, "text/html; charset=utf-8", b.s ? b.s : "", b.len);
    vneid_buf_free(&b);
}

/* Appends "?" or "&" and name=value (encoded) to a URL being built. */
static void add_param(vneid_buf *b, const char *name, const char *value)
{
    vneid_buf_puts(b, b->s && memchr(b->s, '?', b->len) ? "&" : "?");
    vneid_buf_puts(b, name);
    vneid_buf_puts(b, "=");
    vneid_buf_urlenc(b, value);
}

static void redirect(cds_req *r, vneid_buf *url)
{
    if (url->failed) {
        error_page(r, 500, "Không tạo được địa chỉ chuyển hướng.", "redirect URL too long");
        vneid_buf_free(url);
        return;
    }
    cds_resp_header(r, "location", url->s);
    cds_resp_header(r, "cache-control", "no-store");
    cds_resp_header(r, "referrer-policy", "no-referrer");
    cds_respond(r, 302, NULL, NULL, 0);
    vneid_buf_free(url);
}

/* RFC 6749 4.1.2.1 error redirect; state is echoed when it was usable. */
static void error_redirect(cds_req *r, const authz *a, const char *error, const char *desc)
{
    vneid_buf url;
    vneid_buf_init(&url, 8192);
    vneid_buf_puts(&url, a->redirect_uri);
    add_param(&url, "error", error);
    add_param(&url, "error_description", desc);
    if (a->state) add_param(&url, "state", a->state);
    add_param(&url, "iss", sim_of(r)->base_url);
    redirect(r, &url);
}

static int has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; p && *p;) {
        while (*p == ' ') p++;
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == wl && memcmp(p, word, wl) == 0) return 1;
        p += l;
    }
    return 0;
}

static int is_b64url(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* Validates the request; on failure answers (page or redirect) and returns -1. */
static int validate(cds_req *r, authz *a)
{
    memset(a, 0, sizeof *a);
    const char *qs = cds_req_query_string(r);
    int rc = vneid_form_parse(r, qs, strlen(qs), &a->q);
    if (rc != VNEID_FORM_OK) {
        /* Without a trustworthy client_id/redirect_uri there is nowhere safe
         * to send the error. */
        error_page(r, 400, "Yêu cầu đăng nhập không hợp lệ (tham số sai định dạng hoặc bị lặp).",
                   rc == VNEID_FORM_EDUP ? "invalid_request: a parameter is repeated"
                                         : "invalid_request: malformed query string");
        return -1;
    }
    vneid_state *st = vneid_of(r);
    a->client = vneid_client_find(st, vneid_form_get(&a->q, "client_id"));
    if (a->client < 0) {
        error_page(r, 400, "Ứng dụng yêu cầu đăng nhập không được đăng ký với VNeID.",
                   "invalid_request: unknown or missing client_id");
        return -1;
    }
    a->redirect_uri = vneid_form_get(&a->q, "redirect_uri");
    if (!a->redirect_uri || strcmp(a->redirect_uri, st->clients[a->client].redirect_uri) != 0) {
        error_page(r, 400, "Địa chỉ quay lại (redirect_uri) không khớp với địa chỉ đã đăng ký.",
                   "invalid_request: redirect_uri missing or not registered for this client");
        return -1;
    }
    /* From here on the client is known: errors go back to it. */
    const char *state = vneid_form_get(&a->q, "state");
    if (state && strlen(state) <= STATE_MAX) a->state = state;
    const char *rt = vneid_form_get(&a->q, "response_type");
    if (!rt) {
        error_redirect(r, a, "invalid_request", "response_type is required");
        return -1;
    }
    if (strcmp(rt, "code") != 0) {
        error_redirect(r, a, "unsupported_response_type", "only response_type=code is supported");
        return -1;
    }
    if (!state || !*state) {
        error_redirect(r, a, "invalid_request", "state is required");
        return -1;
    }
    if (!a->state) {
        error_redirect(r, a, "invalid_request", "state is longer than 512 characters");
        return -1;
    }
    a->scope = vneid_form_get(&a->q, "scope");
    if (!a->scope || strlen(a->scope) > SCOPE_MAX) {
        error_redirect(r, a, "invalid_request", "scope is required (at most 256 characters)");
        return -1;
    }
    if (!has_word(a->scope, "openid")) {
        error_redirect(r, a, "invalid_scope", "scope must contain openid");
        return -1;
    }
    /* Unknown scope values are ignored, as RFC 6749 3.3 allows; the token
     * response says what was granted. */
    snprintf(a->granted, sizeof a->granted, "openid%s",
             has_word(a->scope, "profile") ? " profile" : "");
    a->nonce = vneid_form_get(&a->q, "nonce");
    if (!a->nonce || !*a->nonce || strlen(a->nonce) > VNEID_NONCE_MAX) {
        error_redirect(r, a, "invalid_request", "nonce is required (at most 256 characters)");
        return -1;
    }
    a->challenge = vneid_form_get(&a->q, "code_challenge");
    const char *method = vneid_form_get(&a->q, "code_challenge_method");
    if (!a->challenge) {
        error_redirect(r, a, "invalid_request", "PKCE is required: code_challenge is missing");
        return -1;
    }
    if (!method || strcmp(method, "S256") != 0) {
        error_redirect(r, a, "invalid_request", "code_challenge_method must be S256");
        return -1;
    }
    if (strlen(a->challenge) != 43 || !is_b64url(a->challenge, 43)) {
        error_redirect(r, a, "invalid_request",
                       "code_challenge must be BASE64URL(SHA256(verifier)), 43 characters");
        return -1;
    }
    a->acr_values = vneid_form_get(&a->q, "acr_values");
    if (a->acr_values && strlen(a->acr_values) > ACR_MAX) {
        error_redirect(r, a, "invalid_request", "acr_values is too long");
        return -1;
    }
    a->prompt = vneid_form_get(&a->q, "prompt");
    return 0;
}

static void issue_code(cds_req *r, const authz *a, int citizen)
{
    vneid_state *st = vneid_of(r);
    char code[VNEID_RANDOM_MAX];
    if (vneid_random_token(code, sizeof code) != 0) {
        error_redirect(r, a, "server_error", "random generator failed");
        return;
    }
    time_t now = time(NULL);
    pthread_mutex_lock(&st->mu);
    vneid_code *c = vneid_store_add_code(&st->store, now);
    snprintf(c->code, sizeof c->code, "%s", code);
    c->client = a->client;
    c->citizen = citizen;
    snprintf(c->challenge, sizeof c->challenge, "%s", a->challenge);
    snprintf(c->nonce, sizeof c->nonce, "%s", a->nonce);
    snprintf(c->scope, sizeof c->scope, "%s", a->granted);
    c->auth_time = now;
    c->expires = now + VNEID_CODE_TTL;
    pthread_mutex_unlock(&st->mu);
    vneid_buf url;
    vneid_buf_init(&url, 8192);
    vneid_buf_puts(&url, a->redirect_uri);
    add_param(&url, "code", code);
    add_param(&url, "state", a->state);
    add_param(&url, "iss", sim_of(r)->base_url);
    redirect(r, &url);
}

/* The request's own parameters as a query string, for the page's links. */
static void request_query(vneid_buf *b, const authz *a)
{
    static const char *const names[] = {"response_type", "client_id", "redirect_uri",
                                        "scope",         "state",     "nonce",
                                        "code_challenge", "code_challenge_method",
                                        "acr_values"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = vneid_form_get(&a->q, names[i]);
        if (!v) continue;
        if (b->len) vneid_buf_puts(b, "&");
        vneid_buf_puts(b, names[i]);
        vneid_buf_puts(b, "=");
        vneid_buf_urlenc(b, v);
    }
}

static void login_page(cds_req *r, const authz *a)
{
    vneid_state *st = vneid_of(r);
    vneid_buf q, b;
    vneid_buf_init(&q, 8192);
    vneid_buf_init(&b, PAGE_MAX);
    request_query(&q, a);
    vneid_buf_puts(
        &b,
        "<!doctype html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>");
    vneid_buf_html(&b, st->dir->title);
    vneid_buf_puts(&b, "</title>\n<style>\n"
        "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;"
        "background:#f4f5f7;color:#1d1d1f}\n"
        "header{background:#c8102e;color:#fff;padding:1em 1.2em}\n"
        "header h1{font-size:1.25em;margin:0}\nmain{padding:1em;max-width:36em;margin:auto}\n"
        ".note{background:#fff8e1;border:1px solid #f0c36d;border-radius:8px;padding:.7em;"
        "font-size:.9em}\nul{list-style:none;padding:0}\n"
        "li a{display:block;background:#fff;border-radius:10px;margin:.6em 0;padding:.8em 1em;"
        "text-decoration:none;color:inherit;box-shadow:0 1px 3px rgba(0,0,0,.12)}\n"
        ".name{font-weight:600;font-size:1.05em}.meta{color:#555;font-size:.9em}\n"
        ".warn{color:#b00020;font-size:.85em}.deny{color:#555}\n</style></head>\n<body>\n"
        "<header><h1>");
    vneid_buf_html(&b, st->dir->title);
    vneid_buf_puts(&b, "</h1></header>\n<main>\n<p>Ứng dụng <b>");
    vneid_buf_html(&b, st->clients[a->client].id);
    vneid_buf_puts(&b, "</b> ");
    vneid_buf_html(&b, st->dir->intro);
    vneid_buf_puts(&b, "</p>\n<p class=\"note\">Đây là máy chủ giả lập dùng cho phát triển và kiểm thử. "
                       "Những người dưới đây là dữ liệu thử nghiệm, không phải người thật. "
                       "Chọn một người để đăng nhập.</p>\n<ul>\n");
    for (size_t i = 0; i < st->dir->count(); i++) {
        vneid_buf href;
        vneid_buf_init(&href, 8192);
        vneid_buf_puts(&href, "/authorize/approve?");
        vneid_buf_add(&href, q.s ? q.s : "", q.len);
        vneid_buf_puts(&href, "&citizen=");
        vneid_buf_urlenc(&href, st->dir->key(i));
        vneid_buf_puts(&b, "<li><a href=\"");
        vneid_buf_html(&b, href.s ? href.s : "");
        vneid_buf_free(&href);
        vneid_buf_puts(&b, "\"><div class=\"name\">");
        vneid_buf_html(&b, st->dir->name(i));
        vneid_buf_puts(&b, "</div>");
        st->dir->meta(i, a->acr_values, &b);
        vneid_buf_puts(&b, "</a></li>\n");
    }
    vneid_buf_puts(&b, "</ul>\n<p><a class=\"deny\" href=\"/authorize/deny?");
    vneid_buf_html(&b, q.s ? q.s : "");
    vneid_buf_puts(&b, "\">Từ chối và quay lại ứng dụng</a></p>\n</main></body></html>\n");
    vneid_buf_free(&q);
    if (b.failed) {
        vneid_buf_free(&b);
        error_page(r, 400, "Yêu cầu đăng nhập quá dài.", "invalid_request: request too long");
        return;
    }
    cds_resp_header(r, "cache-control", "no-store");
    cds_resp_header(r, "x-frame-options", "DENY");
    cds_resp_header(r, "referrer-policy", "no-referrer");
    cds_resp_header(r, "content-security-policy",
                    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    cds_respond(r, 200, "text/html; charset=utf-8", b.s, b.len);
    vneid_buf_free(&b);
}

void vneid_authorize(cds_req *r)
{
    sim_record(r);
    authz a;
    if (validate(r, &a) != 0) return;
    const char *hint = vneid_form_get(&a.q, "login_hint");
    if (hint) {
        int citizen = vneid_of(r)->dir->find(hint);
        if (citizen < 0) {
            error_redirect(r, &a, "access_denied", "login_hint is not a test citizen");
            return;
        }
        issue_code(r, &a, citizen);
        return;
    }
    if (a.prompt && has_word(a.prompt, "none")) {
        /* No session to reuse: the user would have to see the page. */
        error_redirect(r, &a, "login_required", "prompt=none needs login_hint here");
        return;
    }
    login_page(r, &a);
}

void vneid_authorize_approve(cds_req *r)
{
    sim_record(r);
    authz a;
    if (validate(r, &a) != 0) return;
    int citizen = vneid_of(r)->dir->find(vneid_form_get(&a.q, "citizen"));
    if (citizen < 0) {
        error_redirect(r, &a, "access_denied", "citizen is not a test citizen");
        return;
    }
    issue_code(r, &a, citizen);
}

void vneid_authorize_deny(cds_req *r)
{
    sim_record(r);
    authz a;
    if (validate(r, &a) != 0) return;
    error_redirect(r, &a, "access_denied", "the citizen declined");
}
