/* Signed-request check of an incoming request (core/hmac_auth.h), answering
 * the 401 problem itself. */
#ifndef CDS_HMAC_REQ_H
#define CDS_HMAC_REQ_H
#include "core/hmac_auth.h"
#include "core/http.h"

/* The client id (request memory) when the request is signed by one of
 * `clients` within window_s seconds; otherwise NULL after answering 401 with
 * the problem code "<prefix>_..." (clients may be NULL: every call refused). */
const char *cds_hmac_req_verify(cds_req *r, const cds_hmac_clients *clients, int window_s,
                                const char *prefix);

#endif
