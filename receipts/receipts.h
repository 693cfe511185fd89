/* E-receipts served: written in the payment transaction by SQL
 * (db/functions/receipts.sql, cds_receipt_issue), numbered
 * and signed right after commit by this module's signer, shown to their
 * owner as JSON, export and PDF, checked by anyone from the QR code,
 * corrected by replacement or adjustment, exported daily for the tax
 * authority.
 *
 * The signer (signer.c) is one background thread per process with its own
 * blocking PostgreSQL connection (never an event-loop thread): woken by
 * NOTIFY cds_receipts, and every poll_ms anyway, it plans the next numbers
 * of the new receipts under their series row lock (cds_receipt_number_plan),
 * rebuilds their canonical content (the personal ID number and address
 * unsealed in C), signs them with the agency's key and writes number,
 * signature and key id together, all in one transaction. Any number of processes may sign; a crash
 * leaves receipts unnumbered or unsigned for the next pass. A receipt read before that is "being
 * issued". */
#ifndef CDS_RECEIPTS_H
#define CDS_RECEIPTS_H
#include "core/http.h"
#include "core/options.h"

typedef struct cds_receipts_config {
    const char *keys;                  /* "pem" or "AGENCY=pem,...,*=pem"; unset: development key */
    int sign;                          /* 1: this process runs a signer */
    int poll_ms;                       /* signer looks for unsigned receipts this often */
    int batch;                         /* receipts signed per transaction */
    int check_burst, check_per_minute; /* public checks per client address */
    const char *font_dir;              /* DejaVu fonts for the PDF */
    const char *keys_dir;              /* development keys (set by the api module) */
    const char *public_base_url;       /* base of the verification links (set by the api module) */
} cds_receipts_config;

void cds_receipts_config_defaults(cds_receipts_config *c);
size_t cds_receipts_options(cds_receipts_config *c, cds_opt *out, size_t cap);
/* Before the loop threads start: keys, statements, the signer thread. */
int cds_receipts_init(const cds_receipts_config *c, const char *db_conninfo);
void cds_receipts_shutdown(void);

/* Routes (api/routes.c). */
void cds_receipts_list(cds_req *r);           /* GET  /v1/receipts */
void cds_receipt_get(cds_req *r);             /* GET  /v1/receipts/{id} */
void cds_receipt_export_doc(cds_req *r);      /* GET  /v1/receipts/{id}/export */
void cds_receipt_pdf_get(cds_req *r);         /* GET  /v1/receipts/{id}/pdf */
void cds_receipt_check_json(cds_req *r);      /* GET  /v1/receipt-checks/{id} */
void cds_receipt_check_page(cds_req *r);      /* GET  /r/{id} */
void cds_receipt_key_get(cds_req *r);         /* GET  /v1/receipt-keys/{kid} */
void cds_partner_receipt_correct(cds_req *r); /* POST /v1/partner/receipts/{id}/corrections */
void cds_partner_receipts_export(cds_req *r); /* GET  /v1/partner/receipts/export */

#endif
