/* The citizen's in-app inbox: what reached them, newest first, one entry per
 * group of messages written together (a dossier step's, a courier update's,
 * a partial payment's: cds_notifications_list in 0015_inbox_all.sql), with
 * the push text with diacritics when a push went out, else the Zalo ZNS
 * text (also with diacritics), else the SMS text;
 * and marking an entry read.
 *
 *   GET  /v1/notifications?cursor=&limit=   (limit 1..100, default 20)
 *   POST /v1/notifications/{id}/read        id: the entry's id
 *
 * Language: the entry's title and body are in the language the request's
 * Accept-Language names, else in the citizen's stored one (citizens.language,
 * PATCH /v1/me): cds_req_lang_or, so the answer carries Content-Language
 * and Vary. What was sent is shown as is when it is in that language (the
 * push as rendered then, in the citizen's language of the time; the ZNS and
 * SMS texts are Vietnamese); otherwise the step's push template is
 * rendered again in the language asked for from the step's variables
 * (nt_render_push_text), so an English reader never gets the Vietnamese
 * SMS and a Vietnamese one never the English push.
 *
 * Only messages a provider accepted are listed (pending, sent, delivered).
 * An entry's id is its first outbox id; the cursor is the last entry's id,
 * signed (core/cursor.h). */
#include "internal.h"
#include "auth/auth.h"
#include "core/cursor.h"
#include "core/db.h"
#include "core/lang.h"
#include "core/problem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int stmt_list = -1, stmt_read = -1;

int nt_inbox_init(void)
{
    stmt_list = cds_db_stmt_register(
        "notify_inbox",
        "SELECT l.event_id, l.dossier_id, l.step, l.vars->>'dossier_code', l.push::text, "
        "l.sms::text, cds_rfc3339(l.sent_at), cds_rfc3339(l.read_at), l.zns::text, c.language, "
        "l.vars::text, l.push_lang "
        "FROM citizens c LEFT JOIN LATERAL cds_notifications_list($1, $2::bigint, $3::int) l "
        "ON true WHERE c.id = $1",
        3);
    stmt_read = cds_db_stmt_register("notify_read", "SELECT cds_notification_read($1, $2::bigint)", 2);
    return stmt_list < 0 || stmt_read < 0 ? -1 : 0;
}

typedef struct list_ctx {
    int limit;
} list_ctx;

static json_t *str_or_null(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

enum { C_EVENT, C_DOSSIER, C_STEP, C_CODE, C_PUSH, C_SMS, C_SENT, C_READ, C_ZNS, C_LANG, C_VARS,
       C_PUSH_LANG };

/* The text shown, `shown` ({title?, body}) in `shown_lang`, or the step's
 * push text in `lang` when that differs: a new object, or shown itself
 * (borrowed) when it already fits or cannot be rendered. */
static json_t *in_lang(PGresult *res, int i, json_t *shown, int shown_lang, int lang,
                       int *owned)
{
    *owned = 0;
    if (shown && shown_lang == lang) return shown;
    char title[512], body[2048];
    if (nt_render_push_text(PQgetvalue(res, i, C_STEP), PQgetvalue(res, i, C_VARS),
                            PQgetvalue(res, i, C_DOSSIER), lang, title, sizeof title, body,
                            sizeof body) != 0)
        return shown;
    json_t *t = json_pack("{s:s,s:s}", "title", title, "body", body);
    if (!t) return shown;
    *owned = 1;
    return t;
}

static void on_list(cds_req *r, PGresult *res)
{
    list_ctx *l = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_fail(r, CDS_P_DB_UNAVAILABLE);
        return;
    }
    /* One row per entry, or one with no entry (the LEFT JOIN) for a
     * citizen with none; none at all: the citizen's record is gone (an
     * empty inbox). */
    int rows = PQntuples(res);
    int lang = cds_req_lang_or(r, rows ? cds_lang_from_tag(PQgetvalue(res, 0, C_LANG)) : CDS_LANG_VI);
    int n = rows == 0 || PQgetisnull(res, 0, C_EVENT) ? 0 : rows;
    json_t *items = json_array();
    for (int i = 0; i < n && i < l->limit; i++) {
        json_error_t e;
        json_t *push =
            PQgetisnull(res, i, C_PUSH) ? NULL : json_loads(PQgetvalue(res, i, C_PUSH), 0, &e);
        json_t *sms =
            PQgetisnull(res, i, C_SMS) ? NULL : json_loads(PQgetvalue(res, i, C_SMS), 0, &e);
        json_t *zns =
            PQgetisnull(res, i, C_ZNS) ? NULL : json_loads(PQgetvalue(res, i, C_ZNS), 0, &e);
        int shown_lang = push ? cds_lang_from_tag(PQgetvalue(res, i, C_PUSH_LANG)) : CDS_LANG_VI;
        int owned;
        json_t *shown = in_lang(res, i, push ? push : zns ? zns : sms, shown_lang, lang, &owned);
        json_t *channels = json_array();
        if (push) json_array_append_new(channels, json_string("push"));
        if (zns) json_array_append_new(channels, json_string("zalo"));
        if (sms) json_array_append_new(channels, json_string("sms"));
        json_t *title = json_object_get(shown, "title");
        json_t *it = json_pack("{s:s,s:o,s:s,s:o,s:O,s:O,s:o,s:o,s:o,s:b}", "id",
                               PQgetvalue(res, i, 0), "dossier_id", str_or_null(res, i, 1), "step",
                               PQgetvalue(res, i, 2), "dossier_code", str_or_null(res, i, 3),
                               "title", title ? title : json_null(), "body",
                               json_object_get(shown, "body") ? json_object_get(shown, "body")
                                                              : json_null(),
                               "channels", channels, "sent_at", str_or_null(res, i, 6), "read_at",
                               str_or_null(res, i, 7), "read", !PQgetisnull(res, i, 7));
        if (owned) json_decref(shown);
        json_decref(push);
        json_decref(sms);
        json_decref(zns);
        if (it) json_array_append_new(items, it);
    }
    json_t *next = json_null();
    if (n > l->limit && l->limit > 0) {
        char cur[128];
        if (cds_cursor_encode(PQgetvalue(res, l->limit - 1, 0), cur, sizeof cur) == 0)
            next = json_string(cur);
    }
    cds_respond_json(r, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

static int id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= 18 && strspn(s, "0123456789") == n && s[0] != '0';
}

void cds_notifications_list(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    int limit = cds_req_limit(r, 20, 100);
    if (limit < 0) return;
    char pos[64];
    const char *before = NULL;
    int has = cds_req_cursor(r, pos, sizeof pos);
    if (has < 0) return;
    if (has && !id_valid(pos)) {
        cds_fail(r, CDS_P_INVALID_CURSOR);
        return;
    }
    if (has) before = cds_req_strdup(r, pos);
    list_ctx *l = cds_req_alloc(r, sizeof *l);
    l->limit = limit;
    cds_req_set_user(r, l, NULL);
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit + 1);
    const char *params[3] = {p->citizen_id, before, lim};
    cds_req_db(r, stmt_list, 3, params, on_list);
}

static void on_read(cds_req *r, PGresult *res)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cds_fail(r, CDS_P_DB_UNAVAILABLE);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        cds_problem(r, 404, "notification_not_found", "Không tìm thấy thông báo.");
        return;
    }
    cds_respond(r, 204, NULL, NULL, 0);
}

void cds_notification_read(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_param(r, "id");
    if (!id_valid(id)) {
        cds_problem(r, 404, "notification_not_found", "Không tìm thấy thông báo.");
        return;
    }
    const char *params[2] = {p->citizen_id, id};
    cds_req_db(r, stmt_read, 2, params, on_read);
}
