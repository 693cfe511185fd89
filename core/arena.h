/* Per-request arena (h2o-style): many small allocations, one free. Memory is
 * carved from 4 KiB chunks (larger requests get their own chunk); nothing is
 * freed individually. Allocation failure aborts: a request that cannot get a
 * few KiB cannot be answered anyway, and the caps on input bound the total. */
#ifndef CDS_ARENA_H
#define CDS_ARENA_H
#include <stddef.h>

typedef struct cds_arena_chunk cds_arena_chunk;
typedef struct cds_arena {
    cds_arena_chunk *head;
    size_t total; /* bytes handed out, for caps */
} cds_arena;

void *cds_arena_alloc(cds_arena *a, size_t n);
char *cds_arena_strndup(cds_arena *a, const char *s, size_t n);
void cds_arena_free(cds_arena *a);

#endif
