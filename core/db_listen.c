/* The LISTEN/NOTIFY thread (see db_listen.h).
 *
 * Every listener of the process that names the same database shares one
 * connection and one thread (a "hub"). PostgreSQL 15 wakes every listening
 * backend of a database at every NOTIFY, whatever its channel, and each of
 * those backends then wakes its client: with one connection per module
 * (revoked logins, outbox, shipments, receipts) every dossier step's outbox
 * NOTIFY cost a wake-up of each of them, on both sides. The hub LISTENs on
 * the union of its listeners' channels and hands each notification to the
 * listeners of that channel.
 *
 * The thread blocks in poll() on the PostgreSQL socket and a wake-up pipe. A
 * new listener writes to the pipe: the thread LISTENs its channels and runs
 * its on_connect on the live connection (so, as before, nothing notified
 * after its LISTEN is missed and on_connect reloads what came before). After
 * a reconnection every listener is set up again the same way. Callbacks run
 * with the hub's mutex held, so once cds_listener_stop has taken a listener
 * out, none of its callbacks is running or will run. The last listener out
 * stops the thread. */
#include "core/db_listen.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct hub hub;

struct cds_listener {
    hub *h;
    char **channels;
    size_t nchannels;
    cds_notify_cb on_notify;
    cds_listen_connect_cb on_connect;
    void *arg;
    bool ready; /* LISTENed and on_connect run on the current connection */
    cds_listener *next;
};

struct hub {
    char *conninfo;
    pthread_t tid;
    int wake[2];
    pthread_mutex_t mu; /* listeners, stopping; held while callbacks run */
    cds_listener *listeners;
    bool stopping;
    hub *next;
};

static pthread_mutex_t hubs_mu = PTHREAD_MUTEX_INITIALIZER;
static hub *hubs;

/* Empties the wake-up pipe; 1 when the hub is being stopped. */
static int woken(hub *h)
{
    char buf[64];
    while (read(h->wake[0], buf, sizeof buf) > 0) {
    }
    pthread_mutex_lock(&h->mu);
    int stop = h->stopping;
    pthread_mutex_unlock(&h->mu);
    return stop;
}

/* Sleeps up to ms, returning early (1) when asked to stop. */
static int nap(hub *h, int ms)
{
    struct pollfd p = {h->wake[0], POLLIN, 0};
    return poll(&p, 1, ms) > 0 && woken(h);
}

static int listen_on(PGconn *c, const char *channel)
{
    char *ident = PQescapeIdentifier(c, channel, strlen(channel));
    char sql[256];
    snprintf(sql, sizeof sql, "LISTEN %s", ident ? ident : "\"\"");
    PQfreemem(ident);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) cds_log(CDS_LOG_WARN, "db_listen", "LISTEN %s failed: %s", channel, PQerrorMessage(c));
    return ok ? 0 : -1;
}

/* LISTENs for every listener not set up on this connection yet, then runs
 * its on_connect. -1 when the connection failed. */
static int set_up(hub *h, PGconn *c)
{
    int rc = 0;
    pthread_mutex_lock(&h->mu);
    for (cds_listener *l = h->listeners; l && rc == 0; l = l->next) {
        if (l->ready) continue;
        for (size_t i = 0; i < l->nchannels && rc == 0; i++) rc = listen_on(c, l->channels[i]);
        if (rc != 0) break;
        if (l->on_connect) l->on_connect(c, l->arg);
        l->ready = true;
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* Hands what libpq has received to the listeners of each channel. */
static void dispatch(hub *h, PGconn *c)
{
    PGnotify *n;
    while ((n = PQnotifies(c)) != NULL) {
        pthread_mutex_lock(&h->mu);
        for (cds_listener *l = h->listeners; l; l = l->next) {
            if (!l->ready) continue;
            for (size_t i = 0; i < l->nchannels; i++)
                if (strcmp(l->channels[i], n->relname) == 0) {
                    l->on_notify(n->relname, n->extra, l->arg);
                    break;
                }
        }
        pthread_mutex_unlock(&h->mu);
        PQfreemem(n);
    }
}

static void *run(void *arg)
{
    hub *h = arg;
    int backoff = 100;
    for (;;) {
        /* "cds-listen" in pg_stat_activity, unless the string names it:
         * the operator (and scripts/ha-drill) tell it from the pools. */
        static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
        const char *const values[] = {h->conninfo, "cds-listen", NULL};
        PGconn *c = PQconnectdbParams(keys, values, 1);
        if (PQstatus(c) != CONNECTION_OK) {
            cds_log(CDS_LOG_WARN, "db_listen", "cannot connect: %s", PQerrorMessage(c));
            PQfinish(c);
            if (nap(h, backoff)) return NULL;
            backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
            continue;
        }
        backoff = 100;
        pthread_mutex_lock(&h->mu);
        for (cds_listener *l = h->listeners; l; l = l->next) l->ready = false;
        pthread_mutex_unlock(&h->mu);
        int ok = set_up(h, c) == 0;
        if (ok) dispatch(h, c); /* what arrived while on_connect ran */
        while (ok) {
            struct pollfd p[2] = {{PQsocket(c), POLLIN, 0}, {h->wake[0], POLLIN, 0}};
            if (poll(p, 2, -1) < 0 && errno != EINTR) break;
            if (p[1].revents) {
                if (woken(h)) {
                    PQfinish(c);
                    return NULL;
                }
                if (set_up(h, c) != 0) break;
            }
            if (!PQconsumeInput(c)) break;
            dispatch(h, c);
            if (PQstatus(c) != CONNECTION_OK) break;
        }
        cds_log(CDS_LOG_WARN, "db_listen", "connection lost, reconnecting");
        PQfinish(c);
        if (nap(h, backoff)) return NULL;
    }
}

static void listener_free(cds_listener *l)
{
    for (size_t i = 0; i < l->nchannels; i++) free(l->channels[i]);
    free(l->channels);
    free(l);
}

static void hub_free(hub *h)
{
    if (h->wake[0] >= 0) close(h->wake[0]);
    if (h->wake[1] >= 0) close(h->wake[1]);
    pthread_mutex_destroy(&h->mu);
    free(h->conninfo);
    free(h);
}

static hub *hub_new(const char *conninfo)
{
    hub *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->wake[0] = h->wake[1] = -1;
    pthread_mutex_init(&h->mu, NULL);
    h->conninfo = strdup(conninfo);
    if (!h->conninfo || pipe(h->wake) != 0 || fcntl(h->wake[0], F_SETFL, O_NONBLOCK) != 0) {
        cds_log(CDS_LOG_ERROR, "db_listen", "cannot start: %s", strerror(errno));
        hub_free(h);
        return NULL;
    }
    return h;
}

cds_listener *cds_listener_start(const char *conninfo, const char *const *channels, size_t n,
                                 cds_notify_cb on_notify, cds_listen_connect_cb on_connect,
                                 void *arg)
{
    cds_listener *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->channels = calloc(n ? n : 1, sizeof *l->channels);
    if (!l->channels) {
        free(l);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        l->channels[i] = strdup(channels[i]);
        if (!l->channels[i]) {
            listener_free(l);
            return NULL;
        }
        l->nchannels = i + 1;
    }
    l->on_notify = on_notify;
    l->on_connect = on_connect;
    l->arg = arg;

    pthread_mutex_lock(&hubs_mu);
    hub *h = hubs;
    while (h && strcmp(h->conninfo, conninfo) != 0) h = h->next;
    bool fresh = !h;
    if (fresh && (h = hub_new(conninfo)) == NULL) {
        pthread_mutex_unlock(&hubs_mu);
        listener_free(l);
        return NULL;
    }
    l->h = h;
    pthread_mutex_lock(&h->mu);
    l->next = h->listeners;
    h->listeners = l;
    pthread_mutex_unlock(&h->mu);
    if (fresh) {
        if (pthread_create(&h->tid, NULL, run, h) != 0) {
            cds_log(CDS_LOG_ERROR, "db_listen", "cannot start: %s", strerror(errno));
            pthread_mutex_unlock(&hubs_mu);
            hub_free(h);
            listener_free(l);
            return NULL;
        }
        h->next = hubs;
        hubs = h;
    } else {
        /* The running thread sets it up on its connection. */
        ssize_t w = write(h->wake[1], "a", 1);
        (void)w;
    }
    pthread_mutex_unlock(&hubs_mu);
    return l;
}

void cds_listener_stop(cds_listener *l)
{
    if (!l) return;
    hub *h = l->h;
    pthread_mutex_lock(&hubs_mu);
    pthread_mutex_lock(&h->mu);
    cds_listener **pp = &h->listeners;
    while (*pp && *pp != l) pp = &(*pp)->next;
    if (*pp) *pp = l->next;
    bool last = h->listeners == NULL;
    if (last) h->stopping = true;
    pthread_mutex_unlock(&h->mu);
    if (last) {
        hub **hp = &hubs;
        while (*hp && *hp != h) hp = &(*hp)->next;
        if (*hp) *hp = h->next;
    }
    pthread_mutex_unlock(&hubs_mu);
    /* Out of the list under the hub's mutex: none of its callbacks runs now. */
    listener_free(l);
    if (last) {
        ssize_t w = write(h->wake[1], "x", 1);
        (void)w;
        pthread_join(h->tid, NULL);
        hub_free(h);
    }
}
