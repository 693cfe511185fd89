/* The rows of an outbox queue that are one call and one result statement
 * each (core/outbox_call.h). */
#include "core/outbox_call.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cds_outbox_row *cds_outbox_call_take(cds_outbox_worker *ow, PGresult *res, int row, size_t size,
                                     int attempt_col)
{
    cds_outbox_call *c = calloc(1, size);
    if (!c) return NULL;
    c->w = cds_outbox_worker_arg(ow);
    c->key = strtoll(PQgetvalue(res, row, 0), NULL, 10);
    c->attempt = (int)strtol(PQgetvalue(res, row, attempt_col), NULL, 10);
    return &c->row;
}

static void on_recorded(void *arg, PGresult *res)
{
    cds_outbox_call *c = arg;
    c->q = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        cds_log(CDS_LOG_WARN, c->rs->failed_event,
                "%s %lld: result not recorded (%s); it will be claimed again", c->rs->key_name,
                c->key, res ? PQresultErrorMessage(res) : "connection lost");
    cds_outbox_done(&c->row);
}

void cds_outbox_call_result(cds_outbox_results *rs, cds_outbox_call *c, const char *outcome,
                            const char *error, long hint_ms, int attempts_max,
                            long backoff_base_ms, long backoff_max_ms)
{
    if (strcmp(outcome, "retry") == 0 && c->attempt >= attempts_max) outcome = "failed";
    if (strcmp(outcome, "retry") == 0)
        atomic_fetch_add(&rs->retried, 1);
    else if (strcmp(outcome, "failed") == 0)
        atomic_fetch_add(&rs->failed, 1);
    else
        atomic_fetch_add(&rs->done, 1);
    if (error && *error)
        cds_log(strcmp(outcome, "failed") == 0 ? CDS_LOG_ERROR : CDS_LOG_INFO, rs->log_event,
                "%s %lld attempt %d: %s (%s)", rs->key_name, c->key, c->attempt, outcome, error);
    char key[24], at[16], retry[24];
    snprintf(key, sizeof key, "%lld", c->key);
    snprintf(at, sizeof at, "%d", c->attempt);
    snprintf(retry, sizeof retry, "%ld",
             strcmp(outcome, "retry") == 0
                 ? cds_outbox_backoff_ms(c->attempt, backoff_base_ms, backoff_max_ms, hint_ms)
                 : 0L);
    const char *p[] = {key, at, outcome, error, retry};
    c->rs = rs;
    if (cds_db_exec(cds_outbox_db(c->row.ow), rs->stmt, 5, p, on_recorded, c, &c->q) !=
        CDS_DB_OK) {
        cds_log(CDS_LOG_WARN, rs->failed_event, "%s %lld: database busy or down", rs->key_name,
                c->key);
        cds_outbox_done(&c->row);
    }
}

void cds_outbox_call_cancel(cds_outbox_row *r)
{
    cds_outbox_call *c = (cds_outbox_call *)r;
    if (c->http) cds_http_cancel(c->http);
    if (c->q) cds_db_cancel(c->q);
    c->http = NULL;
    c->q = NULL;
}

void cds_outbox_slot_start(cds_outbox *ob, int slot, cds_worker *w)
{
    if (!ob || !w->db) return;
    cds_worker_set(w, slot, cds_outbox_worker_start(ob, w, w));
}

void cds_outbox_slot_stop(int slot, cds_worker *w)
{
    cds_outbox_worker *ow = slot >= 0 ? cds_worker_get(w, slot) : NULL;
    if (ow) cds_outbox_worker_stop(ow);
    if (slot >= 0) cds_worker_set(w, slot, NULL);
}
