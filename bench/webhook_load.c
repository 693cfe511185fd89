/* cds-bench-webhooks: payment webhooks processed per second (row payments
 * of bench/run). Against a running `cds serve` (h2c/HTTP/1.1 port) whose
 * VNeID issuer is the cds-sim stand-in, it
 *
 *   1. logs a test citizen in (tests/lib/login.c, as the app does);
 *   2. imports N dossiers for that citizen as filed at a counter
 *      (POST /v1/partner/dossiers, signed like the TTHC system) and moves
 *      each to fee_requested with a fee (POST .../steps);
 *   3. asks for each dossier's payment (POST /v1/dossiers/{id}/payment with
 *      the citizen's token): {"reference", "amount_vnd", "vietqr":
 *      {"payload", ...}, ...};
 *   4. builds for each intent the payOS webhook its bank transfer would
 *      cause: data.amount = amount_vnd, data.description = the payload's
 *      purpose (62/08; the reference when there is none), accountNumber =
 *      the payload's account, a fresh paymentLinkId and bank reference,
 *      signed with the checksum key (cds_hook_payos_sign, what the server
 *      verifies with). Steps 1-4 are not timed;
 *   5. timed: POSTs the N webhooks to /v1/webhooks/payos over C keep-alive
 *      HTTP/1.1 connections (webhooks come over HTTP/1.1; -2: h2c), at most
 *      C in flight, and counts 200 answers. Each one is the whole
 *      processing: signature, match by reference, payment recorded, dossier
 *      step "paid" with its notifications, receipt.
 *
 * Setup calls run CONCURRENCY at a time on the same libcurl multi driver.
 *
 * Usage: cds-bench-webhooks -u http://HOST:PORT [-n INTENTS] [-c CONNS] [-k KEY]
 *                           [-i PERSONAL_ID] [-p PROCEDURE] [-r RUN] [-f FEE] [-x HOOK] [-2]
 *   -n 2000 intents, -c 32 connections, -k the payOS checksum key
 *   (default CDS_PAYOS_CHECKSUM_KEY or the development one), -i a level-2
 *   citizen of the VNeID stand-in (079085001234), -p the procedure code
 *   (default: the building permit found by search), -r a run id making
 *   dossier codes unique (default: the pid), -f the fee (default 150000),
 *   -x a shell command run after the setup, right before the timed part.
 *
 * Output: setup timings on stderr; on stdout
 *   rate <webhooks/s> <n> <seconds> <non-200 answers>
 * Exit 1 when a setup step fails (with the server's answer on stderr). */
#include "bench/load.h"
#include "bench/payos_hook.h"
#include "core/buf.h"
#include "tests/lib/login.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEV_PAYOS_KEY "cds-dev-payos-checksum-key"

typedef struct job {
    const char *method;
    char *url, *body;
    struct curl_slist *hdrs;
    long status; /* 0: no answer */
    cds_buf resp;
    CURL *easy;
} job;

static const char *api;
static char bearer[4200];
static int use_h2;

static void job_clear(job *j)
{
    free(j->url);
    free(j->body);
    curl_slist_free_all(j->hdrs);
    cds_buf_free(&j->resp);
    memset(j, 0, sizeof *j);
}

static void job_start(CURLM *m, job *j)
{
    CURL *c = curl_easy_init();
    if (!c) abort();
    j->easy = c;
    cds_buf_init(&j->resp, BENCH_RESP_MAX);
    curl_easy_setopt(c, CURLOPT_URL, j->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, j->method);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                     use_h2 ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                            : (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, j->hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &j->resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PRIVATE, j);
    if (j->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(j->body));
    }
    curl_multi_add_handle(m, c);
}

/* Runs every job, at most conc at a time, over one multi handle (its
 * connection cache keeps the connections alive between jobs). Returns the
 * wall time. */
static double run_batch(CURLM *m, job *jobs, size_t n, int conc)
{
    size_t next = 0, done = 0;
    int running = 0;
    double t0 = bench_now_s();
    while (next < n && (int)next < conc)
        job_start(m, &jobs[next++]);
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
            else if (!j->resp.len)
                cds_buf_adds(&j->resp, curl_easy_strerror(msg->data.result));
            curl_multi_remove_handle(m, msg->easy_handle);
            curl_easy_cleanup(msg->easy_handle);
            j->easy = NULL;
            done++;
            if (next < n) job_start(m, &jobs[next++]);
        }
        if (done < n) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    return bench_now_s() - t0;
}

static void add_json_headers(job *j, int with_bearer)
{
    j->hdrs = curl_slist_append(j->hdrs, "Content-Type: application/json");
    if (with_bearer) j->hdrs = curl_slist_append(j->hdrs, bearer);
}

/* A partner call signed as the TTHC system signs it. */
static void partner_job(job *j, const char *path, char *body)
{
    j->method = "POST";
    j->url = bench_xprintf("%s%s", api, path);
    j->body = body;
    j->hdrs = bench_partner_headers(j->hdrs, path, body);
}

/* Every job answered one of the wanted statuses; else says which did not. */
static int all_ok(const char *what, job *jobs, size_t n, long want1, long want2)
{
    for (size_t i = 0; i < n; i++)
        if (jobs[i].status != want1 && jobs[i].status != want2) {
            fprintf(stderr, "bench-webhooks: %s #%zu: %s %s answered %ld (expected %ld): %s\n",
                    what, i, jobs[i].method, jobs[i].url, jobs[i].status, want1,
                    cds_buf_str(&jobs[i].resp));
            return -1;
        }
    return 0;
}

static void hex(char *out, int nbytes)
{
    unsigned char raw[32];
    if (nbytes > 32 || RAND_bytes(raw, nbytes) != 1) abort();
    for (int i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static char *find_procedure(CURLM *m)
{
    job j = {0};
    j.method = "GET";
    j.url = bench_xprintf("%s/v1/procedures?q=giay%%20phep%%20xay%%20dung&limit=5", api);
    run_batch(m, &j, 1, 1);
    json_t *list = j.status == 200 ? json_loads(cds_buf_str(&j.resp), 0, NULL) : NULL;
    const char *code = json_string_value(
        json_object_get(json_array_get(json_object_get(list, "items"), 0), "code"));
    char *out = code ? strdup(code) : NULL;
    if (!out)
        fprintf(stderr, "bench-webhooks: no building permit in the catalog (%ld: %s)\n", j.status,
                cds_buf_str(&j.resp));
    json_decref(list);
    job_clear(&j);
    return out;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *pid = "079085001234", *procedure = NULL, *run = NULL, *hook = NULL;
    const char *key = getenv("CDS_PAYOS_CHECKSUM_KEY");
    long n = 2000, fee = 150000;
    int conc = 32, opt;
    if (!key || !*key) key = DEV_PAYOS_KEY;
    while ((opt = getopt(argc, argv, "u:n:c:k:i:p:r:f:x:2h")) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'n':
            n = strtol(optarg, NULL, 10);
            break;
        case 'c':
            conc = (int)strtol(optarg, NULL, 10);
            break;
        case 'k':
            key = optarg;
            break;
        case 'i':
            pid = optarg;
            break;
        case 'p':
            procedure = optarg;
            break;
        case 'r':
            run = optarg;
            break;
        case 'f':
            fee = strtol(optarg, NULL, 10);
            break;
        case '2':
            use_h2 = 1;
            break;
        case 'x':
            hook = optarg;
            break;
        default:
            url = NULL;
            n = 0;
            break;
        }
    }
    if (!url || strncmp(url, "http://", 7) != 0 || n < 1 || conc < 1 || fee < 1) {
        fprintf(stderr, "usage: cds-bench-webhooks -u http://HOST:PORT [-n INTENTS] [-c CONNS] "
                        "[-k KEY] [-i PERSONAL_ID] [-p PROCEDURE] [-r RUN] [-f FEE] [-x HOOK] [-2]\n");
        return 2;
    }
    static char base[512];
    snprintf(base, sizeof base, "%s", url);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        base[--bl] = 0;
    api = base;
    char runbuf[32];
    if (!run) {
        snprintf(runbuf, sizeof runbuf, "%d", (int)getpid());
        run = runbuf;
    }
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) return 1;
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conc);
    curl_multi_setopt(m, CURLMOPT_PIPELINING, use_h2 ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);

    /* 1. the citizen */
    th_proc server;
    memset(&server, 0, sizeof server);
    snprintf(server.url, sizeof server.url, "%s", api);
    th_login l;
    long st = th_login_as(&server, pid, &l);
    if (st != 200) {
        fprintf(stderr, "bench-webhooks: login: callback answered %ld %s\n", st, l.problem);
        return 1;
    }
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", l.access);
    char *proc = procedure ? strdup(procedure) : find_procedure(m);
    if (!proc) return 1;

    job *jobs = calloc((size_t)n, sizeof *jobs);
    char **ids = calloc((size_t)n, sizeof *ids);
    if (!jobs || !ids) abort();
    char submitted[40];
    bench_vn_time(submitted, sizeof submitted, -3 * 86400, 1);

    /* 2. imports and fee_requested */
    for (long i = 0; i < n; i++)
        partner_job(
            &jobs[i], "/v1/partner/dossiers",
            bench_xprintf("{\"ref\":\"WH-%s-%ld\",\"code\":\"WH%s-%ld\",\"procedure_code\":\"%s\","
                    "\"applicant\":{\"personal_id\":\"%s\",\"full_name\":\"Nguyen Van "
                    "Bench\",\"phone\":\"0912345678\"},\"submitted_at\":\"%s\","
                    "\"status\":\"received\"}",
                    run, i, run, i, proc, pid, submitted));
    double t = run_batch(m, jobs, (size_t)n, conc);
    if (all_ok("import", jobs, (size_t)n, 201, 200) != 0) return 1;
    for (long i = 0; i < n; i++) {
        json_t *a = json_loads(cds_buf_str(&jobs[i].resp), 0, NULL);
        const char *id = json_string_value(json_object_get(a, "dossier_id"));
        if (!id) {
            fprintf(stderr, "bench-webhooks: import #%ld: no dossier_id: %s\n", i, cds_buf_str(&jobs[i].resp));
            return 1;
        }
        ids[i] = strdup(id);
        json_decref(a);
        job_clear(&jobs[i]);
    }
    fprintf(stderr, "bench-webhooks: %ld dossiers imported in %.2f s\n", n, t);
    char occurred[40];
    bench_vn_time(occurred, sizeof occurred, -3600, 1);
    for (long i = 0; i < n; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/partner/dossiers/WH%s-%ld/steps", run, i);
        partner_job(&jobs[i], path,
                    bench_xprintf("{\"event_id\":\"wh-%s-%ld-fee\",\"step\":\"fee_requested\","
                            "\"occurred_at\":\"%s\",\"fee_vnd\":%ld}",
                            run, i, occurred, fee));
    }
    t = run_batch(m, jobs, (size_t)n, conc);
    if (all_ok("fee_requested step", jobs, (size_t)n, 200, 201) != 0) return 1;
    for (long i = 0; i < n; i++)
        job_clear(&jobs[i]);
    fprintf(stderr, "bench-webhooks: %ld fees requested in %.2f s\n", n, t);

    /* 3. the intents */
    for (long i = 0; i < n; i++) {
        jobs[i].method = "POST";
        jobs[i].url = bench_xprintf("%s/v1/dossiers/%s/payment", api, ids[i]);
        jobs[i].body = strdup("{}");
        add_json_headers(&jobs[i], 1);
    }
    t = run_batch(m, jobs, (size_t)n, conc);
    if (all_ok("payment intent", jobs, (size_t)n, 201, 200) != 0) return 1;
    fprintf(stderr, "bench-webhooks: %ld payment intents in %.2f s\n", n, t);

    /* 4. the webhooks, signed before the clock starts */
    char when[32];
    bench_vn_time(when, sizeof when, 0, 0);
    for (long i = 0; i < n; i++) {
        json_t *a = json_loads(cds_buf_str(&jobs[i].resp), 0, NULL);
        char link[33], bankref[64], ref[32];
        hex(link, 16);
        snprintf(bankref, sizeof bankref, "FTB%.24s%08ld", run, i);
        char *body = bench_payos_webhook(a, i + 1, bankref, link, when, key, ref, sizeof ref);
        if (!body) {
            fprintf(stderr,
                    "bench-webhooks: intent #%ld: no reference, integer amount_vnd or valid "
                    "vietqr.payload, or signing failed (is the key 16+ characters?): %s\n",
                    i, cds_buf_str(&jobs[i].resp));
            return 1;
        }
        json_decref(a);
        job_clear(&jobs[i]);
        jobs[i].method = "POST";
        jobs[i].url = bench_xprintf("%s/v1/webhooks/payos", api);
        jobs[i].body = body;
        add_json_headers(&jobs[i], 0);
    }

    /* 5. timed (after the hook, bench/run's snapshot of the database's counters) */
    if (hook && system(hook) != 0) fprintf(stderr, "bench-webhooks: the hook failed: %s\n", hook);
    t = run_batch(m, jobs, (size_t)n, conc);
    long bad = 0;
    for (long i = 0; i < n; i++)
        if (jobs[i].status != 200) {
            if (bad++ == 0)
                fprintf(stderr, "bench-webhooks: webhook #%ld answered %ld: %s\n", i,
                        jobs[i].status, cds_buf_str(&jobs[i].resp));
        }
    fprintf(stderr, "bench-webhooks: %ld webhooks in %.3f s over %d %s connections, %ld not 200\n",
            n, t, conc, use_h2 ? "h2c" : "HTTP/1.1", bad);
    printf("rate %.0f %ld %.3f %ld\n", (double)(n - bad) / t, n, t, bad);
    for (long i = 0; i < n; i++) {
        job_clear(&jobs[i]);
        free(ids[i]);
    }
    free(jobs);
    free(ids);
    free(proc);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return 0;
}
