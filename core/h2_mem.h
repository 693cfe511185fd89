/* Per-thread free lists for nghttp2's small allocations (core/h2.c gives
 * them to each session as its nghttp2_mem). */
#ifndef CDS_H2_MEM_H
#define CDS_H2_MEM_H

#include <nghttp2/nghttp2.h>

/* The allocator for nghttp2_session_server_new3: core/tlmem.h's per-thread
 * free lists (plain malloc under AddressSanitizer). */
nghttp2_mem *cds_h2_mem(void);

#endif
