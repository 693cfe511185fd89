/* Optimistic concurrency with strong entity tags (RFC 9110 sections 8.8.3,
 * 13.1.1, 15.5.13; RFC 6585 for 428). A resource's tag is computed by the
 * database from what its representation is made of, so the comparison with
 * If-Match happens in the statement that writes (a concurrent writer is
 * waited for and the tag compared again with its row): these helpers only
 * send the tag and read If-Match into a PostgreSQL text[] literal. */
#ifndef CDS_ETAG_H
#define CDS_ETAG_H
#include "core/http.h"

enum cds_if_match {
    CDS_IFM_NONE, /* no If-Match */
    CDS_IFM_ANY,  /* If-Match: * */
    CDS_IFM_TAGS, /* a list: *tags is '{"t1","t2"}'; weak tags never match and are left out */
    CDS_IFM_BAD,  /* not a list of entity tags: a 400 was sent */
};
/* *tags (request arena) is set for CDS_IFM_TAGS, else NULL. */
enum cds_if_match cds_if_match(cds_req *r, const char **tags);

/* ETag: "<tag>" on the answer (tag: the database's opaque value). */
void cds_resp_etag(cds_req *r, const char *tag);
/* 412 precondition_failed: the resource changed since the client read it. */
void cds_precondition_failed(cds_req *r);
/* 428 precondition_required: this route needs If-Match (or, to create, If-None-Match: *). */
void cds_precondition_required(cds_req *r);

#endif
