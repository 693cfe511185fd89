/* Running a test's event loop until a condition holds: the tests that
 * drive core's asynchronous parts (the database pool, the outbox) on an
 * event_base of their own. */
#ifndef CDS_TEST_LOOP_H
#define CDS_TEST_LOOP_H
#include <stdbool.h>

struct event_base;
/* Runs base until pred(ctx) holds (checked every millisecond) or
 * timeout_ms passes; returns whether pred held. */
bool tl_run_until(struct event_base *base, bool (*pred)(void *ctx), void *ctx, int timeout_ms);

#endif
