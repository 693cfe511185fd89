/* HTTP/2 attacks that the server holds, as regression tests over real
 * sockets against `cds serve` (h2c, prior knowledge): a CONTINUATION flood
 * (a header block that never ends), a SETTINGS flood (thousands of SETTINGS
 * whose ACKs are never read) and an HPACK bomb (one ~4 KB dynamic-table entry
 * referenced thousands of times in one header block). Frames are written by
 * hand, so the attack is exactly the one described; answers are read with
 * nghttp2's HPACK inflater. Each case asserts the defence (connection closed,
 * GOAWAY or a 431 problem) and that a normal client is still answered
 * afterwards, and the protocol-error counter on the admin listener. */
#include "tests/lib/harness.h"
#include "tests/lib/t.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static th_proc srv;

enum { F_DATA = 0, F_HEADERS = 1, F_RST = 3, F_SETTINGS = 4, F_GOAWAY = 7, F_CONT = 9 };
enum { FL_END_STREAM = 1, FL_END_HEADERS = 4 };

/* rcvbuf > 0: a small receive buffer, set before connecting so that the
 * window we advertise stays small too (the ACK flood then fills the server's
 * buffers after a few thousand frames, not half a million). */
static int dial_rcvbuf(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port_plain),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

static int dial(void)
{
    return dial_rcvbuf(0);
}

/* Writes all of p; -1 once the server has closed (EPIPE/ECONNRESET). */
static int put(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int frame(int fd, int type, int flags, uint32_t stream, const void *payload, size_t len)
{
    unsigned char h[9] = {(unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len,
                          (unsigned char)type,        (unsigned char)flags,
                          (unsigned char)(stream >> 24), (unsigned char)(stream >> 16),
                          (unsigned char)(stream >> 8), (unsigned char)stream};
    if (put(fd, h, 9) != 0) return -1;
    return len ? put(fd, payload, len) : 0;
}

static int preface(int fd)
{
    static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (put(fd, pri, sizeof pri - 1) != 0) return -1;
    return frame(fd, F_SETTINGS, 0, 0, NULL, 0);
}

/* HPACK (RFC 7541 5.1): an integer with an n-bit prefix, first byte's high bits `hi`. */
static size_t hp_int(unsigned char *o, unsigned hi, int nbits, size_t v)
{
    size_t max = (1u << nbits) - 1, n = 0;
    if (v < max) {
        o[n++] = (unsigned char)(hi | v);
        return n;
    }
    o[n++] = (unsigned char)(hi | max);
    v -= max;
    while (v >= 128) {
        o[n++] = (unsigned char)(v % 128 + 128);
        v /= 128;
    }
    o[n++] = (unsigned char)v;
    return n;
}

static size_t hp_str(unsigned char *o, const char *s, size_t len)
{
    size_t n = hp_int(o, 0, 7, len); /* no Huffman */
    memcpy(o + n, s, len);
    return n + len;
}

/* GET `path` on this server: :method GET (static 2), :scheme http (static 6),
 * :path and :authority as literals without indexing (static names 4 and 1). */
static size_t hp_request(unsigned char *o, const char *path)
{
    size_t n = 0;
    o[n++] = 0x82;
    o[n++] = 0x86;
    n += hp_int(o + n, 0x00, 4, 4);
    n += hp_str(o + n, path, strlen(path));
    n += hp_int(o + n, 0x00, 4, 1);
    n += hp_str(o + n, "127.0.0.1", 9);
    return n;
}

/* What the server sent on a connection, read until it closes or `ms` pass. */
typedef struct seen {
    int closed;        /* EOF or reset */
    int goaway;        /* a GOAWAY arrived */
    uint32_t goaway_code;
    int status[16];    /* :status by stream id (odd ids 1..31) */
    int rst[16];
    size_t bytes;
} seen;

static int now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static int status_of(const uint8_t *v, size_t n)
{
    int x = 0;
    for (size_t i = 0; i < n && i < 3; i++) x = x * 10 + (v[i] >= '0' && v[i] <= '9' ? v[i] - '0' : 0);
    return x;
}

/* Reads frames until EOF, until `want_stream` has a status or a reset (0: read
 * to EOF), or until `ms` pass. */
static void read_frames(int fd, seen *s, int want_stream, int ms)
{
    nghttp2_hd_inflater *inf;
    nghttp2_hd_inflate_new(&inf);
    unsigned char *buf = malloc(1 << 20);
    size_t have = 0;
    int deadline = now_ms() + ms;
    for (;;) {
        /* Parse every whole frame in buf. */
        size_t off = 0;
        while (have - off >= 9) {
            unsigned char *h = buf + off;
            size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
            if (have - off < 9 + len) break;
            int type = h[3], flags = h[4];
            uint32_t sid = ((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) &
                           0x7fffffffu;
            unsigned char *p = h + 9;
            if (type == F_GOAWAY && len >= 8) {
                s->goaway = 1;
                s->goaway_code = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
            } else if (type == F_RST && sid < 32) {
                s->rst[sid / 2] = 1;
            } else if (type == F_HEADERS) {
                size_t pad = 0;
                unsigned char *blk = p;
                size_t blen = len;
                if (flags & 0x8) pad = *blk++, blen--;
                if (flags & 0x20) blk += 5, blen -= 5;
                blen -= pad;
                while (blen > 0) {
                    nghttp2_nv nv;
                    int iflags = 0;
                    ssize_t r = nghttp2_hd_inflate_hd2(inf, &nv, &iflags, blk, blen, 1);
                    if (r < 0) break;
                    blk += r;
                    blen -= (size_t)r;
                    if ((iflags & NGHTTP2_HD_INFLATE_EMIT) && nv.namelen == 7 &&
                        memcmp(nv.name, ":status", 7) == 0 && sid < 32)
                        s->status[sid / 2] = status_of(nv.value, nv.valuelen);
                    if (iflags & NGHTTP2_HD_INFLATE_FINAL) {
                        nghttp2_hd_inflate_end_headers(inf);
                        break;
                    }
                    if (r == 0 && !(iflags & NGHTTP2_HD_INFLATE_EMIT)) break;
                }
            }
            off += 9 + len;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
        if (want_stream && (s->status[want_stream / 2] || s->rst[want_stream / 2] || s->goaway)) break;
        int left = deadline - now_ms();
        if (left <= 0) break;
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, left) <= 0) continue;
        ssize_t r = recv(fd, buf + have, (1 << 20) - have, 0);
        if (r <= 0) {
            s->closed = 1;
            break;
        }
        have += (size_t)r;
        s->bytes += (size_t)r;
    }
    free(buf);
    nghttp2_hd_inflate_del(inf);
}

/* The protocol-error counter, from /metrics on the admin listener. */
static long protocol_errors(void)
{
    char u[128];
    snprintf(u, sizeof u, "%s/metrics", srv.admin_url);
    th_resp r;
    long n = -1;
    if (th_http(&r, 1, "GET", u, NULL, NULL, 0) == 0 && r.status == 200) {
        static const char name[] = "\ncds_http_protocol_errors_total ";
        const char *p = strstr(r.body, name);
        if (p) n = strtol(p + sizeof name - 1, NULL, 10);
    }
    th_resp_free(&r);
    return n;
}

/* A normal client (libcurl, h2c) is answered. */
static void still_serves(const char *what)
{
    char u[128];
    snprintf(u, sizeof u, "%s/healthz", srv.url);
    th_resp r;
    int rc = th_http(&r, 2, "GET", u, NULL, NULL, 0);
    if (rc != 0 || r.status != 200) fprintf(stderr, "after %s: a normal request failed\n", what);
    CHECK_INT(rc, 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.http_version, CURL_HTTP_VERSION_2_0);
    th_resp_free(&r);
}

/* Sanity: the hand-written frames make a request the server answers, so the
 * attacks below differ from it only by the attack. */
static void test_baseline(void)
{
    int fd = dial();
    CHECK(fd >= 0);
    unsigned char blk[256];
    size_t n = hp_request(blk, "/healthz");
    CHECK_INT(preface(fd), 0);
    CHECK_INT(frame(fd, F_HEADERS, FL_END_HEADERS | FL_END_STREAM, 1, blk, n), 0);
    seen s = {0};
    read_frames(fd, &s, 1, 10000);
    CHECK_INT(s.status[0], 200);
    CHECK(!s.goaway && !s.closed);
    close(fd);
}

/* CONTINUATION flood: HEADERS without END_HEADERS, then CONTINUATION frames
 * that never end the block (CVE-2024-27316 style). The server must drop the
 * connection long before the attacker has sent it all, and not answer. */
static void test_continuation_flood(void)
{
    long errs0 = protocol_errors();
    int fd = dial();
    CHECK(fd >= 0);
    unsigned char blk[256], cont[1024];
    size_t n = hp_request(blk, "/healthz");
    CHECK_INT(preface(fd), 0);
    CHECK_INT(frame(fd, F_HEADERS, FL_END_STREAM, 1, blk, n), 0);
    /* Each CONTINUATION carries literal headers "x-c: cccc..." (never indexed). */
    size_t m = 0;
    while (m + 40 < sizeof cont) {
        cont[m++] = 0x10;
        m += hp_str(cont + m, "x-c", 3);
        m += hp_str(cont + m, "cccccccccccccccccccccccccccccc", 30);
    }
    int sent = 0, refused = 0;
    for (; sent < 20000; sent++)
        if (frame(fd, F_CONT, 0, 1, cont, m) != 0) {
            refused = 1;
            break;
        }
    seen s = {0};
    read_frames(fd, &s, 0, 15000);
    fprintf(stderr, "continuation flood: %d frames sent before the server stopped reading%s; goaway=%d "
                    "code=%u closed=%d\n", sent, refused ? " (write refused)" : "", s.goaway,
            s.goaway_code, s.closed);
    CHECK(s.closed);               /* the connection is gone */
    CHECK_INT(s.status[0], 0);     /* and the never-ending request was not answered */
    CHECK(sent < 20000 || refused);
    close(fd);
    CHECK(protocol_errors() > errs0);
    still_serves("a CONTINUATION flood");
}

/* SETTINGS flood: SETTINGS frames whose ACKs are not read. nghttp2 queues an
 * ACK per frame; once the kernel buffers hold all the ACKs they can and its
 * queue of unsent ACKs passes 1000, the server stops reading, counts a
 * protocol error and closes the connection as soon as what it already wrote
 * is read. (An attacker that never reads at all is the slow-read case, held
 * by the stall timeout.) */
static void test_settings_flood(void)
{
    long errs0 = protocol_errors();
    int fd = dial_rcvbuf(4096);
    CHECK(fd >= 0);
    struct timeval tv = {5, 0}; /* a write that makes no progress for 5 s: the server stopped reading */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    CHECK_INT(preface(fd), 0);
    /* One setting each (ENABLE_PUSH=0), 1000 frames to a write. */
    unsigned char one[15] = {0, 0, 6, F_SETTINGS, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0};
    static unsigned char batch[1000 * 15];
    for (int i = 0; i < 1000; i++) memcpy(batch + i * 15, one, 15);
    int sent = 0, refused = 0;
    for (; sent < 3000; sent++)
        if (put(fd, batch, sizeof batch) != 0) {
            refused = 1;
            break;
        }
    long errs1 = protocol_errors();
    seen s = {0};
    read_frames(fd, &s, 0, 30000); /* read what it wrote: then EOF */
    fprintf(stderr, "settings flood: %d000 frames sent%s; %zu bytes of ACKs read; goaway=%d closed=%d\n",
            sent, refused ? " before the server stopped reading" : "", s.bytes, s.goaway, s.closed);
    CHECK(refused);        /* it stopped reading long before 3 million frames */
    CHECK(errs1 > errs0);  /* counted as a flood */
    CHECK(s.closed);       /* and the connection ends once its output is read */
    close(fd);
    still_serves("a SETTINGS flood");
}

/* HPACK bomb: a ~4 KB header put in the dynamic table (literal with
 * incremental indexing), then referenced by its one-byte index thousands of
 * times: ~8 KB on the wire, ~16 MB of headers once decoded. The request must
 * be refused by the header-list cap (431 problem, or the stream or
 * connection ended), not assembled; the connection's next request works. */
static void test_hpack_bomb(void)
{
    int fd = dial();
    CHECK(fd >= 0);
    static unsigned char blk[16000];
    size_t n = hp_request(blk, "/healthz");
    static char big[4000];
    memset(big, 'B', sizeof big);
    blk[n++] = 0x40; /* literal with incremental indexing, new name */
    n += hp_str(blk + n, "x-bomb", 6);
    n += hp_str(blk + n, big, sizeof big); /* entry size 6 + 4000 + 32 <= 4096 */
    int refs = 0;
    while (n < 16000 - 1 && refs < 4000) blk[n++] = 0xBE, refs++; /* indexed: dynamic entry 62 */
    CHECK_INT(preface(fd), 0);
    CHECK_INT(frame(fd, F_HEADERS, FL_END_HEADERS | FL_END_STREAM, 1, blk, n), 0);
    seen s = {0};
    read_frames(fd, &s, 1, 10000);
    fprintf(stderr, "hpack bomb: %d references; status=%d rst=%d goaway=%d closed=%d\n", refs,
            s.status[0], s.rst[0], s.goaway, s.closed);
    CHECK(s.status[0] == 431 || s.rst[0] || s.goaway || s.closed);
    CHECK(s.status[0] != 200);
    if (!s.goaway && !s.closed) {
        /* The same connection, the same (now indexed) table: a plain request works. */
        size_t m = hp_request(blk, "/healthz");
        CHECK_INT(frame(fd, F_HEADERS, FL_END_HEADERS | FL_END_STREAM, 3, blk, m), 0);
        seen t = {0};
        read_frames(fd, &t, 3, 10000);
        CHECK_INT(t.status[1], 200);
    }
    close(fd);
    still_serves("an HPACK bomb");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    if (th_server_start(&srv, NULL, NULL) != 0) {
        fprintf(stderr, "server did not start\n");
        return 1;
    }
    test_baseline();
    test_continuation_flood();
    test_settings_flood();
    test_hpack_bomb();
    test_baseline();
    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    curl_global_cleanup();
    return t_done();
}
