/* receipts/ configuration and start-up: options (CDS_RECEIPT_*), the
 * signing keys, the statements of the routes, the signer thread. */
#include "internal.h"
#include "receipts/pdf.h"
#include "core/log.h"

#include <string.h>

cds_receipts_config g_receipts;

void cds_receipts_config_defaults(cds_receipts_config *c)
{
    memset(c, 0, sizeof *c);
    c->sign = 1;
    c->poll_ms = 1000;
    c->batch = 256;
    c->check_burst = 20;
    c->check_per_minute = 60;
    c->font_dir = CDS_RECEIPT_FONT_DIR;
}

size_t cds_receipts_options(cds_receipts_config *c, cds_opt *out, size_t cap)
{
    /* clang-format off */
    const cds_opt o[] = {
        {"receipt-keys", "CDS_RECEIPT_KEYS", CDS_OPT_KEY, &c->keys, 0, 0, "receipt signing keys: pem-file, or AGENCY=pem-file,...,*=pem-file (P-256 or Ed25519); unset: development key"},
        {"receipt-sign", "CDS_RECEIPT_SIGN", CDS_OPT_INT, &c->sign, 0, 1, "this process signs newly issued receipts"},
        {"receipt-poll-ms", "CDS_RECEIPT_POLL_MS", CDS_OPT_INT, &c->poll_ms, 10, 600000, "look for unsigned receipts this often even without NOTIFY"},
        {"receipt-batch", "CDS_RECEIPT_BATCH", CDS_OPT_INT, &c->batch, 1, 10000, "receipts signed per transaction"},
        {"receipt-check-burst", "CDS_RECEIPT_CHECK_BURST", CDS_OPT_INT, &c->check_burst, 1, 1000000, "public receipt checks a client address may burst"},
        {"receipt-check-per-minute", "CDS_RECEIPT_CHECK_PER_MINUTE", CDS_OPT_INT, &c->check_per_minute, 1, 1000000, "public receipt checks per client address and minute"},
        {"receipt-font-dir", "CDS_RECEIPT_FONT_DIR", CDS_OPT_STR, &c->font_dir, 0, 0, "directory of DejaVuSans.ttf and DejaVuSans-Bold.ttf for receipt PDFs"},
    };
    /* clang-format on */
    size_t n = sizeof o / sizeof o[0];
    if (n > cap) n = cap;
    memcpy(out, o, n * sizeof o[0]);
    return n;
}

int cds_receipts_init(const cds_receipts_config *c, const char *db_conninfo)
{
    g_receipts = *c;
    if (rc_keys_init() != 0) return -1;
    if (cds_receipt_pdf_init(g_receipts.font_dir) != CDS_PDF_OK)
        cds_log(CDS_LOG_WARN, "receipt_pdf", "DejaVu fonts not found in %s: receipt PDFs will fail",
                g_receipts.font_dir ? g_receipts.font_dir : CDS_RECEIPT_FONT_DIR);
    if (rc_owner_init() != 0 || rc_check_init() != 0 || rc_partner_init() != 0) return -1;
    return rc_signer_start(db_conninfo);
}

void cds_receipts_shutdown(void)
{
    rc_signer_stop();
    rc_check_shutdown();
    rc_keys_free();
}
