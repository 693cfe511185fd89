/* The notification claim (cds_outbox_claim, db/functions/notify.sql) on a
 * queue with many text messages per dossier, against a real PostgreSQL with
 * the full schema; counts only, no timing.
 *
 * One text message (SMS or ZNS) per dossier on its way at a time, oldest
 * first: a claim returns a full batch of messages it can send (the oldest
 * live one of each dossier with none on its way), never fewer because the
 * others of those dossiers were due too, and leaves those others untouched
 * (no attempt, no claimer, no new due time). Issue 21: when they took their
 * share of the limit and were pushed back 50 ms, a claim of 64 over five
 * messages per dossier came back with 13, the dispatcher took the short
 * answer for an empty queue and waited for its poll (141 msg/s).
 *
 * The others are parked at insert (0036_outbox_parked.sql: out of the due
 * index, so a claim's scan never walks past them). Then: the record of
 * those sent makes each dossier's next one due (promotion); an older one
 * backing off after a temporary failure keeps the newer ones of its dossier
 * parked; messages without a dossier and pushes are never held back by a
 * dossier's text messages. A promotion lost (a head ended by hand) is made
 * by the sweeper; a step writing a message while its dossier's head is
 * being recorded is serialized with the record (the dossier's advisory
 * lock): the message ends due, never parked behind nothing.
 *
 * A delivery receipt for an SMS whose result is being recorded (the record's
 * transaction holds the row) is answered not_ready at once, never waits: a
 * receipts batch waiting there with rows of its own locked, while the record
 * waited for one of them, was a deadlock failing both (bench/run notify). */
#include "core/migrate.h"
#include "tests/lib/harness.h"
#include "tests/lib/t.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DOSSIERS 100
#define PER_DOSSIER 5

static char *db;

#define count(...) th_db_count(db, __VA_ARGS__)

/* Claims up to `limit` rows of every channel (no SMS limit) into table
 * `into` (created); returns how many. */
static long claim(const char *into, int limit)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TABLE %s AS SELECT c.id, c.channel, c.attempts, c.dossier_id "
             "FROM cds_outbox_claim('test-claim', %d, '{sms,zns,push}', 0, 3600) c",
             into, limit);
    if (th_db_exec(db, sql) != 0) return -1;
    return count("SELECT count(*) FROM %s", into);
}

/* Records every row of `from` with `status` (pending for text, sent for
 * push when status is NULL); returns what cds_outbox_record changed. */
static long record(const char *from, const char *status)
{
    char st[64];
    if (status) snprintf(st, sizeof st, "'%s'", status);
    else snprintf(st, sizeof st, "CASE WHEN f.channel = 'push' THEN 'sent' ELSE 'pending' END");
    return count("SELECT cds_outbox_record(COALESCE((SELECT jsonb_agg(jsonb_build_object("
                 "'id', f.id, 'attempt', f.attempts, 'status', %s, 'provider', 'esms', "
                 "'provider_message_id', 'm-' || f.id, 'retry_ms', 3600000)) FROM %s f), '[]'))",
                 st, from);
}

static void fill(void)
{
    /* Citizens and dossiers are not what the claim reads: the rows stand
     * alone (the outbox has no foreign keys to them, 0005). Dossier-major
     * order with one due time, as a burst of steps queues them: the first
     * of each dossier is due, the four others parked by the insert
     * trigger. */
    CHECK_INT(th_db_exec(db,
                         "INSERT INTO outbox (channel, citizen_id, dossier_id, template, "
                         "recipient_sealed, next_attempt_at) "
                         "SELECT CASE WHEN k % 3 = 0 THEN 'zns' ELSE 'sms' END, "
                         "md5('c' || k)::uuid, md5('d' || k)::uuid, 'received', 'sealed', "
                         "'2026-01-01 00:00:00+00' "
                         "FROM generate_series(1, 100) k, generate_series(1, 5) m ORDER BY k, m; "
                         "INSERT INTO outbox (channel, citizen_id, dossier_id, template, "
                         "recipient_sealed, next_attempt_at) "
                         "SELECT 'sms', md5('c' || k)::uuid, NULL, 'otp', 'sealed', "
                         "'2026-01-01 00:00:01+00' FROM generate_series(1, 3) k; "
                         "INSERT INTO outbox (channel, citizen_id, dossier_id, template, "
                         "next_attempt_at) "
                         "SELECT 'push', md5('c' || k)::uuid, md5('d' || k)::uuid, 'received', "
                         "'2026-01-01 00:00:01+00' FROM generate_series(1, 3) k"),
              0);
    CHECK_INT(count("SELECT count(*) FROM outbox"), DOSSIERS * PER_DOSSIER + 6);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE parked AND next_attempt_at IS NULL "
                    "AND status = 'created'"),
              DOSSIERS * (PER_DOSSIER - 1));
    /* the one due per dossier is its oldest */
    CHECK_INT(count("SELECT count(*) FROM outbox o WHERE NOT o.parked AND o.dossier_id IS NOT NULL "
                    "AND o.channel IN ('sms', 'zns') AND o.id <> (SELECT min(x.id) FROM outbox x "
                    "WHERE x.dossier_id = o.dossier_id AND x.channel IN ('sms', 'zns'))"),
              0);
}

/* Each dossier's text messages still queued: the oldest one alone may be
 * due or on its way, the newer ones are parked (no overtaking). */
static void check_parked(void)
{
    CHECK_INT(count("SELECT count(*) FROM outbox o WHERE o.channel IN ('sms', 'zns') "
                    "AND o.dossier_id IS NOT NULL AND NOT o.parked "
                    "AND o.status IN ('created', 'temporary-failure', 'sending') "
                    "AND EXISTS (SELECT 1 FROM outbox x WHERE x.dossier_id = o.dossier_id "
                    "AND x.channel IN ('sms', 'zns') AND x.id < o.id "
                    "AND x.status IN ('created', 'temporary-failure', 'sending'))"),
              0);
    CHECK_INT(count("SELECT count(*) FROM outbox o WHERE o.parked AND NOT EXISTS ("
                    "SELECT 1 FROM outbox x WHERE x.dossier_id = o.dossier_id "
                    "AND x.channel IN ('sms', 'zns') AND x.id < o.id "
                    "AND x.status IN ('created', 'temporary-failure', 'sending'))"),
              0);
}

/* Every row of `t` is the oldest live text message of its dossier, one per
 * dossier, and no other text message of its dossier is on its way. */
static void check_in_order(const char *t)
{
    CHECK_INT(count("SELECT count(*) - count(DISTINCT dossier_id) FROM %s "
                    "WHERE channel IN ('sms', 'zns') AND dossier_id IS NOT NULL", t),
              0);
    CHECK_INT(count("SELECT count(*) FROM %s c JOIN outbox o ON o.dossier_id = c.dossier_id "
                    "WHERE c.channel IN ('sms', 'zns') AND o.channel IN ('sms', 'zns') "
                    "AND o.id <> c.id AND (o.status = 'sending' OR "
                    "(o.id < c.id AND o.status IN ('created', 'temporary-failure')))",
                    t),
              0);
}

/* Dossiers whose oldest text message still queued is due and not on its
 * way: what a claim can take, counted here independently of the claim. */
static long eligible(void)
{
    return count("SELECT count(*) FROM (SELECT DISTINCT ON (dossier_id) status, next_attempt_at "
                 "FROM outbox WHERE channel IN ('sms', 'zns') AND dossier_id IS NOT NULL "
                 "AND status IN ('created', 'temporary-failure', 'sending') "
                 "ORDER BY dossier_id, id) h "
                 "WHERE h.status <> 'sending' AND h.next_attempt_at <= now()");
}

/* The text messages not claimed are as queued: no attempt, no claimer,
 * parked or due. */
static void check_untouched(void)
{
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE status = 'created' AND "
                    "channel IN ('sms', 'zns') AND dossier_id IS NOT NULL AND (attempts <> 0 "
                    "OR claimed_by IS NOT NULL OR (parked = (next_attempt_at IS NOT NULL)))"),
              0);
    check_parked();
}

/* A delivered receipt for the SMS of table s1, naming it by our id (by_id)
 * or the gateway's: its status (malloc). */
static char *receipt(int by_id)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SET lock_timeout = '60s'; SELECT status FROM cds_outbox_receipt('esms', %s, %s, "
             "'delivered', NULL)",
             by_id ? "NULL" : "'m-' || (SELECT max(id) FROM s1)",
             by_id ? "(SELECT max(id) FROM s1)" : "NULL");
    char *v = th_db_value(db, sql);
    return v ? v : strdup("");
}

/* The same receipts in a batch, as the server applies them
 * (cds_outbox_receipts): `which` is "ours", "theirs" or "both" (one item
 * each way, for the same SMS), each reporting `status`; the items'
 * statuses in item order, joined by commas (malloc). */
static char *receipts_as(const char *which, const char *status)
{
    char sql[1024], ours[256], theirs[256];
    snprintf(ours, sizeof ours,
             "jsonb_build_object('i', 0, 'provider', 'esms', 'outbox_id', "
             "(SELECT max(id) FROM s1), 'status', '%s')", status);
    snprintf(theirs, sizeof theirs,
             "jsonb_build_object('i', 1, 'provider', 'esms', 'message_id', "
             "'m-' || (SELECT max(id) FROM s1), 'status', '%s')", status);
    snprintf(sql, sizeof sql,
             "SET lock_timeout = '60s'; SELECT string_agg(status, ',' ORDER BY item) FROM "
             "cds_outbox_receipts(jsonb_build_array(%s%s%s))",
             strcmp(which, "theirs") ? ours : theirs, strcmp(which, "both") ? "" : ", ",
             strcmp(which, "both") ? "" : theirs);
    char *v = th_db_value(db, sql);
    return v ? v : strdup("");
}

static char *receipts(const char *which)
{
    return receipts_as(which, "delivered");
}

/* A promotion lost (the backing-off head of c2a's dossier ended by hand,
 * not by cds_outbox_record): its dossier's line holds only parked messages
 * and no claim takes them, until the sweeper makes the oldest due. */
static void test_sweeper_promotes(void)
{
    CHECK_INT(th_db_exec(db, "UPDATE outbox SET status = 'permanent-failure', "
                             "next_attempt_at = NULL WHERE id = (SELECT id FROM c2a)"),
              0);
    CHECK_INT(claim("w0", 64), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox o JOIN c2a USING (dossier_id) WHERE o.parked"),
              PER_DOSSIER - 1);
    CHECK_INT(count("SELECT cds_outbox_sweep('1 hour', 5)"), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox o JOIN c2a USING (dossier_id) WHERE o.parked"),
              PER_DOSSIER - 2);
    CHECK_INT(claim("w1", 64), 1);
    CHECK_INT(count("SELECT count(*) FROM w1 WHERE id = (SELECT min(o.id) FROM outbox o "
                    "JOIN c2a USING (dossier_id) WHERE o.id > c2a.id)"),
              1);
    /* a second sweep finds it on its way: nothing more is due */
    CHECK_INT(count("SELECT cds_outbox_sweep('1 hour', 5)"), 0);
    CHECK_INT(claim("w2", 64), 0);
    CHECK_INT(record("w1", NULL), 1);
    check_parked();
    /* the rest of that dossier, one at a time, in order */
    for (int i = 0; i < PER_DOSSIER - 2; i++) {
        char t[16];
        snprintf(t, sizeof t, "w%d", 3 + i);
        CHECK_INT(claim(t, 64), 1);
        CHECK_INT(count("SELECT count(*) FROM %s WHERE id = (SELECT min(o.id) FROM outbox o "
                        "JOIN c2a USING (dossier_id) WHERE o.status = 'sending')", t),
                  1);
        CHECK_INT(record(t, NULL), 1);
        check_parked();
    }
    CHECK_INT(claim("w9", 64), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE parked"), 0);
}

/* The race the dossier's lock closes: a step writes a text message (parked:
 * the head is on its way) and, before it commits, the head's result is
 * recorded. The record waits for the step's lock, then sees the parked
 * message and makes it due; it is never left parked behind nothing. */
static void test_insert_record_race(void)
{
    CHECK_INT(th_db_exec(db, "INSERT INTO outbox (channel, citizen_id, dossier_id, template, "
                             "recipient_sealed) VALUES ('sms', md5('race')::uuid, "
                             "md5('race-d')::uuid, 'received', 'sealed')"),
              0);
    CHECK_INT(claim("r1", 64), 1);
    PGconn *a = PQconnectdb(db), *b = PQconnectdb(db);
    CHECK(PQstatus(a) == CONNECTION_OK && PQstatus(b) == CONNECTION_OK);
    PGresult *r = PQexec(a, "BEGIN; INSERT INTO outbox (channel, citizen_id, dossier_id, "
                            "template, recipient_sealed) VALUES ('sms', md5('race')::uuid, "
                            "md5('race-d')::uuid, 'fee_requested', 'sealed') "
                            "RETURNING parked");
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "t") == 0);
    PQclear(r);
    long id = count("SELECT id FROM r1");
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT cds_outbox_record(jsonb_build_array(jsonb_build_object('id', %ld, "
             "'attempt', 1, 'status', 'pending', 'provider', 'esms', 'provider_message_id', "
             "'m-%ld')))",
             id, id);
    CHECK(PQsendQuery(b, sql) == 1);
    /* the record waits for the step's dossier lock (bounded poll, no timing
     * asserted) */
    long waiting = 0;
    for (int i = 0; i < 2000 && waiting == 0; i++) {
        waiting = count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND NOT granted AND pid = %d",
                        PQbackendPID(b));
        if (waiting == 0) {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
    }
    CHECK_INT(waiting, 1);
    r = PQexec(a, "COMMIT");
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    r = PQgetResult(b);
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "1") == 0);
    PQclear(r);
    while ((r = PQgetResult(b))) PQclear(r);
    PQfinish(a);
    PQfinish(b);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE dossier_id = md5('race-d')::uuid "
                    "AND template = 'fee_requested' AND NOT parked AND next_attempt_at <= now()"),
              1);
    CHECK_INT(claim("r2", 64), 1);
    CHECK_INT(record("r2", NULL), 1);
}

static void test_receipt_while_recording(void)
{
    CHECK_INT(th_db_exec(db, "SET session_replication_role = replica; "
                             "INSERT INTO outbox (channel, citizen_id, template, recipient_sealed) "
                             "VALUES ('sms', md5('c1')::uuid, 'otp', 'sealed')"),
              0);
    CHECK_INT(claim("s1", 64), 1);
    long id = count("SELECT max(id) FROM s1");
    PGconn *c = PQconnectdb(db);
    CHECK(PQstatus(c) == CONNECTION_OK);
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT cds_outbox_record(jsonb_build_array(jsonb_build_object('id', %ld, "
             "'attempt', 1, 'status', 'pending', 'provider', 'esms', 'provider_message_id', "
             "'m-%ld')))",
             id, id);
    PGresult *r = PQexec(c, sql);
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "1") == 0);
    PQclear(r);
    /* by our id (eSMS echoes it); the gateway's id is not visible yet;
     * alone and in a batch (whose one UPDATE must not wait either) */
    char *a = receipt(1), *b;
    CHECK_STR(a, "not_ready");
    free(a);
    a = receipts("ours");
    CHECK_STR(a, "not_ready");
    free(a);
    a = receipts_as("ours", "pending");
    CHECK_STR(a, "not_ready");
    free(a);
    r = PQexec(c, "COMMIT");
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    /* A `pending` report writes nothing, so it takes no lock: while another
     * report holds the row it is answered, not 503 (two reports of one SMS
     * at once made one of them receipt_too_early, test_notify 2026-12-05). */
    snprintf(sql, sizeof sql, "BEGIN; SELECT id FROM outbox WHERE id = %ld FOR UPDATE", id);
    r = PQexec(c, sql);
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
    PQclear(r);
    a = receipts_as("ours", "pending");
    b = receipts_as("theirs", "pending");
    CHECK_STR(a, "unchanged");
    CHECK_STR(b, "unchanged");
    free(a);
    free(b);
    r = PQexec(c, "ROLLBACK");
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    /* one batch naming it twice: applied once; then a repeat changes nothing */
    a = receipts("both");
    b = receipt(1);
    CHECK_STR(a, "applied,unchanged");
    CHECK_STR(b, "unchanged");
    free(a);
    free(b);
    a = receipts("theirs");
    CHECK_STR(a, "unchanged");
    free(a);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = (SELECT max(id) FROM s1) "
                    "AND status = 'delivered' AND delivered_at IS NOT NULL"),
              1);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE id = %ld AND status = 'delivered'", id), 1);
}

int main(void)
{
    db = th_db_new("notify_claim");
    char err[512] = "";
    if (cds_migrate(db, err, sizeof err) != 0) {
        fprintf(stderr, "migrate: %s\n", err);
        return 1;
    }
    fill();

    /* A full batch: 64 dossiers' first messages, not 13 dossiers' worth of
     * due rows of which 51 are held back. */
    CHECK_INT(claim("c1", 64), 64);
    CHECK_INT(count("SELECT count(*) FROM c1 WHERE channel IN ('sms', 'zns')"), 64);
    check_in_order("c1");
    check_untouched();

    /* The other 36 dossiers' first messages, then the six rows without a
     * dossier's text order (three without a dossier, three pushes). */
    CHECK_INT(claim("c2", 64), DOSSIERS - 64 + 6);
    check_in_order("c2");
    CHECK_INT(count("SELECT count(*) FROM c2 WHERE dossier_id IS NULL OR channel = 'push'"), 6);
    check_untouched();

    /* Every dossier has one on its way: nothing else is eligible. */
    CHECK_INT(claim("c3", 64), 0);
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE status = 'sending'"), DOSSIERS + 6);

    /* The first 64 taken by the gateway: their dossiers' second messages
     * are eligible, a full batch again. One of the other 36 fails for now
     * (backing off an hour): its dossier's newer ones wait behind it. */
    CHECK_INT(record("c1", NULL), 64);
    CHECK_INT(th_db_exec(db, "CREATE TABLE c2a AS SELECT * FROM c2 "
                             "WHERE channel IN ('sms', 'zns') AND dossier_id IS NOT NULL "
                             "ORDER BY id LIMIT 1; "
                             "CREATE TABLE c2b AS SELECT * FROM c2 EXCEPT SELECT * FROM c2a"),
              0);
    CHECK_INT(record("c2a", "temporary-failure"), 1);
    CHECK_INT(record("c2b", NULL), DOSSIERS - 64 + 6 - 1);
    CHECK_INT(claim("c4", 64), 64);
    check_in_order("c4");
    check_untouched();
    CHECK_INT(claim("c5", 64), DOSSIERS - 64 - 1);
    check_in_order("c5");
    CHECK_INT(count("SELECT count(*) FROM c5 JOIN c2a USING (dossier_id)"), 0);
    CHECK_INT(claim("c6", 64), 0);
    CHECK_INT(count("SELECT count(DISTINCT dossier_id) FROM (SELECT dossier_id FROM c4 "
                    "UNION ALL SELECT dossier_id FROM c5) x"),
              DOSSIERS - 1);

    /* Drained to the end: every text message goes out exactly once, in its
     * dossier's order (attempt 1 each), and the backing-off one's dossier
     * still waits behind it. */
    CHECK_INT(record("c4", NULL), 64);
    CHECK_INT(record("c5", NULL), DOSSIERS - 64 - 1);
    int rounds = 0;
    for (;;) {
        char t[16];
        snprintf(t, sizeof t, "d%d", rounds++);
        long due = eligible();
        long n = claim(t, 64);
        CHECK_INT(n, due < 64 ? due : 64);
        if (n <= 0 || rounds > 4 * PER_DOSSIER) break;
        check_in_order(t);
        CHECK_INT(count("SELECT count(*) FROM %s JOIN c2a USING (dossier_id)", t), 0);
        CHECK_INT(record(t, NULL), n);
    }
    CHECK(rounds >= 6 && rounds <= 4 * PER_DOSSIER); /* 297 messages, 64 a claim at most */
    CHECK_INT(count("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sent') "
                    "AND attempts = 1"),
              (DOSSIERS - 1) * PER_DOSSIER + 6);
    CHECK_INT(count("SELECT count(*) FROM outbox o JOIN c2a USING (dossier_id) "
                    "WHERE o.status = 'created' AND o.attempts = 0"),
              PER_DOSSIER - 1);
    check_parked();
    test_sweeper_promotes();
    test_insert_record_race();
    test_receipt_while_recording();
    return t_done();
}
