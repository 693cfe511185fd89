/* Integration-test plumbing: fresh databases on the private test cluster
 * (libpq PG* environment set by scripts/test), free ports, and child `cds`
 * processes started and stopped over real sockets. Blocking calls are fine
 * here: this is the test side. */
#ifndef CDS_HARNESS_H
#define CDS_HARNESS_H
#include <stddef.h>
#include <sys/types.h>

/* Creates database "<prefix>_<pid>_<n>"; returns its conninfo (malloc). Exits on failure. */
char *th_db_new(const char *prefix);
/* Runs `sql`; returns the first column of the first row (malloc), or NULL
 * (no row, NULL value or an error, printed to stderr). */
char *th_db_value(const char *conninfo, const char *sql);
/* The number the query (printf format) returns, e.g. a count(*); -1 on an
 * error or no row. */
long th_db_count(const char *conninfo, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs `sql`; returns 0 on success. */
int th_db_exec(const char *conninfo, const char *sql);
/* th_db_exec of a printf-formatted statement; says which failed on stderr. */
int th_db_execf(const char *conninfo, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* th_db_value of a printf-formatted query (NULL: an error, no row or NULL). */
char *th_db_valuef(const char *conninfo, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, "" (malloc'd) instead of NULL. */
char *th_db_text(const char *conninfo, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Polls the formatted query (a count) every 50 ms until it returns want,
 * for up to `seconds`; the last number it returned. */
long th_db_wait_count(const char *conninfo, long want, int seconds, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int th_free_port(void);

typedef struct th_proc {
    pid_t pid;
    int port_plain; /* cleartext port (h2c prior knowledge / HTTP/1.1) */
    int port_tls;
    int port_admin;   /* the admin listener (/metrics) */
    char url[64];     /* http://127.0.0.1:<port_plain> */
    char tls_url[64]; /* https://127.0.0.1:<port_tls> */
    char admin_url[64]; /* http://127.0.0.1:<port_admin> */
    char log[256];    /* file that receives the child's stdout and stderr */
} th_proc;

/* Starts `<build>/cds serve` with CDS_DATABASE_URL=conninfo (may be NULL),
 * free ports, and the extra "NAME=value" environment entries (NULL-ended),
 * then waits until /healthz answers (up to 20 s). Returns 0 on success. */
int th_server_start(th_proc *p, const char *conninfo, const char *const *env);
/* p's URL followed by the printf-formatted path, in one of 8 static
 * buffers used in turn (so a few may be alive at once in one call). */
char *th_url(const th_proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same on a chosen cleartext port (0: any), e.g. one a simulator must
 * call back, or the port of a server started again after a crash. */
int th_server_start_on(th_proc *p, int port, const char *conninfo, const char *const *env);
/* Sends `sig`, waits up to 15 s; returns the exit status (128+n if killed by signal n). */
int th_proc_stop(th_proc *p, int sig);

/* Starts `<build>/cds-sim` running only the named stand-ins (NULL-ended),
 * each on a free port, and waits until each answers /_sim/health. */
typedef struct th_sim {
    pid_t pid;
    int n;
    char names[8][32];
    int ports[8];
    char log[256];
} th_sim;
int th_sim_start(th_sim *s, const char *const *standins, const char *const *env);
/* Base URL of a started stand-in ("http://127.0.0.1:port", https for the
 * TLS-only APNs stand-in), static buffer. */
const char *th_sim_url(const th_sim *s, const char *name);
int th_sim_stop(th_sim *s);

/* A blocking libcurl exchange for tests. `headers` "Name: value", NULL-ended.
 * http_version: 1 for HTTP/1.1, 2 for h2c prior knowledge or h2 over TLS. */
typedef struct th_resp {
    long status;
    char *body;      /* malloc, NUL-terminated */
    size_t body_len;
    char *headers;   /* malloc, raw header block */
    long http_version; /* CURL_HTTP_VERSION_* actually used: 2 = HTTP/1.1, 3 = HTTP/2 */
} th_resp;
int th_http(th_resp *out, int http_version, const char *method, const char *url,
            const char *const *headers, const char *body, size_t body_len);
/* POST/PATCH/... a JSON body with an optional bearer token over h2c; returns the status (0 on a
 * transport error) and leaves the answer in *out (parsed JSON in *json if not NULL). */
long th_json(th_resp *out, const char *method, const char *url, const char *bearer,
             const char *body, void **json);
/* The same with one more header ("Accept-Language: en"; NULL: none). */
long th_json_h(th_resp *out, const char *method, const char *url, const char *bearer,
               const char *header, const char *body, void **json);
void th_resp_free(th_resp *r);
/* Header value (case-insensitive name) from a th_resp, into a static buffer, or NULL. */
const char *th_resp_header(const th_resp *r, const char *name);

#endif
