/* `cds payments payos-confirm-webhook`: registers our webhook URL with payOS
 * as its API reference requires ("Kiểm tra và thêm hoặc cập nhật Webhook
 * url", POST /confirm-webhook {webhookUrl}): payOS sends a sample webhook
 * to the URL and records it for the channel only when it gets a 2xx (our
 * route acknowledges the sample, whose orderCode is none of ours, and
 * records nothing). For the command line: it runs its own event loop and
 * waits, which no server thread ever does. */
#include "internal.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

typedef struct confirm_wait {
    struct event_base *base;
    int done, rc;
    char *out, *err;
    size_t outcap, cap;
} confirm_wait;

static void on_confirmed(void *arg, const cds_http_response *resp)
{
    confirm_wait *w = arg;
    pm_payos_answer a;
    if (pm_payos_parse(resp, PM_PAYOS_CONFIRM, &a) == PM_PAYOS_OK) {
        snprintf(w->out, w->outcap, "%.*s", (int)resp->body_len, resp->body);
        w->rc = 0;
    } else {
        snprintf(w->err, w->cap, "%s", a.error[0] ? a.error : "payOS refused the URL");
        w->rc = -1;
    }
    w->done = 1;
    event_base_loopbreak(w->base);
}

int cds_payment_payos_confirm_webhook(const cds_payment_config *c, const char *url, char *out,
                                      size_t outcap, char *err, size_t cap)
{
    g_payment = *c;
    if (!url || !*url) url = c->payos_webhook_url;
    if (!url || !*url || !c->payos_client_id || !*c->payos_client_id || !c->payos_api_key ||
        !*c->payos_api_key || !c->payos_url) {
        snprintf(err, cap, "need the webhook URL (--url or CDS_PAYOS_WEBHOOK_URL), "
                           "CDS_PAYOS_CLIENT_ID and CDS_PAYOS_API_KEY");
        return -1;
    }
    pm_call call = {0};
    if (pm_payos_build_confirm(url, &call) != 0) {
        snprintf(err, cap, "cannot build the call (URL too long or a key on two lines?)");
        pm_call_clear(&call);
        return -1;
    }
    confirm_wait w = {event_base_new(), 0, -1, out, err, outcap, cap};
    cds_http_client *http = w.base ? cds_http_client_new(w.base) : NULL;
    cds_http_request hr = {.method = call.method,
                           .url = call.url,
                           .headers = call.headers,
                           .body = call.body,
                           .body_len = call.body_len,
                           .timeout_ms = 30000};
    if (!http || !cds_http_start(http, &hr, on_confirmed, &w)) {
        snprintf(err, cap, "cannot start the call");
    } else {
        while (!w.done && event_base_dispatch(w.base) == 0) {
        }
    }
    if (http) cds_http_client_free(http);
    if (w.base) event_base_free(w.base);
    pm_call_clear(&call);
    return w.rc;
}
