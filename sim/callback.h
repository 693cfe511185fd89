/* A stand-in's outgoing callback (a carrier's status webhook): one body
 * posted to the server a given number of times, each answer kept, the
 * whole recorded as an event of the stand-in and, when a control request
 * asked for it, answered to that request. Shared by the courier stand-ins. */
#ifndef SIM_CALLBACK_H
#define SIM_CALLBACK_H
#include "core/http_client.h"
#include "sim/sim.h"

typedef struct sim_callback sim_callback;

/* A callback of stand-in s, sent with http (the calling loop's client).
 * Takes ownership of `about` (the JSON recorded under `key` in the event
 * `kind` and in the control answer) and of `body` (the exact bytes sent,
 * malloc'd). Aborts on allocation failure, as the stand-ins do. */
sim_callback *sim_callback_new(sim_standin *s, cds_http_client *http, const char *kind,
                               const char *key, json_t *about, char *body);
/* The exact bytes that will be sent (to sign them). */
const char *sim_callback_body(const sim_callback *c);
/* Adds a header line ("Name: value"); at most 7. 0 or -1. */
int sim_callback_header(sim_callback *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Posts it `times` times to url (stopping at a transport error). With r,
 * the control request r is answered with the last status and body, `key`
 * and every answer; without, it frees itself when done. */
void sim_callback_start(sim_callback *c, cds_req *r, const char *url, int times);

#endif
