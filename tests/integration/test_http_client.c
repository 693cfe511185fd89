/* Integration test of core/http_client against real servers on loopback:
 *
 *   - nghttpd over TLS (a self-signed certificate made here with the openssl
 *     CLI, trusted through ca_file) for HTTP/2 negotiated by ALPN;
 *   - a second, verbose nghttpd over TLS whose log shows how many
 *     connections ("[id=N]" sessions) 20 parallel calls used;
 *   - nghttpd --no-tls for h2c with prior knowledge;
 *   - a small HTTP/1.1 server on a thread of this process, which can echo,
 *     stall, or send a large body with or without Content-Length.
 *
 * The test drives the event loop itself: each step starts calls, runs the
 * loop until its expected callbacks have all fired (a guard timer breaks
 * out if they do not), then checks what the callbacks recorded. */
#include "core/http_client.h"
#include "tests/lib/harness.h"
#include "tests/lib/t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NGHTTPD "/usr/sbin/nghttpd"
#define BIG_SIZE (300 * 1024)
#define H1_MAX_REQUEST 16384

static struct event_base *base;
static int pending; /* callbacks still expected by the current step */
static char tmpdir[256];
static char ca_file[300];

/* ---- what a callback saw ------------------------------------------------ */

typedef struct result {
    int called;
    long status;
    char error[256];
    int has_error;
    char *body; /* malloc */
    size_t body_len;
    char headers[4096];
    cds_http_call *call;
} result;

static void result_clear(result *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static void record(result *res, const cds_http_response *r)
{
    res->called++;
    if (getenv("T_DEBUG"))
        fprintf(stderr, "cb %p status %ld error %s\n", (void *)res, r->status,
                r->error ? r->error : "-");
    res->status = r->status;
    res->has_error = r->error != NULL;
    snprintf(res->error, sizeof res->error, "%s", r->error ? r->error : "");
    free(res->body);
    res->body = malloc(r->body_len + 1);
    if (res->body) {
        memcpy(res->body, r->body, r->body_len);
        res->body[r->body_len] = '\0';
    }
    res->body_len = r->body_len;
    size_t hl = r->headers_len < sizeof res->headers - 1 ? r->headers_len : sizeof res->headers - 1;
    memcpy(res->headers, r->headers, hl);
    res->headers[hl] = '\0';
}

static void on_done(void *arg, const cds_http_response *r)
{
    record(arg, r);
    if (--pending == 0) event_base_loopbreak(base);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopbreak(base);
}

/* Runs the loop until `pending` reaches 0 or `ms` pass; returns 1 if it reached 0. */
static int run_loop(long ms)
{
    struct event *guard = evtimer_new(base, on_guard, NULL);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(guard, &tv);
    if (pending > 0) event_base_dispatch(base);
    event_free(guard);
    return pending == 0;
}

/* Runs the loop for `ms` whatever happens, to catch callbacks that should not come. */
static void run_for(long ms)
{
    int saved = pending;
    pending = 1 << 20;
    run_loop(ms);
    pending = saved;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- child servers ------------------------------------------------------ */

static int wait_port(int port, double seconds)
{
    double end = now_s() + seconds;
    while (now_s() < end) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        if (s >= 0) close(s);
        if (ok) return 0;
        usleep(20000);
    }
    return -1;
}

/* Starts nghttpd serving tmpdir/docs; tls selects the certificate, else --no-tls. */
static pid_t nghttpd_start(int port, int tls, int verbose, const char *log)
{
    char docs[300], portstr[16], key[300];
    snprintf(docs, sizeof docs, "--htdocs=%s/docs", tmpdir);
    snprintf(portstr, sizeof portstr, "%d", port);
    snprintf(key, sizeof key, "%s/key.pem", tmpdir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* no stray server if the test dies */
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        const char *argv[10];
        int n = 0;
        argv[n++] = NGHTTPD;
        argv[n++] = "--address=127.0.0.1";
        argv[n++] = docs;
        if (verbose) argv[n++] = "-v";
        if (!tls) argv[n++] = "--no-tls";
        argv[n++] = portstr;
        if (tls) {
            argv[n++] = key;
            argv[n++] = ca_file;
        }
        argv[n] = NULL;
        execv(NGHTTPD, (char *const *)argv);
        _exit(127);
    }
    if (wait_port(port, 10) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

static void child_stop(pid_t pid)
{
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* ---- the HTTP/1.1 server ------------------------------------------------ */

static int h1_fd = -1;
static int h1_port;
static pthread_t h1_thread;

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* Value of a request header, into out; returns 0 if found. */
static int req_header(const char *req, const char *name, char *out, size_t cap)
{
    return cds_http_header_get(req, strlen(req), name, out, cap) >= 0 ? 0 : -1;
}

static void *h1_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[H1_MAX_REQUEST + 1];
    size_t len = 0;
    char *eoh = NULL;
    while (len < H1_MAX_REQUEST && !eoh) {
        ssize_t r = recv(fd, req + len, H1_MAX_REQUEST - len, 0);
        if (r <= 0) goto out;
        len += (size_t)r;
        req[len] = '\0';
        eoh = strstr(req, "\r\n\r\n");
    }
    if (!eoh) goto out;
    *eoh = '\0';
    size_t hdr_len = (size_t)(eoh - req) + 4;

    char method[16] = "", path[256] = "";
    const char *sp1 = strchr(req, ' ');
    const char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || (size_t)(sp1 - req) >= sizeof method ||
        (size_t)(sp2 - sp1 - 1) >= sizeof path)
        goto out;
    memcpy(method, req, (size_t)(sp1 - req));
    memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));

    /* Request body (only /echo cares), after the headers in req. */
    char cl[32] = "0", xtest[128] = "";
    req_header(req, "Content-Length", cl, sizeof cl);
    req_header(req, "X-Test", xtest, sizeof xtest);
    long body_len = strtol(cl, NULL, 10);
    if (body_len < 0 || body_len > H1_MAX_REQUEST - (long)hdr_len) goto out;
    while (len < hdr_len + (size_t)body_len) {
        ssize_t r = recv(fd, req + len, H1_MAX_REQUEST - len, 0);
        if (r <= 0) goto out;
        len += (size_t)r;
    }
    const char *body = req + hdr_len;

    char head[512];
    if (strcmp(path, "/hello") == 0) {
        const char *b = "hello h1";
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                         strlen(b));
        send_all(fd, head, (size_t)n);
        send_all(fd, b, strlen(b));
    } else if (strcmp(path, "/echo") == 0) {
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 201 Created\r\nContent-Length: %ld\r\nX-Method: %s\r\n"
                         "X-Test-Echo: %s\r\nConnection: close\r\n\r\n",
                         body_len, method, xtest);
        send_all(fd, head, (size_t)n);
        send_all(fd, body, (size_t)body_len);
    } else if (strcmp(path, "/slow") == 0) {
        /* Say nothing until the client gives up (or 10 s). */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 10000);
    } else if (strcmp(path, "/big") == 0 || strcmp(path, "/bigcl") == 0) {
        int n = strcmp(path, "/bigcl") == 0
                    ? snprintf(head, sizeof head,
                               "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
                               BIG_SIZE)
                    : snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        send_all(fd, head, (size_t)n);
        char chunk[8192];
        memset(chunk, 'x', sizeof chunk);
        for (size_t sent = 0; sent < BIG_SIZE; sent += sizeof chunk)
            send_all(fd, chunk, BIG_SIZE - sent < sizeof chunk ? BIG_SIZE - sent : sizeof chunk);
    } else {
        const char *r404 =
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        send_all(fd, r404, strlen(r404));
    }
out:
    close(fd);
    return NULL;
}

static void *h1_accept(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(h1_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return NULL; /* shutdown() of the listening socket */
        }
        pthread_t t;
        if (pthread_create(&t, NULL, h1_conn, (void *)(intptr_t)fd) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
}

static int h1_start(void)
{
    h1_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (h1_fd < 0 || bind(h1_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(h1_fd, 64) != 0 ||
        getsockname(h1_fd, (struct sockaddr *)&a, &alen) != 0)
        return -1;
    h1_port = ntohs(a.sin_port);
    return pthread_create(&h1_thread, NULL, h1_accept, NULL) == 0 ? 0 : -1;
}

static void h1_stop(void)
{
    shutdown(h1_fd, SHUT_RDWR);
    pthread_join(h1_thread, NULL);
    close(h1_fd);
}

/* ---- fixtures ----------------------------------------------------------- */

static int write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static int make_fixtures(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cds_http_client_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    char path[400], cmd[1200];
    snprintf(path, sizeof path, "%s/docs", tmpdir);
    if (mkdir(path, 0755) != 0) return -1;
    snprintf(path, sizeof path, "%s/docs/hello.txt", tmpdir);
    if (write_file(path, "hello over h2\n", 14) != 0) return -1;
    char *big = malloc(BIG_SIZE);
    if (!big) return -1;
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (char)('a' + i % 26);
    snprintf(path, sizeof path, "%s/docs/big.bin", tmpdir);
    int rc = write_file(path, big, BIG_SIZE);
    free(big);
    if (rc != 0) return -1;
    snprintf(ca_file, sizeof ca_file, "%s/cert.pem", tmpdir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s/key.pem -out %s -days 2 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1",
             tmpdir, ca_file);
    return system(cmd) == 0 ? 0 : -1;
}

/* Connections that carried requests, from a verbose nghttpd log: distinct
 * "[id=N]" sessions with a ":path" line (the readiness probe has none).
 * *requests counts those lines. */
static int count_sessions(const char *log, int *requests)
{
    FILE *f = fopen(log, "r");
    if (!f) return -1;
    char line[1024];
    long seen[256];
    int n = 0;
    *requests = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "[id=", 4) != 0 || !strstr(line, ":path:")) continue;
        ++*requests;
        long id = strtol(line + 4, NULL, 10);
        int known = 0;
        for (int i = 0; i < n; i++)
            known |= seen[i] == id;
        if (!known && n < 256) seen[n++] = id;
    }
    fclose(f);
    return n;
}

/* ---- steps -------------------------------------------------------------- */

static cds_http_call *get(cds_http_client *c, const char *url, result *res,
                          const cds_http_request *tmpl)
{
    cds_http_request rq = tmpl ? *tmpl : (cds_http_request){0};
    rq.method = rq.method ? rq.method : "GET";
    rq.url = url;
    res->call = cds_http_start(c, &rq, on_done, res);
    if (res->call) pending++;
    return res->call;
}

static void test_header_get(void)
{
    const char *h = "HTTP/2 200 \r\nContent-Type: text/plain\r\nX-A:  v1 \r\nx-a: v2\r\n"
                    "X-Empty:\r\nX-Long: 0123456789\r\n\r\n";
    size_t n = strlen(h);
    char out[8];
    CHECK_INT(cds_http_header_get(h, n, "x-a", out, sizeof out), 2);
    CHECK_STR(out, "v1");
    CHECK_INT(cds_http_header_get(h, n, "CONTENT-TYPE", out, sizeof out), -1); /* too long */
    CHECK_STR(out, "");
    char big[64];
    CHECK_INT(cds_http_header_get(h, n, "content-type", big, sizeof big), 10);
    CHECK_STR(big, "text/plain");
    CHECK_INT(cds_http_header_get(h, n, "X-Empty", big, sizeof big), 0);
    CHECK_INT(cds_http_header_get(h, n, "X-Missing", big, sizeof big), -1);
    CHECK_INT(cds_http_header_get(h, n, "X", big, sizeof big), -1);
    CHECK_INT(cds_http_header_get(h, n, "X-Long", big, 10), -1);
    CHECK_INT(cds_http_header_get(h, n, "X-Long", big, 11), 10);
    /* No final CRLF, and a bound shorter than the string. */
    CHECK_INT(cds_http_header_get("A: 1\r\nB: 2", 10, "B", big, sizeof big), 1);
    CHECK_INT(cds_http_header_get("A: 1\r\nB: 2", 9, "B", big, sizeof big), 0);
}

static void test_bad_requests(cds_http_client *c)
{
    result r = {0};
    const char *crlf[] = {"X-A: 1\r\nX-B: 2", NULL};
    const char *noname[] = {": v", NULL};
    cds_http_request rq = {.method = "GET", .url = "http://127.0.0.1:1/"};
    CHECK(cds_http_start(c, NULL, on_done, &r) == NULL);
    CHECK(cds_http_start(c, &rq, NULL, &r) == NULL);
    rq.url = NULL;
    CHECK(cds_http_start(c, &rq, on_done, &r) == NULL);
    rq.url = "ftp://127.0.0.1/";
    CHECK(cds_http_start(c, &rq, on_done, &r) == NULL);
    rq.url = "http://127.0.0.1/ x";
    CHECK(cds_http_start(c, &rq, on_done, &r) == NULL);
    rq.url = "http://127.0.0.1:1/";
    rq.method = "get";
    CHECK(cds_http_start(c, &rq, on_done, &r) == NULL);
    rq.method = "GET";
    rq.headers = crlf;
    CHECK(cds_http_start(c, &rq, on_done, &r) == NULL);
    rq.headers = noname;
    CHECK(cds_http_start(c, &rq, on_done, &r) == NULL);
    rq.headers = NULL;
    rq.body_len = 3;
    CHECK(cds_http_start(c, &rq, on_done, &r) == NULL);
    CHECK_INT(r.called, 0);
}

static void test_h2_tls(cds_http_client *c, int port)
{
    char url[128];
    result a = {0}, big = {0}, capped = {0};
    cds_http_request t = {.ca_file = ca_file};
    snprintf(url, sizeof url, "https://127.0.0.1:%d/hello.txt", port);
    CHECK(get(c, url, &a, &t) != NULL);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/big.bin", port);
    CHECK(get(c, url, &big, &t) != NULL);
    cds_http_request tc = {.ca_file = ca_file, .max_response = 1000};
    CHECK(get(c, url, &capped, &tc) != NULL);
    CHECK(run_loop(10000));

    CHECK_INT(a.called, 1);
    CHECK_INT(a.status, 200);
    CHECK_STR(a.error, "");
    CHECK_STR(a.body, "hello over h2\n");
    CHECK(strncmp(a.headers, "HTTP/2 200", 10) == 0);
    char v[32];
    CHECK_INT(cds_http_header_get(a.headers, strlen(a.headers), "content-length", v, sizeof v), 2);
    CHECK_STR(v, "14");

    CHECK_INT(big.status, 200);
    CHECK(!big.has_error);
    CHECK_INT(big.body_len, BIG_SIZE);
    CHECK(big.body && big.body[0] == 'a' && big.body[BIG_SIZE - 1] == 'a' + (BIG_SIZE - 1) % 26);

    CHECK_INT(capped.called, 1);
    CHECK_STR(capped.error, "response too large");

    /* Without the certificate the same server is refused. */
    result untrusted = {0};
    snprintf(url, sizeof url, "https://127.0.0.1:%d/hello.txt", port);
    CHECK(get(c, url, &untrusted, NULL) != NULL);
    CHECK(run_loop(10000));
    CHECK(untrusted.has_error);
    CHECK_INT(untrusted.status, 0);
    result insecure = {0};
    cds_http_request ti = {.insecure = 1};
    CHECK(get(c, url, &insecure, &ti) != NULL);
    CHECK(run_loop(10000));
    CHECK_INT(insecure.status, 200);
    CHECK(!insecure.has_error);

    result_clear(&a);
    result_clear(&big);
    result_clear(&capped);
    result_clear(&untrusted);
    result_clear(&insecure);
}

static void test_h2_parallel(int port)
{
    cds_http_client *c = cds_http_client_new(base);
    CHECK(c != NULL);
    if (!c) return;
    enum { N = 20 };
    static result rs[N];
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/hello.txt", port);
    cds_http_request t = {.ca_file = ca_file};
    for (int i = 0; i < N; i++)
        CHECK(get(c, url, &rs[i], &t) != NULL);
    CHECK(run_loop(15000));
    int ok = 0;
    for (int i = 0; i < N; i++) {
        ok += rs[i].called == 1 && rs[i].status == 200 && !rs[i].has_error && rs[i].body &&
              strcmp(rs[i].body, "hello over h2\n") == 0 &&
              strncmp(rs[i].headers, "HTTP/2 200", 10) == 0;
        result_clear(&rs[i]);
    }
    CHECK_INT(ok, N);
    cds_http_client_free(c);
}

static void test_h2c(cds_http_client *c, int port)
{
    char url[128];
    result a = {0};
    cds_http_request t = {.http2_prior_knowledge = 1};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello.txt", port);
    CHECK(get(c, url, &a, &t) != NULL);
    CHECK(run_loop(10000));
    CHECK_INT(a.status, 200);
    CHECK(!a.has_error);
    CHECK_STR(a.body, "hello over h2\n");
    CHECK(strncmp(a.headers, "HTTP/2 200", 10) == 0);
    result_clear(&a);

    /* 404 is a complete exchange, not an error. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/missing", port);
    CHECK(get(c, url, &a, &t) != NULL);
    CHECK(run_loop(10000));
    CHECK_INT(a.status, 404);
    CHECK(!a.has_error);
    result_clear(&a);
}

static void test_h1(cds_http_client *c)
{
    char url[128];
    result echo = {0}, hello = {0};
    const char *hdrs[] = {"X-Test: ping", "Content-Type: application/octet-stream", NULL};
    static const char body[] = "a\0b\r\nc"; /* binary, with a NUL */
    cds_http_request t = {.method = "PUT", .headers = hdrs, .body = body, .body_len = 6};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", h1_port);
    CHECK(get(c, url, &echo, &t) != NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", h1_port);
    CHECK(get(c, url, &hello, NULL) != NULL);
    CHECK(run_loop(10000));
    CHECK_INT(echo.status, 201);
    CHECK(!echo.has_error);
    CHECK_INT(echo.body_len, 6);
    CHECK(echo.body && memcmp(echo.body, body, 6) == 0);
    CHECK(strncmp(echo.headers, "HTTP/1.1 201", 12) == 0);
    char v[64];
    CHECK(cds_http_header_get(echo.headers, strlen(echo.headers), "x-method", v, sizeof v) > 0);
    CHECK_STR(v, "PUT");
    CHECK(cds_http_header_get(echo.headers, strlen(echo.headers), "X-Test-Echo", v, sizeof v) > 0);
    CHECK_STR(v, "ping");
    CHECK_INT(hello.status, 200);
    CHECK_STR(hello.body, "hello h1");
    result_clear(&echo);
    result_clear(&hello);

    /* POST with an empty body. */
    cds_http_request tp = {.method = "POST"};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", h1_port);
    CHECK(get(c, url, &echo, &tp) != NULL);
    CHECK(run_loop(10000));
    CHECK_INT(echo.status, 201);
    CHECK_INT(echo.body_len, 0);
    CHECK_STR(echo.body, "");
    CHECK(cds_http_header_get(echo.headers, strlen(echo.headers), "x-method", v, sizeof v) > 0);
    CHECK_STR(v, "POST");
    result_clear(&echo);
}

static void test_limits(cds_http_client *c)
{
    char url[128];
    result slow = {0}, big = {0}, bigcl = {0}, refused = {0}, fits = {0};
    cds_http_request tt = {.timeout_ms = 300};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", h1_port);
    double t0 = now_s();
    CHECK(get(c, url, &slow, &tt) != NULL);
    cds_http_request tm = {.max_response = 1000};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/big", h1_port);
    CHECK(get(c, url, &big, &tm) != NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/bigcl", h1_port);
    CHECK(get(c, url, &bigcl, &tm) != NULL);
    cds_http_request tf = {.max_response = BIG_SIZE};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/big", h1_port);
    CHECK(get(c, url, &fits, &tf) != NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", th_free_port());
    CHECK(get(c, url, &refused, NULL) != NULL);
    CHECK(run_loop(10000));
    double took = now_s() - t0;

    CHECK_INT(slow.called, 1);
    CHECK(slow.has_error);
    CHECK_INT(slow.status, 0);
    CHECK(strcasestr(slow.error, "timed out") != NULL);
    CHECK(took < 3.0);
    CHECK_STR(big.error, "response too large");
    CHECK(big.body_len <= 1000);
    CHECK_STR(bigcl.error, "response too large");
    CHECK(!fits.has_error);
    CHECK_INT(fits.body_len, BIG_SIZE);
    CHECK_INT(refused.called, 1);
    CHECK(refused.has_error);
    CHECK_INT(refused.status, 0);
    result_clear(&slow);
    result_clear(&big);
    result_clear(&bigcl);
    result_clear(&refused);
    result_clear(&fits);
}

/* ---- re-entrancy -------------------------------------------------------- */

typedef struct cancel_ctx {
    result *self;
    result *victims;
    int n_victims;
    cds_http_client *client;
    result *chained; /* started from the callback */
    const char *chain_url;
} cancel_ctx;

static void on_cancel_others(void *arg, const cds_http_response *r)
{
    cancel_ctx *x = arg;
    record(x->self, r);
    pending--;
    cds_http_cancel(x->self->call); /* own call: ignored */
    for (int i = 0; i < x->n_victims; i++) {
        if (!x->victims[i].called && x->victims[i].call && x->victims[i].call != x->self->call) {
            cds_http_cancel(x->victims[i].call);
            x->victims[i].call = NULL;
            pending--;
        }
    }
    if (x->chained) {
        cds_http_request t = {.http2_prior_knowledge = 1};
        CHECK(get(x->client, x->chain_url, x->chained, &t) != NULL);
    }
    if (pending == 0) event_base_loopbreak(base);
}

static void test_cancel_in_callback(cds_http_client *c, int h2c_port)
{
    /* A fast call cancels a slow one from its callback and starts another. */
    char url[128], chain_url[128];
    result fast = {0}, slow = {0}, chained = {0};
    snprintf(chain_url, sizeof chain_url, "http://127.0.0.1:%d/hello.txt", h2c_port);
    cancel_ctx x = {.self = &fast,
                    .victims = &slow,
                    .n_victims = 1,
                    .client = c,
                    .chained = &chained,
                    .chain_url = chain_url};
    cds_http_request rq = {.method = "GET", .url = url};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", h1_port);
    CHECK(get(c, url, &slow, NULL) != NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", h1_port);
    fast.call = cds_http_start(c, &rq, on_cancel_others, &x);
    CHECK(fast.call != NULL);
    pending++;
    CHECK(run_loop(10000));
    run_for(300);
    CHECK_INT(fast.called, 1);
    CHECK_STR(fast.body, "hello h1");
    CHECK_INT(slow.called, 0);
    CHECK_INT(chained.called, 1);
    CHECK_INT(chained.status, 200);
    result_clear(&fast);
    result_clear(&slow);
    result_clear(&chained);

    /* Ten multiplexed calls likely finish in one batch: the first callback
     * cancels the rest, whose completions may already be queued. */
    enum { N = 10 };
    static result rs[N];
    static cancel_ctx xs[N];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello.txt", h2c_port);
    rq.http2_prior_knowledge = 1;
    for (int i = 0; i < N; i++) {
        xs[i] = (cancel_ctx){.self = &rs[i], .victims = rs, .n_victims = N, .client = c};
        rs[i].call = cds_http_start(c, &rq, on_cancel_others, &xs[i]);
        CHECK(rs[i].call != NULL);
        pending++;
    }
    CHECK(run_loop(10000));
    run_for(300);
    int called = 0;
    for (int i = 0; i < N; i++) {
        called += rs[i].called;
        result_clear(&rs[i]);
    }
    CHECK_INT(called, 1);
}

static void on_free_client(void *arg, const cds_http_response *r)
{
    cancel_ctx *x = arg;
    record(x->self, r);
    pending--;
    cds_http_client_free(x->client);
    /* Deferred: nothing new may start on a client being freed. */
    cds_http_request rq = {.method = "GET", .url = "http://127.0.0.1:1/"};
    result unused = {0};
    CHECK(cds_http_start(x->client, &rq, on_done, &unused) == NULL);
    if (pending == 0) event_base_loopbreak(base);
}

static void test_free_pending(void)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", h1_port);

    /* Calls in flight (connected, waiting) and one never started by the loop. */
    cds_http_client *c = cds_http_client_new(base);
    CHECK(c != NULL);
    result rs[4] = {{0}};
    for (int i = 0; i < 3; i++)
        CHECK(get(c, url, &rs[i], NULL) != NULL);
    run_loop(200);
    CHECK_INT(pending, 3);
    CHECK(get(c, url, &rs[3], NULL) != NULL);
    cds_http_client_free(c);
    CHECK_INT(pending, 0);
    for (int i = 0; i < 4; i++) {
        CHECK_INT(rs[i].called, 1);
        CHECK_STR(rs[i].error, "client closed");
        CHECK_INT(rs[i].status, 0);
        result_clear(&rs[i]);
    }
    run_for(200); /* no stray events left behind */

    /* Freed from inside a callback: the others fail after it returns. */
    c = cds_http_client_new(base);
    CHECK(c != NULL);
    result fast = {0}, slow[2] = {{0}};
    cancel_ctx x = {.self = &fast, .client = c};
    for (int i = 0; i < 2; i++)
        CHECK(get(c, url, &slow[i], NULL) != NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", h1_port);
    cds_http_request rq = {.method = "GET", .url = url};
    CHECK(cds_http_start(c, &rq, on_free_client, &x) != NULL);
    pending++;
    CHECK(run_loop(10000));
    CHECK_INT(fast.called, 1);
    CHECK_STR(fast.body, "hello h1");
    for (int i = 0; i < 2; i++) {
        CHECK_INT(slow[i].called, 1);
        CHECK_STR(slow[i].error, "client closed");
        result_clear(&slow[i]);
    }
    result_clear(&fast);
    run_for(200);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (!base || make_fixtures() != 0 || h1_start() != 0 || access(NGHTTPD, X_OK) != 0) {
        fprintf(stderr, "test_http_client: setup failed (nghttpd, openssl, sockets)\n");
        return 1;
    }
    char log_tls[400], log_par[400], log_h2c[400];
    snprintf(log_tls, sizeof log_tls, "%s/nghttpd_tls.log", tmpdir);
    snprintf(log_par, sizeof log_par, "%s/nghttpd_parallel.log", tmpdir);
    snprintf(log_h2c, sizeof log_h2c, "%s/nghttpd_h2c.log", tmpdir);
    int tls_port = th_free_port(), par_port = th_free_port(), h2c_port = th_free_port();
    pid_t tls = nghttpd_start(tls_port, 1, 0, log_tls);
    pid_t par = nghttpd_start(par_port, 1, 1, log_par);
    pid_t h2c = nghttpd_start(h2c_port, 0, 0, log_h2c);
    CHECK(tls > 0 && par > 0 && h2c > 0);

    test_header_get();
    cds_http_client *c = cds_http_client_new(base);
    CHECK(c != NULL);
    CHECK(cds_http_client_new(NULL) == NULL);
    if (c && tls > 0 && par > 0 && h2c > 0) {
        test_bad_requests(c);
        test_h2_tls(c, tls_port);
        test_h2c(c, h2c_port);
        test_h1(c);
        test_limits(c);
        test_cancel_in_callback(c, h2c_port);
        test_h2_parallel(par_port);
        child_stop(par); /* its log is complete once it has exited */
        par = -1;
        /* One TLS connection carried all 20 calls (PIPEWAIT + multiplexing). */
        int requests = 0;
        CHECK_INT(count_sessions(log_par, &requests), 1);
        CHECK_INT(requests, 20);
        test_free_pending();
    }
    cds_http_client_free(c);
    cds_http_client_free(NULL);
    cds_http_cancel(NULL);

    child_stop(tls);
    child_stop(par);
    child_stop(h2c);
    h1_stop();
    event_base_free(base);
    libevent_global_shutdown();
    char cmd[400];
    snprintf(cmd, sizeof cmd, getenv("T_KEEP") ? "true '%s'" : "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_done();
}
