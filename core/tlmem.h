/* Per-thread free lists for the small blocks every request allocates and
 * frees (nghttp2's, the request's, its arena's first chunk). */
#ifndef CDS_TLMEM_H
#define CDS_TLMEM_H

#include <stddef.h>

/* malloc, free, calloc and realloc for blocks that come and go with
 * requests: up to 4 KiB they are kept on per-thread free lists by size class
 * (at most 256 KiB per class and thread), larger ones go to malloc. A block
 * must be freed with cds_tl_free (by any thread). Under AddressSanitizer
 * they are malloc and free, so that ASan still sees every block. */
void *cds_tl_malloc(size_t size);
void cds_tl_free(void *p);
void *cds_tl_calloc(size_t nmemb, size_t size);
void *cds_tl_realloc(void *p, size_t size);

#endif
