/* tl_run_until (tests/lib/loop.h): a persistent 1 ms timer checks the
 * condition and a one-shot timer ends the wait; either breaks the loop. */
#include "tests/lib/loop.h"

#include <event2/event.h>

typedef struct {
    struct event_base *base;
    bool (*pred)(void *ctx);
    void *ctx;
    bool met;
} waiter;

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    waiter *w = arg;
    if (w->pred(w->ctx)) {
        w->met = true;
        event_base_loopbreak(w->base);
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

bool tl_run_until(struct event_base *base, bool (*pred)(void *ctx), void *ctx, int timeout_ms)
{
    waiter w = {base, pred, ctx, false};
    if (pred(ctx)) return true;
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, &w);
    struct event *dl = evtimer_new(base, on_deadline, base);
    struct timeval t1 = {0, 1000}, t2 = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    event_add(tick, &t1);
    event_add(dl, &t2);
    event_base_dispatch(base);
    event_free(tick);
    event_free(dl);
    return w.met || pred(ctx);
}
