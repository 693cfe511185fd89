/* The stand-ins' own signing of what payment providers sign, from each
 * provider's document (not from payment/webhook*.c):
 *
 *  - payOS, "Kiểm tra dữ liệu với signature"
 *    (https://payos.vn/docs/tich-hop-webhook/kiem-tra-du-lieu-voi-signature/):
 *    HMAC-SHA256 with the checksum key over the data object's fields sorted
 *    by key, written key=value and joined with '&'; the payOS Node.js SDK
 *    (github.com/payOSHQ/payos-lib-node, src/crypto/node-crypto.ts) writes
 *    null as "", numbers as JavaScript does, arrays as JSON.stringify. The
 *    payment-request signature is "amount=$amount&cancelUrl=$cancelUrl&
 *    description=$description&orderCode=$orderCode&returnUrl=$returnUrl"
 *    (payOS API reference, "Tạo link thanh toán", field signature).
 *  - Casso, webhook v2 ("Thiết lập Webhook thủ công",
 *    https://developer.casso.vn/webhook/thiet-lap-webhook-thu-cong):
 *    X-Casso-Signature: t=<ms>,v1=<hex HMAC-SHA512 of t "." the JSON body
 *    with its keys sorted>.
 *  - SePay, webhook HMAC: X-SePay-Signature: sha256=<hex HMAC-SHA256 of
 *    timestamp "." raw body>, with X-SePay-Timestamp.
 *  - The TTHC system's partner calls (ours and theirs), as openapi.yaml's
 *    securitySchemes.partnerHmac documents them: X-Signature = hex
 *    HMAC-SHA256(secret, METHOD "\n" PATH?QUERY "\n" TIMESTAMP "\n" hex
 *    SHA-256(body)), the stand-in's own code (not core/hmac_auth.c). */
#include "sim/witness.h"

#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sim_hmac_hex(const char *alg, const char *key, const void *data, size_t len, char *out)
{
    const EVP_MD *md = strcmp(alg, "sha512") == 0 ? EVP_sha512() : EVP_sha256();
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    out[0] = 0;
    if (!HMAC(md, key, (int)strlen(key), data, len, mac, &n)) return -1;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

/* A JSON number as JavaScript's String(n) writes it. */
static void js_number(json_t *v, char *out, size_t cap)
{
    if (json_is_integer(v)) {
        snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    }
    double d = json_real_value(v);
    if (d == floor(d) && fabs(d) < 1e21) {
        snprintf(out, cap, "%.0f", d);
        return;
    }
    char t[40];
    for (int p = 1; p <= 17; p++) { /* the shortest text that reads back the same */
        snprintf(t, sizeof t, "%.*g", p, d);
        if (strtod(t, NULL) == d) break;
    }
    char *e = strchr(t, 'e'); /* C: 1e+21, 1.5e-07; JavaScript: 1e+21, 1.5e-7 */
    if (e) {
        char sign = e[1];
        long x = strtol(e + 2, NULL, 10);
        *e = 0;
        snprintf(out, cap, "%se%c%ld", t, sign, x);
    } else {
        snprintf(out, cap, "%s", t);
    }
}

char *sim_payos_sorted_text(json_t *obj)
{
    size_t n = json_object_size(obj), i = 0, len = 1;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    const char *k;
    json_t *v;
    if (!keys) return NULL;
    json_object_foreach(obj, k, v) keys[i++] = k;
    /* byte order equals UTF-16 order for the ASCII keys providers use */
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
            const char *x = keys[b];
            keys[b] = keys[b - 1];
            keys[b - 1] = x;
        }
    char **vals = calloc(n ? n : 1, sizeof *vals);
    if (!vals) {
        free(keys);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        char num[48];
        v = json_object_get(obj, keys[i]);
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            vals[i] = strdup(strcmp(s, "null") == 0 || strcmp(s, "undefined") == 0 ? "" : s);
        } else if (json_is_number(v)) {
            js_number(v, num, sizeof num);
            vals[i] = strdup(num);
        } else if (json_is_true(v) || json_is_false(v)) {
            vals[i] = strdup(json_is_true(v) ? "true" : "false");
        } else if (json_is_array(v) || json_is_object(v)) {
            vals[i] = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        } else {
            vals[i] = strdup("");
        }
        len += strlen(keys[i]) + (vals[i] ? strlen(vals[i]) : 0) + 2;
    }
    char *out = malloc(len);
    size_t o = 0;
    if (out) out[0] = 0;
    for (i = 0; out && i < n; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s=%s", i ? "&" : "", keys[i],
                              vals[i] ? vals[i] : "");
    for (i = 0; i < n; i++) free(vals[i]);
    free(vals);
    free(keys);
    return out;
}

int sim_payos_sign_object(json_t *obj, const char *key, char out[65])
{
    char *text = sim_payos_sorted_text(obj);
    if (!text) return -1;
    int rc = sim_hmac_hex("sha256", key, text, strlen(text), out);
    free(text);
    return rc;
}

int sim_payos_sign_request(long long amount, const char *cancel_url, const char *description,
                           long long order_code, const char *return_url, const char *key,
                           char out[65])
{
    size_t cap = strlen(cancel_url) + strlen(description) + strlen(return_url) + 128;
    char *text = malloc(cap);
    if (!text) return -1;
    snprintf(text, cap, "amount=%lld&cancelUrl=%s&description=%s&orderCode=%lld&returnUrl=%s",
             amount, cancel_url, description, order_code, return_url);
    int rc = sim_hmac_hex("sha256", key, text, strlen(text), out);
    free(text);
    return rc;
}

int sim_casso_signature(const char *body, size_t len, const char *secret, long long t_ms,
                        char *out, size_t cap)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    char *sorted = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (!sorted) return -1;
    size_t n = strlen(sorted) + 32;
    char *text = malloc(n), hex[129];
    int rc = -1;
    if (text) {
        snprintf(text, n, "%lld.%s", t_ms, sorted);
        rc = sim_hmac_hex("sha512", secret, text, strlen(text), hex);
        if (rc == 0) snprintf(out, cap, "t=%lld,v1=%s", t_ms, hex);
    }
    free(text);
    free(sorted);
    return rc;
}

int sim_sepay_signature(const char *body, size_t len, const char *secret, long long ts,
                        char out[80])
{
    char head[32], hex[129];
    int hn = snprintf(head, sizeof head, "%lld.", ts);
    char *text = malloc((size_t)hn + len + 1);
    if (!text) return -1;
    memcpy(text, head, (size_t)hn);
    memcpy(text + hn, body, len);
    int rc = sim_hmac_hex("sha256", secret, text, (size_t)hn + len, hex);
    free(text);
    if (rc == 0) snprintf(out, 80, "sha256=%.64s", hex);
    return rc;
}

int sim_partner_signature(const char *secret, const char *method, const char *path_and_query,
                          const char *timestamp, const void *body, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned mdlen = 0;
    char body_hex[65];
    out[0] = 0;
    if (EVP_Digest(body ? body : "", body ? len : 0, md, &mdlen, EVP_sha256(), NULL) != 1)
        return -1;
    for (unsigned i = 0; i < mdlen; i++) snprintf(body_hex + 2 * i, 3, "%02x", md[i]);
    size_t n = strlen(method) + strlen(path_and_query) + strlen(timestamp) + 64 + 4;
    char *text = malloc(n);
    if (!text) return -1;
    int tn = snprintf(text, n, "%s\n%s\n%s\n%s", method, path_and_query, timestamp, body_hex);
    char hex[129];
    int rc = tn > 0 && (size_t)tn < n ? sim_hmac_hex("sha256", secret, text, (size_t)tn, hex) : -1;
    free(text);
    if (rc == 0) snprintf(out, 65, "%.64s", hex);
    return rc;
}
