/* Casso-style bank transaction webhook, version 2 (see webhook.h for the
 * common contract).
 *
 * Body: {"error": 0, "data": {id, reference, description, amount,
 * runningBalance, transactionDateTime, accountNumber, bankName,
 * bankAbbreviation, virtualAccountNumber, virtualAccountName,
 * counterAccountName, counterAccountNumber, counterAccountBankId,
 * counterAccountBankName}} (Casso developer docs, "Thiết lập Webhook thủ
 * công", https://developer.casso.vn/webhook/thiet-lap-webhook-thu-cong, and
 * the field list of a transaction,
 * https://developer.casso.vn/tai-nguyen-khac/chi-tiet-cac-truong-cua-mot-giao-dich).
 * `data` may also be a list of such objects (the older shape); each becomes
 * a transaction. Casso reports money out as well, with a negative amount:
 * those come back as CDS_HOOK_SKIP_OUTGOING with the absolute amount.
 * The idempotency key is data.id (Casso's own transaction id; the test
 * call Casso makes when the URL is registered has id 0).
 *
 * Header: X-Casso-Signature: t=<Unix time in ms>,v1=<hex HMAC-SHA512>, the
 * MAC keyed with the webhook's secret over
 *     t "." JSON.stringify(body with every object's keys sorted)
 * i.e. JSON without spaces, keys in JavaScript's sorted order at every
 * level (objects inside arrays too), strings escaped as JSON.stringify does
 * ('/' and non-ASCII left as they are). Casso's published verification
 * sample (secret, header, body; a unit test here) checks out against this.
 * Its PHP variant serializes with json_encode, which escapes '/' and all
 * non-ASCII; when the body has either, that spelling is tried as well, so a
 * signer of either kind verifies. Both spellings are injective, and a MAC
 * still needs the secret, so this second try lets nothing new in.
 *
 * Replay window: |now - t| <= 5 minutes, checked before any JSON work.
 * Parts of the header other than t and v1 are ignored; a repeated t or v1
 * is refused. Answer: 2xx with {"success":true}. */
#include "webhook_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_MAX 512
#define TS_DIGITS_MAX 15

typedef struct casso_sig {
    const char *t;
    size_t tn;
    long long t_ms;
    unsigned char v1[64];
} casso_sig;

static int parse_header(const char *h, casso_sig *s)
{
    int have_t = 0, have_v1 = 0;
    size_t len = strnlen(h, HEADER_MAX + 1);
    if (len > HEADER_MAX) return -1;
    const char *p = h, *end = h + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        while (p < e && *p == ' ')
            p++;
        const char *q = e;
        while (q > p && q[-1] == ' ')
            q--;
        size_t n = (size_t)(q - p);
        if (n > 2 && p[0] == 't' && p[1] == '=') {
            if (have_t++ || hook_parse_uint(p + 2, n - 2, TS_DIGITS_MAX, &s->t_ms) != 0) return -1;
            s->t = p + 2;
            s->tn = n - 2;
        } else if (n > 3 && memcmp(p, "v1=", 3) == 0) {
            if (have_v1++ || hook_hex_decode(p + 3, n - 3, s->v1, sizeof s->v1) != 0) return -1;
        }
        p = comma ? comma + 1 : end;
    }
    return have_t && have_v1 ? 0 : -1;
}

/* HMAC-SHA512 over t "." canonical JSON, in the JS or PHP spelling.
 * *differs says whether the PHP spelling can differ from the JS one. */
static int mac_body(json_t *root, const char *secret, const char *t, size_t tn, int esc,
                    unsigned char mac[64], int *differs, cds_hook_result *out)
{
    cds_buf b;
    /* escaping grows text at most 6x (\u00xx for one byte) */
    cds_buf_init(&b, 6 * CDS_HOOK_BODY_MAX + 64);
    int rc = 0;
    if (hook_json_write(&b, root, -1, esc) != 0) {
        rc = hook_fail(out, CDS_HOOK_INTERNAL, "canonical JSON failed");
    } else {
        hook_part parts[3] = {{t, tn}, {".", 1}, {b.p, b.len}};
        if (hook_hmac("SHA512", secret, parts, 3, mac, 64) != 0)
            rc = hook_fail(out, CDS_HOOK_INTERNAL, "HMAC failed");
        if (differs) {
            *differs = 0;
            for (size_t i = 0; i < b.len && !*differs; i++)
                if (b.p[i] == '/' || (unsigned char)b.p[i] >= 0x80) *differs = 1;
        }
    }
    cds_buf_free(&b);
    return rc;
}

static int one_tx(json_t *d, const char *where, cds_hook_result *out)
{
    cds_hook_tx *tx = hook_tx_add(out, "casso");
    if (!tx)
        return hook_fail(out, CDS_HOOK_BAD_FIELD, "more than %d transactions in one call",
                         CDS_HOOK_TX_MAX);
    if (!json_is_object(d)) return hook_fail(out, CDS_HOOK_BAD_FIELD, "%s is not an object", where);
    int rc;
    if ((rc = hook_get_str(out, d, where, "id", HOOK_REQ | HOOK_NUM | HOOK_ID, tx->id,
                           sizeof tx->id)) ||
        (rc = hook_get_amount(out, d, where, "amount", 1, &tx->amount)) ||
        (rc = hook_get_str(out, d, where, "description", HOOK_REQ, tx->description,
                           sizeof tx->description)) ||
        (rc = hook_get_str(out, d, where, "accountNumber", HOOK_NONEMPTY, tx->account,
                           sizeof tx->account)) ||
        (rc = hook_get_str(out, d, where, "reference", 0, tx->reference, sizeof tx->reference)) ||
        (rc = hook_get_str(out, d, where, "bankName", HOOK_CUT, tx->bank_name,
                           sizeof tx->bank_name)) ||
        (rc = hook_get_time(out, d, where, "transactionDateTime", tx)) ||
        (rc = hook_get_str(out, d, where, "virtualAccountNumber", HOOK_CUT, tx->virtual_account,
                           sizeof tx->virtual_account)) ||
        (rc = hook_get_str(out, d, where, "virtualAccountName", HOOK_CUT, tx->virtual_account_name,
                           sizeof tx->virtual_account_name)) ||
        (rc = hook_get_str(out, d, where, "counterAccountName", HOOK_CUT, tx->counter_name,
                           sizeof tx->counter_name)) ||
        (rc = hook_get_str(out, d, where, "counterAccountNumber", HOOK_CUT, tx->counter_account,
                           sizeof tx->counter_account)) ||
        (rc = hook_get_str(out, d, where, "counterAccountBankId", HOOK_CUT, tx->counter_bank_bin,
                           sizeof tx->counter_bank_bin)) ||
        (rc = hook_get_str(out, d, where, "counterAccountBankName", HOOK_CUT, tx->counter_bank_name,
                           sizeof tx->counter_bank_name)))
        return rc;
    if (!tx->bank_name[0] && (rc = hook_get_str(out, d, where, "bankAbbreviation", HOOK_CUT,
                                                tx->bank_name, sizeof tx->bank_name)))
        return rc;
    if (tx->amount < 0) {
        tx->amount = -tx->amount;
        tx->direction = CDS_HOOK_OUT;
        tx->disposition = CDS_HOOK_SKIP_OUTGOING;
    }
    return 0;
}

static int normalize(json_t *root, cds_hook_result *out)
{
    json_t *err = json_object_get(root, "error"), *data = json_object_get(root, "data");
    if (err && !json_is_null(err) && !(json_is_integer(err) && json_integer_value(err) == 0))
        return hook_fail(out, CDS_HOOK_BAD_FIELD, "error is not 0");
    if (!data || json_is_null(data))
        return hook_fail(out, CDS_HOOK_MISSING_FIELD, "data is missing");
    if (json_is_object(data)) return one_tx(data, "data", out);
    if (!json_is_array(data)) return hook_fail(out, CDS_HOOK_BAD_FIELD, "data is not an object");
    if (json_array_size(data) == 0) return hook_fail(out, CDS_HOOK_MISSING_FIELD, "data is empty");
    size_t i;
    json_t *d;
    json_array_foreach(data, i, d)
    {
        char where[32];
        snprintf(where, sizeof where, "data[%zu]", i);
        int rc = one_tx(d, where, out);
        if (rc) return rc;
    }
    return 0;
}

int cds_hook_casso(const cds_hook_req *rq, const char *secret, cds_hook_result *out)
{
    casso_sig s;
    unsigned char want[64];
    hook_result_init(out, CDS_HOOK_CASSO);
    if (!hook_secret_ok(secret))
        return hook_fail(out, CDS_HOOK_NOT_CONFIGURED, "no Casso webhook secret configured");
    if (rq->body_len > CDS_HOOK_BODY_MAX)
        return hook_fail(out, CDS_HOOK_TOO_LARGE, "body of %zu bytes (max %d)", rq->body_len,
                         CDS_HOOK_BODY_MAX);
    const char *h = hook_header(rq, "x-casso-signature");
    if (!h) return hook_fail(out, CDS_HOOK_NO_AUTH, "no X-Casso-Signature header");
    if (parse_header(h, &s) != 0)
        return hook_fail(out, CDS_HOOK_NO_AUTH,
                         "X-Casso-Signature is not t=<ms>,v1=<128 hex digits>");
    long long now_ms = (long long)rq->now * 1000, d = now_ms - s.t_ms;
    if (d > CDS_HOOK_WINDOW_S * 1000LL || d < -CDS_HOOK_WINDOW_S * 1000LL)
        return hook_fail(out, CDS_HOOK_STALE_TIMESTAMP, "t is %lld ms away from our clock", d);
    json_t *root = hook_load(rq->body, rq->body_len, out);
    if (!root) return out->error;
    int differs = 0, rc = mac_body(root, secret, s.t, s.tn, HOOK_ESC_JS, want, &differs, out);
    int ok = rc == 0 && hook_mac_equal(s.v1, want, sizeof want);
    if (rc == 0 && !ok && differs) {
        rc = mac_body(root, secret, s.t, s.tn, HOOK_ESC_PHP, want, NULL, out);
        ok = rc == 0 && hook_mac_equal(s.v1, want, sizeof want);
    }
    if (rc == 0 && !ok) rc = hook_fail(out, CDS_HOOK_BAD_SIGNATURE, "v1 does not match the body");
    if (rc == 0) rc = normalize(root, out);
    json_decref(root);
    return rc;
}

int cds_hook_casso_sign(const char *body, size_t len, const char *secret, long long t_ms, char *out,
                        size_t cap)
{
    unsigned char mac[64];
    char t[24], hex[129];
    if (cap) out[0] = 0;
    if (!hook_secret_ok(secret)) return CDS_HOOK_NOT_CONFIGURED;
    if (t_ms < 0) return CDS_HOOK_BAD_FIELD;
    int tn = snprintf(t, sizeof t, "%lld", t_ms);
    cds_hook_result *r = malloc(sizeof *r);
    if (!r) return CDS_HOOK_INTERNAL;
    hook_result_init(r, CDS_HOOK_CASSO);
    json_t *root = hook_load(body, len, r);
    int rc = root ? mac_body(root, secret, t, (size_t)tn, HOOK_ESC_JS, mac, NULL, r) : r->error;
    if (rc == 0) {
        hook_hex_encode(mac, sizeof mac, hex);
        int k = snprintf(out, cap, "t=%s,v1=%s", t, hex);
        if (k < 0 || (size_t)k >= cap) rc = CDS_HOOK_INTERNAL;
    }
    json_decref(root);
    free(r);
    return rc;
}
