/* The simulators: stand-ins for the parties outside the system (VNeID, SMS
 * gateways, FCM, APNs, payment providers, couriers, the city's TTHC system),
 * each on its own port, served by the same HTTP core as the server. Each
 * stand-in records what it receives; tests read the record over HTTP at
 * GET /_sim/requests on the stand-in's own port. */
#ifndef CDS_SIM_H
#define CDS_SIM_H
#include "core/http.h"
#include <stddef.h>

typedef struct sim_standin sim_standin;
typedef struct sim_recorder sim_recorder;

struct sim_standin {
    const char *name;         /* "sink", "vneid", ... ; flag --<name>-port */
    int default_port;
    int tls;                  /* served over TLS (APNs) */
    const cds_route *routes;  /* its protocol; the /_sim routes are added by the frame */
    size_t nroutes;
    cds_handler fallback;     /* for paths no route matches; NULL: 404 */
    int (*init)(sim_standin *s); /* before the server starts; may be NULL */
    const char *help;         /* its control routes and settings, for --help; may be NULL */
    /* filled by the frame */
    int port;
    char base_url[96];        /* "http://127.0.0.1:9001", what the stand-in calls itself */
    sim_recorder *rec;
    void *state;
};

/* Every stand-in, NULL-terminated (sim/registry.c). */
extern sim_standin *sim_standins[];

/* The stand-in a request came in on. */
sim_standin *sim_of(cds_req *r);

/* Records the request (method, path, query, headers, body) in the stand-in's
 * ring of the last SIM_RECORD_MAX requests; returns its sequence number. */
#define SIM_RECORD_MAX 100000
long sim_record(cds_req *r);
/* Records an outgoing event of the stand-in itself (e.g. a webhook it sent):
 * listed as {"kind", "detail"}; `kind` must outlive the record (a literal). */
long sim_record_event(sim_standin *s, const char *kind, json_t *detail);
/* The same for an event on a hot path, kept as `blob` (one malloc, taken
 * over and freed with free()) and turned into its listed object (with its
 * "kind") by build(kind, blob) only when a test reads the record. */
typedef json_t *(*sim_build_fn)(const char *kind, const void *blob);
long sim_record_lazy(sim_standin *s, const char *kind, void *blob, sim_build_fn build);

sim_recorder *sim_recorder_new(void);
void sim_recorder_free(sim_recorder *rec);
/* The /_sim routes every stand-in has: GET /_sim/requests?since=N&limit=M,
 * DELETE /_sim/requests, GET /_sim/health. */
extern const cds_route sim_frame_routes[];
extern const size_t sim_frame_nroutes;

#endif
