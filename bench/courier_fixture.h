/* Booked VNPost shipments made straight in the database, and the signed
 * VNPost status webhooks about them: shared by cds-bench-courier (the
 * courier row of bench/run) and cds-ha-load (the courier events of
 * scripts/ha-drill). Booking is not what either measures, so it is not
 * done through the API. */
#ifndef CDS_BENCH_COURIER_FIXTURE_H
#define CDS_BENCH_COURIER_FIXTURE_H
#include <libpq-fe.h>

#define BENCH_VNPOST_DEV_SECRET "cds-dev-vnpost-webhook-secret"

/* How many citizens own the shipments (round-robin), each with a push
 * device. Every courier event writes a push row whose device_id key-shares
 * its device's row: with 100 citizens, 32 events in flight met on one device
 * 0.09 times per event, each time a multixact (bench/README, 2026-12-05,
 * write21c); real load comes from thousands of citizens. */
#define BENCH_COURIER_CITIZENS_S "1000"

/* n dossiers of `procedure` with delivery by post, moved to result_ready
 * (the trigger queues each shipment, as in production), their shipments
 * marked booked with tracking numbers "BN-<run>-<i>", i = 1..n. citizen_id
 * NULL: spread over BENCH_COURIER_CITIZENS_S citizens made for it, each with a push device;
 * otherwise all that citizen's. run: letters and digits. 0, or -1 with the
 * database's message on stderr. */
int bench_courier_prepare(PGconn *db, const char *run, const char *procedure, int n,
                          const char *citizen_id);

/* The body of event `round` (0 picked_up, 1 in_transit, 2 out_for_delivery,
 * 3 delivered with its proof of delivery) of shipment i, dated `at`
 * (RFC 3339); event id "bn-<run>-<i>-<code>". malloc'd. */
char *bench_vnpost_event(const char *run, int i, int round, const char *at);

/* X-Vnpost-Signature: hex(HMAC-SHA256(secret, timestamp "." body)). */
void bench_vnpost_sign(const char *secret, const char *ts, const char *body, char out[65]);

#endif
