/* core/ratelimit: per-key token buckets.
 *
 * Time is injected through the limiter's test clock hook, so the refill
 * arithmetic is checked to the millisecond: the burst, the first refused
 * request and its Retry-After, one token exactly 60000/per_minute ms later
 * (with a rate that does not divide a minute evenly), the cap at `burst`
 * after a long idle time, a clock going backwards. Then keys are
 * independent, long keys stay distinct, memory stays bounded under many
 * keys (the least recently used are evicted, recent ones kept), idle
 * buckets are swept, and concurrent threads never let more through than the
 * buckets hold. */
#include "core/ratelimit.h"
#include "tests/lib/t.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Test hooks of core/ratelimit.c (not in the public header). */
void cds_ratelimit_set_clock_for_tests(int64_t (*now_ms)(void));
size_t cds_ratelimit_size_for_tests(cds_ratelimit *rl);

static int64_t fake_now = 1000000;
static int64_t fake_clock(void)
{
    return fake_now;
}

static int take(cds_ratelimit *rl, const char *key, int *retry)
{
    return cds_ratelimit_take(rl, key, retry);
}

static void test_burst_and_refill(void)
{
    cds_ratelimit *rl = cds_ratelimit_new(5, 60); /* one token a second */
    CHECK(rl != NULL);
    int retry = -1;
    for (int i = 0; i < 5; i++) {
        CHECK_INT(take(rl, "10.0.0.1", &retry), 1);
        CHECK_INT(retry, 0);
    }
    CHECK_INT(take(rl, "10.0.0.1", &retry), 0);
    CHECK_INT(retry, 1);
    fake_now += 999;
    CHECK_INT(take(rl, "10.0.0.1", &retry), 0);
    CHECK_INT(retry, 1); /* 1 ms left: rounded up to a whole second */
    fake_now += 1;
    CHECK_INT(take(rl, "10.0.0.1", &retry), 1);
    CHECK_INT(take(rl, "10.0.0.1", &retry), 0);
    /* 2.5 s: two tokens and half of one. */
    fake_now += 2500;
    CHECK_INT(take(rl, "10.0.0.1", NULL), 1);
    CHECK_INT(take(rl, "10.0.0.1", NULL), 1);
    CHECK_INT(take(rl, "10.0.0.1", &retry), 0);
    fake_now += 499;
    CHECK_INT(take(rl, "10.0.0.1", NULL), 0);
    fake_now += 1;
    CHECK_INT(take(rl, "10.0.0.1", NULL), 1);
    /* A long idle time fills the bucket to `burst`, not beyond. */
    fake_now += 3600 * 1000;
    int got = 0;
    for (int i = 0; i < 20; i++) got += take(rl, "10.0.0.1", NULL);
    CHECK_INT(got, 5);
    /* A clock that goes back adds nothing (and does not break anything). */
    fake_now -= 10000;
    CHECK_INT(take(rl, "10.0.0.1", NULL), 0);
    fake_now += 10000;
    cds_ratelimit_free(rl);
}

static void test_uneven_rate(void)
{
    /* 7 a minute: a token every 8571.43 ms. */
    cds_ratelimit *rl = cds_ratelimit_new(1, 7);
    int retry = 0;
    CHECK_INT(take(rl, "k", NULL), 1);
    CHECK_INT(take(rl, "k", &retry), 0);
    CHECK_INT(retry, 9); /* ceil(8571.43 ms) in seconds */
    fake_now += 8571;
    CHECK_INT(take(rl, "k", &retry), 0);
    CHECK_INT(retry, 1);
    fake_now += 1;
    CHECK_INT(take(rl, "k", NULL), 1);
    /* A full bucket holds no more than `burst`: the 4 units past the token
     * just taken were lost, so the next one takes a whole 8572 ms again. */
    fake_now += 8571;
    CHECK_INT(take(rl, "k", NULL), 0);
    fake_now += 1;
    CHECK_INT(take(rl, "k", NULL), 1);
    /* Below the cap, many small steps add up exactly: 7 tokens in 60 s in
     * 1 ms steps, with a take attempted at every step (no rounding lost per
     * call), the 7th on the very last millisecond. */
    cds_ratelimit *seven = cds_ratelimit_new(2, 7);
    CHECK_INT(take(seven, "k", NULL) + take(seven, "k", NULL), 2);
    int got = 0, last = -1;
    for (int i = 0; i < 60000; i++) {
        fake_now += 1;
        if (take(seven, "k", NULL)) got++, last = i;
    }
    CHECK_INT(got, 7);
    CHECK_INT(last, 59999);
    cds_ratelimit_free(seven);
    /* Per minute: 600 a minute over 10 s is 100 tokens after the burst. */
    cds_ratelimit *fast = cds_ratelimit_new(10, 600);
    got = 0;
    for (int i = 0; i < 10000; i++) {
        got += take(fast, "f", NULL);
        fake_now += 1;
    }
    CHECK(got == 10 + 100 || got == 10 + 99); /* the last token may land on the last ms */
    cds_ratelimit_free(fast);
    cds_ratelimit_free(rl);
}

static void test_keys(void)
{
    cds_ratelimit *rl = cds_ratelimit_new(2, 1);
    CHECK_INT(take(rl, "a", NULL), 1);
    CHECK_INT(take(rl, "a", NULL), 1);
    CHECK_INT(take(rl, "a", NULL), 0);
    CHECK_INT(take(rl, "b", NULL), 1); /* another client is not affected */
    CHECK_INT(take(rl, "2001:db8::1", NULL), 1);
    /* Long keys that share a long prefix are still different keys. */
    char k1[200], k2[200];
    memset(k1, 'x', sizeof k1 - 1);
    k1[sizeof k1 - 1] = 0;
    memcpy(k2, k1, sizeof k1);
    k2[190] = 'y';
    CHECK_INT(take(rl, k1, NULL), 1);
    CHECK_INT(take(rl, k1, NULL), 1);
    CHECK_INT(take(rl, k1, NULL), 0);
    CHECK_INT(take(rl, k2, NULL), 1);
    CHECK_INT(take(rl, "", NULL), 1);
    /* Refusals of the constructor; a NULL limiter lets everything through. */
    CHECK(cds_ratelimit_new(0, 10) == NULL);
    CHECK(cds_ratelimit_new(10, 0) == NULL);
    CHECK(cds_ratelimit_new(-1, -1) == NULL);
    CHECK_INT(cds_ratelimit_take(NULL, "a", NULL), 1);
    cds_ratelimit_free(NULL);
    cds_ratelimit_free(rl);
}

static void test_many_keys(void)
{
    cds_ratelimit *rl = cds_ratelimit_new(1, 1);
    char key[64];
    /* The first key is exhausted, then 200 000 others arrive at the same
     * instant (nothing idle to sweep): memory stays bounded. */
    CHECK_INT(take(rl, "first", NULL), 1);
    CHECK_INT(take(rl, "first", NULL), 0);
    for (int i = 0; i < 200000; i++) {
        snprintf(key, sizeof key, "198.51.%d.%d", i / 256, i % 256);
        take(rl, key, NULL);
    }
    size_t n = cds_ratelimit_size_for_tests(rl);
    CHECK(n <= 16 * 4096);
    CHECK(n >= 16 * 4096 * 9 / 10); /* and the shards are reasonably balanced */
    /* The recent keys are remembered (still limited); the oldest was evicted
     * and starts again with a full bucket. */
    int limited = 0;
    for (int i = 199000; i < 200000; i++) {
        snprintf(key, sizeof key, "198.51.%d.%d", i / 256, i % 256);
        limited += !take(rl, key, NULL);
    }
    CHECK_INT(limited, 1000);
    CHECK_INT(take(rl, "first", NULL), 1);

    /* Idle buckets go: once everything has had time to refill, new traffic
     * sweeps the old entries away a few at a time. */
    fake_now += 120 * 1000;
    for (int i = 0; i < 40000; i++) {
        snprintf(key, sizeof key, "203.0.%d.%d", i / 256, i % 256);
        take(rl, key, NULL);
    }
    n = cds_ratelimit_size_for_tests(rl);
    CHECK(n <= 40000 + 16);
    CHECK(n >= 40000 - 16);
    cds_ratelimit_free(rl);
}

typedef struct worker_arg {
    cds_ratelimit *rl;
    int allowed;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    char key[16];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "k%d", i % 8);
        a->allowed += cds_ratelimit_take(a->rl, key, NULL);
    }
    return NULL;
}

static void test_threads(void)
{
    /* The clock stands still: exactly burst * keys requests may pass. */
    cds_ratelimit *rl = cds_ratelimit_new(100, 1);
    pthread_t th[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){rl, 0};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += args[i].allowed;
    }
    CHECK_INT(total, 8 * 100);
    cds_ratelimit_free(rl);
}

int main(void)
{
    cds_ratelimit_set_clock_for_tests(fake_clock);
    test_burst_and_refill();
    test_uneven_rate();
    test_keys();
    test_many_keys();
    test_threads();
    cds_ratelimit_set_clock_for_tests(NULL);
    /* The real clock works too: a fresh bucket allows its burst. */
    cds_ratelimit *rl = cds_ratelimit_new(3, 60);
    int got = 0;
    for (int i = 0; i < 5; i++) got += cds_ratelimit_take(rl, "real", NULL);
    CHECK_INT(got, 3);
    cds_ratelimit_free(rl);
    return t_done();
}
