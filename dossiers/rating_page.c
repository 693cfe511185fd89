/* The lookup page's rating and feedback forms (issue 18, part 3), for the
 * citizens without the app, server-rendered, without JavaScript:
 *
 *   GET  /lookup/{code}?s=S          (lookup.c) the same forms below the dossier
 *   GET  /lookup/{code}/rating?s=S   the forms alone, with the current rating
 *                                    (rating once the dossier is completed/returned,
 *                                    feedback always)
 *   POST /lookup/{code}/rating       s, stars (1-5), comment?  -> thank-you page
 *   POST /lookup/{code}/feedback     s, kind, content          -> page with the reference
 *
 * The lookup secret is the authority, as on the lookup page: each POST
 * carries it in a hidden field and it is checked (SHA-256 compared in
 * constant time with the stored hash) before anything is written, so a
 * cross-site form cannot post for a dossier whose secret it does not know
 * (the CSRF guard), and an unknown code and a wrong secret give the same
 * 404. Guesses are limited per client address like the lookup itself. The
 * checks of stars and text and the SQL calls are those of the app's routes
 * (rating.c): one rating per dossier, edited for 7 days.
 *
 * Every text of these pages, the notices included (thanks, the feedback's
 * reference, refusals), is Vietnamese or English as Accept-Language asks
 * (core/lang.h); the answer carries Content-Language. */
#include "internal.h"
#include "core/db.h"
#include "core/html.h"
#include "core/jose.h"
#include "core/lang.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int st_dossier = -1;
static cds_ratelimit *limiter;

static const char DUMMY_HASH[] = "0000000000000000000000000000000000000000000000000000000000000000";
static const char PAGE_CSP[] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'";
static const char NOT_FOUND[] = "Không tìm thấy hồ sơ hoặc mã tra cứu không đúng. Vui lòng kiểm "
                                "tra mã hồ sơ và mã tra cứu in trên giấy tiếp nhận.";

/* The text of `vi` / `en` in the answer's language (a conditional of two
 * literals, so a format stays checked). */
#define T(r, vi, en) (cds_req_lang(r) == CDS_LANG_EN ? (en) : (vi))

/* The detail of a problem of the catalog in the answer's language. */
static const char *detail(cds_req *r, cds_problem_id id)
{
    const cds_problem_def *d = cds_problem_get(id);
    const char *en = cds_problem_detail_en(d->code);
    return T(r, d->detail, en ? en : d->detail);
}

enum { M_FORM, M_RATE, M_FEEDBACK };

typedef struct page_ctx {
    int mode;
    char hash[65];
    const char *code, *secret; /* secret as normalised (request arena) */
    const char *stars, *comment, *kind, *content;
    const char *id;
} page_ctx;

int cds_rating_page_init(void)
{
    st_dossier = cds_db_stmt_register_ro(
        "rating_page_dossier",
        "SELECT d.id, d.lookup_hash, d.status, r.stars, "
        "to_char((r.first_rated_at + interval '7 days') AT TIME ZONE 'Asia/Ho_Chi_Minh', "
        "'DD/MM/YYYY HH24:MI') FROM dossiers d "
        "LEFT JOIN dossier_ratings r ON r.dossier_id = d.id WHERE d.code = $1",
        1);
    limiter = cds_ratelimit_new(g_dossiers.lookup_burst, g_dossiers.lookup_per_minute);
    return st_dossier < 0 || !limiter ? -1 : 0;
}

void cds_rating_page_shutdown(void)
{
    cds_ratelimit_free(limiter);
    limiter = NULL;
}

static void send_rating_page(cds_req *r, int status, const char *title, const cds_html_var *v, size_t nv)
{
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    cds_html_render_lang(&b, "dossiers/pages/rating.html", cds_req_lang(r), v, nv);
    int lang = cds_req_lang(r);
    const cds_html_page page = {
        cds_req_printf(r, "%s · %s", title, cds_lang_pick(lang, "Tra cứu hồ sơ", "Dossier lookup")),
        cds_lang_pick(lang, "Đánh giá và phản ánh", "Rating and feedback"),
        cds_lang_pick(lang,
                      "Đánh giá và phản ánh được chuyển đến hệ thống giải quyết thủ tục "
                      "hành chính của Thành phố.",
                      "Ratings and feedback go to the City's administrative procedure system."),
        "dossiers/pages/lookup.css", lang};
    cds_html_send(r, status, &page, &b, PAGE_CSP);
}

/* The page: the forms, with a notice above them (may be NULL). */
static void page(cds_req *r, int status, const char *notice, int rate, const char *current,
                 const char *until)
{
    page_ctx *c = cds_req_user(r);
    const char *code = c && c->code ? c->code : cds_req_param(r, "code");
    const cds_html_var v[] = {
        {"code", code},
        {"notice", notice},
        {"rate", rate ? "1" : NULL},
        {"current", current},
        {"until", until},
        {"secret", c ? c->secret : NULL},
        {"rate_action", cds_req_printf(r, "/lookup/%s/rating", code)},
        {"feedback_action", cds_req_printf(r, "/lookup/%s/feedback", code)},
    };
    send_rating_page(r, status, T(r, "Đánh giá và phản ánh", "Rating and feedback"), v,
                     sizeof v / sizeof v[0]);
}

void cds_rating_page_forms(cds_req *r, cds_buf *out, const char *code, const char *status)
{
    const char *given = cds_req_query(r, "s");
    char secret[CDS_LOOKUP_SECRET_IN_MAX + 1];
    cds_lookup_secret_normalise(given, secret); /* "" when unusable: the post is then refused */
    int finished = strcmp(status, "completed") == 0 || strcmp(status, "returned") == 0;
    const cds_html_var v[] = {
        {"code", code},
        {"rate", finished ? "1" : NULL},
        {"secret", secret},
        {"rate_action", cds_req_printf(r, "/lookup/%s/rating", code)},
        {"feedback_action", cds_req_printf(r, "/lookup/%s/feedback", code)},
    };
    cds_html_render_lang(out, "dossiers/pages/rating.html", cds_req_lang(r), v,
                         sizeof v / sizeof v[0]);
}

/* A page with a message only (no forms: not found, limit, busy). */
static void message(cds_req *r, int status, const char *title, const char *msg)
{
    const char *tmpl = "<section class=\"card\" id=\"message\"><h2>{{title}}</h2><p>{{message}}</p>"
                       "</section>";
    const cds_html_var v[] = {{"title", title}, {"message", msg}};
    cds_buf b;
    cds_buf_init(&b, CDS_HTML_PAGE_MAX);
    cds_html_render_text(&b, tmpl, v, 2);
    int lang = cds_req_lang(r);
    const cds_html_page pg = {
        cds_req_printf(r, "%s · %s", title, cds_lang_pick(lang, "Tra cứu hồ sơ", "Dossier lookup")),
        cds_lang_pick(lang, "Đánh giá và phản ánh", "Rating and feedback"), NULL,
        "dossiers/pages/lookup.css", lang};
    cds_html_send(r, status, &pg, &b, PAGE_CSP);
}

static void not_found(cds_req *r)
{
    message(r, 404, T(r, "Không tìm thấy hồ sơ", "Dossier not found"),
            T(r, NOT_FOUND, cds_problem_detail_en("dossier_not_found")));
}

static void busy(cds_req *r, PGresult *res)
{
    if (res) cds_log(CDS_LOG_ERROR, "rating_page_db", "%s", PQresultErrorMessage(res));
    message(r, 503, T(r, "Hệ thống đang bận", "The system is busy"),
            T(r, "Hệ thống tạm thời không truy cập được dữ liệu, vui lòng thử lại sau ít phút.",
              "The system cannot reach its data right now; please try again in a few minutes."));
}

static void on_written(cds_req *r, PGresult *res)
{
    page_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        busy(r, res);
        return;
    }
    const char *status = PQgetvalue(res, 0, 0);
    if (c->mode == M_FEEDBACK) {
        json_t *f = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
        const char *ref = json_string_value(json_object_get(f, "reference"));
        const char *msg = cds_req_printf(
            r, "%s %s",
            T(r, "Đã nhận phản ánh, kiến nghị của bạn. Số tiếp nhận:",
              "Your feedback was received. Reference number:"),
            ref ? ref : "");
        json_decref(f);
        page(r, 201, msg, 0, NULL, NULL);
        return;
    }
    if (strcmp(status, "created") == 0 || strcmp(status, "updated") == 0 ||
        strcmp(status, "unchanged") == 0) {
        page(r, 200,
             T(r, "Cảm ơn bạn đã đánh giá chất lượng phục vụ.", "Thank you for rating the service."),
             0, NULL, NULL);
    } else if (strcmp(status, "not_finished") == 0) {
        page(r, 409, detail(r, CDS_P_RATING_NOT_FINISHED), 0, NULL, NULL);
    } else if (strcmp(status, "edit_closed") == 0) {
        page(r, 409, detail(r, CDS_P_RATING_EDIT_CLOSED), 0, NULL, NULL);
    } else {
        not_found(r);
    }
}

static void on_dossier(cds_req *r, PGresult *res)
{
    page_ctx *c = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        busy(r, res);
        return;
    }
    int found = PQntuples(res) == 1;
    const char *stored = found ? PQgetvalue(res, 0, 1) : DUMMY_HASH;
    if (strlen(stored) != 64) stored = DUMMY_HASH, found = 0;
    if (!cds_ct_equal(c->hash, stored, 64) || !found) {
        not_found(r);
        return;
    }
    const char *status = PQgetvalue(res, 0, 2);
    int finished = strcmp(status, "completed") == 0 || strcmp(status, "returned") == 0;
    c->id = cds_req_strdup(r, PQgetvalue(res, 0, 0));
    if (c->mode == M_FORM) {
        page(r, 200,
             finished ? NULL : detail(r, CDS_P_RATING_NOT_FINISHED), finished,
             PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3),
             PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4));
        return;
    }
    if (c->mode == M_RATE) {
        const char *params[] = {c->id, NULL, c->stars, c->comment, "lookup"};
        cds_req_db(r, cds_rating_stmt_put(), 5, params, on_written);
    } else {
        const char *params[] = {c->id, NULL, c->kind, c->content, "lookup"};
        cds_req_db(r, cds_rating_stmt_feedback(), 5, params, on_written);
    }
}

/* Limit, code and secret: the context, or NULL having answered. */
static page_ctx *start(cds_req *r, int mode)
{
    int retry = 0;
    if (!cds_ratelimit_take(limiter, cds_req_peer(r), &retry)) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", retry);
        cds_resp_header(r, "retry-after", secs);
        message(r, 429, T(r, "Thao tác quá nhiều lần", "Too many attempts"),
                cds_req_printf(r, T(r, "Vui lòng thử lại sau %d giây.",
                                    "Please try again in %d seconds."),
                               retry));
        return NULL;
    }
    const char *code = cds_req_param(r, "code");
    const char *given = mode == M_FORM ? cds_req_query(r, "s") : cds_req_form(r, "s");
    char secret[CDS_LOOKUP_SECRET_IN_MAX + 1];
    int ok = cds_lookup_code_valid(code) && cds_lookup_secret_normalise(given, secret) == 0;
    if (!ok) {
        not_found(r);
        return NULL;
    }
    page_ctx *c = cds_req_alloc(r, sizeof *c);
    c->mode = mode;
    c->code = code;
    c->secret = cds_req_strdup(r, secret);
    cds_lookup_secret_hash(secret, c->hash);
    cds_req_set_user(r, c, NULL);
    return c;
}

static void go(cds_req *r, page_ctx *c)
{
    const char *params[] = {c->code};
    cds_req_db(r, st_dossier, 1, params, on_dossier);
}

void cds_rating_page_form(cds_req *r)
{
    page_ctx *c = start(r, M_FORM);
    if (c) go(r, c);
}

void cds_rating_page_rate(cds_req *r)
{
    page_ctx *c = start(r, M_RATE);
    if (!c) return;
    const char *stars = cds_req_form(r, "stars"), *comment = cds_req_form(r, "comment");
    if (cds_stars_text(stars) < 0) {
        page(r, 400, T(r, "Vui lòng chọn từ 1 đến 5 sao.", "Please choose from 1 to 5 stars."), 0,
             NULL, NULL);
        return;
    }
    if (comment && !*comment) comment = NULL;
    const char *why = comment ? cds_text_check(comment, CDS_RATING_COMMENT_MAX, cds_req_lang(r))
                              : NULL;
    if (why) {
        page(r, 400,
             cds_req_printf(r,
                            T(r, "Nhận xét %s (tối đa %d ký tự).",
                              "The comment %s (at most %d characters)."),
                            why, CDS_RATING_COMMENT_MAX),
             0, NULL, NULL);
        return;
    }
    c->stars = stars;
    c->comment = comment;
    go(r, c);
}

void cds_rating_page_feedback(cds_req *r)
{
    page_ctx *c = start(r, M_FEEDBACK);
    if (!c) return;
    const char *kind = cds_req_form(r, "kind"), *content = cds_req_form(r, "content");
    if (!cds_feedback_kind_ok(kind)) {
        page(r, 400,
             T(r, "Vui lòng chọn loại: phản ánh hoặc kiến nghị.",
               "Please choose the kind: feedback or suggestion."),
             0, NULL, NULL);
        return;
    }
    const char *why = cds_text_check(content, CDS_FEEDBACK_MAX, cds_req_lang(r));
    if (why) {
        page(r, 400,
             cds_req_printf(r,
                            T(r, "Nội dung %s (tối đa %d ký tự).",
                              "The feedback %s (at most %d characters)."),
                            why, CDS_FEEDBACK_MAX),
             0, NULL, NULL);
        return;
    }
    c->kind = kind;
    c->content = content;
    go(r, c);
}
