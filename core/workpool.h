/* A small pool of worker threads for work that must not run on an event-loop
 * thread: file I/O of attachments, PDF rendering, CPU-heavy images. A job is
 * queued from a loop thread; its `work` runs on a worker; its `done` runs
 * back on the loop thread that queued it (woken through its event_base).
 * A job can be cancelled while queued or running: `done` is then never called
 * (a running `work` finishes, its result is dropped through `cleanup`). */
#ifndef CDS_WORKPOOL_H
#define CDS_WORKPOOL_H
#include <stddef.h>

struct event_base;
typedef struct cds_job cds_job;

/* Starts `threads` workers (process-wide; call once before loops start). */
int cds_workpool_start(int threads);
void cds_workpool_stop(void);

/* work(arg) on a worker; then done(arg) on `base`'s thread; cleanup(arg) (may be
 * NULL) instead of done when the job was cancelled. NULL if the queue is full
 * (bounded: answer 503). */
cds_job *cds_job_submit(struct event_base *base, void (*work)(void *), void (*done)(void *),
                        void (*cleanup)(void *), void *arg);
/* From the loop thread that submitted it; safe in any state. */
void cds_job_cancel(cds_job *job);

#endif
