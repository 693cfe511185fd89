/* Behind a load balancer (issue 17, item 2), against a real `cds serve` over
 * real sockets. The PROXY protocol v2 headers are built here byte by byte
 * from the spec ("The PROXY protocol", haproxy.org/download/2.9/doc/
 * proxy-protocol.txt, 2.2), not with the server's parser. 127.0.0.2 plays
 * the balancer (CDS_PROXY_TRUSTED=127.0.0.2/32); 127.0.0.1 is an ordinary,
 * untrusted client. Checked:
 *  - a trusted peer's header (IPv4 over clear HTTP/1.1, IPv6 before a TLS
 *    ClientHello) makes its source the request's peer in the access log;
 *  - LOCAL (the balancer's own health check) keeps the socket's address;
 *  - the per-client rate limit (public lookup, burst 2) counts the real
 *    clients: a third lookup of one client through the balancer is 429, a
 *    second client through the same balancer is not;
 *  - refused (connection closed, no HTTP answer): a trusted peer without a
 *    header, a trusted peer with a malformed header (version 1 in a v2
 *    frame), an untrusted peer sending a header, clear or TLS;
 *  - drain: after SIGTERM /readyz answers 503 `draining` while /healthz and
 *    an API route still answer as before; then the process exits 0. */
#include "tests/lib/harness.h"
#include "tests/lib/t.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static th_proc srv;

static const unsigned char SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* PROXY, TCP over IPv4 (0x21, 0x11), 12 address bytes. */
static size_t hdr_v4(unsigned char *b, const char *src, int ver_cmd)
{
    memcpy(b, SIG, 12);
    b[12] = (unsigned char)ver_cmd;
    b[13] = 0x11;
    b[14] = 0;
    b[15] = 12;
    inet_pton(AF_INET, src, b + 16);
    inet_pton(AF_INET, "127.0.0.1", b + 20);
    b[24] = 0xC3, b[25] = 0x50; /* 50000 */
    b[26] = 0x1F, b[27] = 0x90; /* 8080 */
    return 28;
}

/* PROXY, TCP over IPv6 (0x21, 0x21), 36 address bytes, plus a TLV the
 * server must skip (PP2_TYPE_AUTHORITY 0x02, "a.vn"). */
static size_t hdr_v6(unsigned char *b, const char *src)
{
    memcpy(b, SIG, 12);
    b[12] = 0x21;
    b[13] = 0x21;
    b[14] = 0;
    b[15] = 36 + 7;
    inet_pton(AF_INET6, src, b + 16);
    inet_pton(AF_INET6, "::1", b + 32);
    b[48] = 0xC3, b[49] = 0x51;
    b[50] = 0x20, b[51] = 0xFB;
    b[52] = 0x02, b[53] = 0x00, b[54] = 0x04;
    memcpy(b + 55, "a.vn", 4);
    return 59;
}

/* LOCAL (0x20), family UNSPEC, no addresses. */
static size_t hdr_local(unsigned char *b)
{
    memcpy(b, SIG, 12);
    b[12] = 0x20;
    b[13] = 0x00;
    b[14] = 0;
    b[15] = 0;
    return 16;
}

static int dial(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    if (connect(fd, (struct sockaddr *)&d, sizeof d) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One HTTP/1.1 request from `src`, preceded by `hdr` (may be NULL), clear or
 * TLS. Returns the status code, 0 when the server closed without answering. */
static int exchange(const char *src, int tls, const unsigned char *hdr, size_t hlen,
                    const char *path)
{
    int fd = dial(src, tls ? srv.port_tls : srv.port_plain);
    if (fd < 0) return -1;
    if (hlen && send(fd, hdr, hlen, MSG_NOSIGNAL) != (ssize_t)hlen) {
        close(fd);
        return -1;
    }
    char req[512], resp[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: a.vn\r\nConnection: close\r\n\r\n",
                     path);
    size_t got = 0;
    if (tls) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        SSL *ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_connect(ssl) == 1 && SSL_write(ssl, req, n) == n) {
            int k;
            while (got < sizeof resp - 1 && (k = SSL_read(ssl, resp + got, (int)(sizeof resp - 1 - got))) > 0)
                got += (size_t)k;
        }
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    } else if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
        ssize_t k;
        while (got < sizeof resp - 1 && (k = recv(fd, resp + got, sizeof resp - 1 - got, 0)) > 0)
            got += (size_t)k;
    }
    close(fd);
    resp[got] = 0;
    int status = 0;
    if (sscanf(resp, "HTTP/1.1 %d", &status) != 1) status = 0;
    return status;
}

static int log_has(const char *needle)
{
    for (int i = 0; i < 50; i++) {
        FILE *f = fopen(srv.log, "r");
        char line[8192];
        int found = 0;
        while (f && !found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
        if (f) fclose(f);
        if (found) return 1;
        usleep(100000);
    }
    return 0;
}

static long http_status(const char *url)
{
    th_resp r;
    if (th_http(&r, 1, "GET", url, NULL, NULL, 0) != 0) return 0;
    long s = r.status;
    th_resp_free(&r);
    return s;
}

int main(void)
{
    char *db = th_db_new("proxy");
    const char *env[] = {"CDS_AUTO_MIGRATE=1", "CDS_PROXY_TRUSTED=10.9.0.0/16, 127.0.0.2/32",
                         "CDS_LOOKUP_BURST=2", "CDS_DRAIN_MS=2500", NULL};
    if (th_server_start(&srv, db, env) != 0) {
        fprintf(stderr, "server did not start\n");
        return 1;
    }
    unsigned char h[128];
    size_t n;

    /* The real client's address, clear and TLS, IPv4 and IPv6. */
    n = hdr_v4(h, "203.0.113.7", 0x21);
    CHECK_INT(exchange("127.0.0.2", 0, h, n, "/healthz"), 200);
    CHECK(log_has("\"peer\":\"203.0.113.7\""));
    n = hdr_v6(h, "2001:db8::5");
    CHECK_INT(exchange("127.0.0.2", 1, h, n, "/healthz"), 200);
    CHECK(log_has("\"peer\":\"2001:db8::5\""));
    /* LOCAL: the balancer itself (th_server_start waited for /readyz). */
    char ready[128];
    snprintf(ready, sizeof ready, "%s/readyz", srv.url);
    n = hdr_local(h);
    CHECK_INT(exchange("127.0.0.2", 0, h, n, "/readyz"), 200);
    CHECK(log_has("\"peer\":\"127.0.0.2\""));

    /* One bucket per real client. */
    n = hdr_v4(h, "198.51.100.8", 0x21);
    CHECK(exchange("127.0.0.2", 0, h, n, "/v1/lookup/ABCDEFGHJK?secret=X") != 429);
    CHECK(exchange("127.0.0.2", 1, h, n, "/v1/lookup/ABCDEFGHJK?secret=X") != 429);
    CHECK_INT(exchange("127.0.0.2", 0, h, n, "/v1/lookup/ABCDEFGHJK?secret=X"), 429);
    n = hdr_v4(h, "198.51.100.9", 0x21);
    int other = exchange("127.0.0.2", 0, h, n, "/v1/lookup/ABCDEFGHJK?secret=X");
    CHECK(other > 0 && other != 429);
    /* The balancer's own address has a bucket of its own, untouched. */
    other = exchange("127.0.0.1", 0, NULL, 0, "/v1/lookup/ABCDEFGHJK?secret=X");
    CHECK(other > 0 && other != 429);

    /* Refused: no header from a trusted peer, a malformed one, one from an
     * untrusted peer (clear and TLS). */
    CHECK_INT(exchange("127.0.0.2", 0, NULL, 0, "/healthz"), 0);
    CHECK_INT(exchange("127.0.0.2", 1, NULL, 0, "/healthz"), 0);
    n = hdr_v4(h, "203.0.113.7", 0x11); /* version 1 in the binary frame */
    CHECK_INT(exchange("127.0.0.2", 0, h, n, "/healthz"), 0);
    n = hdr_v4(h, "203.0.113.66", 0x21);
    CHECK_INT(exchange("127.0.0.1", 0, h, n, "/healthz"), 0);
    CHECK_INT(exchange("127.0.0.1", 1, h, n, "/healthz"), 0);
    CHECK(log_has("\"event\":\"proxy_untrusted\""));
    CHECK(log_has("\"event\":\"proxy_refused\""));
    CHECK(!log_has("203.0.113.66"));
    /* Ordinary clients are served as before. */
    CHECK_INT(exchange("127.0.0.1", 0, NULL, 0, "/healthz"), 200);

    /* Drain. */
    char health[128], api[160];
    snprintf(health, sizeof health, "%s/healthz", srv.url);
    snprintf(api, sizeof api, "%s/openapi.yaml", srv.url);
    CHECK_INT(http_status(ready), 200);
    kill(srv.pid, SIGTERM);
    int drained = 0;
    for (int i = 0; i < 20 && !drained; i++) {
        drained = http_status(ready) == 503;
        if (!drained) usleep(50000);
    }
    CHECK(drained);
    CHECK_INT(http_status(health), 200);
    CHECK_INT(http_status(api), 200);
    n = hdr_v4(h, "203.0.113.77", 0x21);
    CHECK_INT(exchange("127.0.0.2", 0, h, n, "/readyz"), 503);
    CHECK(log_has("\"event\":\"drain\""));
    int st = 0;
    pid_t w = 0;
    for (int i = 0; i < 150 && w == 0; i++) { /* up to 15 s; the drain is 2.5 s */
        w = waitpid(srv.pid, &st, WNOHANG);
        if (w == 0) usleep(100000);
    }
    CHECK(w == srv.pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (w != srv.pid) th_proc_stop(&srv, SIGKILL);
    free(db);
    return t_done();
}
