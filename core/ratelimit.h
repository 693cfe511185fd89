/* Per-key token buckets (e.g. one per client address), for the process: a
 * fixed number of shards, each a small hash table under its own mutex, with
 * idle buckets evicted. Stateless nodes each enforce their own share. */
#ifndef CDS_RATELIMIT_H
#define CDS_RATELIMIT_H
#include <stdint.h>

typedef struct cds_ratelimit cds_ratelimit;

/* `burst` requests at once, then `per_minute` on average. */
cds_ratelimit *cds_ratelimit_new(int burst, int per_minute);
void cds_ratelimit_free(cds_ratelimit *rl);
/* 1 when the request is allowed (a token is taken), 0 when over the limit;
 * *retry_after_s (if not NULL) then says when the next token comes. */
int cds_ratelimit_take(cds_ratelimit *rl, const char *key, int *retry_after_s);

#endif
