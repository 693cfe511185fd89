/* Chunked bump allocator behind core/arena.h. */
#include "core/arena.h"
#include "core/tlmem.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 4096
/* The first chunk is small: most requests need less than 1 KiB, and an
 * HTTP/2 connection may hold 100 of them waiting in line (slow read). */
#define CHUNK_FIRST 1024

struct cds_arena_chunk {
    cds_arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

void *cds_arena_alloc(cds_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    cds_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t want = a->head ? CHUNK : CHUNK_FIRST;
        size_t cap = n > want / 2 ? n : want;
        c = cds_tl_malloc(sizeof *c + cap); /* per-thread free lists up to 4 KiB */
        if (!c) abort();
        c->cap = cap;
        c->used = 0;
        if (cap == n && a->head) { /* big one: keep the current chunk in front */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    a->total += n;
    return p;
}

char *cds_arena_strndup(cds_arena *a, const char *s, size_t n)
{
    char *p = cds_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void cds_arena_free(cds_arena *a)
{
    for (cds_arena_chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        cds_tl_free(c);
    }
    a->head = NULL;
    a->total = 0;
}
