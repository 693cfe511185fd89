/* nghttp2's allocator for our sessions: the per-thread free lists of
 * core/tlmem.c (see h2_mem.h). */
#include "core/h2_mem.h"
#include "core/tlmem.h"

static void *m_malloc(size_t size, void *ud)
{
    (void)ud;
    return cds_tl_malloc(size);
}

static void m_free(void *p, void *ud)
{
    (void)ud;
    cds_tl_free(p);
}

static void *m_calloc(size_t nmemb, size_t size, void *ud)
{
    (void)ud;
    return cds_tl_calloc(nmemb, size);
}

static void *m_realloc(void *p, size_t size, void *ud)
{
    (void)ud;
    return cds_tl_realloc(p, size);
}

static nghttp2_mem mem = {NULL, m_malloc, m_free, m_calloc, m_realloc};

nghttp2_mem *cds_h2_mem(void)
{
    return &mem;
}
