/* The receipt signer: one background thread per process, with a blocking
 * PostgreSQL connection of its own (it is not an event-loop thread, so
 * blocking is fine here, as for the LISTEN thread of core/db_listen.c).
 *
 * A receipt is written in the payment transaction (SQL) without its
 * number (db/migrations/0011_receipts_numbering.sql says why); its number
 * and its signature (the agency's private key is only in this process) are
 * added right after commit, in one transaction: cds_receipt_issue NOTIFYs
 * cds_receipts, the process's listener wakes this thread, and one pass
 *
 *   BEGIN;
 *   SELECT <receipt> FROM cds_receipt_number_plan(batch);  -- next numbers, series rows locked
 *   -- in C: unseal, canonical form with that number, sign with the agency's key
 *   UPDATE receipts SET number, signature, kid ... FROM unnest(arrays);  -- one row version
 *   COMMIT;
 *
 * numbers and signs up to `batch` receipts; a full batch is followed by
 * another pass at once. Signers of several processes queue on the series
 * row (one batch at a time, in issue order), not on each payment. Every
 * planned number is written in the pass (with its signature; with
 * sign_error when the content fails its checks, say an agency without a tax
 * code; alone when this node has no key for the agency, for a node that has
 * one to sign: those are picked with FOR UPDATE SKIP LOCKED) or the pass
 * rolls back whole: a crash or an error at any point leaves the receipts
 * unnumbered for the next pass (here or on another node, at the latest
 * poll_ms later), no number consumed, the series gapless. The UPDATE
 * requires "number IS NULL", so nothing is numbered twice. A receipt with
 * sign_error is
 * marked with sign_error and left for a person to fix. */
#include "internal.h"
#include "core/buf.h"
#include "core/db_listen.h"
#include "core/log.h"
#include "core/metrics.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* After a wake-up, the signer waits this long before its pass: at 600
 * payments a second that is ~12 receipts a pass instead of one or two. */
#define COALESCE_MS 20

static pthread_t g_thread;
static int g_started;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_wake, g_stop;
static char *g_conninfo;
static cds_listener *g_listener;
static atomic_llong g_signed, g_numbered, g_failed; /* by this process */

static int64_t m_signed(void)
{
    return g_signed;
}
static int64_t m_numbered(void)
{
    return g_numbered;
}
static int64_t m_failed(void)
{
    return g_failed;
}

static void wake(void)
{
    pthread_mutex_lock(&g_mu);
    g_wake = 1;
    pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    (void)channel, (void)payload, (void)arg;
    wake();
}

static void on_listen_connect(PGconn *conn, void *arg)
{
    (void)conn, (void)arg;
    wake(); /* whatever was issued while we were not listening */
}

/* The array literals of one pass: a batch is at most a few thousand rows of
 * short elements, far below this. */
#define ARRAY_CAP ((size_t)64 * 1024 * 1024)

/* Appends "elem" to an array literal being built ("{" first). Elements are
 * uuids, hex, base64url, alg names and static English phrases: no quote or
 * backslash to escape. */
static int tb_elem(cds_buf *b, const char *v)
{
    return cds_buf_printf(b, b->len > 1 ? ",\"%s\"" : "\"%s\"", v);
}

static const char SQL_PLAN[] = "SELECT " RC_COLS " FROM cds_receipt_number_plan($1::int) r";
static const char SQL_PICK[] =
    "SELECT " RC_COLS " FROM receipts r"
    " WHERE r.signature IS NULL AND r.sign_error IS NULL AND r.number IS NOT NULL"
    " ORDER BY r.issue_seq LIMIT $1::int FOR UPDATE SKIP LOCKED";
/* Planned receipts: number and signature (or sign_error, or neither) in one
 * row version. The same statement for numbered ones: their number is kept. */
#define SQL_WRITE_SET                                                                              \
    "UPDATE receipts r SET template_no = u.t, serial = u.s, number = u.n, alg = u.alg,"            \
    " kid = u.kid, signature = u.sig, signed_at = CASE WHEN u.sig IS NULL THEN NULL ELSE now() "   \
    "END,"                                                                                         \
    " sign_error = u.err"                                                                          \
    " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],"       \
    "             $7::text[], $8::text[]) AS u(id, t, s, n, alg, kid, sig, err)"                   \
    " WHERE r.id = u.id"
static const char SQL_WRITE[] = SQL_WRITE_SET " AND r.number IS NULL";
static const char SQL_STORE[] = SQL_WRITE_SET " AND r.number = u.n AND r.signature IS NULL";
static const char SQL_KEY[] =
    "INSERT INTO receipt_keys (kid, alg, public_pem) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

static int ok(PGresult *res, const char *what)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return 1;
    cds_log(CDS_LOG_ERROR, "receipt_signer", "%s: %s", what,
            res ? PQresultErrorMessage(res) : "no result");
    return 0;
}

static int exec_ok(PGconn *c, const char *sql, const char *what)
{
    PGresult *res = PQexec(c, sql);
    int r = ok(res, what);
    PQclear(res);
    return r;
}

/* Every kid of `ks` in receipt_keys (idempotent): a key is known before it
 * signs anything. 0, or -1 logged. */
static int register_keys(PGconn *c, const rc_keyset *ks)
{
    int good = 1;
    const char *kid, *alg, *pem;
    for (size_t i = 0; good && rc_signing_key_at(ks, i, &kid, &alg, &pem); i++) {
        const char *p[] = {kid, alg, pem};
        PGresult *res = PQexecParams(c, SQL_KEY, 3, NULL, p, NULL, NULL, 0);
        good &= ok(res, "register key");
        PQclear(res);
    }
    return good ? 0 : -1;
}

static PGconn *connect_db(void)
{
    PGconn *c = PQconnectdb(g_conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        cds_log(CDS_LOG_WARN, "receipt_signer", "cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    int good = 1;
    PGresult *res = PQprepare(c, "plan", SQL_PLAN, 1, NULL);
    good &= ok(res, "prepare plan");
    PQclear(res);
    res = PQprepare(c, "pick", SQL_PICK, 1, NULL);
    good &= ok(res, "prepare pick");
    PQclear(res);
    res = PQprepare(c, "write", SQL_WRITE, 8, NULL);
    good &= ok(res, "prepare write");
    PQclear(res);
    res = PQprepare(c, "store", SQL_STORE, 8, NULL);
    good &= ok(res, "prepare store");
    PQclear(res);
    if (!good) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* The arrays of one pass's writes, as PostgreSQL array literals. */
typedef struct batch {
    cds_buf id, tmpl, serial, num, alg, kid, sig, err;
    int n, mem;
} batch;

static void b_open(batch *b)
{
    memset(b, 0, sizeof *b);
    cds_buf *all[] = {&b->id, &b->tmpl, &b->serial, &b->num, &b->alg, &b->kid, &b->sig, &b->err};
    for (size_t k = 0; k < 8; k++) {
        cds_buf_init(all[k], ARRAY_CAP);
        b->mem |= cds_buf_addc(all[k], '{');
    }
}

static void b_close(batch *b)
{
    cds_buf *all[] = {&b->id, &b->tmpl, &b->serial, &b->num, &b->alg, &b->kid, &b->sig, &b->err};
    for (size_t k = 0; k < 8; k++)
        b->mem |= cds_buf_addc(all[k], '}');
}

static void b_free(batch *b)
{
    cds_buf *all[] = {&b->id, &b->tmpl, &b->serial, &b->num, &b->alg, &b->kid, &b->sig, &b->err};
    for (size_t k = 0; k < 8; k++)
        cds_buf_free(all[k]);
}

/* An element or NULL. */
static int tb_opt(cds_buf *b, const char *v)
{
    if (v) return tb_elem(b, v);
    return cds_buf_adds(b, b->len > 1 ? ",NULL" : "NULL");
}

/* Signs row i of res when it can; appends the row's write to b: number
 * (when `planned`), and signature, or sign_error, or neither (no key here).
 * Counts into *nsigned / *nfailed. */
static void sign_row(const rc_keyset *ks, PGresult *res, int i, batch *b, int *nsigned,
                     int *nfailed)
{
    cds_receipt r;
    cds_receipt_sig sig;
    const char *why = NULL, *kid = NULL;
    const char *agency = PQgetvalue(res, i, RC_AGENCY);
    int rc = rc_from_row(res, i, &r, NULL, &why);
    EVP_PKEY *key = rc == 0 ? rc_signing_key(ks, agency, &kid) : NULL;
    int have_sig = 0;
    if (rc == 0 && !key) {
        /* Not this process's to sign: numbered now, signed by a node that
         * holds the agency's key (the pick of numbered, unsigned receipts). */
        cds_log(CDS_LOG_WARN, "receipt_signer", "no signing key for agency %s", agency);
    } else if (rc == 0 && cds_receipt_sign(key, &r, &sig) != CDS_RCPT_OK) {
        rc = -1;
        why = "signing failed";
    } else if (rc == 0) {
        have_sig = 1;
    }
    if (rc != 0) {
        cds_log(CDS_LOG_ERROR, "receipt_signer", "receipt %s cannot be signed: %s",
                PQgetvalue(res, i, RC_ID), why ? why : "?");
        (*nfailed)++;
    }
    if (have_sig) (*nsigned)++;
    b->mem |= tb_elem(&b->id, PQgetvalue(res, i, RC_ID)) |
              tb_elem(&b->tmpl, PQgetvalue(res, i, RC_TEMPLATE)) |
              tb_elem(&b->serial, PQgetvalue(res, i, RC_SERIAL)) |
              tb_elem(&b->num, PQgetvalue(res, i, RC_NUMBER)) |
              tb_opt(&b->alg, have_sig ? sig.alg : NULL) |
              tb_opt(&b->kid, have_sig ? sig.kid : NULL) |
              tb_opt(&b->sig, have_sig ? sig.value : NULL) |
              tb_opt(&b->err, rc != 0 ? (why ? why : "?") : NULL);
    b->n++;
    OPENSSL_cleanse(&r, sizeof r); /* the plaintext personal ID number */
}

/* Runs a write statement over b; its rows affected, or -1. */
static long b_write(PGconn *c, const char *stmt, batch *b)
{
    const char *p[] = {b->id.p,  b->tmpl.p, b->serial.p, b->num.p,
                       b->alg.p, b->kid.p,  b->sig.p,    b->err.p};
    PGresult *res = PQexecPrepared(c, stmt, 8, p, NULL, NULL, 0);
    long n = ok(res, stmt) ? strtol(PQcmdTuples(res), NULL, 10) : -1;
    PQclear(res);
    return n;
}

/* One pass; the number of receipts handled, or -1 on a database error
 * (the transaction is then rolled back: no number consumed). */
static int pass(PGconn *c, const rc_keyset *ks)
{
    if (!exec_ok(c, "BEGIN", "begin")) return -1;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", g_receipts.batch);
    const char *p1[] = {lim};
    /* The next numbers (series rows locked until COMMIT); then the
     * receipts numbered earlier and still unsigned (rare: a node without the
     * agency's key numbered them). */
    PGresult *plan = PQexecPrepared(c, "plan", 1, p1, NULL, NULL, 0);
    PGresult *left = ok(plan, "plan") ? PQexecPrepared(c, "pick", 1, p1, NULL, NULL, 0) : NULL;
    if (!ok(plan, "plan") || !ok(left, "pick")) {
        PQclear(plan);
        PQclear(left);
        exec_ok(c, "ROLLBACK", "rollback");
        return -1;
    }
    int nplan = PQntuples(plan), nleft = PQntuples(left), nsigned = 0, nfailed = 0;
    batch bp, bl;
    b_open(&bp);
    b_open(&bl);
    for (int i = 0; i < nplan && !bp.mem; i++)
        sign_row(ks, plan, i, &bp, &nsigned, &nfailed);
    for (int i = 0; i < nleft && !bl.mem; i++)
        sign_row(ks, left, i, &bl, &nsigned, &nfailed);
    PQclear(plan);
    PQclear(left);
    b_close(&bp);
    b_close(&bl);
    /* Every planned number is written, or nothing is (gapless). */
    int good = !bp.mem && !bl.mem;
    if (good && nplan) good = b_write(c, "write", &bp) == nplan;
    if (good && nleft) good = b_write(c, "store", &bl) >= 0;
    b_free(&bp);
    b_free(&bl);
    if (!good || !exec_ok(c, "COMMIT", "commit")) {
        if (!good) cds_log(CDS_LOG_ERROR, "receipt_signer", "pass rolled back");
        exec_ok(c, "ROLLBACK", "rollback");
        return -1;
    }
    g_signed += nsigned;
    g_numbered += nplan;
    g_failed += nfailed;
    return nplan > nleft ? nplan : nleft;
}

static void wait_ms(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&g_mu);
    while (!g_wake && !g_stop)
        if (pthread_cond_timedwait(&g_cv, &g_mu, &ts) != 0) break;
    g_wake = 0;
    pthread_mutex_unlock(&g_mu);
}

static int stopping(void)
{
    pthread_mutex_lock(&g_mu);
    int s = g_stop;
    pthread_mutex_unlock(&g_mu);
    return s;
}

static void *run(void *arg)
{
    (void)arg;
    PGconn *c = NULL;
    const rc_keyset *registered = NULL; /* the set whose kids c registered */
    int backoff = 100;
    while (!stopping()) {
        if (!c) {
            c = connect_db();
            if (!c) {
                wait_ms(backoff);
                backoff = backoff < 5000 ? backoff * 2 : 5000;
                continue;
            }
            backoff = 100;
            registered = NULL;
        }
        /* One set for the whole pass; a new one (SIGHUP) is registered first. */
        const rc_keyset *ks = rc_keys_current();
        int n = -1;
        if (ks == registered || register_keys(c, ks) == 0) {
            registered = ks;
            n = pass(c, ks);
        }
        if (n < 0) {
            if (PQstatus(c) != CONNECTION_OK) {
                PQfinish(c);
                c = NULL;
            }
            wait_ms(backoff);
            continue;
        }
        if (n < g_receipts.batch) {
            wait_ms(g_receipts.poll_ms);
            /* Woken by a payment: let the next few commit too, so one pass
             * (five round trips and the series lock) serves many. */
            struct timespec co = {0, COALESCE_MS * 1000000L};
            nanosleep(&co, NULL);
        }
    }
    PQfinish(c);
    return NULL;
}

int rc_signer_start(const char *db_conninfo)
{
    if (!db_conninfo || !g_receipts.sign) return 0;
    cds_metrics_register("cds_receipts_numbered_total",
                         "Receipts numbered by this process's signer.", m_numbered);
    cds_metrics_register("cds_receipts_signed_total", "Receipts signed by this process's signer.",
                         m_signed);
    cds_metrics_register(
        "cds_receipts_sign_failed_total",
        "Receipts this process could not sign (content fails its checks; sign_error set).",
        m_failed);
    g_conninfo = strdup(db_conninfo);
    if (!g_conninfo) return -1;
    g_stop = 0;
    if (pthread_create(&g_thread, NULL, run, NULL) != 0) return -1;
    g_started = 1;
    const char *channels[] = {"cds_receipts"};
    g_listener = cds_listener_start(db_conninfo, channels, 1, on_notify, on_listen_connect, NULL);
    return g_listener ? 0 : -1;
}

void rc_signer_stop(void)
{
    if (g_listener) cds_listener_stop(g_listener);
    g_listener = NULL;
    if (g_started) {
        pthread_mutex_lock(&g_mu);
        g_stop = 1;
        pthread_cond_signal(&g_cv);
        pthread_mutex_unlock(&g_mu);
        pthread_join(g_thread, NULL);
        g_started = 0;
    }
    free(g_conninfo);
    g_conninfo = NULL;
}
