/* cds-bench-idle: opens N idle HTTP/2 (h2c, prior knowledge) connections to
 * one server and holds them, so that bench/run can measure the server's
 * resident memory per idle connection.
 *
 * Each connection: TCP connect, send the client preface and an empty
 * SETTINGS frame, read the server's frames until both its SETTINGS (which we
 * acknowledge with SETTINGS+ACK) and its acknowledgement of ours have arrived.
 * The connection is then "established" and nothing more is sent on it.
 * Frames the server sends later (PING, GOAWAY...) are read and ignored; a
 * connection the server closes is counted.
 *
 * Connects are non-blocking and driven by one epoll loop, with a bounded
 * number of handshakes in progress at once so that the server's listen
 * backlog never overflows (an overflow would cost a 1 s SYN retransmit).
 *
 * Output (stdout, one line each, flushed):
 *   established N in MS ms          once every connection is established
 *   done: open=N closed_by_peer=K   when leaving (SIGTERM/SIGINT or -t)
 * Exit status: 0 when every connection stayed open to the end, 1 if a
 * connection failed before it was established or the deadline for
 * establishing them all passed, 2 on usage errors, 3 if the server closed
 * some established connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_UNUSED, ST_CONNECTING, ST_HANDSHAKE, ST_ESTABLISHED, ST_CLOSED };

#define FRAME_SETTINGS 0x4
#define FLAG_ACK 0x1

typedef struct conn {
    int fd;
    uint8_t state;
    uint8_t got_settings;   /* the server's SETTINGS arrived (and we acked it) */
    uint8_t got_ack;        /* the server acknowledged our SETTINGS */
    uint8_t hdr_have;       /* bytes of the current 9-byte frame header */
    uint8_t hdr[9];
    uint32_t skip;          /* payload bytes of the current frame still to read */
} conn;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cds-bench-idle -p PORT [-H HOST] [-n CONNS] [-t SECONDS] [-b BATCH]\n"
            "                      [-w ESTABLISH_TIMEOUT_S]\n"
            "  -H HOST     IPv4/IPv6 address to connect to (default 127.0.0.1)\n"
            "  -p PORT     h2c port (prior knowledge)\n"
            "  -n CONNS    connections to open (default 5000)\n"
            "  -t SECONDS  hold them this long, 0: until SIGTERM/SIGINT (default 0)\n"
            "  -b BATCH    handshakes in progress at once (default 200)\n"
            "  -w SECONDS  give up if not all are established by then (default 60)\n");
}

/* Strict number parsing: the whole string, within [min, max]. */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int write_all_nb(int fd, const void *p, size_t n)
{
    /* Tiny writes on a fresh socket: a short write would mean a full send
     * buffer, which does not happen here; treat it as a failure. */
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    return w == (ssize_t)n ? 0 : -1;
}

static int start_connect(conn *c, const struct addrinfo *ai, int ep, size_t idx)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "cds-bench-idle: socket: %s\n", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        fprintf(stderr, "cds-bench-idle: connect: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u64 = idx};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        fprintf(stderr, "cds-bench-idle: epoll_ctl: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->state = ST_CONNECTING;
    return 0;
}

/* The connect finished: send the preface and our (empty) SETTINGS, and from
 * now on only wait for input. */
static int on_connected(conn *c, int ep, size_t idx)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                  "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        fprintf(stderr, "cds-bench-idle: connect: %s\n", strerror(err ? err : errno));
        return -1;
    }
    if (write_all_nb(c->fd, preface, sizeof preface - 1) != 0) {
        fprintf(stderr, "cds-bench-idle: sending the preface failed\n");
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = idx};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) return -1;
    c->state = ST_HANDSHAKE;
    return 0;
}

/* Reads what the server sent and walks its frames. Returns 1 when the
 * connection became established, 0 when more is needed, -1 when it closed. */
static int on_input(conn *c)
{
    static const uint8_t settings_ack[9] = {0, 0, 0, FRAME_SETTINGS, FLAG_ACK, 0, 0, 0, 0};
    uint8_t buf[4096];
    int became = 0;
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n == 0) return -1;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return -1;
        }
        size_t off = 0, len = (size_t)n;
        while (off < len) {
            if (c->skip > 0) {
                size_t k = len - off < c->skip ? len - off : c->skip;
                c->skip -= (uint32_t)k;
                off += k;
                continue;
            }
            size_t k = sizeof c->hdr - c->hdr_have;
            if (k > len - off) k = len - off;
            memcpy(c->hdr + c->hdr_have, buf + off, k);
            c->hdr_have = (uint8_t)(c->hdr_have + k);
            off += k;
            if (c->hdr_have < sizeof c->hdr) break;
            c->hdr_have = 0;
            c->skip = (uint32_t)c->hdr[0] << 16 | (uint32_t)c->hdr[1] << 8 | c->hdr[2];
            if (c->hdr[3] == FRAME_SETTINGS) {
                if (c->hdr[4] & FLAG_ACK) {
                    c->got_ack = 1;
                } else {
                    if (write_all_nb(c->fd, settings_ack, sizeof settings_ack) != 0) return -1;
                    c->got_settings = 1;
                }
            }
        }
        if (c->state == ST_HANDSHAKE && c->got_settings && c->got_ack) {
            c->state = ST_ESTABLISHED;
            became = 1;
        }
    }
    return became;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = NULL;
    long nconns = 5000, hold_s = 0, batch = 200, wait_s = 60;
    int opt;
    while ((opt = getopt(argc, argv, "H:p:n:t:b:w:h")) != -1) {
        long dummy;
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p':
            if (parse_long(optarg, 1, 65535, &dummy) != 0) goto bad;
            port = optarg;
            break;
        case 'n':
            if (parse_long(optarg, 1, 1000000, &nconns) != 0) goto bad;
            break;
        case 't':
            if (parse_long(optarg, 0, 86400, &hold_s) != 0) goto bad;
            break;
        case 'b':
            if (parse_long(optarg, 1, 100000, &batch) != 0) goto bad;
            break;
        case 'w':
            if (parse_long(optarg, 1, 86400, &wait_s) != 0) goto bad;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!port || optind != argc) goto bad;

    /* As many descriptors as the hard limit allows; N + a few are needed. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)nconns + 16) {
        fprintf(stderr, "cds-bench-idle: open-files limit %llu is too low for %ld connections "
                        "(raise it with ulimit -n)\n",
                (unsigned long long)rl.rlim_cur, nconns);
        return 1;
    }

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "cds-bench-idle: %s:%s: %s\n", host, port, gai_strerror(rc));
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    conn *conns = calloc((size_t)nconns, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0) {
        fprintf(stderr, "cds-bench-idle: out of memory or epoll_create1 failed\n");
        return 1;
    }

    int status = 0;
    long started = 0, pending = 0, established = 0, closed = 0;
    uint64_t t0 = now_ms(), deadline = t0 + (uint64_t)wait_s * 1000u, hold_until = 0;
    struct epoll_event evs[256];
    while (!stop_flag) {
        while (established + pending < nconns && started < nconns && pending < batch) {
            if (start_connect(&conns[started], ai, ep, (size_t)started) != 0) {
                status = 1;
                goto out;
            }
            started++;
            pending++;
        }
        int timeout = 1000;
        if (hold_until) {
            uint64_t now = now_ms();
            if (now >= hold_until) break;
            if (hold_until - now < 1000) timeout = (int)(hold_until - now);
        } else if (now_ms() >= deadline) {
            fprintf(stderr, "cds-bench-idle: only %ld of %ld connections established after %ld s\n",
                    established, nconns, wait_s);
            status = 1;
            goto out;
        }
        int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "cds-bench-idle: epoll_wait: %s\n", strerror(errno));
            status = 1;
            goto out;
        }
        for (int i = 0; i < n; i++) {
            size_t idx = (size_t)evs[i].data.u64;
            conn *c = &conns[idx];
            if (c->state == ST_CONNECTING) {
                if (on_connected(c, ep, idx) != 0) {
                    status = 1;
                    goto out;
                }
                continue; /* the server's SETTINGS comes with the next event */
            }
            if (c->state != ST_HANDSHAKE && c->state != ST_ESTABLISHED) continue;
            int was = c->state;
            int r = on_input(c);
            if (r < 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->state = ST_CLOSED;
                if (was == ST_HANDSHAKE) {
                    fprintf(stderr, "cds-bench-idle: the server closed connection %zu during "
                                    "the handshake\n", idx);
                    status = 1;
                    goto out;
                }
                established--;
                closed++;
            } else if (r == 1) {
                pending--;
                established++;
                if (established == nconns && !hold_until && closed == 0) {
                    printf("established %ld in %llu ms\n", established,
                           (unsigned long long)(now_ms() - t0));
                    fflush(stdout);
                    hold_until = hold_s > 0 ? now_ms() + (uint64_t)hold_s * 1000u : UINT64_MAX;
                }
            }
        }
    }
    if (closed > 0) status = 3;
out:
    printf("done: open=%ld closed_by_peer=%ld\n", established, closed);
    fflush(stdout);
    for (long i = 0; i < started; i++)
        if (conns[i].state != ST_CLOSED && conns[i].state != ST_UNUSED) close(conns[i].fd);
    close(ep);
    free(conns);
    freeaddrinfo(ai);
    return status;
bad:
    usage(stderr);
    return 2;
}
