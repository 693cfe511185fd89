/* Per-key token buckets (see ratelimit.h).
 *
 * Arithmetic: a bucket holds `burst` tokens and gains `per_minute` tokens a
 * minute. One token is 60000 units (the milliseconds of a minute), so each
 * elapsed millisecond adds exactly `per_minute` units: refill is integer
 * arithmetic with no rounding drift however often a key asks. A request
 * takes 60000 units.
 *
 * Layout: SHARDS shards chosen by a keyed hash (SipHash-2-4 with a random key
 * per limiter, so a client cannot pick addresses that all land in one chain),
 * each with its own mutex, a chained hash table and a list of its entries in
 * order of last use. Memory is bounded: a shard holds at most SHARD_CAP
 * entries; a new key in a full shard evicts the least recently used one
 * (which then starts again with a full bucket: the price of the bound, paid
 * only by the longest-idle client). Idle eviction is free of timers: an entry
 * idle long enough to have refilled completely is indistinguishable from a
 * new one, so every call drops up to a few such entries from the cold end of
 * its shard's list.
 *
 * Time comes from CLOCK_MONOTONIC in milliseconds; tests replace it with
 * cds_ratelimit_set_clock_for_tests (declared by the tests themselves: it is
 * not part of the public interface). */
#include "core/ratelimit.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHARDS 16
#define SHARD_CAP 4096     /* entries per shard: 64 Ki keys per limiter */
#define TABLE_SIZE 4096    /* chains per shard (power of two) */
#define KEY_MAX 63         /* longer keys are stored as a prefix + their hash */
#define UNITS 60000        /* units per token (ms per minute) */
#define IDLE_SWEEP 4       /* idle entries dropped per call at most */

typedef struct rl_entry {
    struct rl_entry *chain;            /* next in the hash chain */
    struct rl_entry *older, *newer;    /* use order within the shard */
    uint64_t hash;
    int64_t units;                     /* tokens * UNITS */
    int64_t last_ms;                   /* time of the last refill */
    char key[KEY_MAX + 1];
} rl_entry;

typedef struct rl_shard {
    pthread_mutex_t mu;
    rl_entry *table[TABLE_SIZE];
    rl_entry *oldest, *newest;
    size_t count;
} rl_shard;

struct cds_ratelimit {
    int64_t cap_units;     /* burst * UNITS */
    int64_t per_minute;
    int64_t full_ms;       /* time for an empty bucket to refill completely */
    uint64_t k0, k1;       /* SipHash key */
    rl_shard shards[SHARDS];
};

/* ---------------- time ---------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static _Atomic(int64_t (*)(void)) clock_fn = mono_ms;

/* Test hook: replaces the clock (NULL restores CLOCK_MONOTONIC). */
void cds_ratelimit_set_clock_for_tests(int64_t (*now_ms)(void));
void cds_ratelimit_set_clock_for_tests(int64_t (*now_ms)(void))
{
    atomic_store(&clock_fn, now_ms ? now_ms : mono_ms);
}

/* Test hook: entries currently held (takes every shard lock in turn). */
size_t cds_ratelimit_size_for_tests(cds_ratelimit *rl);
size_t cds_ratelimit_size_for_tests(cds_ratelimit *rl)
{
    size_t n = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&rl->shards[i].mu);
        n += rl->shards[i].count;
        pthread_mutex_unlock(&rl->shards[i].mu);
    }
    return n;
}

/* ---------------- SipHash-2-4 ---------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32);                                  \
        v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                                                     \
        v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                                                     \
        v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32);                                  \
    } while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const unsigned char *in, size_t n)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)n << 56;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t m = 0;
        for (int j = 7; j >= 0; j--) m = (m << 8) | in[i + (size_t)j];
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; i + j < n; j++) b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---------------- the limiter ---------------- */

cds_ratelimit *cds_ratelimit_new(int burst, int per_minute)
{
    if (burst < 1 || burst > 1000000 || per_minute < 1 || per_minute > 60000000) return NULL;
    cds_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl) return NULL;
    unsigned char seed[16];
    if (RAND_bytes(seed, sizeof seed) != 1) {
        free(rl);
        return NULL;
    }
    memcpy(&rl->k0, seed, 8);
    memcpy(&rl->k1, seed + 8, 8);
    rl->cap_units = (int64_t)burst * UNITS;
    rl->per_minute = per_minute;
    rl->full_ms = (rl->cap_units + rl->per_minute - 1) / rl->per_minute;
    for (int i = 0; i < SHARDS; i++) pthread_mutex_init(&rl->shards[i].mu, NULL);
    return rl;
}

void cds_ratelimit_free(cds_ratelimit *rl)
{
    if (!rl) return;
    for (int i = 0; i < SHARDS; i++) {
        rl_shard *s = &rl->shards[i];
        for (rl_entry *e = s->oldest, *next; e; e = next) {
            next = e->newer;
            free(e);
        }
        pthread_mutex_destroy(&s->mu);
    }
    free(rl);
}

static void list_unlink(rl_shard *s, rl_entry *e)
{
    if (e->older) e->older->newer = e->newer;
    else s->oldest = e->newer;
    if (e->newer) e->newer->older = e->older;
    else s->newest = e->older;
    e->older = e->newer = NULL;
}

static void list_push_newest(rl_shard *s, rl_entry *e)
{
    e->older = s->newest;
    e->newer = NULL;
    if (s->newest) s->newest->newer = e;
    else s->oldest = e;
    s->newest = e;
}

static void evict(rl_shard *s, rl_entry *e)
{
    rl_entry **pp = &s->table[e->hash & (TABLE_SIZE - 1)];
    while (*pp != e) pp = &(*pp)->chain;
    *pp = e->chain;
    list_unlink(s, e);
    s->count--;
    free(e);
}

/* The stored form of a key: itself when short, else a prefix and its hash
 * (different long keys then differ in the stored form too, barring a 64-bit
 * collision that would only merge two clients' limits). */
static void stored_key(const cds_ratelimit *rl, const char *key, char out[KEY_MAX + 1])
{
    size_t n = strnlen(key, 4096);
    if (n <= KEY_MAX) {
        memcpy(out, key, n);
        out[n] = 0;
        return;
    }
    static const char hex[] = "0123456789abcdef";
    uint64_t h = siphash(rl->k1, rl->k0, (const unsigned char *)key, n);
    memcpy(out, key, KEY_MAX - 17);
    out[KEY_MAX - 17] = '#';
    for (int i = 0; i < 16; i++) out[KEY_MAX - 16 + i] = hex[(h >> (60 - 4 * i)) & 15];
    out[KEY_MAX] = 0;
}

int cds_ratelimit_take(cds_ratelimit *rl, const char *key, int *retry_after_s)
{
    if (retry_after_s) *retry_after_s = 0;
    if (!rl || !key) return 1;
    char k[KEY_MAX + 1];
    stored_key(rl, key, k);
    uint64_t h = siphash(rl->k0, rl->k1, (const unsigned char *)k, strlen(k));
    rl_shard *s = &rl->shards[h % SHARDS];
    int64_t now = atomic_load(&clock_fn)();

    pthread_mutex_lock(&s->mu);
    /* Entries idle long enough to be full again carry no information. */
    for (int i = 0; i < IDLE_SWEEP && s->oldest && now - s->oldest->last_ms >= rl->full_ms; i++)
        evict(s, s->oldest);

    rl_entry *e = s->table[h & (TABLE_SIZE - 1)];
    while (e && (e->hash != h || strcmp(e->key, k) != 0)) e = e->chain;
    if (!e) {
        if (s->count >= SHARD_CAP) evict(s, s->oldest);
        e = calloc(1, sizeof *e);
        if (!e) {
            /* Out of memory: let the request through rather than fail it. */
            pthread_mutex_unlock(&s->mu);
            return 1;
        }
        e->hash = h;
        memcpy(e->key, k, sizeof e->key);
        e->units = rl->cap_units;
        e->last_ms = now;
        e->chain = s->table[h & (TABLE_SIZE - 1)];
        s->table[h & (TABLE_SIZE - 1)] = e;
        s->count++;
    } else {
        list_unlink(s, e);
        int64_t elapsed = now - e->last_ms;
        /* A clock that went back (test clocks; never CLOCK_MONOTONIC) adds
         * nothing; a long gap is clamped before multiplying (no overflow). */
        if (elapsed > 0) {
            if (elapsed >= rl->full_ms) e->units = rl->cap_units;
            else {
                e->units += elapsed * rl->per_minute;
                if (e->units > rl->cap_units) e->units = rl->cap_units;
            }
            e->last_ms = now;
        }
    }
    list_push_newest(s, e);

    int allowed = e->units >= UNITS;
    if (allowed) {
        e->units -= UNITS;
    } else if (retry_after_s) {
        int64_t ms = (UNITS - e->units + rl->per_minute - 1) / rl->per_minute;
        int64_t secs = (ms + 999) / 1000;
        *retry_after_s = secs < 1 ? 1 : (int)secs;
    }
    pthread_mutex_unlock(&s->mu);
    return allowed;
}
