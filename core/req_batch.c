/* Gathering the small writes of one turn of the loop into one statement:
 * see req_batch.h. One open batch per kind and thread; it is sent when the
 * turn ends (an event made active when its first item arrives) or when it
 * is full, whichever comes first. */
#include "core/req_batch.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

typedef struct batch_slot {
    cds_req *r;    /* NULL once the request died or was answered */
    int track;     /* its cds_req_track slot */
    int row;       /* its row in the result, -1 until found */
} batch_slot;

typedef struct batch {
    const cds_req_batch_kind *kind;
    cds_worker *w;
    json_t *items;
    int n;
    struct event *flush;
    struct batch *next; /* this thread's open batches */
    batch_slot slots[];
} batch;

static __thread batch *t_open;

static void slot_cancel(void *handle)
{
    ((batch_slot *)handle)->r = NULL;
}

static void batch_free(batch *b)
{
    if (b->flush) event_free(b->flush);
    json_decref(b->items);
    free(b);
}

static void unlink_open(batch *b)
{
    for (batch **p = &t_open; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    b->next = NULL;
}

/* Every living request gets its row (or -1), then the batch goes. */
static void batch_answer(batch *b, PGresult *res)
{
    int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQnfields(res) >= 1;
    if (res && !ok)
        cds_log(CDS_LOG_WARN, "db_batch", "%s: batch of %d failed: %s", b->kind->name, b->n,
                PQresultErrorMessage(res));
    if (ok) {
        for (int k = 0, rows = PQntuples(res); k < rows; k++) {
            const char *v = PQgetvalue(res, k, 0);
            char *end = NULL;
            long i = strtol(v, &end, 10);
            if (end != v && *end == '\0' && i >= 0 && i < b->n && b->slots[i].row < 0)
                b->slots[i].row = k;
        }
    }
    for (int i = 0; i < b->n; i++) {
        batch_slot *s = &b->slots[i];
        cds_req *r = s->r;
        if (!r) continue;
        s->r = NULL;
        cds_req_untrack(r, s->track);
        /* One statement answers many requests: each callback logs as its own. */
        cds_log_ctx ctx, prev;
        cds_req_log_ctx(r, &ctx);
        cds_log_ctx_set(&ctx, &prev);
        b->kind->cb(r, ok ? res : NULL, ok ? s->row : -1);
        cds_log_ctx_set(&prev, NULL);
    }
    batch_free(b);
}

static void on_done(void *arg, PGresult *res)
{
    batch_answer(arg, res);
}

static void batch_send(batch *b)
{
    /* A batch sent because it is full still has its end-of-turn event
     * active: without this it would be sent a second time. */
    event_del(b->flush);
    unlink_open(b);
    char *text = json_dumps(b->items, JSON_COMPACT);
    const char *p[1] = {text};
    int rc = text && b->w->db ? cds_db_exec(b->w->db, b->kind->stmt, 1, p, on_done, b, NULL)
                              : CDS_DB_EDOWN;
    free(text);
    if (rc != CDS_DB_OK) batch_answer(b, NULL);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    batch_send(arg);
}

static int batch_cap(const cds_req_batch_kind *kind)
{
    return kind->max_items > 0 ? kind->max_items : 64;
}

static batch *open_batch(cds_worker *w, const cds_req_batch_kind *kind)
{
    for (batch *b = t_open; b; b = b->next)
        if (b->kind == kind) return b;
    int cap = batch_cap(kind);
    batch *b = calloc(1, sizeof *b + (size_t)cap * sizeof(batch_slot));
    if (!b) return NULL;
    b->kind = kind;
    b->w = w;
    b->items = json_array();
    b->flush = event_new(w->base, -1, 0, on_flush, b);
    if (!b->items || !b->flush) {
        batch_free(b);
        return NULL;
    }
    event_active(b->flush, EV_TIMEOUT, 0);
    b->next = t_open;
    t_open = b;
    return b;
}

int cds_req_batch(cds_req *r, const cds_req_batch_kind *kind, json_t *item)
{
    cds_worker *w = cds_req_worker(r);
    batch *b = w->db ? open_batch(w, kind) : NULL;
    if (!b || !item || json_object_set_new(item, "i", json_integer(b->n)) != 0 ||
        json_array_append(b->items, item) != 0) {
        json_decref(item);
        cds_fail(r, CDS_P_DB_UNAVAILABLE);
        return -1;
    }
    json_decref(item);
    batch_slot *s = &b->slots[b->n++];
    s->r = r;
    s->row = -1;
    s->track = cds_req_track(r, slot_cancel, s);
    int rc = 0;
    if (s->track < 0) { /* more than CDS_MAX_TRACKED at once is a handler bug */
        s->r = NULL;
        cds_fail(r, CDS_P_INTERNAL);
        rc = -1;
    }
    if (b->n >= batch_cap(kind)) batch_send(b); /* may answer (and free) the batch at once */
    return rc;
}

void cds_req_batch_thread_end(void)
{
    while (t_open) {
        batch *b = t_open;
        t_open = b->next;
        batch_answer(b, NULL);
    }
}
