/* Slow read (issue 14, item 1), against a real `cds serve` over real sockets:
 * 50 connections ask for /openapi.yaml and never take the answers. 40 speak
 * h2c with SETTINGS_INITIAL_WINDOW_SIZE=0 and open 100 streams each; 5 go
 * over TLS, 3 doing the same with ALPN h2 and 2 pipelining HTTP/1.1 requests
 * (ALPN http/1.1) without reading; 5 pipeline HTTP/1.1 in clear text without
 * reading. All have a tiny receive buffer, so the kernel holds little for
 * them. One of the
 * h2c ones reads everything and sends a PING now and then: taking PING
 * answers is not taking the answers it asked for. Checked:
 * the server's RSS grows by less than 64 MiB (it pinned ~12.7 MB per
 * connection before), every attacking connection is closed by the stall
 * timer (set to 1.5 s here; the idle timeout stays at 60 s, so nothing else
 * closes them in time) with a "slow_reader" log line each, and a normal
 * client gets every answer, over h2c and HTTP/1.1, all along. */
#include "tests/lib/harness.h"
#include "tests/lib/t.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <nghttp2/nghttp2.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define N_H2C 40
#define N_TLS 5
#define N_TLS_H1 2 /* of the TLS ones */
#define N_H1 5
#define N_ATTACK (N_H2C + N_TLS + N_H1)
#define STREAMS 100
#define STALL_MS 1500

static th_proc srv;

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096; /* the kernel buffers little on our side: the server must hold it */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The bytes of the HTTP/2 attack: preface, SETTINGS with a zero window,
 * then STREAMS requests for the OpenAPI document. */
static size_t h2_attack_bytes(uint8_t *buf, size_t cap)
{
    size_t n = 0;
    memcpy(buf, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
    n += NGHTTP2_CLIENT_MAGIC_LEN;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0},
                                   {NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    ssize_t k = nghttp2_pack_settings_payload(buf + n + 9, cap - n - 9, iv, 2);
    uint8_t *h = buf + n;
    h[0] = 0, h[1] = 0, h[2] = (uint8_t)k, h[3] = NGHTTP2_SETTINGS, h[4] = 0;
    memset(h + 5, 0, 4);
    n += 9 + (size_t)k;
    nghttp2_hd_deflater *d;
    nghttp2_hd_deflate_new(&d, 4096);
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":authority", (uint8_t *)"127.0.0.1", 10, 9, 0},
        {(uint8_t *)":path", (uint8_t *)"/openapi.yaml", 5, 13, 0},
    };
    for (uint32_t i = 0; i < STREAMS; i++) {
        uint32_t sid = 1 + 2 * i;
        uint8_t *f = buf + n;
        ssize_t blen = nghttp2_hd_deflate_hd(d, f + 9, cap - n - 9, nv, 4);
        f[0] = 0, f[1] = (uint8_t)(blen >> 8), f[2] = (uint8_t)blen;
        f[3] = NGHTTP2_HEADERS;
        f[4] = NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM;
        f[5] = (uint8_t)(sid >> 24), f[6] = (uint8_t)(sid >> 16), f[7] = (uint8_t)(sid >> 8),
        f[8] = (uint8_t)sid;
        n += 9 + (size_t)blen;
    }
    nghttp2_hd_deflate_del(d);
    return n;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        c += w;
        n -= (size_t)w;
    }
}

/* The server's side of our connection is gone (closed by it): no socket on
 * the server port talks to our local port in ESTABLISHED or CLOSE_WAIT. */
static int server_closed(int server_port, int client_port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f) return 0;
    char line[512];
    int open = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned lp, rp, st;
        if (sscanf(line, " %*d: %*x:%x %*x:%x %x", &lp, &rp, &st) != 3) continue;
        if ((int)lp == server_port && (int)rp == client_port && (st == 0x01 || st == 0x08))
            open = 1;
    }
    fclose(f);
    return !open;
}

static int local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &l) != 0) return -1;
    return ntohs(a.sin_port);
}

static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static int normal_answers(void)
{
    char url[96];
    th_resp r;
    snprintf(url, sizeof url, "%s/healthz", srv.url);
    int ok = th_http(&r, 2, "GET", url, NULL, NULL, 0) == 0 && r.status == 200;
    th_resp_free(&r);
    int ok1 = th_http(&r, 1, "GET", url, NULL, NULL, 0) == 0 && r.status == 200;
    th_resp_free(&r);
    return ok && ok1;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    /* ASan keeps freed memory in a quarantine (256 MiB by default), which
     * would count as RSS growth of the server without being held by it. */
    static char asan[1024];
    const char *prev = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%squarantine_size_mb=8", prev ? prev : "",
             prev && *prev ? ":" : "");
    static char stall[64];
    snprintf(stall, sizeof stall, "CDS_STALL_TIMEOUT_MS=%d", STALL_MS);
    const char *env[] = {asan, stall, "CDS_ACCESS_LOG=0", "CDS_IDLE_TIMEOUT_MS=60000", NULL};
    if (th_server_start(&srv, NULL, env) != 0) {
        fprintf(stderr, "server did not start\n");
        return 1;
    }
    /* Warm up: the document and both protocols once, then the baseline. */
    char url[96];
    th_resp r;
    snprintf(url, sizeof url, "%s/openapi.yaml", srv.url);
    CHECK(th_http(&r, 2, "GET", url, NULL, NULL, 0) == 0 && r.status == 200 && r.body_len > 50000);
    th_resp_free(&r);
    CHECK(normal_answers());
    long base = rss_kib(srv.pid);
    CHECK(base > 0);

    static uint8_t h2buf[64 * 1024];
    size_t h2len = h2_attack_bytes(h2buf, sizeof h2buf);
    static char h1buf[48 * 1024];
    size_t h1len = 0;
    static const char get[] = "GET /openapi.yaml HTTP/1.1\r\nHost: x\r\n\r\n";
    while (h1len + sizeof get < sizeof h1buf) {
        memcpy(h1buf + h1len, get, sizeof get - 1);
        h1len += sizeof get - 1;
    }

    int fds[N_ATTACK], ports[N_ATTACK];
    SSL *ssl[N_TLS] = {0};
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    static const unsigned char alpn[] = "\x02h2", alpn_h1[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
    double t0 = now_s();
    for (int i = N_ATTACK - 1; i >= 0; i--) { /* the pinger (0) last: it pings from the start */
        fds[i] = connect_port(i < N_H2C + N_TLS && i >= N_H2C ? srv.port_tls : srv.port_plain);
        CHECK(fds[i] >= 0);
        ports[i] = fds[i] >= 0 ? local_port(fds[i]) : -1;
        if (fds[i] < 0) continue;
        if (i < N_H2C) {
            send_all(fds[i], h2buf, h2len);
        } else if (i < N_H2C + N_TLS) {
            /* The last TLS ones speak HTTP/1.1 (ALPN), pipelining. */
            int h1 = i >= N_H2C + N_TLS - N_TLS_H1;
            SSL *s = ssl[i - N_H2C] = SSL_new(ctx);
            SSL_set_fd(s, fds[i]);
            if (h1) SSL_set_alpn_protos(s, alpn_h1, sizeof alpn_h1 - 1);
            int ok = SSL_connect(s) == 1;
            const unsigned char *sel = NULL;
            unsigned sl = 0;
            SSL_get0_alpn_selected(s, &sel, &sl);
            CHECK(ok && (h1 ? sl == 8 && memcmp(sel, "http/1.1", 8) == 0
                            : sl == 2 && memcmp(sel, "h2", 2) == 0));
            if (ok && h1) SSL_write(s, h1buf, (int)h1len);
            else if (ok) SSL_write(s, h2buf, (int)h2len);
        } else {
            send_all(fds[i], h1buf, h1len);
        }
    }
    fprintf(stderr, "slow read: %d connections attacking\n", N_ATTACK);

    /* Watch: RSS, the normal client, and when each attacker gets closed. */
    long peak = base;
    int normal_ok = 1, normal_n = 0, closed_n = 0;
    int closed[N_ATTACK] = {0};
    double deadline = t0 + STALL_MS / 1000.0 + 15.0; /* far below the 60 s idle timeout */
    while (now_s() < deadline) {
        if (!closed[0] && fds[0] >= 0) { /* the pinger */
            static const uint8_t ping[17] = {0, 0, 8, NGHTTP2_PING, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
            send(fds[0], ping, sizeof ping, MSG_NOSIGNAL | MSG_DONTWAIT);
            char sink[4096];
            while (recv(fds[0], sink, sizeof sink, MSG_DONTWAIT) > 0) {
            }
        }
        long k = rss_kib(srv.pid);
        if (k > peak) peak = k;
        for (int i = 0; i < N_ATTACK; i++)
            if (!closed[i] && ports[i] > 0 &&
                server_closed(i >= N_H2C && i < N_H2C + N_TLS ? srv.port_tls : srv.port_plain,
                              ports[i])) {
                closed[i] = 1;
                closed_n++;
            }
        if (!normal_answers()) normal_ok = 0;
        normal_n++;
        if (closed_n == N_ATTACK && normal_n >= 10) break;
        usleep(100000);
    }
    fprintf(stderr, "slow read: RSS %ld KiB -> peak %ld KiB (+%ld KiB); %d of %d closed in %.1f s; "
            "normal client %d rounds %s\n",
            base, peak, peak - base, closed_n, N_ATTACK, now_s() - t0, normal_n,
            normal_ok ? "all answered" : "FAILED");
    CHECK(peak - base < 64 * 1024);
    CHECK_INT(closed_n, N_ATTACK);
    CHECK(normal_ok);
    CHECK(normal_n >= 10);
    CHECK(count_in_file(srv.log, "slow_reader") >= N_ATTACK);
    CHECK(normal_answers()); /* and after */

    for (int i = 0; i < N_TLS; i++)
        if (ssl[i]) SSL_free(ssl[i]);
    SSL_CTX_free(ctx);
    for (int i = 0; i < N_ATTACK; i++)
        if (fds[i] >= 0) close(fds[i]);
    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    curl_global_cleanup();
    return t_done();
}
