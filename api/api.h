/* The citizen-facing and partner-facing HTTP API: the one route table the
 * server serves, and the start-up hook that registers every module's
 * prepared statements. */
#ifndef CDS_API_H
#define CDS_API_H
#include "core/http.h"
#include <stddef.h>

/* Register prepared statements and per-process state; before threads start. */
int cds_api_init(void);
const cds_route *cds_api_routes(size_t *n);

#endif
