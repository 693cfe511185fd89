/* A carrier call in flight for an outbox row (booking.c's bookings,
 * requests.c's cancel and re-poll calls): its request as the adapter built
 * it, the HTTP call and the database query it waits for, dropped together
 * when the thread stops. */
#include "internal.h"

int dl_call_send(dl_call *c, cds_http_client *http, cds_http_cb cb)
{
    cds_http_request hr = {.method = c->req.method,
                           .url = c->req.url,
                           .headers = (const char *const *)c->req.headers,
                           .body = c->req.body,
                           .body_len = c->req.body_len,
                           .timeout_ms = g_delivery.call_timeout_ms};
    c->call = cds_http_start(http, &hr, cb, c);
    return c->call ? 0 : -1;
}

void dl_call_cancel(cds_outbox_row *row)
{
    dl_call *c = (dl_call *)row;
    if (c->call) cds_http_cancel(c->call);
    if (c->q) cds_db_cancel(c->q);
    c->call = NULL;
    c->q = NULL;
}
