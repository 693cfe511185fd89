/* Dossiers (hồ sơ): the procedure catalog, filing with attachments, the
 * step timeline driven by the city's TTHC system, and the public lookup.
 * The handlers below are listed in api/routes.c. */
#ifndef CDS_DOSSIERS_H
#define CDS_DOSSIERS_H
#include "core/http.h"
#include "core/options.h"
#include "core/server.h"

typedef struct cds_dossiers_config {
    const char *storage_dir;     /* attachment files of older versions, for the import */
    const char *lookup_key;      /* base64 32 bytes: derives each dossier's lookup secret */
    const char *public_base_url; /* base of the public lookup links */
    int lookup_burst, lookup_per_minute; /* per client address */
    const char *keys_dir;        /* development keys (shared with auth) */
    int workers;                 /* worker threads (CPU-heavy work) */
    /* The TTHC outbox (ratings, feedback): its base URL (unset: rows wait),
     * our client id and secret there, attempts, backoff base and poll. */
    const char *tthc_url, *tthc_client, *tthc_secret;
    int tthc_attempts, tthc_backoff_ms, tthc_poll_ms;
    const char *db_conninfo; /* set by api/ (not an option) */
} cds_dossiers_config;

void cds_dossiers_config_defaults(cds_dossiers_config *c);
size_t cds_dossiers_options(cds_dossiers_config *c, cds_opt *out, size_t cap);
int cds_dossiers_init(const cds_dossiers_config *c);
void cds_dossiers_shutdown(void);

/* catalog.c. cds_catalog_procedure_check: a procedure's JSON (catalog file or
 * partner update) against the catalog's rules; -1 with a message. */
#include <jansson.h>
int cds_catalog_procedure_check(const json_t *p, char *err, size_t cap);
/* 1 when s is an agency code: 2-32 of [0-9A-Z.] (e.g. "000.20.01.H29"). */
int cds_catalog_agency_code_ok(const char *s);
void cds_procedures_list(cds_req *r);
void cds_procedure_get(cds_req *r);
void cds_procedure_form(cds_req *r);
void cds_partner_procedure_put(cds_req *r);
/* attachments.c: files in PostgreSQL, in pieces of ATTACHMENT_PIECE bytes. */
#define ATTACHMENT_PIECE (256 * 1024)
#define ATTACHMENT_MAX_BYTES (25 * 1024 * 1024) /* the route's body cap and the table's CHECK */
void cds_attachment_upload(cds_req *r);
void cds_attachment_download(cds_req *r);
/* attachments_import.c (blocking: for `cds attachments import` and `cds
 * migrate`, never a loop thread): moves the files of attachments kept under
 * `dir` (<dir>/<sha[0:2]>/<sha>, as older versions stored them) into the
 * database, each in one transaction, after checking its size and SHA-256.
 * Rows that have their pieces already are skipped, so a second run changes
 * nothing. Prints a line per problem and a summary to `out`; returns the
 * number of attachments it could not import (missing or damaged files), -1
 * when the database fails. */
#include <stdio.h>
int cds_attachments_import(const char *conninfo, const char *dir, FILE *out);
/* filing.c: filing, the citizen's list and dossier, cancel, supplement */
void cds_dossier_file(cds_req *r);
void cds_dossiers_list(cds_req *r);
void cds_dossier_get(cds_req *r);
void cds_dossier_cancel(cds_req *r);
void cds_dossier_supplement(cds_req *r);
/* partner.c */
void cds_partner_step(cds_req *r);
void cds_partner_import(cds_req *r);
void cds_partner_overdue(cds_req *r);
/* lookup.c */
/* The public lookup link of a dossier (its secret derived from its id), as
 * printed on the acknowledgement and sent in notifications; -1 when it does
 * not fit in out. */
int cds_dossier_lookup_link(const char *dossier_id, const char *code, char *out, size_t cap);
void cds_lookup_json(cds_req *r);
void cds_lookup_page(cds_req *r);
void cds_dossier_lookup_qr(cds_req *r);
/* pay.c: GET /app/dossiers/{id}?s= the "open in the app" link's fallback. */
void cds_dossier_app_link(cds_req *r);
/* rating.c: the citizen's rating and feedback, the agencies' summary */
void cds_rating_put(cds_req *r);
void cds_rating_get(cds_req *r);
void cds_feedback_post(cds_req *r);
void cds_rating_summary(cds_req *r);
/* rating_page.c: the lookup page's rating and feedback forms */
void cds_rating_page_form(cds_req *r);
void cds_rating_page_rate(cds_req *r);
void cds_rating_page_feedback(cds_req *r);
/* agents.c, agent_slip.c: filing at a public-service agent (staff role agent) */
void cds_agent_consent_start(cds_req *r);
void cds_agent_consent_verify(cds_req *r);
void cds_agent_consent_citizen(cds_req *r);
void cds_agent_vneid_consent_start(cds_req *r);
void cds_agent_vneid_consent_finish(cds_req *r);
void cds_agent_attachment_upload(cds_req *r);
void cds_agent_dossier_file(cds_req *r);
void cds_agent_dossiers_list(cds_req *r);
void cds_agent_dossier_get(cds_req *r);
void cds_agent_cash(cds_req *r);
void cds_agent_slip(cds_req *r);
void cds_partner_agent_counts(cds_req *r);
/* tthc_outbox.c: the TTHC outbox on each event-loop thread */
void cds_dossiers_worker_start(cds_worker *w);
void cds_dossiers_worker_stop(cds_worker *w);

#endif
