/* cds-bench-courier: courier status events processed per second (row courier
 * of bench/run). Against a running `cds serve` and its database, it
 *
 *   1. prepares N booked shipments in the database (not timed): 1,000
 *      citizens with a phone and a push device each, N dossiers with
 *      delivery by post and their stored view, moved to result_ready (the trigger queues each
 *      shipment, as in production), then marks the shipments booked with
 *      tracking numbers "BN-<run>-<i>" (the booking itself is not what is
 *      measured here);
 *   2. timed: POSTs 4 signed VNPost webhooks per shipment to
 *      /v1/webhooks/couriers/vnpost over C keep-alive HTTP/1.1 connections:
 *      every shipment's picked_up (dossier step out_for_delivery and its SMS
 *      and push), then in_transit, out_for_delivery (courier notifications),
 *      then delivered with its proof of delivery (dossier completed). Each
 *      one is the whole processing: signature, parsing, shipment state by
 *      event time, history, dossier step, notifications in the outbox.
 *
 * Usage: cds-bench-courier -u http://HOST:PORT -d CONNINFO [-n SHIPMENTS] [-c CONNS]
 *                          [-s SECRET] [-p PROCEDURE] [-r RUN] [-P] [-x HOOK]
 *   -n 2000 shipments (4 events each), -c 32 connections, -s the webhook
 *   secret (default the development one), -p a procedure whose results may
 *   go by post (1.001193), -r a run id (default the pid). -P: step 1 only
 *   (no -u needed), for the same-SQL reference of bench/run, which sends
 *   the same events with pgbench (bench/sql/courier_same.pgbench). -x: a
 *   shell command run after the setup, right before the timed part.
 *
 * Output: on stdout
 *   rate <events/s> <events> <seconds> <non-200 answers>
 * Exit 1 when the setup fails. */
#include "bench/courier_fixture.h"
#include "bench/load.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


typedef struct job {
    char *body;
    struct curl_slist *hdrs;
    long status;
} job;

static const char *api;
static char url[512];

static size_t discard(char *data, size_t size, size_t nmemb, void *arg)
{
    (void)data;
    (void)arg;
    return size * nmemb;
}

static void job_start(CURLM *m, job *j)
{
    CURL *c = curl_easy_init();
    if (!c) abort();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, j->hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PRIVATE, j);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(j->body));
    curl_multi_add_handle(m, c);
}

static double run_batch(CURLM *m, job *jobs, size_t n, int conc)
{
    size_t next = 0, done = 0;
    int running = 0;
    double t0 = bench_now_s();
    while (next < n && (int)next < conc) job_start(m, &jobs[next++]);
    while (done < n) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            job *j;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            if (msg->data.result == CURLE_OK)
                curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &j->status);
            curl_multi_remove_handle(m, msg->easy_handle);
            curl_easy_cleanup(msg->easy_handle);
            done++;
            if (next < n) job_start(m, &jobs[next++]);
        }
        if (done < n) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    return bench_now_s() - t0;
}

int main(int argc, char **argv)
{
    const char *conninfo = getenv("CDS_DATABASE_URL"), *secret = BENCH_VNPOST_DEV_SECRET,
               *procedure = "1.001193", *hook = NULL;
    int n = 2000, conc = 32, opt, prepare_only = 0;
    char run[32];
    snprintf(run, sizeof run, "%d", (int)getpid());
    while ((opt = getopt(argc, argv, "u:d:n:c:s:p:r:Px:")) != -1) {
        switch (opt) {
        case 'u': api = optarg; break;
        case 'd': conninfo = optarg; break;
        case 'n': n = atoi(optarg); break;
        case 'c': conc = atoi(optarg); break;
        case 's': secret = optarg; break;
        case 'p': procedure = optarg; break;
        case 'r': snprintf(run, sizeof run, "%.31s", optarg); break;
        case 'P': prepare_only = 1; break;
        case 'x': hook = optarg; break;
        default:
            fprintf(stderr, "usage: cds-bench-courier -u URL -d CONNINFO [-n N] [-c C] [-s SECRET] "
                            "[-p PROCEDURE] [-r RUN]\n");
            return 2;
        }
    }
    if ((!api && !prepare_only) || !conninfo || n < 1 || conc < 1) {
        fprintf(stderr, "bench-courier: -u and -d (or CDS_DATABASE_URL) are required\n");
        return 2;
    }
    for (const char *p = run; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
            fprintf(stderr, "bench-courier: -r must be letters and digits\n");
            return 2;
        }
    snprintf(url, sizeof url, "%s/v1/webhooks/couriers/vnpost", api ? api : "");

    /* 1. Booked shipments, prepared in the database. */
    double t0 = bench_now_s();
    PGconn *db = PQconnectdb(conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "bench-courier: %s", PQerrorMessage(db));
        return 1;
    }
    int ok = bench_courier_prepare(db, run, procedure, n, NULL) == 0;
    PQfinish(db);
    if (!ok) return 1;
    fprintf(stderr, "setup: %d booked shipments in %.1f s\n", n, bench_now_s() - t0);
    if (prepare_only) return 0;

    /* 2. The events, signed, by round. */
    size_t total = (size_t)n * 4;
    job *jobs = calloc(total, sizeof *jobs);
    if (!jobs) abort();
    time_t base = time(NULL) + 7 * 3600 - 600;
    for (int round = 0; round < 4; round++) {
        time_t t = base + round * 60;
        struct tm tm;
        gmtime_r(&t, &tm);
        char at[40];
        strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
        for (int i = 0; i < n; i++) {
            job *j = &jobs[(size_t)round * (size_t)n + (size_t)i];
            j->body = bench_vnpost_event(run, i + 1, round, at);
            char ts[24], sig[65];
            snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
            bench_vnpost_sign(secret, ts, j->body, sig);
            char *h1 = bench_xprintf("X-Vnpost-Timestamp: %s", ts), *h2 = bench_xprintf("X-Vnpost-Signature: %s", sig);
            j->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
            j->hdrs = curl_slist_append(j->hdrs, h1);
            j->hdrs = curl_slist_append(j->hdrs, h2);
            free(h1);
            free(h2);
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conc);
    if (hook && system(hook) != 0) fprintf(stderr, "bench-courier: the hook failed: %s\n", hook);
    double secs = run_batch(m, jobs, total, conc);
    size_t bad = 0;
    for (size_t i = 0; i < total; i++) {
        bad += jobs[i].status != 200;
        free(jobs[i].body);
        curl_slist_free_all(jobs[i].hdrs);
    }
    free(jobs);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    printf("rate %.0f %zu %.3f %zu\n", (double)(total - bad) / secs, total, secs, bad);
    return 0;
}
