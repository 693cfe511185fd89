/* Operations endpoints: liveness, readiness, Prometheus metrics and the
 * OpenAPI document. */
#ifndef CDS_API_OPS_H
#define CDS_API_OPS_H
#include "core/http.h"

int cds_ops_init(void);
void cds_ops_healthz(cds_req *r);
void cds_ops_readyz(cds_req *r);
void cds_ops_metrics(cds_req *r);
void cds_ops_openapi(cds_req *r);

#endif
