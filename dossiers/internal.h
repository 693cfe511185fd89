/* Shared by the files of dossiers/ only. Each file registers its own
 * prepared statements from its *_init function, called by cds_dossiers_init. */
#ifndef CDS_DOSSIERS_INTERNAL_H
#define CDS_DOSSIERS_INTERNAL_H
#include "core/buf.h"
#include "dossiers/dossiers.h"

#include <jansson.h>

extern cds_dossiers_config g_dossiers;

int cds_catalog_init(void);
int cds_attachments_init(void);
int cds_lookup_init(void);
void cds_lookup_shutdown(void);
int cds_filing_init(void);
int cds_partner_init(void);
void cds_partner_shutdown(void);
int cds_rating_init(void);
int cds_rating_page_init(void);
void cds_rating_page_shutdown(void);
/* The rating and feedback forms appended to the lookup page of dossier
 * `code` (in `status`), once its secret (the request's ?s=) has opened it. */
#include "core/buf.h"
void cds_rating_page_forms(cds_req *r, cds_buf *out, const char *code, const char *status);
int cds_tthc_outbox_init(const char *db_conninfo);
void cds_tthc_outbox_shutdown(void);

/* rating.c: checks shared by the app routes and the lookup page's forms. */
#define CDS_RATING_COMMENT_MAX 1000 /* characters */
#define CDS_FEEDBACK_MAX 2000
/* NULL when s is non-empty valid UTF-8 of at most max_chars characters
 * without control characters (a line break, LF or CRLF, is allowed); else why not, in
 * `lang` (core/lang.h), to follow the field's name ("quá dài" / "is too long"). */
const char *cds_text_check(const char *s, size_t max_chars, int lang);
/* 1..5 for the text "1".."5", else -1. */
int cds_stars_text(const char *s);
int cds_feedback_kind_ok(const char *s);
int cds_rating_stmt_put(void);      /* $1 dossier, $2 citizen|NULL, $3 stars, $4 comment, $5 channel */
int cds_rating_stmt_feedback(void); /* $1 dossier, $2 citizen|NULL, $3 kind, $4 content, $5 channel */

/* secret.c: a dossier's lookup secret, derived (HMAC with the lookup key)
 * from its id, so it is never stored; 10 characters of an unambiguous
 * alphabet (no 0/O, 1/I/L). */
#define CDS_LOOKUP_SECRET_LEN 10
int cds_secret_init(void);
void cds_lookup_secret(const char *dossier_id, char out[CDS_LOOKUP_SECRET_LEN + 1]);
/* A dossier code and a lookup secret as people type them (lookup page,
 * rating forms): the code's characters and length; the secret upper-cased
 * without spaces and dashes ("abcd-efgh 23" -> "ABCDEFGH23"), -1 when
 * nothing is left or it is over-long. */
#define CDS_LOOKUP_CODE_MAX 64
#define CDS_LOOKUP_SECRET_IN_MAX 64
int cds_lookup_code_valid(const char *s);
int cds_lookup_secret_normalise(const char *in, char out[CDS_LOOKUP_SECRET_IN_MAX + 1]);
/* hex SHA-256 of a secret, as stored in dossiers.lookup_hash. */
void cds_lookup_secret_hash(const char *secret, char out[65]);
/* "<public_base_url>/lookup/<code>?s=<secret>" (arena). */
/* The public lookup link of a dossier code and secret into out; -1 when it
 * does not fit. */
int cds_lookup_link(const char *code, const char *secret, char *out, size_t cap);
char *cds_lookup_url(cds_req *r, const char *code, const char *secret);

/* filing.c: filing for citizen p by agent agent_id under consent
 * consent_id (agents.c), with the request's parsed body. */
#include "auth/auth.h"
/* The dossier JSON of SQL (json_text) with its lookup link and secret, as
 * the owner's reads answer it; overdue < 0: the JSON has the flag already. */
void cds_dossier_respond(cds_req *r, int status, const char *json_text, const char *id,
                         const char *code, int overdue);
/* filing.c: a page of dossiers, the citizen's or an agent's: rows of (view
 * JSON, created_at, id), one more than the page's limit (cds_page of the
 * request) when there is a next page; answers {items, next_cursor}. */
void cds_dossier_list_respond(cds_req *r, PGresult *res);
void cds_dossier_file_for(cds_req *r, const cds_principal *citizen, json_t *body,
                          const char *agent_id, const char *consent_id);
/* attachments.c: an upload (the request's body) owned by citizen p. */
void cds_attachment_upload_as(cds_req *r, const cds_principal *p);
/* agents.c: the answer to an agent refused by SQL: "no_consent" (403
 * agent_consent_required) or "agent_disabled" (403 staff_disabled). */
void cds_agent_refused(cds_req *r, const char *status);
int cds_agents_init(void);
int cds_agent_slip_init(void); /* agent_slip.c */

/* pay.c: the fee part of the public lookup page (see there). lk_pay_open
 * opens (or finds) the dossier's payment intent, answering cb: 0 asked, -1
 * not asked (no random reference; the request is untouched), -2 the pool
 * refused it and answered 503 (the request is gone).
 * lk_pay_html renders cb's result (the intent with its VietQR code, the
 * bank details and the app link, or a message) into out; lk_paid_html the
 * "paid" card from the lookup's JSON of the latest payment received (NULL:
 * nothing). lk_app_link: "<public_base_url>/app/dossiers/<id>?s=<secret>"
 * (arena). lk_not_found_page: the lookup's 404 page. lk_lookup_page_of:
 * the lookup page of code with the given secret, as /lookup/{code}?s= gives
 * it (lookup.c). */
int lk_pay_init(void);
int lk_pay_open(cds_req *r, const char *dossier_id, const char *citizen_id, cds_req_db_cb cb);
void lk_pay_html(cds_req *r, int lang, PGresult *res, const char *app_link, cds_buf *out);
void lk_paid_html(cds_req *r, int lang, const char *paid_json, cds_buf *out);
const char *lk_app_link(cds_req *r, const char *dossier_id, const char *secret);
void lk_not_found_page(cds_req *r);
void lk_lookup_page_of(cds_req *r, const char *code, const char *secret);

/* form.c: the procedure's form schema:
 *   {"fields":[{"name","label","type":"string|text|integer|number|boolean|date|enum|personal_id|phone",
 *               "required":bool,"max_length":n,"min":n,"max":n,"options":[...],
 *               "prefill":"full_name|personal_id|birth_date|gender|address|phone|email"}]}
 * Validates submitted values: unknown fields, missing required ones, wrong
 * types, over-long strings. On failure returns -1 with the field's name and
 * a Vietnamese message. */
int cds_form_validate(const json_t *schema, const json_t *values, char *field, size_t field_cap,
                      char *msg, size_t msg_cap);
/* Checks a form schema itself (catalog loading, partner updates); -1 with a
 * Vietnamese message naming the bad field. */
int cds_form_schema_check(const json_t *schema, char *err, size_t cap);
/* {"field": value} prefilled from a profile (GET /v1/me's JSON). */
json_t *cds_form_prefill(const json_t *schema, const json_t *profile);

/* filing.c: 1 when s names a dossier step of the state machine. */
int cds_step_known(const char *s);
/* 1 when s is 1..max printable ASCII characters without spaces (event ids,
 * references, idempotency keys). */
int cds_printable(const char *s, size_t max);

#endif
