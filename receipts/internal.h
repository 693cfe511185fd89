/* Shared by the files of receipts/ that serve receipts from the database
 * (module.c, keys.c, row.c, signer.c, owner.c, check.c, partner.c). */
#ifndef CDS_RECEIPTS_INTERNAL_H
#define CDS_RECEIPTS_INTERNAL_H
#include "receipts/receipts.h"
#include "receipts/sign.h"

#include <jansson.h>
#include <libpq-fe.h>

extern cds_receipts_config g_receipts;

/* keys.c: the agencies' signing keys from g_receipts.keys (or the
 * development key), and the public keys of key ids met in the database,
 * cached per process. */
int rc_keys_init(void);
void rc_keys_free(void);
/* The signing keys as they are now (a SIGHUP publishes a new set; a set
 * stays valid until rc_keys_free). */
typedef struct rc_keyset rc_keyset;
const rc_keyset *rc_keys_current(void);
/* The key of `ks` that signs the receipts of `agency` (its own, else "*"),
 * its kid; NULL when none. */
EVP_PKEY *rc_signing_key(const rc_keyset *ks, const char *agency, const char **kid);
/* The n-th distinct signing key of `ks` (to register in receipt_keys), or NULL. */
EVP_PKEY *rc_signing_key_at(const rc_keyset *ks, size_t i, const char **kid, const char **alg,
                            const char **pub_pem);
/* The public key of `kid`, parsed from `pem` (the receipt_keys row) the
 * first time and cached; NULL when pem is not a key or is not kid's. */
EVP_PKEY *rc_verify_key(const char *kid, const char *pem);

/* row.c: the columns every receipt query selects first, in this order. */
#define RC_COLS                                                                                    \
    "r.id::text, r.template_no, r.serial, r.year, r.number, r.kind,"                               \
    " COALESCE(r.replaces::text, ''),"                                                             \
    " r.issuer_name, r.issuer_tax_code, r.issuer_address, r.payer_name, r.payer_pid_sealed,"       \
    " COALESCE(r.payer_address_sealed, ''), r.fee_name, r.dossier_code, r.amount_vnd,"             \
    " r.payment_method, r.bank_ref, cds_rfc3339(r.paid_at), cds_rfc3339(r.issued_at),"             \
    " COALESCE(r.alg, ''), COALESCE(r.kid, ''), COALESCE(r.signature, ''), r.status,"              \
    " COALESCE(r.replaced_by::text, ''), r.agency_code"
enum {
    RC_ID,
    RC_TEMPLATE,
    RC_SERIAL,
    RC_YEAR,
    RC_NUMBER,
    RC_KIND,
    RC_REPLACES,
    RC_ISSUER_NAME,
    RC_TAX_CODE,
    RC_ISSUER_ADDR,
    RC_PAYER_NAME,
    RC_PID_SEALED,
    RC_ADDR_SEALED,
    RC_FEE,
    RC_DOSSIER,
    RC_AMOUNT,
    RC_METHOD,
    RC_BANK_REF,
    RC_PAID_AT,
    RC_ISSUED_AT,
    RC_ALG,
    RC_KID,
    RC_SIG,
    RC_STATUS,
    RC_REPLACED_BY,
    RC_AGENCY,
    RC_NCOLS
};
/* What is printed for an address the agency or citizen never gave: the
 * canonical form needs a non-empty text. */
#define RC_NO_ADDRESS "Không có thông tin"

/* The content of row `row` (columns above): the personal ID number and
 * address unsealed, the amount in words computed, then checked. 0, or -1
 * with *why (static English text: "sealed personal ID does not open", or
 * the failing field). *sig gets the stored signature ("" members when
 * unsigned) when sig is not NULL. */
int rc_from_row(PGresult *res, int row, cds_receipt *out, cds_receipt_sig *sig, const char **why);
/* "Nguyễn Văn An" -> "Nguyễn V. A."; the personal ID number with all but
 * its last 3 digits hidden. */
void rc_mask_name(const char *full, char *out, size_t cap);
void rc_mask_pid(const char *pid, char out[13]);
/* The verification link printed as the QR code:
 * <public_base_url>/r/<id>?n=<number>&s=<signature>. -1 when it does not fit. */
int rc_verify_url(const char *id, const char *number, const char *sig, char *out, size_t cap);
/* "000001" style printing of a number: zero-padded to 8. */
void rc_number8(const char *number, char out[16]);

/* Module starts. */
int rc_signer_start(const char *db_conninfo);
void rc_signer_stop(void);
int rc_owner_init(void);
int rc_check_init(void);
void rc_check_shutdown(void);
int rc_partner_init(void);

#endif
