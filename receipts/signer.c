/* The receipt signer: one background thread per process, with a blocking
 * PostgreSQL connection of its own (it is not an event-loop thread, so
 * blocking is fine here, as for the LISTEN thread of core/db_listen.c).
 *
 * A receipt is written in the payment transaction (SQL) without its
 * number (db/migrations/0070_receipts_numbering.sql says why); its number
 * and its signature (the agency's private key is only in this process) are
 * added right after commit, in one transaction: cds_receipt_issue NOTIFYs
 * cds_receipts, the process's listener wakes this thread, and one pass
 *
 *   BEGIN;
 *   SELECT cds_receipt_number_batch(batch);   -- numbers, series rows locked
 *   SELECT <receipt> ... WHERE signature IS NULL ... FOR UPDATE SKIP LOCKED LIMIT batch;
 *   -- in C: unseal, canonical form, sign with the agency's key
 *   UPDATE receipts SET alg, kid, signature, signed_at ... FROM unnest(arrays);
 *   COMMIT;
 *
 * signs up to `batch` receipts; a full batch is followed by another pass at
 * once. SKIP LOCKED lets any number of processes sign side by side without
 * waiting for each other; the UPDATE keeps "signature IS NULL" in its
 * condition, so signing is idempotent. A crash between the two statements
 * rolls the pass back: the receipts stay unsigned and the next pass (here
 * or on another node, at the latest poll_ms later) signs them; a
 * rolled-back numbering consumed no number, so the series stays gapless. A receipt
 * whose content fails the checks (say, an agency without a tax code) is
 * marked with sign_error and left for a person to fix. */
#include "receipts/internal.h"
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

static pthread_t g_thread;
static int g_started;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_wake, g_stop;
static char *g_conninfo;
static cds_listener *g_listener;
static atomic_llong g_signed, g_numbered, g_failed; /* by this process */

static int64_t m_signed(void) { return g_signed; }
static int64_t m_numbered(void) { return g_numbered; }
static int64_t m_failed(void) { return g_failed; }

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

/* A growing text buffer for the array literals of one pass. */
typedef struct tbuf {
    char *s;
    size_t len, cap;
} tbuf;

static int tb_put(tbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) return -1;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
    return 0;
}

/* Appends "elem" to an array literal being built ("{" first). Elements are
 * uuids, hex, base64url, alg names and static English phrases: no quote or
 * backslash to escape. */
static int tb_elem(tbuf *b, const char *v)
{
    return (b->len > 1 ? tb_put(b, ",") : 0) | tb_put(b, "\"") | tb_put(b, v) | tb_put(b, "\"");
}

static const char SQL_NUMBER[] = "SELECT cds_receipt_number_batch($1::int)";
static const char SQL_PICK[] =
    "SELECT " RC_COLS " FROM receipts r"
    " WHERE r.signature IS NULL AND r.sign_error IS NULL AND r.number IS NOT NULL"
    " ORDER BY r.issue_seq LIMIT $1::int FOR UPDATE SKIP LOCKED";
static const char SQL_STORE[] =
    "UPDATE receipts r SET alg = u.alg, kid = u.kid, signature = u.sig, signed_at = now()"
    " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(id, alg, kid, sig)"
    " WHERE r.id = u.id AND r.signature IS NULL";
static const char SQL_FAIL[] =
    "UPDATE receipts r SET sign_error = u.err"
    " FROM unnest($1::uuid[], $2::text[]) AS u(id, err) WHERE r.id = u.id";
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

static PGconn *connect_db(void)
{
    PGconn *c = PQconnectdb(g_conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        cds_log(CDS_LOG_WARN, "receipt_signer", "cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    int good = 1;
    PGresult *res = PQprepare(c, "number", SQL_NUMBER, 1, NULL);
    good &= ok(res, "prepare number");
    PQclear(res);
    res = PQprepare(c, "pick", SQL_PICK, 1, NULL);
    good &= ok(res, "prepare pick");
    PQclear(res);
    res = PQprepare(c, "store", SQL_STORE, 4, NULL);
    good &= ok(res, "prepare store");
    PQclear(res);
    res = PQprepare(c, "fail", SQL_FAIL, 2, NULL);
    good &= ok(res, "prepare fail");
    PQclear(res);
    /* Every key this process signs with is known before it signs anything. */
    const char *kid, *alg, *pem;
    for (size_t i = 0; good && rc_signing_key_at(i, &kid, &alg, &pem); i++) {
        const char *p[] = {kid, alg, pem};
        res = PQexecParams(c, SQL_KEY, 3, NULL, p, NULL, NULL, 0);
        good &= ok(res, "register key");
        PQclear(res);
    }
    if (!good) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* One pass; the number of receipts looked at, or -1 on a database error. */
static int pass(PGconn *c)
{
    if (!exec_ok(c, "BEGIN", "begin")) return -1;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", g_receipts.batch);
    const char *p1[] = {lim};
    /* Numbers first (the series rows stay locked until COMMIT), then the
     * numbered and unsigned receipts, these included (our own locks do not
     * make SKIP LOCKED skip them). */
    PGresult *res = PQexecPrepared(c, "number", 1, p1, NULL, NULL, 0);
    if (!ok(res, "number")) {
        PQclear(res);
        exec_ok(c, "ROLLBACK", "rollback");
        return -1;
    }
    int numbered = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    res = PQexecPrepared(c, "pick", 1, p1, NULL, NULL, 0);
    if (!ok(res, "pick")) {
        PQclear(res);
        exec_ok(c, "ROLLBACK", "rollback");
        return -1;
    }
    int n = PQntuples(res), nsigned = 0, nfailed = 0;
    tbuf ids = {0}, algs = {0}, kids = {0}, sigs = {0}, fids = {0}, errs = {0};
    int mem = tb_put(&ids, "{") | tb_put(&algs, "{") | tb_put(&kids, "{") | tb_put(&sigs, "{") |
              tb_put(&fids, "{") | tb_put(&errs, "{");
    for (int i = 0; i < n && !mem; i++) {
        cds_receipt r;
        cds_receipt_sig sig;
        const char *why = NULL, *kid = NULL;
        const char *agency = PQgetvalue(res, i, RC_AGENCY);
        int rc = rc_from_row(res, i, &r, NULL, &why);
        EVP_PKEY *key = rc == 0 ? rc_signing_key(agency, &kid) : NULL;
        if (rc == 0 && !key) {
            /* Not this process's to sign: another node may hold the key. */
            cds_log(CDS_LOG_WARN, "receipt_signer", "no signing key for agency %s", agency);
            continue;
        }
        if (rc == 0 && cds_receipt_sign(key, &r, &sig) != CDS_RCPT_OK) {
            rc = -1;
            why = "signing failed";
        }
        if (rc != 0) {
            cds_log(CDS_LOG_ERROR, "receipt_signer", "receipt %s cannot be signed: %s",
                    PQgetvalue(res, i, RC_ID), why ? why : "?");
            mem |= tb_elem(&fids, PQgetvalue(res, i, RC_ID)) | tb_elem(&errs, why ? why : "?");
            nfailed++;
            continue;
        }
        mem |= tb_elem(&ids, PQgetvalue(res, i, RC_ID)) | tb_elem(&algs, sig.alg) |
               tb_elem(&kids, sig.kid) | tb_elem(&sigs, sig.value);
        nsigned++;
        OPENSSL_cleanse(&r, sizeof r); /* the plaintext personal ID number */
    }
    PQclear(res);
    mem |= tb_put(&ids, "}") | tb_put(&algs, "}") | tb_put(&kids, "}") | tb_put(&sigs, "}") |
           tb_put(&fids, "}") | tb_put(&errs, "}");
    int good = !mem;
    if (good && nsigned) {
        const char *p[] = {ids.s, algs.s, kids.s, sigs.s};
        res = PQexecPrepared(c, "store", 4, p, NULL, NULL, 0);
        good = ok(res, "store");
        PQclear(res);
    }
    if (good && nfailed) {
        const char *p[] = {fids.s, errs.s};
        res = PQexecPrepared(c, "fail", 2, p, NULL, NULL, 0);
        good = ok(res, "mark failed");
        PQclear(res);
    }
    free(ids.s), free(algs.s), free(kids.s), free(sigs.s), free(fids.s), free(errs.s);
    if (!good || !exec_ok(c, "COMMIT", "commit")) {
        exec_ok(c, "ROLLBACK", "rollback");
        return -1;
    }
    g_signed += nsigned;
    g_numbered += numbered;
    g_failed += nfailed;
    return numbered > nsigned + nfailed ? numbered : nsigned + nfailed;
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
        }
        int n = pass(c);
        if (n < 0) {
            if (PQstatus(c) != CONNECTION_OK) {
                PQfinish(c);
                c = NULL;
            }
            wait_ms(backoff);
            continue;
        }
        if (n < g_receipts.batch) wait_ms(g_receipts.poll_ms);
    }
    PQfinish(c);
    return NULL;
}

int rc_signer_start(const char *db_conninfo)
{
    if (!db_conninfo || !g_receipts.sign) return 0;
    cds_metrics_register("cds_receipts_numbered_total", "Receipts numbered by this process's signer.", m_numbered);
    cds_metrics_register("cds_receipts_signed_total", "Receipts signed by this process's signer.", m_signed);
    cds_metrics_register("cds_receipts_sign_failed_total",
                         "Receipts this process could not sign (content fails its checks; sign_error set).", m_failed);
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
