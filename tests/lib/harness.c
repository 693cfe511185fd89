/* Integration-test plumbing (see harness.h): databases on the private test
 * cluster, free ports, child server processes, and a blocking libcurl client. */
#include "tests/lib/harness.h"
#include "tests/lib/oas_check.h"
#include "tests/lib/t.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static PGconn *connect_or_die(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "harness: cannot connect (%s): %s", conninfo, PQerrorMessage(c));
        exit(2);
    }
    return c;
}

char *th_db_new(const char *prefix)
{
    static int n;
    char name[96], sql[160], info[256];
    snprintf(name, sizeof name, "%s_%d_%d", prefix, (int)getpid(), n++);
    PGconn *c = connect_or_die("dbname=postgres");
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    PQclear(PQexec(c, sql));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "harness: %s: %s", sql, PQerrorMessage(c));
        exit(2);
    }
    PQclear(r);
    const char *host = getenv("PGHOST"), *user = getenv("PGUSER"), *port = getenv("PGPORT");
    snprintf(info, sizeof info, "postgresql:///%s?host=%s&user=%s&port=%s", name,
             host ? host : "/tmp", user ? user : "cds", port ? port : "5432");
    PQfinish(c);
    return strdup(info);
}

char *th_db_value(const char *conninfo, const char *sql)
{
    PGconn *c = connect_or_die(conninfo);
    PGresult *r = PQexec(c, sql);
    char *out = NULL;
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fprintf(stderr, "harness: %s: %s", sql, PQerrorMessage(c));
    else if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        out = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return out;
}

static char *db_vvalue(const char *conninfo, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static char *db_vvalue(const char *conninfo, const char *fmt, va_list ap)
{
    char sql[4096];
    vsnprintf(sql, sizeof sql, fmt, ap);
    return th_db_value(conninfo, sql);
}

int th_db_execf(const char *conninfo, const char *fmt, ...)
{
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    int rc = th_db_exec(conninfo, q);
    if (rc) fprintf(stderr, "SQL failed: %s\n", q);
    return rc;
}

char *th_db_valuef(const char *conninfo, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *v = db_vvalue(conninfo, fmt, ap);
    va_end(ap);
    return v;
}

char *th_db_text(const char *conninfo, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *v = db_vvalue(conninfo, fmt, ap);
    va_end(ap);
    return v ? v : strdup("");
}

long th_db_wait_count(const char *conninfo, long want, int seconds, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    long n = -1;
    for (int i = 0; i < seconds * 20; i++) {
        n = th_db_count(conninfo, "%s", sql);
        if (n == want) return n;
        usleep(50000);
    }
    return n;
}

char *th_url(const th_proc *p, const char *fmt, ...)
{
    static char buf[8][1024];
    static int i;
    i = (i + 1) % 8;
    int n = snprintf(buf[i], sizeof buf[i], "%s", p->url);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf[i] + n, sizeof buf[i] - (size_t)n, fmt, ap);
    va_end(ap);
    return buf[i];
}

long th_db_count(const char *conninfo, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    char *v = th_db_value(conninfo, sql);
    long n = v ? strtol(v, NULL, 10) : -1;
    free(v);
    return n;
}

int th_db_exec(const char *conninfo, const char *sql)
{
    PGconn *c = connect_or_die(conninfo);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) ? 0 : -1;
    if (rc) fprintf(stderr, "harness: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* A port below the kernel's ephemeral range (32768 and up by default), so
 * that no outgoing connection of a parallel test takes it between now and
 * the server binding it, that could be bound a moment ago. */
int th_free_port(void)
{
    static unsigned seed;
    if (!seed) seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
    for (int tries = 0; tries < 1000; tries++) {
        int port = 10000 + (int)(rand_r(&seed) % 22000);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0;
        if (s >= 0) close(s);
        if (ok) return port;
    }
    fprintf(stderr, "harness: no free port\n");
    exit(2);
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    char **buf = ud;
    size_t add = sz * n, old = *buf ? strlen(*buf) : 0;
    char *nb = realloc(*buf, old + add + 1);
    if (!nb) return 0;
    memcpy(nb + old, p, add);
    nb[old + add] = 0;
    *buf = nb;
    return add;
}

typedef struct body_acc {
    char *p;
    size_t len, cap;
} body_acc;

/* Grows geometrically: a 20 MiB answer in 16 KiB writes must not cost a
 * quadratic amount of copying (ASan's realloc always moves). */
static size_t collect_body(char *p, size_t sz, size_t n, void *ud)
{
    body_acc *b = ud;
    size_t add = sz * n;
    char *nb = b->p;
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + add + 1) cap *= 2;
        nb = realloc(b->p, cap);
        if (!nb) return 0;
        b->cap = cap;
    }
    memcpy(nb + b->len, p, add);
    b->len += add;
    nb[b->len] = 0;
    b->p = nb;
    return add;
}

/* Ports of the servers th_server_start_on started: their answers are
 * checked against openapi.yaml (the stand-ins' are not). */
static int g_server_ports[64];
static size_t g_nserver_ports;

static void server_port_add(int port)
{
    for (size_t i = 0; i < g_nserver_ports; i++)
        if (g_server_ports[i] == port) return;
    if (g_nserver_ports < sizeof g_server_ports / sizeof g_server_ports[0])
        g_server_ports[g_nserver_ports++] = port;
}

/* The path of a URL of one of our servers, or NULL. */
static const char *server_path(const char *url)
{
    const char *h = strstr(url, "://");
    if (!h) return NULL;
    h += 3;
    const char *colon = strchr(h, ':'), *slash = strchr(h, '/');
    if (!colon || !slash || colon > slash) return NULL;
    long port = strtol(colon + 1, NULL, 10);
    for (size_t i = 0; i < g_nserver_ports; i++)
        if (g_server_ports[i] == port) return slash;
    return NULL;
}

int th_http(th_resp *out, int http_version, const char *method, const char *url,
            const char *const *headers, const char *body, size_t body_len)
{
    memset(out, 0, sizeof *out);
    CURL *e = curl_easy_init();
    struct curl_slist *hl = NULL;
    body_acc acc = {0};
    for (size_t i = 0; headers && headers[i]; i++) hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long v = http_version == 1 ? CURL_HTTP_VERSION_1_1
             : strncmp(url, "https:", 6) == 0 ? CURL_HTTP_VERSION_2TLS
                                               : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, v);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &acc);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &out->headers);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &out->http_version);
    curl_easy_cleanup(e);
    curl_slist_free_all(hl);
    out->body = acc.p ? acc.p : strdup("");
    out->body_len = acc.len;
    if (!out->headers) out->headers = strdup("");
    if (rc != CURLE_OK) {
        fprintf(stderr, "harness: %s %s: %s\n", method, url, curl_easy_strerror(rc));
        return -1;
    }
    const char *path = server_path(url);
    if (path && strcmp(method, "HEAD") != 0 &&
        oas_check(method, path, out->status, th_resp_header(out, "content-type"), out->body,
                  out->body_len) != 0)
        t_fail++; /* oas_check said where */
    /* Problem details and pages are text in a language: the answer says
     * which (core/request.c), whatever the route. */
    const char *ct = path ? th_resp_header(out, "content-type") : NULL;
    int text = ct && (strncmp(ct, "application/problem+json", 24) == 0 ||
                      strncmp(ct, "text/html", 9) == 0);
    if (text && !th_resp_header(out, "content-language")) {
        fprintf(stderr, "harness: %s %s %ld: a problem or page without Content-Language\n", method,
                path, out->status);
        t_fail++;
    }
    return 0;
}

void th_resp_free(th_resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

const char *th_resp_header(const th_resp *r, const char *name)
{
    static char val[1024];
    size_t nl = strlen(name);
    /* Only the last response's block counts (a 100-continue may precede it). */
    const char *p = r->headers, *last = r->headers;
    while ((p = strstr(p, "HTTP/")) != NULL) {
        if (p == r->headers || p[-1] == '\n') last = p;
        p++;
    }
    for (p = last; p && *p;) {
        const char *eol = strchr(p, '\n');
        if (!eol) break;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') v++;
            size_t n = (size_t)(eol - v);
            while (n && (v[n - 1] == '\r' || v[n - 1] == ' ')) n--;
            if (n >= sizeof val) n = sizeof val - 1;
            memcpy(val, v, n);
            val[n] = 0;
            return val;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Up to a minute or more: the sanitizer build starting on a loaded 2-core
 * machine (migrations, key loading) is slow; an exit is reported at once.
 * With a database the server must also be ready (/readyz 200: every event
 * loop's pool has connected once), as a load balancer waits before sending
 * traffic; without one, alive (/healthz 200) is all it can be. */
static int wait_ready(th_proc *p, int with_db)
{
    char url[96];
    snprintf(url, sizeof url, "%s/%s", p->url, with_db ? "readyz" : "healthz");
    for (int i = 0; i < 600; i++) {
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            fprintf(stderr, "harness: server exited early (status %d), see %s\n", st, p->log);
            p->pid = 0;
            return -1;
        }
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 500L);
        CURLcode rc = curl_easy_perform(e);
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(e);
        if (rc == CURLE_OK && code == 200) return 0;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "harness: server not %s after 60 s, see %s\n", with_db ? "ready" : "healthy",
            p->log);
    return -1;
}

int th_server_start(th_proc *p, const char *conninfo, const char *const *env)
{
    return th_server_start_on(p, 0, conninfo, env);
}

int th_server_start_on(th_proc *p, int port, const char *conninfo, const char *const *env)
{
    static int n;
    memset(p, 0, sizeof *p);
    p->port_plain = port > 0 ? port : th_free_port();
    p->port_tls = th_free_port();
    do p->port_admin = th_free_port();
    while (p->port_admin == p->port_tls || p->port_admin == p->port_plain);
    snprintf(p->admin_url, sizeof p->admin_url, "http://127.0.0.1:%d", p->port_admin);
    snprintf(p->url, sizeof p->url, "http://127.0.0.1:%d", p->port_plain);
    snprintf(p->tls_url, sizeof p->tls_url, "https://127.0.0.1:%d", p->port_tls);
    snprintf(p->log, sizeof p->log, "%s/Testing/server_%d_%d.log", CDS_BUILD_DIR, (int)getpid(),
             n++);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        char buf[64];
        int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        snprintf(buf, sizeof buf, "%d", p->port_plain);
        setenv("CDS_PORT", buf, 1);
        snprintf(buf, sizeof buf, "%d", p->port_tls);
        setenv("CDS_TLS_PORT", buf, 1);
        snprintf(buf, sizeof buf, "%d", p->port_admin);
        setenv("CDS_ADMIN_PORT", buf, 1);
        setenv("CDS_THREADS", "2", 0);
        setenv("CDS_DEV_CERT_DIR", CDS_BUILD_DIR "/Testing", 0);
        setenv("CDS_DEV_KEYS_DIR", CDS_BUILD_DIR "/Testing/keys", 0);
        if (conninfo) setenv("CDS_DATABASE_URL", conninfo, 1);
        else unsetenv("CDS_DATABASE_URL");
        for (size_t i = 0; env && env[i]; i++) putenv((char *)env[i]);
        execl(CDS_BUILD_DIR "/cds", "cds", "serve", (char *)NULL);
        _exit(127);
    }
    p->pid = pid;
    server_port_add(p->port_plain);
    server_port_add(p->port_tls);
    return wait_ready(p, conninfo && *conninfo);
}

int th_proc_stop(th_proc *p, int sig)
{
    if (p->pid <= 0) return -1;
    kill(p->pid, sig);
    for (int i = 0; i < 150; i++) {
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
    return -1;
}

/* Stand-ins served over TLS only (the development certificate). */
static int tls_standin(const char *name)
{
    return strcmp(name, "apns") == 0;
}

int th_sim_start(th_sim *s, const char *const *standins, const char *const *env)
{
    static int n;
    memset(s, 0, sizeof *s);
    char only[256] = "";
    for (int i = 0; standins[i] && i < 8; i++) {
        snprintf(s->names[i], sizeof s->names[i], "%s", standins[i]);
        s->ports[i] = th_free_port();
        size_t l = strlen(only);
        snprintf(only + l, sizeof only - l, "%s%s", l ? "," : "", standins[i]);
        s->n++;
    }
    snprintf(s->log, sizeof s->log, "%s/Testing/sim_%d_%d.log", CDS_BUILD_DIR, (int)getpid(), n++);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setenv("CDS_SIM_ONLY", only, 1);
        setenv("CDS_DEV_CERT_DIR", CDS_BUILD_DIR "/Testing", 0);
        for (int i = 0; i < s->n; i++) {
            char var[64], val[16];
            snprintf(var, sizeof var, "CDS_SIM_%s_PORT", s->names[i]);
            for (char *c = var; *c; c++) *c = (*c == '-') ? '_' : (char)toupper((unsigned char)*c);
            snprintf(val, sizeof val, "%d", s->ports[i]);
            setenv(var, val, 1);
        }
        for (size_t i = 0; env && env[i]; i++) putenv((char *)env[i]);
        execl(CDS_BUILD_DIR "/cds-sim", "cds-sim", (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < s->n; i++) {
        char url[128];
        int tls = tls_standin(s->names[i]);
        snprintf(url, sizeof url, "%s://127.0.0.1:%d/_sim/health", tls ? "https" : "http",
                 s->ports[i]);
        /* Up to a minute: a loaded 2-core machine running the sanitizer
         * build can take many seconds to start the stand-ins (key
         * generation); a stand-in that died is reported at once. */
        int ok = 0, dead = 0;
        for (int k = 0; k < 1200 && !ok && !dead; k++) {
            th_resp r;
            ok = th_http(&r, tls ? 2 : 1, "GET", url, NULL, NULL, 0) == 0 && r.status == 200;
            th_resp_free(&r);
            if (!ok) {
                dead = waitpid(pid, NULL, WNOHANG) == pid;
                if (!dead) usleep(50000);
            }
        }
        if (dead) s->pid = 0;
        if (!ok) {
            fprintf(stderr, "harness: stand-in %s not up, see %s\n", s->names[i], s->log);
            return -1;
        }
    }
    return 0;
}

const char *th_sim_url(const th_sim *s, const char *name)
{
    static char url[64];
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) {
            snprintf(url, sizeof url, "%s://127.0.0.1:%d", tls_standin(name) ? "https" : "http",
                     s->ports[i]);
            return url;
        }
    return NULL;
}

int th_sim_stop(th_sim *s)
{
    th_proc p = {.pid = s->pid};
    s->pid = 0;
    return th_proc_stop(&p, SIGTERM);
}

long th_json(th_resp *out, const char *method, const char *url, const char *bearer,
             const char *body, void **json)
{
    return th_json_h(out, method, url, bearer, NULL, body, json);
}

long th_json_h(th_resp *out, const char *method, const char *url, const char *bearer,
               const char *header, const char *body, void **json)
{
    char auth[4200];
    const char *h[4] = {"Content-Type: application/json", NULL, NULL, NULL};
    int n = 1;
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        h[n++] = auth;
    }
    if (header) h[n++] = header;
    int rc = th_http(out, 2, method, url, h, body, body ? strlen(body) : 0);
    if (json) *json = rc == 0 ? json_loads(out->body, 0, NULL) : NULL;
    return rc == 0 ? out->status : 0;
}
