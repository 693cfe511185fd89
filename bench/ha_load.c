/* cds-ha-load: the mixed load of scripts/ha-drill, driven through the
 * balancer while the drill kills a database primary and a server node.
 *
 * L lanes run side by side (libcurl multi, HTTP/1.1 keep-alive, one request
 * in flight per lane). Each lane walks one dossier after another through
 * the life the API sees in production:
 *
 *   import (signed partner POST /v1/partner/dossiers, as filed at a counter,
 *   the logged-in citizen as applicant) -> step processing -> step
 *   fee_requested -> payment intent (POST /v1/dossiers/{id}/payment, the
 *   citizen's token, Idempotency-Key) -> payOS webhook for it (signed as
 *   payOS signs, a fresh bank reference) -> citizen read
 *   (GET /v1/dossiers/{id}) -> attachment upload (a small PDF unique to the
 *   lane and dossier) -> download, compared byte for byte -> the four
 *   signed VNPost status webhooks of one booked shipment (-d: shipments
 *   prepared in the database for the citizen, bench/courier_fixture.h;
 *   picked_up, in_transit, out_for_delivery, delivered with its proof) ->
 *   steps processing, result_ready, ready_for_pickup, completed.
 *
 * Every step writes the citizen's SMS into the outbox, so notifications
 * flow to the stand-in gateways all along.
 *
 * Failures: a request that gets no answer, or 502/503/504, has an unknown
 * outcome; it is sent again (the same event id, bank reference or
 * Idempotency-Key, so a first attempt that did commit is found, never done
 * twice) every 250 ms until it is answered, for up to 60 s. Any other
 * answer than the expected one is an error: the lane gives up that dossier
 * and starts the next.
 *
 * Output, for scripts/ha-drill to check against the database afterwards:
 *   -o LEDGER   one line per write acknowledged with 2xx:
 *               import CODE DOSSIER_ID | step EVENT_ID | intent DOSSIER_ID
 *               REFERENCE | payment BANK_REFERENCE PAYMENT_REFERENCE |
 *               attach ATTACHMENT_ID SHA256 | courier EVENT_ID
 *   -w TIMELINE one line per attempt of a write, when it was sent and when
 *               answered (epoch ms) and 1 (2xx) or 0: SENT_MS DONE_MS OK
 *   stdout, last line: acked N reads R retries T errors E
 * Exit status: 0 when no request ended in an error, 1 otherwise.
 *
 * Usage: cds-ha-load -u http://HOST:PORT -t SECONDS [-c LANES] -o LEDGER -w TIMELINE
 *                    [-r RUN] [-i PERSONAL_ID] [-k PAYOS_KEY] [-p PROCEDURE]
 *                    [-d CONNINFO -n SHIPMENTS]
 *   RUN: letters and digits, new for each run against a database.
 *   -b: steps and webhooks only (the --bench figure: import, steps and the
 *   payment of each dossier, no reads, attachments or courier events). */
#include "bench/courier_fixture.h"
#include "bench/load.h"
#include "bench/payos_hook.h"
#include "core/buf.h"
#include "tests/lib/login.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEV_PAYOS_KEY "cds-dev-payos-checksum-key"
#define RETRY_MS 250
#define GIVE_UP_S 60.0
#define FEE_VND 150000
#define ERRORS_SHOWN 10

enum phase {
    P_IMPORT,
    P_STEP_PROCESSING,
    P_STEP_FEE,
    P_INTENT,
    P_WEBHOOK,
    P_READ,
    P_UPLOAD,
    P_DOWNLOAD,
    P_COURIER1, /* picked_up, in_transit, out_for_delivery, delivered */
    P_COURIER2,
    P_COURIER3,
    P_COURIER4,
    P_STEP_PROCESSING2,
    P_STEP_RESULT,
    P_STEP_PICKUP,
    P_STEP_COMPLETED,
    P_CYCLE_END,
};

typedef struct lane {
    int idx;
    long k; /* dossier number within the lane */
    int phase;
    char code[64], id[40], reference[32], bankref[48], att_id[40], att_sha[65];
    char when[40]; /* the step's occurred_at, the same on every attempt */
    int ship;      /* the shipment whose events this dossier's cycle sends (1..), 0: none */
    char *webhook_body; /* signed once, sent again as is */
    unsigned char pdf[256];
    size_t pdf_len;
    /* the request in flight */
    CURL *easy;
    struct curl_slist *hdrs;
    char *url, *body;
    size_t body_len;
    cds_buf resp;
    double first_sent, retry_at;
    long long sent_ms; /* when this attempt went out (wall clock) */
    int tries;
    int done; /* stopped for good */
} lane;

static const char *api, *run, *pid_citizen = "079085001234", *payos_key, *procedure;
static char bearer[2200];
static FILE *ledger, *timeline;
static long n_acked, n_reads, n_retries, n_errors;
static int bench_only;
static int n_ships, next_ship; /* prepared shipments, the next one to take */
static char courier_at[4][40];
static char submitted[40];

static void req_clear(lane *l)
{
    free(l->url);
    free(l->body);
    curl_slist_free_all(l->hdrs);
    cds_buf_free(&l->resp);
    l->url = l->body = NULL;
    l->hdrs = NULL;
    l->body_len = 0;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int is_write(int phase)
{
    return phase != P_READ && phase != P_DOWNLOAD;
}

/* A partner call signed as the TTHC system signs it (signed again on every
 * attempt: the timestamp must be fresh). */
static void partner(lane *l, const char *path, char *body)
{
    l->url = bench_xprintf("%s%s", api, path);
    l->body = body;
    l->body_len = strlen(body);
    l->hdrs = bench_partner_headers(l->hdrs, path, body);
}

static const char *step_name(int phase)
{
    switch (phase) {
    case P_STEP_PROCESSING:
    case P_STEP_PROCESSING2: return "processing";
    case P_STEP_FEE: return "fee_requested";
    case P_STEP_RESULT: return "result_ready";
    case P_STEP_PICKUP: return "ready_for_pickup";
    default: return "completed";
    }
}

/* Builds the lane's request for its phase. */
static void build(lane *l)
{
    char path[160], key[96];
    req_clear(l);
    switch (l->phase) {
    case P_IMPORT:
        snprintf(l->code, sizeof l->code, "HA%s-%d-%ld", run, l->idx, l->k);
        partner(l, "/v1/partner/dossiers",
                bench_xprintf("{\"ref\":\"%s\",\"code\":\"%s\",\"procedure_code\":\"%s\","
                        "\"applicant\":{\"personal_id\":\"%s\",\"full_name\":\"Nguyen Van "
                        "Drill\",\"phone\":\"0912345678\"},\"submitted_at\":\"%s\","
                        "\"status\":\"received\"}",
                        l->code, l->code, procedure, pid_citizen, submitted));
        break;
    case P_STEP_PROCESSING:
    case P_STEP_FEE:
    case P_STEP_PROCESSING2:
    case P_STEP_RESULT:
    case P_STEP_PICKUP:
    case P_STEP_COMPLETED:
        /* Before the payment, dated an hour ago (the webhook's "paid" is
         * dated now); after it, from now on. */
        if (l->tries == 0) bench_vn_time(l->when, sizeof l->when, l->phase <= P_STEP_FEE ? -3600 + l->phase : 1, 1);
        snprintf(path, sizeof path, "/v1/partner/dossiers/%s/steps", l->code);
        partner(l, path,
                bench_xprintf("{\"event_id\":\"%s-s%d\",\"step\":\"%s\",\"occurred_at\":\"%s\"%s}",
                        l->code, l->phase, step_name(l->phase), l->when,
                        l->phase == P_STEP_FEE ? ",\"fee_vnd\":150000" : ""));
        break;
    case P_INTENT:
        l->url = bench_xprintf("%s/v1/dossiers/%s/payment", api, l->id);
        l->body = strdup("{}");
        l->body_len = 2;
        l->hdrs = curl_slist_append(l->hdrs, "Content-Type: application/json");
        l->hdrs = curl_slist_append(l->hdrs, bearer);
        snprintf(key, sizeof key, "Idempotency-Key: %s-intent", l->code);
        l->hdrs = curl_slist_append(l->hdrs, key);
        break;
    case P_WEBHOOK:
        l->url = bench_xprintf("%s/v1/webhooks/payos", api);
        l->body = strdup(l->webhook_body);
        l->body_len = strlen(l->body);
        l->hdrs = curl_slist_append(l->hdrs, "Content-Type: application/json");
        break;
    case P_READ:
        l->url = bench_xprintf("%s/v1/dossiers/%s", api, l->id);
        l->hdrs = curl_slist_append(l->hdrs, bearer);
        break;
    case P_UPLOAD: {
        int n = snprintf((char *)l->pdf, sizeof l->pdf,
                         "%%PDF-1.4\n%% ha-drill %s lane %d dossier %ld\n1 0 obj << /Type "
                         "/Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%%%EOF\n",
                         run, l->idx, l->k);
        l->pdf_len = (size_t)n;
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256(l->pdf, l->pdf_len, md);
        hex(md, sizeof md, l->att_sha);
        l->url = bench_xprintf("%s/v1/attachments?name=drill.pdf", api);
        l->body = malloc(l->pdf_len);
        if (!l->body) abort();
        memcpy(l->body, l->pdf, l->pdf_len);
        l->body_len = l->pdf_len;
        l->hdrs = curl_slist_append(l->hdrs, "Content-Type: application/pdf");
        l->hdrs = curl_slist_append(l->hdrs, bearer);
        break;
    }
    case P_DOWNLOAD:
        l->url = bench_xprintf("%s/v1/attachments/%s", api, l->att_id);
        l->hdrs = curl_slist_append(l->hdrs, bearer);
        break;
    case P_COURIER1:
    case P_COURIER2:
    case P_COURIER3:
    case P_COURIER4: {
        char ts[24], sig[65], h[96];
        int round = l->phase - P_COURIER1;
        l->url = bench_xprintf("%s/v1/webhooks/couriers/vnpost", api);
        l->body = bench_vnpost_event(run, l->ship, round, courier_at[round]);
        l->body_len = strlen(l->body);
        snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
        bench_vnpost_sign(BENCH_VNPOST_DEV_SECRET, ts, l->body, sig);
        l->hdrs = curl_slist_append(l->hdrs, "Content-Type: application/json");
        snprintf(h, sizeof h, "X-Vnpost-Timestamp: %s", ts);
        l->hdrs = curl_slist_append(l->hdrs, h);
        snprintf(h, sizeof h, "X-Vnpost-Signature: %s", sig);
        l->hdrs = curl_slist_append(l->hdrs, h);
        break;
    }
    }
}

static void start(CURLM *m, lane *l)
{
    CURL *c = curl_easy_init();
    if (!c) abort();
    l->easy = c;
    curl_easy_setopt(c, CURLOPT_URL, l->url);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, l->hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &l->resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PRIVATE, l);
    if (l->body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, l->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)l->body_len);
    }
    l->sent_ms = bench_epoch_ms();
    curl_multi_add_handle(m, c);
}

static void error(lane *l, long status, const char *why)
{
    if (n_errors++ < ERRORS_SHOWN)
        fprintf(stderr, "ha-load: lane %d dossier %s phase %d: %s (HTTP %ld): %.300s\n", l->idx,
                l->code, l->phase, why, status, l->resp.p ? l->resp.p : "");
}

/* Builds and signs the payOS webhook for the intent in the answer. */
static int make_webhook(lane *l, json_t *a)
{
    char when[32], link[40];
    snprintf(l->bankref, sizeof l->bankref, "FT%s%03d%06ld", run, l->idx, l->k);
    snprintf(link, sizeof link, "ha%s%03d%06ld", run, l->idx, l->k);
    bench_vn_time(when, sizeof when, 0, 0);
    free(l->webhook_body);
    l->webhook_body = bench_payos_webhook(a, (long long)l->idx * 1000000 + l->k + 1, l->bankref,
                                          link, when, payos_key, l->reference,
                                          sizeof l->reference);
    return l->webhook_body ? 0 : -1;
}

/* The answer to the lane's request: 1 to move on, 0 to send it again, -1
 * to give the dossier up. */
static int answer(lane *l, long status)
{
    if (status == 0 || status == 502 || status == 503 || status == 504) return 0;
    json_t *a = l->resp.p && l->phase != P_DOWNLOAD ? json_loads(l->resp.p, 0, NULL) : NULL;
    int rc = 1;
    switch (l->phase) {
    case P_IMPORT: {
        const char *id = json_string_value(json_object_get(a, "dossier_id"));
        if ((status != 201 && status != 200) || !id) {
            error(l, status, "import");
            rc = -1;
            break;
        }
        snprintf(l->id, sizeof l->id, "%s", id);
        fprintf(ledger, "import %s %s\n", l->code, l->id);
        break;
    }
    case P_STEP_PROCESSING:
    case P_STEP_FEE:
    case P_STEP_PROCESSING2:
    case P_STEP_RESULT:
    case P_STEP_PICKUP:
    case P_STEP_COMPLETED: {
        const char *res = json_string_value(json_object_get(a, "result"));
        /* "duplicate": an earlier attempt of this very event committed
         * (the event id is this lane's alone), its answer lost with a node
         * or a connection; libcurl may also have sent it again by itself
         * on a fresh connection when a kept-alive one died under it. */
        if (status != 200 || !res || (strcmp(res, "applied") != 0 && strcmp(res, "duplicate") != 0)) {
            error(l, status, step_name(l->phase));
            rc = -1;
            break;
        }
        fprintf(ledger, "step %s-s%d\n", l->code, l->phase);
        break;
    }
    case P_INTENT:
        if ((status != 201 && status != 200) || make_webhook(l, a) != 0) {
            error(l, status, "payment intent");
            rc = -1;
            break;
        }
        fprintf(ledger, "intent %s %s\n", l->id, l->reference);
        break;
    case P_WEBHOOK:
        if (status != 200) {
            error(l, status, "payOS webhook");
            rc = -1;
            break;
        }
        fprintf(ledger, "payment %s %s\n", l->bankref, l->reference);
        break;
    case P_READ: {
        const char *st = json_string_value(json_object_get(a, "status"));
        if (status != 200 || !st || strcmp(st, "paid") != 0) {
            error(l, status, "citizen read (expected status paid)");
            rc = -1;
        }
        break;
    }
    case P_UPLOAD: {
        const char *id = json_string_value(json_object_get(a, "id"));
        const char *sha = json_string_value(json_object_get(a, "sha256"));
        if (status != 201 || !id || !sha || strcmp(sha, l->att_sha) != 0) {
            error(l, status, "attachment upload");
            rc = -1;
            break;
        }
        snprintf(l->att_id, sizeof l->att_id, "%s", id);
        fprintf(ledger, "attach %s %s\n", l->att_id, l->att_sha);
        break;
    }
    case P_DOWNLOAD:
        if (status != 200 || l->resp.len != l->pdf_len || memcmp(l->resp.p, l->pdf, l->pdf_len) != 0) {
            error(l, status, "attachment download differs from the upload");
            rc = -1;
        }
        break;
    case P_COURIER1:
    case P_COURIER2:
    case P_COURIER3:
    case P_COURIER4: {
        static const char *const codes[] = {"200", "300", "400", "500"};
        if (status != 200) {
            error(l, status, "VNPost status webhook");
            rc = -1;
            break;
        }
        fprintf(ledger, "courier bn-%s-%d-%s\n", run, l->ship, codes[l->phase - P_COURIER1]);
        break;
    }
    }
    json_decref(a);
    return rc;
}

static int next_phase(lane *l)
{
    if (bench_only && l->phase == P_WEBHOOK) return P_STEP_PROCESSING2;
    if (l->phase == P_DOWNLOAD) {
        /* The next prepared shipment, if any is left. */
        if (next_ship > n_ships) return P_STEP_PROCESSING2;
        l->ship = next_ship++;
    }
    return l->phase + 1;
}

/* GET /v1/me: the logged-in citizen's id, into out. */
static int my_id(char *out, size_t cap)
{
    CURL *c = curl_easy_init();
    cds_buf b;
    cds_buf_init(&b, BENCH_RESP_MAX);
    char *u = bench_xprintf("%s/v1/me", api);
    struct curl_slist *h = curl_slist_append(NULL, bearer);
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    long st = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    json_t *j = st == 200 && b.p ? json_loads(b.p, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(j, "id"));
    int rc = id ? 0 : -1;
    if (id) snprintf(out, cap, "%s", id);
    json_decref(j);
    cds_buf_free(&b);
    free(u);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

/* The shipments whose events the lanes send, booked for the citizen. */
static int prepare_shipments(const char *conninfo, int n)
{
    char id[64];
    if (my_id(id, sizeof id) != 0) {
        fprintf(stderr, "ha-load: GET /v1/me gave no citizen id\n");
        return -1;
    }
    PGconn *db = PQconnectdb(conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "ha-load: %s", PQerrorMessage(db));
        PQfinish(db);
        return -1;
    }
    int rc = bench_courier_prepare(db, run, "1.001193", n, id);
    PQfinish(db);
    if (rc != 0) return -1;
    /* Every shipment's events a minute apart, ten minutes ago. */
    for (int r = 0; r < 4; r++)
        bench_vn_time(courier_at[r], sizeof courier_at[r], -600 + 60 * r, 1);
    n_ships = n;
    next_ship = 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *ledger_path = NULL, *timeline_path = NULL, *conninfo = NULL;
    int lanes = 8, opt, ships = 0;
    double seconds = 0;
    payos_key = getenv("CDS_PAYOS_CHECKSUM_KEY");
    if (!payos_key || !*payos_key) payos_key = DEV_PAYOS_KEY;
    procedure = "1.009994"; /* the building permit of the catalog */
    while ((opt = getopt(argc, argv, "u:t:c:o:w:r:i:k:p:bd:n:")) != -1) {
        switch (opt) {
        case 'u': url = optarg; break;
        case 't': seconds = strtod(optarg, NULL); break;
        case 'c': lanes = (int)strtol(optarg, NULL, 10); break;
        case 'o': ledger_path = optarg; break;
        case 'w': timeline_path = optarg; break;
        case 'r': run = optarg; break;
        case 'i': pid_citizen = optarg; break;
        case 'k': payos_key = optarg; break;
        case 'p': procedure = optarg; break;
        case 'b': bench_only = 1; break;
        case 'd': conninfo = optarg; break;
        case 'n': ships = (int)strtol(optarg, NULL, 10); break;
        default: url = NULL; break;
        }
    }
    if (!url || seconds <= 0 || lanes < 1 || lanes > 256 || !ledger_path || !timeline_path) {
        fprintf(stderr, "usage: cds-ha-load -u http://HOST:PORT -t SECONDS [-c LANES] -o LEDGER "
                        "-w TIMELINE [-r RUN] [-i PERSONAL_ID] [-k PAYOS_KEY] [-p PROCEDURE] [-b] "
                        "[-d CONNINFO -n SHIPMENTS]\n");
        return 2;
    }
    api = url;
    char runbuf[32];
    if (!run) {
        snprintf(runbuf, sizeof runbuf, "%d", (int)getpid());
        run = runbuf;
    }
    ledger = fopen(ledger_path, "w");
    timeline = fopen(timeline_path, "w");
    if (!ledger || !timeline) {
        perror("ha-load: output file");
        return 2;
    }
    setvbuf(ledger, NULL, _IOLBF, 0);
    bench_vn_time(submitted, sizeof submitted, -3 * 86400, 1);
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) return 1;

    th_proc server;
    memset(&server, 0, sizeof server);
    snprintf(server.url, sizeof server.url, "%s", api);
    th_login lg;
    long st = th_login_as(&server, pid_citizen, &lg);
    if (st != 200) {
        fprintf(stderr, "ha-load: login: callback answered %ld %s\n", st, lg.problem);
        return 1;
    }
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", lg.access);
    if (conninfo && ships > 0 && !bench_only && prepare_shipments(conninfo, ships) != 0) return 1;

    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)lanes);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)lanes);
    lane *ls = calloc((size_t)lanes, sizeof *ls);
    if (!ls) abort();
    double t0 = bench_now_s(), end = t0 + seconds;
    for (int i = 0; i < lanes; i++) {
        ls[i].idx = i;
        cds_buf_init(&ls[i].resp, BENCH_RESP_MAX);
        ls[i].phase = P_IMPORT;
        build(&ls[i]);
        ls[i].first_sent = bench_now_s();
        start(m, &ls[i]);
    }
    int active = lanes;
    long cycles = 0;
    while (active > 0) {
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            lane *l;
            long status = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&l);
            if (msg->data.result == CURLE_OK)
                curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(m, msg->easy_handle);
            curl_easy_cleanup(msg->easy_handle);
            l->easy = NULL;
            int rc = answer(l, status);
            if (is_write(l->phase))
                fprintf(timeline, "%lld %lld %d\n", l->sent_ms, bench_epoch_ms(), rc == 1);
            double now = bench_now_s();
            if (rc == 0 && now - l->first_sent < GIVE_UP_S) {
                n_retries++;
                l->tries++;
                l->retry_at = now + RETRY_MS / 1000.0;
                continue;
            }
            if (rc == 0) error(l, status, "no answer for 60 s");
            if (rc == 1) {
                if (is_write(l->phase))
                    n_acked++;
                else
                    n_reads++;
                l->phase = next_phase(l);
            }
            if (rc != 1 || l->phase == P_CYCLE_END) {
                cycles += rc == 1;
                l->k++;
                l->phase = P_IMPORT;
                l->reference[0] = 0;
            }
            if (now >= end) {
                l->done = 1;
                active--;
                req_clear(l);
                continue;
            }
            l->tries = 0;
            build(l);
            l->first_sent = now;
            start(m, l);
        }
        double now = bench_now_s();
        for (int i = 0; i < lanes; i++) {
            lane *l = &ls[i];
            if (l->done || l->easy || l->retry_at == 0 || now < l->retry_at) continue;
            l->retry_at = 0;
            build(l); /* signed again: a fresh timestamp */
            start(m, l);
        }
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    fprintf(stderr, "ha-load: %.1f s, %d lanes, %ld dossiers through their whole life\n",
            bench_now_s() - t0, lanes, cycles);
    printf("acked %ld reads %ld retries %ld errors %ld\n", n_acked, n_reads, n_retries, n_errors);
    for (int i = 0; i < lanes; i++) {
        req_clear(&ls[i]);
        free(ls[i].webhook_body);
    }
    free(ls);
    fclose(ledger);
    fclose(timeline);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return n_errors == 0 ? 0 : 1;
}
