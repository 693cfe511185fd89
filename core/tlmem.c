/* Per-thread free lists of small blocks (see tlmem.h). An HTTP/2 request
 * costs nghttp2 about five allocations and as many frees (stream, frames,
 * header copies, outbound items), and the server two more (the request and
 * its arena's first chunk); glibc's malloc and free were ~10 % of a
 * /healthz request's instructions (callgrind, issue 21). A block freed by a
 * thread goes to that thread's list; a request and a session live on one
 * thread, so in practice the lists feed themselves. */
#include "core/tlmem.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define TLMEM_PLAIN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TLMEM_PLAIN 1
#endif
#endif

#ifndef TLMEM_PLAIN

#define CLASSES 7               /* 64, 128, ..., 4096 bytes with the header */
#define KEEP_BYTES (256 * 1024) /* per class and thread */
#define BIG 0xff

/* In front of every block: its class (BIG: malloc'd as is) and, for BIG,
 * the size asked for; 16 bytes keep the block max_align_t aligned. */
typedef struct hdr {
    size_t size;
    uint32_t cls;
    uint32_t pad;
} hdr;
_Static_assert(sizeof(hdr) == 16, "the header keeps 16-byte alignment");

typedef struct node {
    struct node *next;
} node;

static _Thread_local node *free_list[CLASSES];
static _Thread_local unsigned free_count[CLASSES];

static unsigned cls_of(size_t total)
{
    unsigned c = 0;
    size_t cap = 64;
    while (cap < total) {
        cap <<= 1;
        c++;
    }
    return c;
}

static size_t cls_size(unsigned c) { return (size_t)64 << c; }

void *cds_tl_malloc(size_t size)
{
    size_t total = size + sizeof(hdr);
    hdr *h;
    if (total > cls_size(CLASSES - 1)) {
        h = malloc(total);
        if (!h) return NULL;
        h->cls = BIG;
        h->size = size;
        return h + 1;
    }
    unsigned c = cls_of(total);
    if (free_list[c]) {
        node *n = free_list[c];
        free_list[c] = n->next;
        free_count[c]--;
        h = (hdr *)n;
    } else {
        h = malloc(cls_size(c));
        if (!h) return NULL;
    }
    h->cls = c;
    h->size = size;
    return h + 1;
}

void cds_tl_free(void *p)
{
    if (!p) return;
    hdr *h = (hdr *)p - 1;
    unsigned c = h->cls;
    if (c == BIG || (size_t)(free_count[c] + 1) * cls_size(c) > KEEP_BYTES) {
        free(h);
        return;
    }
    node *n = (node *)h;
    n->next = free_list[c];
    free_list[c] = n;
    free_count[c]++;
}

void *cds_tl_calloc(size_t nmemb, size_t size)
{
    if (size && nmemb > SIZE_MAX / size) return NULL;
    void *p = cds_tl_malloc(nmemb * size);
    if (p) memset(p, 0, nmemb * size);
    return p;
}

void *cds_tl_realloc(void *p, size_t size)
{
    if (!p) return cds_tl_malloc(size);
    hdr *h = (hdr *)p - 1;
    if (h->cls != BIG && size + sizeof(hdr) <= cls_size(h->cls)) {
        h->size = size;
        return p;
    }
    void *q = cds_tl_malloc(size);
    if (!q) return NULL;
    memcpy(q, p, h->size < size ? h->size : size);
    cds_tl_free(p);
    return q;
}

#else /* AddressSanitizer: plain malloc, so that it sees every block */

void *cds_tl_malloc(size_t size) { return malloc(size); }
void cds_tl_free(void *p) { free(p); }
void *cds_tl_calloc(size_t nmemb, size_t size) { return calloc(nmemb, size); }
void *cds_tl_realloc(void *p, size_t size) { return realloc(p, size); }

#endif
