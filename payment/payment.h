/* Fees by VietQR: payment intents for dossiers in fee_requested, the
 * payment providers' webhooks that pay them, payOS payment links for the
 * accounts that collect through payOS, and reconciliation.
 *
 * The state lives in PostgreSQL (db/migrations/0006_payments.sql); every
 * transition is one SQL function (db/functions/payment.sql). This module checks input, generates
 * references and VietQR payloads, verifies the providers' signatures
 * (webhook.h) and maps results to JSON. */
#ifndef CDS_PAYMENT_H
#define CDS_PAYMENT_H
#include "core/http.h"
#include "core/options.h"

#include <jansson.h>
#include <libpq-fe.h>

typedef struct cds_payment_config {
    /* Provider secrets; a provider whose secret is unset refuses every call
     * (500 not_configured): there is no default a forger could know. */
    const char *payos_checksum_key;
    const char *casso_secret;
    const char *sepay_api_key, *sepay_hmac_secret;
    int expire_every_s; /* how often open intents past their expiry are closed */
    /* payOS payment links (accounts whose provider is "payos"). */
    const char *payos_url;       /* API base, https://api-merchant.payos.vn */
    const char *payos_client_id, *payos_api_key;
    const char *payos_return_url, *payos_cancel_url; /* where payOS's checkout sends the citizen */
    const char *payos_webhook_url; /* ours, for `cds payments payos-confirm-webhook` */
    int payos_description_max;   /* 9 (a bank account not linked through payOS) .. 25 */
    int payos_timeout_ms;
    int payos_dispatch;          /* this process cancels links (the cancel outbox) */
    const char *db_conninfo;     /* set by the caller: the cancel outbox's LISTEN */
} cds_payment_config;

void cds_payment_config_defaults(cds_payment_config *c);
size_t cds_payment_options(cds_payment_config *c, cds_opt *out, size_t cap);
/* Before the loop threads start: registers statements. 0 on success. */
int cds_payment_init(const cds_payment_config *c);
void cds_payment_shutdown(void);
/* Per loop thread: the expiry sweep runs on thread 0. */
void cds_payment_worker_start(cds_worker *w);
void cds_payment_worker_stop(cds_worker *w);
/* `cds payments payos-confirm-webhook`: registers `url` (NULL: the
 * configured CDS_PAYOS_WEBHOOK_URL) with payOS (POST /confirm-webhook, which
 * makes payOS call it once). Blocking, for the command line. 0 on success,
 * else -1 with the reason in err. */
int cds_payment_payos_confirm_webhook(const cds_payment_config *c, const char *url, char *out,
                                      size_t outcap, char *err, size_t cap);

/* A payment as the SQL functions write it (cds_payment_open, cds_payment_get:
 * the JSON text) with what C adds: the VietQR payload that pays what
 * remains ("vietqr": {"payload", "png_url", "svg_url"}, null when nothing
 * is open). New reference, or NULL when the text is not a JSON object.
 * The public lookup page (dossiers/lookup.c) opens a dossier's intent
 * through SQL once the lookup secret is checked and shows it with this. */
json_t *cds_payment_view(const char *payment_json);

/* Citizen routes (intent.c, qr_route.c). */
void cds_payment_open(cds_req *r);    /* POST /v1/dossiers/{id}/payment */
void cds_payment_get(cds_req *r);     /* GET  /v1/dossiers/{id}/payment */
void cds_payment_qr_png(cds_req *r);  /* GET  /v1/payments/{id}/qr.png */
void cds_payment_qr_svg(cds_req *r);  /* GET  /v1/payments/{id}/qr.svg */
/* Provider webhooks (webhook_route.c). */
void cds_webhook_payos(cds_req *r);   /* POST /v1/webhooks/payos */
void cds_webhook_casso(cds_req *r);   /* POST /v1/webhooks/casso */
void cds_webhook_sepay(cds_req *r);   /* POST /v1/webhooks/sepay */
/* Operators, through the partner check (reconcile.c). */
void cds_payment_reconciliation(cds_req *r); /* GET  /v1/partner/payments/reconciliation */
/* The rows of the reconciliation query (day, account_no, then ten counts
 * and sums) as the CSV both the route and `cds payments reconcile --csv 1`
 * give (core/csv.h); malloc'ed, NULL when out of memory. */
char *cds_payment_reconciliation_csv(PGresult *res, size_t *len);
void cds_payment_unmatched(cds_req *r);      /* GET  /v1/partner/payments/unmatched */
void cds_payment_resolve(cds_req *r);        /* POST /v1/partner/payments/transactions/{id}/resolve */
void cds_payment_refunded(cds_req *r);       /* POST /v1/partner/payments/{id}/refunded */
/* The reconciliation report: its columns in order (day and account_no are
 * text, the others integers) and the query giving them for dates $1..$2,
 * shared by the route and `cds payments reconcile`. duplicate_count and
 * duplicate_vnd are further reports of transfers already counted (another
 * provider reporting the same transfer): recorded, credited nothing. */
#define CDS_PAYMENT_RECON_NCOLS 12
extern const char *const cds_payment_recon_cols[CDS_PAYMENT_RECON_NCOLS];
extern const char cds_payment_recon_sql[];
/* The unmatched transfers, oldest first, at most $1: one JSON array. */
extern const char cds_payment_unmatched_sql[];
/* The manual actions, for every caller (the partner routes, the operators'
 * console): assign transfer $1 to dossier code $2 by actor $3 for reason
 * $4 (trace $5) -> status (resolved | not_found | not_unmatched |
 * dossier_not_found | no_payment), payment_id, payment_status,
 * receipt_id; record the refund of payment $1 by $2 for $3 -> status
 * (refunded | not_found | not_refund_due), refunded_vnd. Both audited. */
extern const char cds_payment_resolve_sql[];
extern const char cds_payment_refunded_sql[];

/* The receiving accounts of agencies (accounts.c), loaded by
 * `cds catalog load` from db/seed/payment_accounts.json:
 *   {"accounts":[{"agency_code","bank_bin","bank_name","account_no",
 *                 "account_name","service_charge_vnd","intent_ttl_hours",
 *                 "provider": "transfer" (default) | "payos"}]}
 * cds_payment_accounts_check checks the whole document before anything is
 * written (-1 with the entry named in err); cds_payment_accounts_write
 * upserts them on a blocking connection inside the caller's transaction and
 * returns how many rows changed, or -1 with the database's message in err. */
struct pg_conn;
int cds_payment_accounts_check(const json_t *doc, char *err, size_t cap);
long cds_payment_accounts_write(struct pg_conn *conn, const json_t *doc, char *err, size_t cap);

#endif
