/* cds-bench-steps: the load generator of the `steps` row of bench/run. It
 * measures how many dossier steps per second the partner API ingests when
 * every step is new work (h2load would resend one body, and after the first
 * answer every request would take the duplicate fast path).
 *
 * Against a running `cds serve` (cleartext HTTP/2, prior knowledge), over C
 * connections with up to M streams in flight on each, one thread, epoll and
 * nghttp2 directly (so that the client costs about what h2load costs):
 *
 *   1. GET /v1/procedures?limit=1 for a procedure code (or -P CODE);
 *   2. imports D dossiers, as filed at a counter, with signed
 *      POST /v1/partner/dossiers (status "received", submitted three days
 *      ago, each its own citizen with a phone number, so every applied step
 *      writes one SMS outbox row);
 *   3. for W seconds of warm-up and then T measured seconds, pushes signed
 *      POST /v1/partner/dossiers/CODE/steps: per dossier one step at a time
 *      (the next is legal only once the previous one is applied), each with
 *      a unique event_id and an occurred_at one second after the previous
 *      one, walking the cycle
 *        received -> processing -> fee_requested (fee_vnd) -> paid ->
 *        processing -> supplement_requested (missing_documents) ->
 *        supplemented -> processing -> ...
 *      which only uses legal transitions (db/migrations/0003_dossiers.sql).
 *      Every answer must be 200 {"result":"applied"}; anything else is
 *      counted as an error.
 *
 * Requests are signed as core/hmac_auth.h says (cds_hmac_sign, the code the
 * server verifies with): X-Client-Id, X-Timestamp, X-Signature.
 *
 * Usage: cds-bench-steps -p PORT [-H HOST] [-c CONNS] [-m STREAMS] [-d DOSSIERS]
 *                        [-w WARMUP_S] [-t SECONDS] [-r RUN_ID] [-P PROCEDURE]
 *                        [-s SERVER_PID] [-k CLIENT_ID] [-K SECRET] [-R RATE] [-x HOOK]
 *   Defaults: -H 127.0.0.1 -c 4 -m 32 -d 2000 -w 1 -t 4, run id from the pid
 *   and the clock (it must be new for each run against the same database:
 *   dossier codes and event ids derive from it), client tthc-hcm with the
 *   development secret.
 *   -R: pace the steps to RATE per second (the notification latency row);
 *   0, the default, sends as fast as the server answers.
 *   -s: also measure that process's CPU time (user + system) over the
 *   measured seconds, reported per applied step.
 *   -x: a shell command run after the imports, before the first step
 *   (bench/run's snapshot of the database's counters).
 *
 * Output (stdout): a few lines of progress, then the result as the last line:
 *   rate STEPS_PER_SECOND [cpu_us MICROSECONDS_PER_STEP]
 * Exit status: 0 when every answer was the expected one, 1 otherwise (the
 * first few unexpected answers go to stderr), 2 on usage errors. */
#include "core/hmac_auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX 1024
#define RESP_MAX 8192
#define ERRORS_SHOWN 5

enum { K_CATALOG, K_IMPORT, K_STEP };
enum { PH_CATALOG, PH_IMPORT, PH_STEPS, PH_DRAIN };

typedef struct conn conn;

typedef struct stream {
    conn *c;
    int kind;
    int dossier; /* index into dossiers[], -1 for the catalog request */
    int status;
    char path[160];
    char body[BODY_MAX];
    size_t body_len, body_off;
    char resp[RESP_MAX];
    size_t resp_len;
    struct stream *next_free;
} stream;

struct conn {
    int fd;
    nghttp2_session *s;
    int inflight;
    int want_out; /* EPOLLOUT registered */
    uint8_t *out;
    size_t out_len, out_cap;
};

typedef struct dossier {
    char code[64];
    int k; /* steps applied so far */
} dossier;

/* options */
static const char *host = "127.0.0.1";
static const char *hook; /* -x: a shell command run after the imports, before the steps */
static int port, nconns = 4, nstreams = 32, ndossiers = 2000, warmup_s = 1, measure_s = 4;
static long server_pid;
static char run_id[32];
static char procedure[64];
static const char *client_id = "tthc-hcm", *secret = "cds-dev-partner-secret";

static conn *conns;
static stream *free_streams;
static dossier *dossiers;
static int *idle_q; /* ring of dossier indexes ready for their next step */
static int idle_head, idle_len;
static int epfd, phase, imports_sent, imports_done, catalog_done;
static time_t base_time; /* submitted_at of every imported dossier */
static char authority[128];

/* results */
static long applied_warm, applied_measured, applied_late, errors;
static int measuring, measured_over;
static double t_measure0, t_measure1;
static long cpu0, cpu1;

static void die(const char *what)
{
    fprintf(stderr, "cds-bench-steps: %s\n", what);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time (user + system, clock ticks) of process pid so far; -1 if unknown. */
static long cpu_ticks(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    p++; /* the space before field 3 (state); utime is field 14, stime 15 */
    for (int field = 3; field < 14 && p; field++) p = strchr(p + 1, ' ');
    if (!p) return -1;
    char *end;
    long ut = strtol(p + 1, &end, 10);
    long st = strtol(end + 1, NULL, 10);
    return ut + st;
}

static void show_error(const stream *st, const char *why)
{
    errors++;
    if (errors > ERRORS_SHOWN) return;
    fprintf(stderr, "cds-bench-steps: %s: %s answered %d: %.*s\n", why, st->path, st->status,
            (int)st->resp_len, st->resp);
}

/* ---------------------------------------------------------------- requests */

static stream *stream_get(conn *c, int kind, int di)
{
    stream *st = free_streams;
    if (!st) die("out of stream slots");
    free_streams = st->next_free;
    memset(st, 0, offsetof(stream, body));
    st->resp_len = 0;
    st->body_len = st->body_off = 0;
    st->c = c;
    st->kind = kind;
    st->dossier = di;
    return st;
}

static void stream_put(stream *st)
{
    st->next_free = free_streams;
    free_streams = st;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *user)
{
    stream *st = src->ptr;
    size_t n = st->body_len - st->body_off;
    if (n > len) n = len;
    memcpy(buf, st->body + st->body_off, n);
    st->body_off += n;
    if (st->body_off == st->body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n_, v_, fl_)                                                                            \
    {                                                                                              \
        (uint8_t *)(n_), (uint8_t *)(v_), strlen(n_), strlen(v_), (fl_)                            \
    }

/* Submits st (path and body filled in); a POST is signed. */
static void submit(stream *st, const char *method)
{
    char ts[24], sig[65] = "", len[24];
    long long t = (long long)time(NULL);
    snprintf(ts, sizeof ts, "%lld", t);
    snprintf(len, sizeof len, "%zu", st->body_len);
    int post = strcmp(method, "POST") == 0;
    if (post) cds_hmac_sign(secret, method, st->path, t, st->body, st->body_len, sig);
    nghttp2_nv nva[] = {
        NV(":method", method, NGHTTP2_NV_FLAG_NONE),
        NV(":scheme", "http", NGHTTP2_NV_FLAG_NONE),
        NV(":authority", authority, NGHTTP2_NV_FLAG_NONE),
        /* one path per dossier and one signature per request: not worth
         * a place in the server's HPACK table */
        NV(":path", st->path, NGHTTP2_NV_FLAG_NO_INDEX),
        NV("content-type", "application/json", NGHTTP2_NV_FLAG_NONE),
        NV("content-length", len, NGHTTP2_NV_FLAG_NONE),
        NV("x-client-id", client_id, NGHTTP2_NV_FLAG_NONE),
        NV("x-timestamp", ts, NGHTTP2_NV_FLAG_NONE),
        NV("x-signature", sig, NGHTTP2_NV_FLAG_NO_INDEX),
    };
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_body};
    size_t n = post ? sizeof nva / sizeof nva[0] : 4; /* a GET: the pseudo-headers only */
    int32_t id = nghttp2_submit_request(st->c->s, NULL, nva, n, post ? &prd : NULL, st);
    if (id < 0) die(nghttp2_strerror(id));
    st->c->inflight++;
}

static void format_time(time_t t, char *out, size_t cap)
{
    time_t local = t + 7 * 3600; /* Asia/Ho_Chi_Minh, no DST */
    struct tm tm;
    gmtime_r(&local, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
}

static void submit_catalog(conn *c)
{
    stream *st = stream_get(c, K_CATALOG, -1);
    snprintf(st->path, sizeof st->path, "/v1/procedures?limit=1");
    submit(st, "GET");
}

static void submit_import(conn *c, int i)
{
    stream *st = stream_get(c, K_IMPORT, i);
    char at[40];
    format_time(base_time, at, sizeof at);
    snprintf(st->path, sizeof st->path, "/v1/partner/dossiers");
    int n = snprintf(st->body, sizeof st->body,
                     "{\"ref\":\"BENCH-%s-%d\",\"code\":\"%s\",\"procedure_code\":\"%s\","
                     "\"applicant\":{\"personal_id\":\"079%09d\",\"full_name\":\"Người Thử "
                     "Nghiệm %d\",\"phone\":\"09%08d\"},\"submitted_at\":\"%s\","
                     "\"status\":\"received\"}",
                     run_id, i, dossiers[i].code, procedure, i, i, i % 100000000, at);
    if (n < 0 || (size_t)n >= sizeof st->body) die("import body too long");
    st->body_len = (size_t)n;
    submit(st, "POST");
}

/* The cycle after the first step (received -> processing). */
static const char *const cycle[] = {"fee_requested", "paid", "processing", "supplement_requested",
                                    "supplemented", "processing"};

static void submit_step(conn *c, int i)
{
    dossier *d = &dossiers[i];
    stream *st = stream_get(c, K_STEP, i);
    const char *step = d->k == 0 ? "processing" : cycle[(d->k - 1) % 6];
    char at[40], extra[200] = "";
    format_time(base_time + 1 + d->k, at, sizeof at);
    if (strcmp(step, "fee_requested") == 0)
        snprintf(extra, sizeof extra, ",\"fee_vnd\":%d", 50000 + (i % 10) * 1000);
    else if (strcmp(step, "supplement_requested") == 0)
        snprintf(extra, sizeof extra,
                 ",\"missing_documents\":[\"Bản vẽ mặt cắt công trình\"],\"note\":\"Thiếu bản vẽ\"");
    snprintf(st->path, sizeof st->path, "/v1/partner/dossiers/%s/steps", d->code);
    int n = snprintf(st->body, sizeof st->body,
                     "{\"event_id\":\"b%s-%d-%d\",\"step\":\"%s\",\"occurred_at\":\"%s\"%s}", run_id,
                     i, d->k, step, at, extra);
    if (n < 0 || (size_t)n >= sizeof st->body) die("step body too long");
    st->body_len = (size_t)n;
    submit(st, "POST");
}

/* ---------------------------------------------------------------- answers */

static const char *result_of(const stream *st, const char *member, char *out, size_t cap)
{
    json_t *j = json_loadb(st->resp, st->resp_len, 0, NULL);
    const char *v = json_string_value(json_object_get(j, member));
    if (v) snprintf(out, cap, "%s", v);
    json_decref(j);
    return v ? out : NULL;
}

static void idle_push(int i)
{
    idle_q[(idle_head + idle_len) % ndossiers] = i;
    idle_len++;
}

static int idle_pop(void)
{
    if (idle_len == 0) return -1;
    int i = idle_q[idle_head];
    idle_head = (idle_head + 1) % ndossiers;
    idle_len--;
    return i;
}

static void on_done(stream *st)
{
    char v[64];
    switch (st->kind) {
    case K_CATALOG: {
        json_t *j = json_loadb(st->resp, st->resp_len, 0, NULL);
        const char *code = json_string_value(
            json_object_get(json_array_get(json_object_get(j, "items"), 0), "code"));
        if (st->status == 200 && code)
            snprintf(procedure, sizeof procedure, "%s", code);
        else
            show_error(st, "catalog (is it loaded?)");
        json_decref(j);
        catalog_done = 1;
        break;
    }
    case K_IMPORT:
        imports_done++;
        if (st->status != 201 || !result_of(st, "result", v, sizeof v) || strcmp(v, "created") != 0)
            show_error(st, "import");
        else
            idle_push(st->dossier);
        break;
    case K_STEP:
        if (st->status != 200 || !result_of(st, "result", v, sizeof v) || strcmp(v, "applied") != 0) {
            show_error(st, "step");
            break; /* that dossier's sequence is broken: it gets no more steps */
        }
        if (measured_over)
            applied_late++;
        else if (measuring)
            applied_measured++;
        else
            applied_warm++;
        dossiers[st->dossier].k++;
        idle_push(st->dossier);
        break;
    }
}

/* ---------------------------------------------------------------- nghttp2 */

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    if (f->hd.type != NGHTTP2_HEADERS || nlen != 7 || memcmp(name, ":status", 7) != 0) return 0;
    stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st && vlen == 3) st->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *user)
{
    stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st) return 0;
    size_t room = sizeof st->resp - st->resp_len;
    if (len > room) len = room; /* only the start of a long answer is kept */
    memcpy(st->resp + st->resp_len, data, len);
    st->resp_len += len;
    return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *user)
{
    stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st) return 0;
    st->c->inflight--;
    if (error_code != NGHTTP2_NO_ERROR && st->status == 0) st->status = -(int)error_code;
    on_done(st);
    stream_put(st);
    return 0;
}

/* ---------------------------------------------------------------- sockets */

static void set_out_interest(conn *c, int want)
{
    if (c->want_out == want) return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl");
    c->want_out = want;
}

/* Moves what nghttp2 has to send into c->out, then writes as much as the
 * socket takes. */
static void conn_flush(conn *c)
{
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->s, &data);
        if (n < 0) die(nghttp2_strerror((int)n));
        if (n == 0) break;
        if (c->out_len + (size_t)n > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 65536;
            while (cap < c->out_len + (size_t)n) cap *= 2;
            uint8_t *p = realloc(c->out, cap);
            if (!p) die("out of memory");
            c->out = p;
            c->out_cap = cap;
        }
        memcpy(c->out + c->out_len, data, (size_t)n);
        c->out_len += (size_t)n;
    }
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t w = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            die("send failed (did the server close the connection?)");
        }
        off += (size_t)w;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    set_out_interest(c, c->out_len > 0);
}

static void conn_read(conn *c)
{
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            die("recv failed");
        }
        if (n == 0) die("the server closed a connection");
        ssize_t used = nghttp2_session_mem_recv(c->s, buf, (size_t)n);
        if (used < 0) die(nghttp2_strerror((int)used));
        if (used < n) return;
    }
}

static void conn_open(conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("-H must be an IPv4 address");
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("cannot connect to the server");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);

    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0) die("out of memory");
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    int rc = nghttp2_session_client_new(&c->s, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) die("nghttp2_session_client_new");
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    if (nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, 2) != 0) die("settings");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl");
    conn_flush(c);
}

/* The server's limit on streams in flight per connection (known after its
 * SETTINGS arrived), capped by -m. */
static int conn_room(conn *c)
{
    uint32_t peer = nghttp2_session_get_remote_settings(c->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    int cap = (uint32_t)nstreams < peer ? nstreams : (int)peer;
    return cap - c->inflight;
}

/* Gives every connection new requests up to its limit, as the phase allows. */
/* -R: steps are paced to this many per second (0: as fast as answered). */
static int pace_rate;
static double pace_t0;
static long paced_sent;

static int pace_allows(void)
{
    if (pace_rate <= 0) return 1;
    return (double)paced_sent < (now_s() - pace_t0) * pace_rate + 1;
}

static void fill(void)
{
    for (int k = 0; k < nconns; k++) {
        conn *c = &conns[k];
        int room = conn_room(c), sent = 0;
        while (room-- > 0) {
            if (phase == PH_IMPORT && imports_sent < ndossiers) {
                submit_import(c, imports_sent++);
            } else if (phase == PH_STEPS && idle_len > 0 && pace_allows()) {
                paced_sent++;
                submit_step(c, idle_pop());
            } else {
                break;
            }
            sent = 1;
        }
        if (sent) conn_flush(c);
    }
}

static int inflight_total(void)
{
    int n = 0;
    for (int k = 0; k < nconns; k++) n += conns[k].inflight;
    return n;
}

static void poll_once(int timeout_ms)
{
    struct epoll_event evs[64];
    int n = epoll_wait(epfd, evs, 64, timeout_ms);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) {
        conn *c = evs[i].data.ptr;
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) conn_read(c);
        conn_flush(c); /* answers to the server's frames, queued output */
    }
}

/* ---------------------------------------------------------------- main */

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static void usage(const char *me)
{
    fprintf(stderr,
            "usage: %s -p PORT [-H HOST] [-c CONNS] [-m STREAMS] [-d DOSSIERS] [-w WARMUP_S]\n"
            "       [-t SECONDS] [-r RUN_ID] [-P PROCEDURE] [-s SERVER_PID] [-k CLIENT_ID]"
            " [-K SECRET] [-R RATE]\n"
            "       [-x HOOK]\n",
            me);
    exit(2);
}

int main(int argc, char **argv)
{
    int opt, v;
    while ((opt = getopt(argc, argv, "H:p:c:m:d:w:t:r:P:s:k:K:R:x:")) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': if (parse_int(optarg, 1, 65535, &port)) usage(argv[0]); break;
        case 'c': if (parse_int(optarg, 1, 1000, &nconns)) usage(argv[0]); break;
        case 'm': if (parse_int(optarg, 1, 1000, &nstreams)) usage(argv[0]); break;
        case 'd': if (parse_int(optarg, 1, 10000000, &ndossiers)) usage(argv[0]); break;
        case 'w': if (parse_int(optarg, 0, 3600, &warmup_s)) usage(argv[0]); break;
        case 't': if (parse_int(optarg, 1, 86400, &measure_s)) usage(argv[0]); break;
        case 'r':
            if (strlen(optarg) == 0 || strlen(optarg) >= sizeof run_id ||
                strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
                    strlen(optarg))
                usage(argv[0]);
            snprintf(run_id, sizeof run_id, "%s", optarg);
            break;
        case 'P': snprintf(procedure, sizeof procedure, "%s", optarg); break;
        case 's': if (parse_int(optarg, 1, INT_MAX, &v)) usage(argv[0]); server_pid = v; break;
        case 'k': client_id = optarg; break;
        case 'K': secret = optarg; break;
        case 'R': if (parse_int(optarg, 0, 1000000, &pace_rate)) usage(argv[0]); break;
        case 'x': hook = optarg; break;
        default: usage(argv[0]);
        }
    }
    if (!port || optind != argc) usage(argv[0]);
    if (!run_id[0]) snprintf(run_id, sizeof run_id, "%ldx%ld", (long)getpid(), (long)time(NULL));
    snprintf(authority, sizeof authority, "%s:%d", host, port);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    int slots = nconns * nstreams;
    stream *pool = calloc((size_t)slots, sizeof *pool);
    conns = calloc((size_t)nconns, sizeof *conns);
    dossiers = calloc((size_t)ndossiers, sizeof *dossiers);
    idle_q = calloc((size_t)ndossiers, sizeof *idle_q);
    if (!pool || !conns || !dossiers || !idle_q) die("out of memory");
    for (int i = slots - 1; i >= 0; i--) stream_put(&pool[i]);
    for (int i = 0; i < ndossiers; i++)
        snprintf(dossiers[i].code, sizeof dossiers[i].code, "BENCH.%s-%06d", run_id, i);
    base_time = time(NULL) - 3 * 86400;

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    for (int k = 0; k < nconns; k++) conn_open(&conns[k]);

    double t = now_s();
    if (!procedure[0]) {
        phase = PH_CATALOG;
        submit_catalog(&conns[0]);
        conn_flush(&conns[0]);
        while (!catalog_done) poll_once(1000);
        if (!procedure[0]) return 1;
        printf("procedure %s\n", procedure);
    }

    phase = PH_IMPORT;
    while (imports_done < ndossiers) {
        fill();
        poll_once(1000);
    }
    printf("imported %d dossiers in %.2f s\n", idle_len, now_s() - t);
    if (errors) return 1;
    if (hook && system(hook) != 0) fprintf(stderr, "bench-steps: the hook failed: %s\n", hook);

    phase = PH_STEPS;
    double start = now_s(), warm_end = start + warmup_s, end = warm_end + measure_s;
    pace_t0 = start;
    measuring = warmup_s == 0;
    if (measuring) {
        t_measure0 = start;
        cpu0 = server_pid ? cpu_ticks(server_pid) : -1;
    }
    for (;;) {
        double tn = now_s();
        if (!measuring && tn >= warm_end) {
            measuring = 1;
            t_measure0 = tn;
            cpu0 = server_pid ? cpu_ticks(server_pid) : -1;
        }
        if (measuring && tn >= end) {
            measured_over = 1;
            t_measure1 = tn;
            cpu1 = server_pid ? cpu_ticks(server_pid) : -1;
            break;
        }
        fill();
        double next = measuring ? end : warm_end;
        int ms = (int)((next - tn) * 1000) + 1;
        poll_once(ms < 50 ? (pace_rate > 0 ? 1 : ms) : (pace_rate > 0 ? 1 : 50));
        if (idle_len == 0 && inflight_total() == 0) die("no dossier can take a step any more");
    }
    phase = PH_DRAIN;
    while (inflight_total() > 0) poll_once(1000);

    double secs = t_measure1 - t_measure0;
    double rate = secs > 0 ? (double)applied_measured / secs : 0;
    printf("steps: warm-up %d s (%ld applied), measured %.2f s: %ld applied, %.0f steps/s; "
           "%ld more after the end; %ld unexpected answers\n",
           warmup_s, applied_warm, secs, applied_measured, rate, applied_late, errors);
    if (server_pid && cpu0 >= 0 && cpu1 >= cpu0 && applied_measured > 0) {
        double us = (double)(cpu1 - cpu0) * 1e6 / (double)sysconf(_SC_CLK_TCK) /
                    (double)applied_measured;
        printf("rate %.0f cpu_us %.2f\n", rate, us);
    } else {
        printf("rate %.0f\n", rate);
    }
    return errors ? 1 : 0;
}
