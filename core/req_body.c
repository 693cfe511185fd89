/* Streamed request bodies (core/http.h, "streamed request bodies"): a route
 * declared with CDS_STREAMED(cap) takes its body in pieces as it arrives, so
 * an upload of any size costs the server a piece and a flow-control window.
 *
 * The protocol files feed the body in (cds_req_body_stream_append) and ask
 * for delivery (cds_req_body_deliver) when bytes arrive or the body ends.
 * The request's body buffer holds what arrived and the handler has not
 * taken; the piece the handler holds is at its front. While the handler
 * holds a piece the protocol takes no more than it must: HTTP/1.1 stops
 * parsing (the input buffer's watermark then stops reading the socket),
 * HTTP/2 stops reopening the stream's window (cds_req_body_ackable), so the
 * peer can send one window more at most.
 *
 * cds_req_body_read and cds_req_body_next never call the handler back from
 * inside themselves: they schedule the connection's body_resume on the event
 * loop, which delivers. So a handler's stack never nests its own callback,
 * and the protocol code never runs re-entered from a handler. */
#include "core/conn.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

int cds_req_body_stream_append(cds_req *r, const char *p, size_t n)
{
    if (r->early_status) return r->early_status;
    if (r->bytes_in > r->max_body) return r->early_status = 413; /* bytes_in counts these */
    if (r->body_len + n > r->body_cap) {
        size_t ncap = r->body_cap ? r->body_cap : 16384;
        while (ncap < r->body_len + n) ncap *= 2;
        char *nb = realloc(r->body, ncap);
        if (!nb) abort();
        r->body = nb;
        r->body_cap = ncap;
    }
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body_unacked += n;
    return 0;
}

int cds_req_body_room(const cds_req *r)
{
    return r->body_state == CDS_BODY_WANT && r->body_len < r->body_piece;
}

size_t cds_req_body_ackable(cds_req *r)
{
    if (r->body_state != CDS_BODY_WANT) return 0;
    /* The unacknowledged bytes are the buffer's tail; those past the piece
     * being filled stay unacknowledged. */
    size_t beyond = r->body_len > r->body_piece ? r->body_len - r->body_piece : 0;
    size_t a = r->body_unacked > beyond ? r->body_unacked - beyond : 0;
    r->body_unacked -= a;
    return a;
}

int cds_req_body_deliver(cds_req *r)
{
    if (r->responded) return -1;
    if (r->body_state != CDS_BODY_WANT || (r->body_len < r->body_piece && !r->body_ended))
        return 0;
    size_t n = r->body_len < r->body_piece ? r->body_len : r->body_piece;
    int last = r->body_ended && n == r->body_len;
    int alive = 1;
    r->body_state = last ? CDS_BODY_DONE : CDS_BODY_HELD;
    r->body_held = n;
    r->body_alive = &alive;
    r->body_cb(r, r->body ? r->body : "", n, last, r->body_arg);
    if (!alive) return -1;
    r->body_alive = NULL;
    return r->responded ? -1 : 0;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    cds_req *r = arg;
    if (!r->responded) r->conn->ops->body_resume(r);
}

static void schedule(cds_req *r)
{
    static const struct timeval now = {0, 0};
    if (!r->body_ev) r->body_ev = evtimer_new(r->conn->t->w.base, on_resume, r);
    if (!r->body_ev) abort(); /* out of memory for 100 bytes */
    evtimer_add(r->body_ev, &now);
}

static void misuse(cds_req *r, const char *what)
{
    cds_log(CDS_LOG_ERROR, "body_stream_misuse", "route %s: %s",
            r->route ? r->route->path : "-", what);
}

void cds_req_body_read(cds_req *r, size_t piece, cds_body_piece on_piece, void *arg)
{
    if (!r->body_stream || r->body_state != CDS_BODY_IDLE || piece == 0 || !on_piece) {
        misuse(r, "cds_req_body_read out of turn");
        return;
    }
    r->body_piece = piece;
    r->body_cb = on_piece;
    r->body_arg = arg;
    r->body_state = CDS_BODY_WANT;
    schedule(r);
}

void cds_req_body_next(cds_req *r)
{
    if (r->responded) return;
    if (r->body_state != CDS_BODY_HELD) {
        misuse(r, "cds_req_body_next without a piece held");
        return;
    }
    memmove(r->body, r->body + r->body_held, r->body_len - r->body_held);
    r->body_len -= r->body_held;
    r->body_held = 0;
    r->body_state = CDS_BODY_WANT;
    schedule(r);
}

void cds_req_body_refuse(cds_req *r, int status)
{
    /* The handler is not called again: its work goes, and its state is
     * released now rather than when the answer is out, so that whatever it
     * still has in flight finds it detached. */
    cds_req_abandon(r);
    if (r->user_free) r->user_free(r->user);
    r->user_free = NULL;
    r->user = NULL;
    r->body_state = CDS_BODY_DONE;
    r->dispatched = 1;
    r->early_status = status;
    cds_req_early_problem(r, status);
}

void cds_req_body_free(cds_req *r)
{
    if (r->body_alive) *r->body_alive = 0;
    if (r->body_ev) event_free(r->body_ev);
}
