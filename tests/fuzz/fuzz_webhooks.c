/* libFuzzer target: the payment webhook adapters and the payment reference
 * finder, one input split by its first byte:
 *   0  a payOS body as it comes (refusals: JSON, fields, signatures);
 *   1  a payOS body whose data the harness signs first, so normalization
 *      is reached;
 *   2  a Casso body signed by the harness (canonical JSON, both spellings);
 *   3  a Casso header (first line) and body, unsigned: the header parser;
 *   4  a SePay body signed by the harness (HMAC), or with the API key
 *      (the other half of the first byte's values), which passes only
 *      where no HMAC secret is configured;
 *   5  SePay headers (three lines: Authorization, signature, timestamp)
 *      and a body;
 *   6  cds_payref_find / cds_payref_valid on the text.
 * Beyond the sanitizers, it checks what must always hold: what the signer
 * signs the verifier accepts, every transaction handed out has an id and an
 * amount in range, every reference found is a valid one. */
#include "payment/reference.h"
#include "payment/webhook.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PAYOS_KEY "fuzz-payos-checksum-key-0123456789"
#define CASSO_SECRET "fuzz-casso-secret-0123456789"
#define SEPAY_KEY "fuzz-sepay-api-key-0123456789"
#define SEPAY_SECRET "fuzz-sepay-hmac-secret-0123456789"
#define NOW 1795000000

typedef struct hdrs {
    const char *name[3];
    const char *value[3];
} hdrs;

static const char *hget(void *ctx, const char *name)
{
    const hdrs *h = ctx;
    for (int i = 0; i < 3; i++)
        if (h->name[i] && h->value[i] && strcmp(h->name[i], name) == 0) return h->value[i];
    return NULL;
}

static void check_result(int rc, const cds_hook_result *r)
{
    if (rc != r->error) abort();
    if (rc != CDS_HOOK_OK) {
        if (r->n != 0) abort();
        return;
    }
    if (r->n == 0 || r->n > CDS_HOOK_TX_MAX) abort();
    for (size_t i = 0; i < r->n; i++) {
        const cds_hook_tx *t = &r->tx[i];
        if (!t->id[0] || t->amount <= 0 || t->amount >= CDS_HOOK_AMOUNT_LIMIT) abort();
        if (strlen(t->description) > CDS_HOOK_DESC_MAX || !t->account[0]) abort();
        if (t->disposition == CDS_HOOK_SKIP_OUTGOING && t->direction != CDS_HOOK_OUT) abort();
    }
}

/* Splits off the first line (the NUL-terminated copy is modified). */
static char *line(char **p)
{
    char *s = *p, *nl = s ? strchr(s, '\n') : NULL;
    if (!s) return NULL;
    if (nl) {
        *nl = 0;
        *p = nl + 1;
    } else {
        *p = NULL;
    }
    return s;
}

static void payos_signed(const char *s, size_t n, cds_hook_result *r)
{
    json_t *root = json_loadb(s, n, 0, NULL), *data = json_object_get(root, "data");
    char sig[65];
    if (json_is_object(data)) {
        char *dj = json_dumps(data, JSON_COMPACT);
        int srk = dj ? cds_hook_payos_sign(dj, strlen(dj), PAYOS_KEY, sig) : -1;
        free(dj);
        if (srk == CDS_HOOK_OK) {
            json_object_set_new(root, "signature", json_string(sig));
            char *body = json_dumps(root, JSON_COMPACT);
            if (body) {
                cds_hook_req rq = {body, strlen(body), NULL, NULL, NOW};
                int rc = cds_hook_payos(&rq, PAYOS_KEY, r);
                check_result(rc, r);
                if (rc == CDS_HOOK_BAD_SIGNATURE || rc == CDS_HOOK_NO_AUTH) abort();
                free(body);
            }
        }
    }
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cds_hook_result *r;
    if (!r) r = malloc(sizeof *r);
    if (!r || size < 1) return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    char *text = malloc(n + 1);
    if (!text) return 0;
    memcpy(text, s, n);
    text[n] = 0;
    int rc;
    switch (data[0] % 7) {
    case 0: {
        cds_hook_req rq = {s, n, NULL, NULL, NOW};
        check_result(cds_hook_payos(&rq, PAYOS_KEY, r), r);
        break;
    }
    case 1:
        payos_signed(s, n, r);
        break;
    case 2: {
        char h[200];
        if (cds_hook_casso_sign(s, n, CASSO_SECRET, NOW * 1000LL + 123, h, sizeof h) == 0) {
            hdrs hd = {{"x-casso-signature"}, {h}};
            cds_hook_req rq = {s, n, hget, &hd, NOW};
            rc = cds_hook_casso(&rq, CASSO_SECRET, r);
            check_result(rc, r);
            if (rc == CDS_HOOK_BAD_SIGNATURE || rc == CDS_HOOK_NO_AUTH ||
                rc == CDS_HOOK_STALE_TIMESTAMP)
                abort();
        }
        break;
    }
    case 3: {
        char *p = text, *h = line(&p);
        const char *body = p ? p : "";
        hdrs hd = {{"x-casso-signature"}, {h}};
        cds_hook_req rq = {body, strlen(body), hget, &hd, NOW};
        check_result(cds_hook_casso(&rq, CASSO_SECRET, r), r);
        break;
    }
    case 4: {
        char sig[72];
        if ((data[0] / 7) & 1) {
            hdrs hd = {{"authorization"}, {"Apikey " SEPAY_KEY}};
            cds_hook_req rq = {s, n, hget, &hd, NOW};
            /* With an HMAC secret configured the key alone never passes. */
            if (n <= CDS_HOOK_BODY_MAX &&
                cds_hook_sepay(&rq, SEPAY_KEY, SEPAY_SECRET, r) != CDS_HOOK_NO_AUTH)
                abort();
            rc = cds_hook_sepay(&rq, SEPAY_KEY, NULL, r);
        } else if (cds_hook_sepay_sign(s, n, SEPAY_SECRET, NOW, sig) == 0) {
            hdrs hd = {{"x-sepay-signature", "x-sepay-timestamp"}, {sig, "1795000000"}};
            cds_hook_req rq = {s, n, hget, &hd, NOW};
            rc = cds_hook_sepay(&rq, SEPAY_KEY, SEPAY_SECRET, r);
        } else {
            break;
        }
        check_result(rc, r);
        if (rc == CDS_HOOK_BAD_SIGNATURE || rc == CDS_HOOK_NO_AUTH ||
            rc == CDS_HOOK_STALE_TIMESTAMP)
            abort();
        break;
    }
    case 5: {
        char *p = text;
        char *auth = line(&p), *sig = line(&p), *ts = line(&p);
        const char *body = p ? p : "";
        hdrs hd = {{"authorization", "x-sepay-signature", "x-sepay-timestamp"}, {auth, sig, ts}};
        cds_hook_req rq = {body, strlen(body), hget, &hd, NOW};
        check_result(cds_hook_sepay(&rq, SEPAY_KEY, SEPAY_SECRET, r), r);
        break;
    }
    default: {
        char out[CDS_PAYREF_LEN + 1];
        rc = cds_payref_find(text, out);
        if (rc != CDS_PAYREF_NONE && !cds_payref_valid(out)) abort();
        if (rc == CDS_PAYREF_NONE && out[0]) abort();
        (void)cds_payref_valid(text);
        break;
    }
    }
    free(text);
    return 0;
}
