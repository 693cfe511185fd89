/* payOS webhooks for the load generators (see payos_hook.h). */
#include "bench/payos_hook.h"
#include "payment/vietqr.h"
#include "payment/webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *bench_payos_webhook(json_t *intent, long long order_code, const char *bankref,
                          const char *link, const char *when, const char *key, char *ref,
                          size_t cap)
{
    const char *reference = json_string_value(json_object_get(intent, "reference"));
    json_t *amount = json_object_get(intent, "amount_vnd");
    const char *payload =
        json_string_value(json_object_get(json_object_get(intent, "vietqr"), "payload"));
    cds_vietqr_decoded *d = malloc(sizeof *d);
    if (!d) abort();
    cds_vietqr_error err;
    if (!reference || !json_is_integer(amount) || !payload ||
        cds_vietqr_decode(payload, strlen(payload), d, &err) != 0) {
        free(d);
        return NULL;
    }
    snprintf(ref, cap, "%s", reference);
    json_t *data = json_pack(
        "{s:I,s:O,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "orderCode",
        (json_int_t)order_code, "amount", amount, "description",
        d->q.purpose[0] ? d->q.purpose : reference, "accountNumber", d->q.account, "reference",
        bankref, "transactionDateTime", when, "currency", "VND", "paymentLinkId", link, "code",
        "00", "desc", "success", "counterAccountBankId", "970436", "counterAccountBankName",
        "Vietcombank", "counterAccountName", "NGUYEN VAN BENCH", "counterAccountNumber",
        "0011223344", "virtualAccountName", "", "virtualAccountNumber", "");
    free(d);
    char *dtext = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    char sig[65];
    if (!dtext || cds_hook_payos_sign(dtext, strlen(dtext), key, sig) != 0) {
        free(dtext);
        return NULL;
    }
    char *body = NULL;
    if (asprintf(&body,
                 "{\"code\":\"00\",\"desc\":\"success\",\"success\":true,\"data\":%s,"
                 "\"signature\":\"%s\"}",
                 dtext, sig) < 0)
        body = NULL;
    free(dtext);
    return body;
}
