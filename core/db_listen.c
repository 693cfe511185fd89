/* The LISTEN/NOTIFY thread (see db_listen.h). It blocks in poll() on the
 * PostgreSQL socket and a wake-up pipe; stopping writes to the pipe. */
#include "core/db_listen.h"
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cds_listener {
    pthread_t tid;
    char *conninfo;
    char **channels;
    size_t nchannels;
    cds_notify_cb on_notify;
    cds_listen_connect_cb on_connect;
    void *arg;
    int wake[2];
};

/* Sleeps up to ms, returning early (1) when asked to stop. */
static int nap(cds_listener *l, int ms)
{
    struct pollfd p = {l->wake[0], POLLIN, 0};
    return poll(&p, 1, ms) > 0;
}

static PGconn *connect_and_listen(cds_listener *l)
{
    PGconn *c = PQconnectdb(l->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        cds_log(CDS_LOG_WARN, "db_listen", "cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    for (size_t i = 0; i < l->nchannels; i++) {
        char *ident = PQescapeIdentifier(c, l->channels[i], strlen(l->channels[i]));
        char sql[256];
        snprintf(sql, sizeof sql, "LISTEN %s", ident ? ident : "\"\"");
        PQfreemem(ident);
        PGresult *r = PQexec(c, sql);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            cds_log(CDS_LOG_WARN, "db_listen", "LISTEN %s failed: %s", l->channels[i],
                    PQerrorMessage(c));
            PQfinish(c);
            return NULL;
        }
    }
    return c;
}

static void *run(void *arg)
{
    cds_listener *l = arg;
    int backoff = 100;
    for (;;) {
        PGconn *c = connect_and_listen(l);
        if (!c) {
            if (nap(l, backoff)) return NULL;
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            continue;
        }
        backoff = 100;
        /* Anything notified while we were away is reloaded by the owner. */
        if (l->on_connect) l->on_connect(c, l->arg);
        for (;;) {
            struct pollfd p[2] = {{PQsocket(c), POLLIN, 0}, {l->wake[0], POLLIN, 0}};
            if (poll(p, 2, -1) < 0 && errno != EINTR) break;
            if (p[1].revents) {
                PQfinish(c);
                return NULL;
            }
            if (!PQconsumeInput(c)) break;
            PGnotify *n;
            while ((n = PQnotifies(c)) != NULL) {
                l->on_notify(n->relname, n->extra, l->arg);
                PQfreemem(n);
            }
            if (PQstatus(c) != CONNECTION_OK) break;
        }
        cds_log(CDS_LOG_WARN, "db_listen", "connection lost, reconnecting");
        PQfinish(c);
        if (nap(l, backoff)) return NULL;
    }
}

cds_listener *cds_listener_start(const char *conninfo, const char *const *channels, size_t n,
                                 cds_notify_cb on_notify, cds_listen_connect_cb on_connect,
                                 void *arg)
{
    cds_listener *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->conninfo = strdup(conninfo);
    l->channels = calloc(n ? n : 1, sizeof *l->channels);
    l->nchannels = n;
    for (size_t i = 0; i < n; i++) l->channels[i] = strdup(channels[i]);
    l->on_notify = on_notify;
    l->on_connect = on_connect;
    l->arg = arg;
    if (pipe(l->wake) != 0 || pthread_create(&l->tid, NULL, run, l) != 0) {
        cds_log(CDS_LOG_ERROR, "db_listen", "cannot start: %s", strerror(errno));
        free(l->conninfo);
        for (size_t i = 0; i < n; i++) free(l->channels[i]);
        free(l->channels);
        free(l);
        return NULL;
    }
    return l;
}

void cds_listener_stop(cds_listener *l)
{
    if (!l) return;
    ssize_t w = write(l->wake[1], "x", 1);
    (void)w;
    pthread_join(l->tid, NULL);
    close(l->wake[0]);
    close(l->wake[1]);
    free(l->conninfo);
    for (size_t i = 0; i < l->nchannels; i++) free(l->channels[i]);
    free(l->channels);
    free(l);
}
