/* dossiers/ configuration and start-up: options, the worker pool for file
 * I/O, keys (lookup secrets, pagination cursors), and every part's prepared
 * statements. */
#include "internal.h"
#include "core/cursor.h"
#include "core/devkeys.h"
#include "core/log.h"
#include "core/workpool.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

cds_dossiers_config g_dossiers;
static const char *cursor_key_cfg;

void cds_dossiers_config_defaults(cds_dossiers_config *c)
{
    memset(c, 0, sizeof *c);
    c->storage_dir = "var/files";
    c->public_base_url = "http://127.0.0.1:8080";
    c->lookup_burst = 20;
    c->lookup_per_minute = 60;
    c->keys_dir = "var/keys";
    c->workers = 2;
    c->tthc_client = "cds-app";
    c->tthc_attempts = 12;
    c->tthc_backoff_ms = 5000;
    c->tthc_poll_ms = 5000;
}

size_t cds_dossiers_options(cds_dossiers_config *c, cds_opt *out, size_t cap)
{
    const cds_opt o[] = {
        {"storage-dir", "CDS_STORAGE_DIR", CDS_OPT_STR, &c->storage_dir, 0, 0, "where older versions kept attachment files: read by `cds attachments import` (and `cds migrate`) only"},
        {"lookup-key", "CDS_LOOKUP_KEY", CDS_OPT_KEY, &c->lookup_key, 0, 0, "base64 32-byte key deriving each dossier's lookup secret; unset: development key"},
        {"cursor-key", "CDS_CURSOR_KEY", CDS_OPT_KEY, &cursor_key_cfg, 0, 0, "base64 32-byte key signing pagination cursors; unset: development key"},
        {"public-base-url", "CDS_PUBLIC_BASE_URL", CDS_OPT_URL, &c->public_base_url, 0, 0, "base URL of public links (dossier lookup)"},
        {"lookup-burst", "CDS_LOOKUP_BURST", CDS_OPT_INT, &c->lookup_burst, 1, 100000, "public lookups a client address may make at once"},
        {"lookup-per-minute", "CDS_LOOKUP_PER_MINUTE", CDS_OPT_INT, &c->lookup_per_minute, 1, 1000000, "public lookups per minute per client address"},
        {"tthc-url", "CDS_TTHC_URL", CDS_OPT_URL | CDS_OPT_OPTIONAL, &c->tthc_url, 0, 0, "TTHC system base URL for ratings and feedback; unset: they wait in the outbox"},
        {"tthc-client", "CDS_TTHC_CLIENT", CDS_OPT_STR | CDS_OPT_WITH_PREV, &c->tthc_client, 0, 0, "our client id at the TTHC system (X-Client-Id)"},
        {"tthc-secret", "CDS_TTHC_SECRET", CDS_OPT_SECRET | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &c->tthc_secret, 0, 0, "our signing secret at the TTHC system"},
        {"tthc-attempts", "CDS_TTHC_ATTEMPTS", CDS_OPT_INT, &c->tthc_attempts, 1, 1000, "attempts of a TTHC delivery before it is failed"},
        {"tthc-backoff-ms", "CDS_TTHC_BACKOFF_MS", CDS_OPT_INT, &c->tthc_backoff_ms, 10, 3600000, "first retry delay of a TTHC delivery (doubles)"},
        {"tthc-poll-ms", "CDS_TTHC_POLL_MS", CDS_OPT_INT, &c->tthc_poll_ms, 10, 3600000, "how often the TTHC outbox looks for due retries"},
        {"workers", "CDS_WORKERS", CDS_OPT_INT, &c->workers, 1, 64, "worker threads for file I/O and rendering"},
    };
    size_t n = sizeof o / sizeof o[0];
    if (n > cap) n = cap;
    memcpy(out, o, n * sizeof o[0]);
    return n;
}

static int cursor_key_load(void)
{
    char *b64 = cds_secret_or_dev(cursor_key_cfg, g_dossiers.keys_dir, "cursor-key", 0);
    unsigned char k[32];
    int rc = b64 ? cds_b64_exact(b64, k, 32) : -1;
    if (b64) {
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
    }
    if (rc != 0) {
        cds_log(CDS_LOG_ERROR, "dossiers_config", "CDS_CURSOR_KEY must be 32 bytes in base64");
        return -1;
    }
    cds_cursor_set_key(k);
    OPENSSL_cleanse(k, sizeof k);
    return 0;
}

int cds_dossiers_init(const cds_dossiers_config *c)
{
    g_dossiers = *c;
    if (cursor_key_load() != 0) return -1;
    if (cds_secret_init() != 0) return -1;
    if (cds_lookup_init() != 0 || lk_pay_init() != 0) return -1;
    if (cds_workpool_start(g_dossiers.workers) != 0) return -1;
    if (cds_catalog_init() != 0) return -1;
    if (cds_attachments_init() != 0) return -1;
    if (cds_filing_init() != 0) return -1;
    if (cds_partner_init() != 0) return -1;
    if (cds_rating_init() != 0 || cds_rating_page_init() != 0) return -1;
    if (cds_agents_init() != 0 || cds_agent_slip_init() != 0) return -1;
    if (cds_tthc_outbox_init(g_dossiers.db_conninfo) != 0) return -1;
    return 0;
}

void cds_dossiers_shutdown(void)
{
    cds_tthc_outbox_shutdown();
    cds_rating_page_shutdown();
    cds_lookup_shutdown();
    cds_workpool_stop();
}
