/* payOS-style payment webhook (see webhook.h for the common contract).
 *
 * The call is a POST of {code, desc, success, data, signature}. Only `data`
 * is signed: signature = hex HMAC-SHA256(checksum key, S) where S is data's
 * fields sorted by key, written key=value and joined with '&' (payOS docs,
 * "Kiểm tra dữ liệu với signature",
 * https://payos.vn/docs/tich-hop-webhook/kiem-tra-du-lieu-voi-signature/).
 * How each value is written follows payOS's published Node.js SDK, which is
 * what signs: null (and the strings "null", "undefined") as "", a string as
 * is (no escaping: '&' and '=' inside values stay), numbers as JavaScript
 * prints them, true/false, an array as JSON.stringify of its elements each
 * with its top-level keys sorted ("[]" when empty), any other object as
 * "[object Object]". Arrays of non-objects are refused as a bad field:
 * JavaScript would turn a string element into an object of its letters,
 * and no webhook carries one. The webhook's fields today are all strings,
 * numbers and nulls, so none of the array rules is exercised by payOS yet.
 *
 * The top-level code/desc/success are not signed, so nothing is decided
 * from them: data.code "00" means success (anything else: reported as
 * CDS_HOOK_SKIP_FAILED). payOS sends no timestamp: a replayed call is a
 * retry, made harmless by the idempotency key
 *   id = data.paymentLinkId ":" data.reference
 * (the payment link and the bank's reference of the transfer into it).
 * data.orderCode goes to tx->code. payOS only reports money coming in.
 *
 * Answer: HTTP 200 with {"success":true} (the response sample of payOS's
 * webhook reference, https://payos.vn/docs/du-lieu-tra-ve/webhook/); when
 * the URL is registered payOS sends a sample call that must get a 2xx too. */
#include "webhook_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINK_ID_MAX 48

/* S for the signature: see the file comment. */
static int data_string(json_t *data, cds_buf *b, cds_hook_result *out)
{
    size_t n;
    char num[48];
    const char **keys = hook_object_keys(data, 1, &n);
    if (!keys) return hook_fail(out, CDS_HOOK_INTERNAL, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *v = json_object_get(data, keys[i]);
        if (i) cds_buf_add(b, "&", 1);
        cds_buf_adds(b, keys[i]);
        cds_buf_add(b, "=", 1);
        switch (json_typeof(v)) {
        case JSON_STRING: {
            const char *s = json_string_value(v);
            if (strcmp(s, "null") != 0 && strcmp(s, "undefined") != 0)
                cds_buf_add(b, s, json_string_length(v));
            break;
        }
        case JSON_INTEGER:
        case JSON_REAL:
            if (json_is_integer(v))
                snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            else
                hook_js_number(json_real_value(v), num, sizeof num);
            cds_buf_adds(b, num);
            break;
        case JSON_TRUE:
            cds_buf_adds(b, "true");
            break;
        case JSON_FALSE:
            cds_buf_adds(b, "false");
            break;
        case JSON_OBJECT:
            cds_buf_adds(b, "[object Object]");
            break;
        case JSON_ARRAY: {
            size_t j;
            json_t *e;
            cds_buf_add(b, "[", 1);
            json_array_foreach(v, j, e)
            {
                if (!json_is_object(e)) {
                    rc = hook_fail(out, CDS_HOOK_BAD_FIELD,
                                   "data.%.60s: array elements must be objects", keys[i]);
                    break;
                }
                if (j) cds_buf_add(b, ",", 1);
                hook_json_write(b, e, 1, HOOK_ESC_JS);
            }
            cds_buf_add(b, "]", 1);
            break;
        }
        default:
            break; /* null */
        }
    }
    free(keys);
    if (rc == 0 && b->err) rc = hook_fail(out, CDS_HOOK_TOO_LARGE, "signed data too large");
    return rc;
}

static int mac_data(json_t *data, const char *key, unsigned char mac[32], cds_hook_result *out)
{
    cds_buf b;
    cds_buf_init(&b, 4 * CDS_HOOK_BODY_MAX);
    int rc = data_string(data, &b, out);
    if (rc == 0) {
        hook_part part = {b.p ? b.p : "", b.len};
        if (hook_hmac("SHA256", key, &part, 1, mac, 32) != 0)
            rc = hook_fail(out, CDS_HOOK_INTERNAL, "HMAC failed");
    }
    cds_buf_free(&b);
    return rc;
}

int hook_payos_data_mac(json_t *data, const char *key, unsigned char mac[32])
{
    cds_hook_result *r = malloc(sizeof *r);
    if (!r) return CDS_HOOK_INTERNAL;
    hook_result_init(r, CDS_HOOK_PAYOS);
    int rc = mac_data(data, key, mac, r);
    free(r);
    return rc;
}

static int normalize(json_t *data, cds_hook_result *out)
{
    char link[LINK_ID_MAX + 1], status[8], currency[8];
    cds_hook_tx *tx = hook_tx_add(out, "payos");
    int rc;
    if ((rc = hook_get_str(out, data, "data", "paymentLinkId", HOOK_NONEMPTY | HOOK_ID, link,
                           sizeof link)) ||
        (rc = hook_get_str(out, data, "data", "reference", HOOK_ID, tx->reference,
                           sizeof tx->reference)) ||
        (rc = hook_get_amount(out, data, "data", "amount", 0, &tx->amount)) ||
        (rc = hook_get_str(out, data, "data", "code", HOOK_NONEMPTY, status, sizeof status)) ||
        (rc = hook_get_str(out, data, "data", "currency", 0, currency, sizeof currency)) ||
        (rc = hook_get_str(out, data, "data", "orderCode", HOOK_REQ | HOOK_NUM | HOOK_ID, tx->code,
                           sizeof tx->code)) ||
        (rc = hook_get_str(out, data, "data", "description", HOOK_REQ, tx->description,
                           sizeof tx->description)) ||
        (rc = hook_get_str(out, data, "data", "accountNumber", HOOK_NONEMPTY, tx->account,
                           sizeof tx->account)) ||
        (rc = hook_get_time(out, data, "data", "transactionDateTime", tx)) ||
        (rc = hook_get_str(out, data, "data", "counterAccountBankId", HOOK_CUT,
                           tx->counter_bank_bin, sizeof tx->counter_bank_bin)) ||
        (rc = hook_get_str(out, data, "data", "counterAccountBankName", HOOK_CUT,
                           tx->counter_bank_name, sizeof tx->counter_bank_name)) ||
        (rc = hook_get_str(out, data, "data", "counterAccountName", HOOK_CUT, tx->counter_name,
                           sizeof tx->counter_name)) ||
        (rc = hook_get_str(out, data, "data", "counterAccountNumber", HOOK_CUT, tx->counter_account,
                           sizeof tx->counter_account)) ||
        (rc = hook_get_str(out, data, "data", "virtualAccountNumber", HOOK_CUT, tx->virtual_account,
                           sizeof tx->virtual_account)) ||
        (rc = hook_get_str(out, data, "data", "virtualAccountName", HOOK_CUT,
                           tx->virtual_account_name, sizeof tx->virtual_account_name)))
        return rc;
    if (currency[0] && strcmp(currency, "VND") != 0)
        return hook_fail(out, CDS_HOOK_BAD_FIELD, "data.currency is not VND");
    int k = snprintf(tx->id, sizeof tx->id, "%s:%s", link, tx->reference);
    if (k < 0 || (size_t)k >= sizeof tx->id)
        return hook_fail(out, CDS_HOOK_BAD_FIELD, "data.paymentLinkId + reference too long");
    tx->direction = CDS_HOOK_IN;
    tx->disposition = strcmp(status, "00") == 0 ? CDS_HOOK_CREDIT : CDS_HOOK_SKIP_FAILED;
    return 0;
}

int cds_hook_payos(const cds_hook_req *rq, const char *checksum_key, cds_hook_result *out)
{
    unsigned char got[32], want[32];
    hook_result_init(out, CDS_HOOK_PAYOS);
    if (!hook_secret_ok(checksum_key))
        return hook_fail(out, CDS_HOOK_NOT_CONFIGURED, "no payOS checksum key configured");
    json_t *root = hook_load(rq->body, rq->body_len, out);
    if (!root) return out->error;
    int rc;
    json_t *sig = json_object_get(root, "signature"), *data = json_object_get(root, "data");
    if (!json_is_string(sig))
        rc = hook_fail(out, CDS_HOOK_NO_AUTH, "signature is missing or not a string");
    else if (hook_hex_decode(json_string_value(sig), json_string_length(sig), got, 32) != 0)
        rc = hook_fail(out, CDS_HOOK_NO_AUTH, "signature is not 64 hex digits");
    else if (!data || json_is_null(data))
        rc = hook_fail(out, CDS_HOOK_MISSING_FIELD, "data is missing");
    else if (!json_is_object(data))
        rc = hook_fail(out, CDS_HOOK_BAD_FIELD, "data is not an object");
    else if ((rc = mac_data(data, checksum_key, want, out)) == 0 &&
             !hook_mac_equal(got, want, sizeof want))
        rc = hook_fail(out, CDS_HOOK_BAD_SIGNATURE, "signature does not match data");
    if (rc == 0) rc = normalize(data, out);
    json_decref(root);
    return rc;
}

int cds_hook_payos_sign(const char *data_json, size_t len, const char *checksum_key, char out[65])
{
    unsigned char mac[32];
    out[0] = 0;
    if (!hook_secret_ok(checksum_key)) return CDS_HOOK_NOT_CONFIGURED;
    cds_hook_result *r = malloc(sizeof *r);
    if (!r) return CDS_HOOK_INTERNAL;
    hook_result_init(r, CDS_HOOK_PAYOS);
    json_t *data = hook_load(data_json, len, r);
    int rc = data ? mac_data(data, checksum_key, mac, r) : r->error;
    if (rc == 0) hook_hex_encode(mac, sizeof mac, out);
    json_decref(data);
    free(r);
    return rc;
}
