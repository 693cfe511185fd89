/* `cds serve`: reads the configuration (CDS_* variables, flags), checks it
 * (every URL parses; with CDS_ENV=production, no secret, key or URL is
 * missing or a development one: core/settings_check.c, every offending
 * setting named in one message), optionally applies migrations, and runs
 * the API server on the TLS and cleartext ports (and the operators' routes,
 * /metrics, on the admin listener, loopback by default and never on the API
 * ports) until SIGTERM/SIGINT. */
#include "api/api.h"
#include "cli/cli.h"
#include "core/cidr.h"
#include "core/devkeys.h"
#include "core/log.h"
#include "core/migrate.h"
#include "core/options.h"
#include "core/server.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_MAX 16384

/* The configuration's problems in one message (stderr); 0 when none. */
/* --proxy-trusted, parsed; freed when serve() returns on any path */
static cds_cidr_list *g_trusted;

static int check_config(const cds_opt *opts, size_t n, const cds_opt_seen *seen, int production,
                        int tls_port, const char *tls_cert, const char *tls_key,
                        const char *env_problems)
{
    char *report = malloc(REPORT_MAX);
    if (!report) return -1;
    int bad = 0;
    size_t len = 0;
    /* Problems reading the environment (NAME and NAME_FILE both set, an
     * unreadable file, a bad number): one per line. */
    for (const char *p = env_problems; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        len += (size_t)snprintf(report + len, REPORT_MAX - len, "  %.*s\n", (int)l, p);
        if (len >= REPORT_MAX) len = REPORT_MAX - 1;
        bad++;
        p = nl ? nl + 1 : p + l;
    }
    bad += cds_opts_check(opts, n, seen, production, report + len, REPORT_MAX - len);
    len = strlen(report);
    if (production && tls_port && (!tls_cert || !*tls_cert || !tls_key || !*tls_key)) {
        snprintf(report + len, REPORT_MAX - len,
                 "  CDS_TLS_CERT, CDS_TLS_KEY: missing (the development certificate is refused; "
                 "or CDS_TLS_PORT=0 behind a TLS proxy)\n");
        bad++;
    }
    if (bad)
        fprintf(stderr, "cds serve: %s refuses to start: %d setting%s to fix:\n%s",
                production ? "CDS_ENV=production" : "the configuration", bad, bad == 1 ? "" : "s",
                report);
    free(report);
    return bad;
}

#define MAX_OPTS 256
/* What parsing saw of each option: the secrets read from files live here
 * until the server has stopped. */
static cds_opt_seen g_seen[MAX_OPTS];
static size_t g_nseen;

static int serve(int argc, char **argv)
{
    cds_server_config c;
    cds_server_config_defaults(&c);
    const char *host = "127.0.0.1", *db = NULL;
    const char *admin_host = "127.0.0.1";
    int port = 8080, tls_port = 8443, admin_port = 8090, auto_migrate = 0, access_log = 1;
    const char *dev_cert_dir = "var/tls", *log_level = "info", *mode = "development";
    const char *proxy_trusted = "";
    cds_api_config api;
    cds_api_config_defaults(&api);
    cds_opt opts[MAX_OPTS] = {
        {"env", "CDS_ENV", CDS_OPT_STR, &mode, 0, 0, "development or production (refuses development secrets, keys and URLs)"},
        {"host", "CDS_HOST", CDS_OPT_STR, &host, 0, 0, "address to listen on"},
        {"port", "CDS_PORT", CDS_OPT_INT, &port, 0, 65535, "cleartext port: h2c (prior knowledge) and HTTP/1.1; 0 disables"},
        {"tls-port", "CDS_TLS_PORT", CDS_OPT_INT, &tls_port, 0, 65535, "TLS port, ALPN h2 and http/1.1; 0 disables"},
        {"admin-host", "CDS_ADMIN_HOST", CDS_OPT_STR, &admin_host, 0, 0, "address of the admin listener (/metrics); keep it off public networks"},
        {"admin-port", "CDS_ADMIN_PORT", CDS_OPT_INT, &admin_port, 0, 65535, "admin listener (cleartext, /metrics); 0 disables"},
        {"tls-cert", "CDS_TLS_CERT", CDS_OPT_STR, &c.tls_cert, 0, 0, "certificate chain (PEM); unset: development certificate"},
        {"tls-key", "CDS_TLS_KEY", CDS_OPT_STR, &c.tls_key, 0, 0, "private key (PEM)"},
        {"dev-cert-dir", "CDS_DEV_CERT_DIR", CDS_OPT_STR, &dev_cert_dir, 0, 0, "where the development certificate is made and kept"},
        {"threads", "CDS_THREADS", CDS_OPT_INT, &c.threads, 1, 256, "event-loop threads; the default is the number of cores"},
        {"database-url", "CDS_DATABASE_URL", CDS_OPT_SECRET, &db, 0, 0, "PostgreSQL connection string; unset: no database (readyz fails)"},
        {"db-conns", "CDS_DB_CONNS", CDS_OPT_INT, &c.db_conns, 1, 64, "PostgreSQL connections per thread"},
        {"db-pipeline", "CDS_DB_PIPELINE", CDS_OPT_INT, &c.db_inflight, 1, 1024, "queries pipelined per connection"},
        {"db-queue", "CDS_DB_QUEUE", CDS_OPT_INT, &c.db_queue, 0, 1000000, "queries waiting per thread before 503"},
        {"max-conns", "CDS_MAX_CONNS", CDS_OPT_INT, &c.max_conns_per_thread, 1, 1000000, "connections per thread"},
        {"max-streams", "CDS_MAX_STREAMS", CDS_OPT_INT, &c.max_streams, 1, 1000, "concurrent HTTP/2 streams per connection"},
        {"max-header-bytes", "CDS_MAX_HEADER_BYTES", CDS_OPT_SIZE, &c.max_header_bytes, 1024, 1048576, "request header block cap (431 past it)"},
        {"max-body", "CDS_MAX_BODY", CDS_OPT_SIZE, &c.max_body, 0, 1073741824, "default request body cap (413 past it)"},
        {"handshake-timeout-ms", "CDS_HANDSHAKE_TIMEOUT_MS", CDS_OPT_INT, &c.handshake_timeout_ms, 1, 600000, "TLS handshake deadline"},
        {"header-timeout-ms", "CDS_HEADER_TIMEOUT_MS", CDS_OPT_INT, &c.header_timeout_ms, 1, 600000, "deadline to receive a whole request once started (a streamed body: each piece)"},
        {"idle-timeout-ms", "CDS_IDLE_TIMEOUT_MS", CDS_OPT_INT, &c.idle_timeout_ms, 1, 3600000, "idle keep-alive connection lifetime"},
        {"shutdown-grace-ms", "CDS_SHUTDOWN_GRACE_MS", CDS_OPT_INT, &c.shutdown_grace_ms, 0, 600000, "time given to in-flight requests on SIGTERM"},
        {"reset-burst", "CDS_RESET_BURST", CDS_OPT_INT, &c.reset_burst, 1, 100000, "HTTP/2 stream resets a client may send at once"},
        {"max-conn-buffer", "CDS_MAX_CONN_BUFFER", CDS_OPT_SIZE, &c.max_conn_buffer, 16384, 1073741824, "answer bytes held for one connection before it gets no new work (slow read)"},
        {"max-thread-buffer", "CDS_MAX_THREAD_BUFFER", CDS_OPT_SIZE, &c.max_thread_buffer, 65536, 4294967296, "answer bytes held for all connections of a thread, the same"},
        {"stall-timeout-ms", "CDS_STALL_TIMEOUT_MS", CDS_OPT_INT, &c.stall_timeout_ms, 100, 3600000, "a peer that takes none of its waiting answers for this long is closed"},
        {"reset-rate", "CDS_RESET_RATE", CDS_OPT_INT, &c.reset_rate, 1, 100000, "HTTP/2 stream resets per second after the burst"},
        {"proxy-trusted", "CDS_PROXY_TRUSTED", CDS_OPT_STR, &proxy_trusted, 0, 0, "load balancers (addresses or CIDR networks, comma-separated) that must send a PROXY v2 header on the API ports; empty: none"},
        {"drain-ms", "CDS_DRAIN_MS", CDS_OPT_INT, &c.drain_ms, 0, 600000, "on SIGTERM, /readyz answers 503 this long (all else served) before shutting down"},
        {"auto-migrate", "CDS_AUTO_MIGRATE", CDS_OPT_INT, &auto_migrate, 0, 1, "apply migrations at start (development)"},
        {"access-log", "CDS_ACCESS_LOG", CDS_OPT_INT, &access_log, 0, 1, "one JSON line per request on stdout"},
        {"log-level", "CDS_LOG_LEVEL", CDS_OPT_STR, &log_level, 0, 0, "debug, info, warn or error"},
    };
    size_t nopts = 0;
    while (opts[nopts].flag) nopts++;
    nopts += cds_api_options(&api, opts + nopts, sizeof opts / sizeof opts[0] - nopts);
    char err[4096];
    int rc = cds_opts_parse_seen(opts, nopts, argc, argv, 2, g_seen, err, sizeof err);
    g_nseen = nopts;
    if (rc == 1) {
        cds_opts_help(stdout, "usage: cds serve [options]", opts, nopts);
        return 0;
    }
    if (rc == -1) {
        fprintf(stderr, "cds serve: %s\n", err);
        return 2;
    }
    if (strcmp(mode, "development") != 0 && strcmp(mode, "production") != 0) {
        fprintf(stderr, "cds serve: CDS_ENV must be development or production, not '%s'\n", mode);
        return 2;
    }
    /* The environment's problems (rc -2) and the settings' in one message. */
    if (check_config(opts, nopts, g_seen, strcmp(mode, "production") == 0, tls_port, c.tls_cert,
                     c.tls_key, rc == -2 ? err : NULL) != 0)
        return 2;
    if (strcmp(mode, "production") == 0) cds_devkeys_forbid();
    cds_log_set_level(strcmp(log_level, "debug") == 0  ? CDS_LOG_DEBUG
                      : strcmp(log_level, "warn") == 0  ? CDS_LOG_WARN
                      : strcmp(log_level, "error") == 0 ? CDS_LOG_ERROR
                                                        : CDS_LOG_INFO);
    cds_log_access_enable(access_log);
    /* SO_REUSEPORT would let the admin socket share an API port silently. */
    if (admin_port && (admin_port == port || admin_port == tls_port)) {
        fprintf(stderr, "cds serve: the admin port (%d) must differ from the API ports\n", admin_port);
        return 2;
    }
    g_trusted = cds_cidr_parse(proxy_trusted, err, sizeof err);
    c.proxy_trusted = g_trusted;
    if (!g_trusted && err[0]) {
        fprintf(stderr, "cds serve: --proxy-trusted: %s\n", err);
        return 2;
    }
    if (db && !*db) db = NULL;
    if (db && auto_migrate) {
        if (cds_migrate(db, err, sizeof err) != 0) {
            cds_log(CDS_LOG_ERROR, "migrate", "%s", err);
            return 1;
        }
    }
    api.db_conninfo = db;
    if (cds_api_init(&api) != 0) {
        fprintf(stderr, "cds serve: initialisation failed\n");
        return 1;
    }
    size_t nroutes;
    const cds_route *routes = cds_api_routes(&nroutes);
    cds_router *router = cds_router_new(routes, nroutes);
    const cds_route *admin_routes = cds_api_admin_routes(&nroutes);
    cds_router *admin_router = cds_router_new(admin_routes, nroutes);
    if (!router || !admin_router) {
        fprintf(stderr, "cds serve: invalid route table\n");
        cds_router_free(router);
        cds_router_free(admin_router);
        return 1;
    }
    c.listen[0] = (cds_listen){host, tls_port, 1, router, "api", NULL, NULL};
    c.listen[1] = (cds_listen){host, port, 0, router, "api", NULL, NULL};
    c.proxy_listeners = 1u << 0 | 1u << 1; /* the API ports; never the admin one */
    c.listen[2] = (cds_listen){admin_host, admin_port, 0, admin_router, "admin", NULL, NULL};
    c.nlisten = 3;
    c.db_conninfo = db;
    c.dev_cert_dir = dev_cert_dir;
    c.on_worker_start = cds_api_worker_start;
    c.on_worker_stop = cds_api_worker_stop;
    rc = cds_server_run(&c);
    cds_api_shutdown();
    cds_router_free(router);
    cds_router_free(admin_router);
    return rc;
}

int cds_cmd_serve(int argc, char **argv)
{
    /* A reload asked for while we start (systemctl reload right after
     * start) waits, pending, for the server's sigwait instead of killing
     * the process; every thread made from here on inherits the mask. */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, NULL);
    int rc = serve(argc, argv);
    cds_opts_seen_free(g_seen, g_nseen);
    cds_cidr_free(g_trusted);
    g_trusted = NULL;
    return rc;
}
