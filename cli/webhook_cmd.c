/* `cds webhook verify`: runs a recorded provider webhook through the same
 * verifier the server's webhook route uses (payment/webhook.h), for an
 * operator asking "why did we refuse this call" and for the stand-in bank's
 * tests, which check that what the bank sends is what a provider sends.
 *
 *   cds webhook verify --provider payos|casso|sepay [--header 'Name: value']...
 *                      [--now UNIX_SECONDS] [BODY_FILE|-]
 *
 * The body is read raw from the file (or stdin, "-" or nothing). Secrets
 * come from the server's own variables: CDS_PAYOS_CHECKSUM_KEY,
 * CDS_CASSO_SECRET, CDS_SEPAY_API_KEY, CDS_SEPAY_HMAC_SECRET (no defaults:
 * an unset one is "not configured", exactly as the verifier says).
 * Accepted: the normalized transactions as JSON on stdout, each with the
 * payment reference found in its description (cds_payref_find), exit 0.
 * Refused: "cds webhook: <verdict code>: <message>" on stderr, exit 1.
 * Usage errors exit 2. */
#include "cli/cli.h"
#include "payment/reference.h"
#include "payment/webhook.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *me = "cds webhook";

static const char USAGE[] =
    "usage: cds webhook verify --provider payos|casso|sepay [--header 'Name: value']...\n"
    "                          [--now UNIX_SECONDS] [BODY_FILE|-]\n"
    "\n"
    "Verifies a provider's webhook call (body from BODY_FILE or stdin) with the\n"
    "server's verifier and prints its transactions as JSON (exit 0), or the\n"
    "verdict code and why (exit 1). Secrets from CDS_PAYOS_CHECKSUM_KEY,\n"
    "CDS_CASSO_SECRET, CDS_SEPAY_API_KEY, CDS_SEPAY_HMAC_SECRET.\n";

#define MAX_HEADERS 16

typedef struct headers {
    size_t n;
    char name[MAX_HEADERS][64]; /* lower case */
    const char *value[MAX_HEADERS];
} headers;

static const char *header_fn(void *ctx, const char *lower_name)
{
    const headers *h = ctx;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->name[i], lower_name) == 0) return h->value[i];
    return NULL;
}

static int add_header(headers *h, const char *line)
{
    const char *colon = strchr(line, ':');
    if (!colon || colon == line || (size_t)(colon - line) >= sizeof h->name[0] ||
        h->n == MAX_HEADERS) {
        fprintf(stderr, "%s: --header wants 'Name: value' (at most %d of them), not '%s'\n", me,
                MAX_HEADERS, line);
        return -1;
    }
    size_t k = (size_t)(colon - line);
    for (size_t i = 0; i < k; i++)
        h->name[h->n][i] = (char)tolower((unsigned char)line[i]);
    h->name[h->n][k] = 0;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    h->value[h->n++] = v;
    return 0;
}

/* The whole body, up to one byte over the verifier's cap (so that it can
 * say "too large" itself). NULL after a message. */
static char *read_body(const char *path, size_t *len)
{
    FILE *f = (!path || strcmp(path, "-") == 0) ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", me, path, strerror(errno));
        return NULL;
    }
    size_t cap = CDS_HOOK_BODY_MAX + 2;
    char *buf = malloc(cap);
    if (!buf) abort();
    *len = fread(buf, 1, cap - 1, f);
    buf[*len] = 0;
    if (f != stdin) fclose(f);
    return buf;
}

static const char *disposition_name(int d)
{
    return d == CDS_HOOK_CREDIT ? "credit" : d == CDS_HOOK_SKIP_OUTGOING ? "outgoing" : "failed";
}

static json_t *tx_json(const cds_hook_tx *tx)
{
    char ref[CDS_PAYREF_LEN + 1];
    int found = cds_payref_find(tx->description, ref);
    json_t *j = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "provider",
                          tx->provider, "id", tx->id, "amount", (json_int_t)tx->amount, "direction",
                          tx->direction == CDS_HOOK_OUT ? "out" : "in", "disposition",
                          disposition_name(tx->disposition), "description", tx->description,
                          "account", tx->account, "bank_bin", tx->bank_bin, "bank_name",
                          tx->bank_name, "reference", tx->reference, "code", tx->code, "time",
                          tx->time_text, "counter_account", tx->counter_account);
    if (!j) return NULL;
    json_object_set_new(j, "payref", found == CDS_PAYREF_NONE ? json_null() : json_string(ref));
    if (found == CDS_PAYREF_SEVERAL) json_object_set_new(j, "payref_several", json_true());
    return j;
}

static int verify_cmd(int argc, char **argv)
{
    const char *provider = NULL, *file = NULL;
    headers h = {0};
    time_t now = time(NULL);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (strcmp(a, "--provider") == 0 || strcmp(a, "--header") == 0 || strcmp(a, "--now") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: option '%s' needs a value\n", me, a);
                return 2;
            }
            const char *v = argv[++i];
            if (a[2] == 'p') {
                provider = v;
            } else if (a[2] == 'h') {
                if (add_header(&h, v) != 0) return 2;
            } else {
                char *end;
                errno = 0;
                long long t = strtoll(v, &end, 10);
                if (errno || *end || t < 0) {
                    fprintf(stderr, "%s: --now wants Unix seconds, not '%s'\n", me, v);
                    return 2;
                }
                now = (time_t)t;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", me, a);
            return 2;
        } else if (file) {
            fprintf(stderr, "%s: one body file only\n", me);
            return 2;
        } else {
            file = a;
        }
    }
    int which = !provider                        ? 0
                : strcmp(provider, "payos") == 0 ? CDS_HOOK_PAYOS
                : strcmp(provider, "casso") == 0 ? CDS_HOOK_CASSO
                : strcmp(provider, "sepay") == 0 ? CDS_HOOK_SEPAY
                                                 : 0;
    if (!which) {
        fprintf(stderr, "%s: --provider must be payos, casso or sepay\n", me);
        return 2;
    }
    size_t len = 0;
    char *body = read_body(file, &len);
    if (!body) return 1;
    cds_hook_req rq = {body, len, header_fn, &h, now};
    cds_hook_result *res = malloc(sizeof *res);
    if (!res) abort();
    int rc;
    if (which == CDS_HOOK_PAYOS)
        rc = cds_hook_payos(&rq, getenv("CDS_PAYOS_CHECKSUM_KEY"), res);
    else if (which == CDS_HOOK_CASSO)
        rc = cds_hook_casso(&rq, getenv("CDS_CASSO_SECRET"), res);
    else
        rc = cds_hook_sepay(&rq, getenv("CDS_SEPAY_API_KEY"), getenv("CDS_SEPAY_HMAC_SECRET"), res);
    int status = 1;
    if (rc != CDS_HOOK_OK) {
        fprintf(stderr, "%s: %s: %s\n", me, cds_hook_err_code(rc), res->message);
    } else {
        json_t *txs = json_array();
        for (size_t i = 0; i < res->n; i++)
            json_array_append_new(txs, tx_json(&res->tx[i]));
        json_t *out = json_pack("{s:s,s:o,s:s}", "provider", provider, "transactions", txs,
                                "answer", cds_hook_answer(which));
        char *text = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
        if (text) {
            printf("%s\n", text);
            status = 0;
        } else {
            fprintf(stderr, "%s: out of memory\n", me);
        }
        free(text);
        json_decref(out);
    }
    free(res);
    free(body);
    return status;
}

int cds_cmd_webhook(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[2], "verify") == 0) return verify_cmd(argc - 1, argv + 1);
    if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        fputs(USAGE, stdout);
        return 0;
    }
    fputs(USAGE, stderr);
    return 2;
}
