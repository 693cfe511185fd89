/* `cds-sim`: runs the stand-ins of the external parties, each on its own port
 * (flag --<name>-port or CDS_SIM_<NAME>_PORT; 0 disables one), until
 * SIGTERM/SIGINT. Prints one "standin NAME URL" line per stand-in on stdout
 * once listening, for scripts to read. */
#include "core/log.h"
#include "core/options.h"
#include "core/server.h"
#include "sim/sim.h"

#include <ctype.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STANDINS (CDS_MAX_LISTENERS)

int main(int argc, char **argv)
{
    cds_server_config c;
    cds_server_config_defaults(&c);
    c.threads = 1;
    const char *host = "127.0.0.1", *dev_cert_dir = "var/tls";
    int access_log = 0;
    const char *only = NULL;
    cds_opt opts[MAX_STANDINS + 4];
    char flags[MAX_STANDINS][48], envs[MAX_STANDINS][48];
    size_t n = 0, ns = 0;
    opts[n++] = (cds_opt){"host", "CDS_SIM_HOST", CDS_OPT_STR, &host, 0, 0, "address to listen on"};
    opts[n++] = (cds_opt){"threads", "CDS_SIM_THREADS", CDS_OPT_INT, &c.threads, 1, 64, "event-loop threads"};
    opts[n++] = (cds_opt){"dev-cert-dir", "CDS_DEV_CERT_DIR", CDS_OPT_STR, &dev_cert_dir, 0, 0, "development certificate for TLS stand-ins"};
    opts[n++] = (cds_opt){"access-log", "CDS_SIM_ACCESS_LOG", CDS_OPT_INT, &access_log, 0, 1, "one JSON line per request"};
    opts[n++] = (cds_opt){"only", "CDS_SIM_ONLY", CDS_OPT_STR, &only, 0, 0, "comma-separated stand-ins to run (default: all)"};
    for (ns = 0; sim_standins[ns] && ns < MAX_STANDINS; ns++) {
        sim_standin *s = sim_standins[ns];
        s->port = s->default_port;
        snprintf(flags[ns], sizeof flags[ns], "%s-port", s->name);
        size_t k = (size_t)snprintf(envs[ns], sizeof envs[ns], "CDS_SIM_%s_PORT", s->name);
        for (size_t i = 0; i < k; i++)
            envs[ns][i] = envs[ns][i] == '-' ? '_' : (char)toupper((unsigned char)envs[ns][i]);
        opts[n++] = (cds_opt){flags[ns], envs[ns], CDS_OPT_INT, &s->port, 0, 65535, "port of this stand-in; 0 disables it"};
    }
    char err[256];
    int rc = cds_opts_parse(opts, n, argc, argv, 1, err, sizeof err);
    if (rc == 1) {
        cds_opts_help(stdout, "usage: cds-sim [options]  (stand-ins of VNeID, SMS, push, banks, couriers, TTHC)", opts, n);
        int titled = 0;
        for (size_t i = 0; i < ns; i++)
            if (sim_standins[i]->help) {
                if (!titled++) printf("\nstand-ins with settings of their own:\n");
                fputs(sim_standins[i]->help, stdout);
            }
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "cds-sim: %s\n", err);
        return 2;
    }
    cds_log_access_enable(access_log);
    /* The stand-ins keep what they received for the tests to read, so their
     * heap only grows during a run. glibc grows a thread's own arena a page
     * at a time (an mprotect each: 37,546 in one bench drain of 20,000
     * messages) and gives memory back to grow it again: one arena (the
     * main one, grown by brk) with a large pad and no trimming. Several
     * loop threads keep their arenas. */
    if (c.threads == 1) mallopt(M_ARENA_MAX, 1);
    mallopt(M_TOP_PAD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    if (only) /* every stand-in not named is disabled */
        for (size_t i = 0; i < ns; i++) {
            size_t len = strlen(sim_standins[i]->name);
            const char *p = only;
            int named = 0;
            while (*p && !named) {
                const char *e = strchr(p, ',');
                size_t l = e ? (size_t)(e - p) : strlen(p);
                named = l == len && strncmp(p, sim_standins[i]->name, len) == 0;
                p = e ? e + 1 : p + l;
            }
            if (!named) sim_standins[i]->port = 0;
        }
    cds_route *tables[MAX_STANDINS] = {0};
    cds_router *routers[MAX_STANDINS] = {0};
    for (size_t i = 0; i < ns; i++) {
        sim_standin *s = sim_standins[i];
        if (!s->port) continue;
        s->rec = sim_recorder_new();
        snprintf(s->base_url, sizeof s->base_url, "%s://%s:%d", s->tls ? "https" : "http", host,
                 s->port);
        if (s->init && s->init(s) != 0) {
            fprintf(stderr, "cds-sim: stand-in %s failed to start\n", s->name);
            return 1;
        }
        size_t total = s->nroutes + sim_frame_nroutes;
        tables[i] = calloc(total, sizeof(cds_route));
        if (!tables[i]) return 1;
        for (size_t k = 0; k < sim_frame_nroutes; k++) tables[i][k] = sim_frame_routes[k];
        for (size_t k = 0; k < s->nroutes; k++) tables[i][sim_frame_nroutes + k] = s->routes[k];
        routers[i] = cds_router_new(tables[i], total);
        if (!routers[i]) {
            fprintf(stderr, "cds-sim: bad route table in stand-in %s\n", s->name);
            return 1;
        }
        c.listen[c.nlisten++] = (cds_listen){host, s->port, s->tls, routers[i], s->name,
                                             s->fallback, s};
        printf("standin %s %s://%s:%d\n", s->name, s->tls ? "https" : "http", host, s->port);
    }
    fflush(stdout);
    if (c.nlisten == 0) {
        fprintf(stderr, "cds-sim: every stand-in is disabled\n");
        return 2;
    }
    c.dev_cert_dir = dev_cert_dir;
    rc = cds_server_run(&c);
    for (size_t i = 0; i < ns; i++) {
        cds_router_free(routers[i]);
        free(tables[i]);
        sim_recorder_free(sim_standins[i]->rec);
    }
    return rc;
}
