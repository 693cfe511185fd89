/* W3C Trace Context (core/trace.h) with the specification's own examples
 * (https://www.w3.org/TR/trace-context/, "Examples of HTTP traceparent
 * Headers", "Examples of tracestate HTTP Headers") and the invalid values of
 * its test suite (github.com/w3c/trace-context, test/test.py): version ff,
 * all-zero ids, upper case, wrong lengths, characters glued to a version-00
 * value, a future version with extra fields. */
#include "core/trace.h"
#include "tests/lib/t.h"

#include <stdio.h>
#include <stdlib.h>

static int parses(const char *v)
{
    char tid[33], pid[17];
    unsigned char fl;
    return cds_traceparent_parse(v, tid, pid, &fl) == 0;
}

static void traceparent_valid(void)
{
    char tid[33], pid[17];
    unsigned char fl = 0xee;
    CHECK_INT(cds_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tid,
                                    pid, &fl), 0);
    CHECK_STR(tid, "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_STR(pid, "00f067aa0ba902b7");
    CHECK_INT(fl, 1);
    CHECK_INT(cds_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", tid,
                                    pid, &fl), 0);
    CHECK_INT(fl, 0);
    CHECK(parses("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    /* OWS around the value is not part of it. */
    CHECK(parses(" 00-12345678901234567890123456789012-1234567890123456-01"));
    CHECK(parses("\t 00-12345678901234567890123456789012-1234567890123456-01 \t"));
    /* A future version: read as version 00, extra fields after a dash. */
    CHECK(parses("cc-12345678901234567890123456789012-1234567890123456-01"));
    CHECK(parses("cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like"));
}

static void traceparent_invalid(void)
{
    const char *bad[] = {
        "ff-12345678901234567890123456789012-1234567890123456-01",  /* version ff forbidden */
        "00-00000000000000000000000000000000-1234567890123456-01",  /* all-zero trace-id */
        "00-12345678901234567890123456789012-0000000000000000-01",  /* all-zero parent-id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  /* upper case */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
        "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ".0-12345678901234567890123456789012-1234567890123456-01",  /* version characters */
        "0.-12345678901234567890123456789012-1234567890123456-01",
        "000-12345678901234567890123456789012-1234567890123456-01", /* version length */
        "0-12345678901234567890123456789012-1234567890123456-01",
        "00-.2345678901234567890123456789012-1234567890123456-01",  /* trace-id characters */
        "00-1234567890123456789012345678901.-1234567890123456-01",
        "00-123456789012345678901234567890123-1234567890123456-01", /* trace-id length */
        "00-1234567890123456789012345678901-1234567890123456-01",
        "00-12345678901234567890123456789012-.234567890123456-01",  /* parent-id characters */
        "00-12345678901234567890123456789012-123456789012345.-01",
        "00-12345678901234567890123456789012-12345678901234567-01", /* parent-id length */
        "00-12345678901234567890123456789012-123456789012345-01",
        "00-12345678901234567890123456789012-1234567890123456-.0",  /* flags characters */
        "00-12345678901234567890123456789012-1234567890123456-0.",
        "00-12345678901234567890123456789012-1234567890123456-001", /* flags length */
        "00-12345678901234567890123456789012-1234567890123456-1",
        "00-12345678901234567890123456789012-1234567890123456-01.", /* version 00: nothing after */
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* wrong delimiter */
        "",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++) {
        if (parses(bad[i])) fprintf(stderr, "accepted: [%s]\n", bad[i]);
        CHECK(!parses(bad[i]));
    }
    CHECK(!parses(NULL));
}

static int combine(const char *const *v, int n, char *out)
{
    return cds_tracestate_combine(v, n, out, CDS_TRACESTATE_MAX + 1);
}

static void tracestate(void)
{
    char out[CDS_TRACESTATE_MAX + 1];
    /* The specification's examples. */
    CHECK_INT(combine((const char *[]){"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"}, 1, out), 0);
    CHECK_STR(out, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    CHECK_INT(combine((const char *[]){"congo=t61rcWkgMzE"}, 1, out), 0);
    CHECK_STR(out, "congo=t61rcWkgMzE");
    /* Several fields in order, OWS and empty members dropped. */
    CHECK_INT(combine((const char *[]){"foo=1 \t , \t bar=2", "", "rojo=1,congo=2", " baz=3 "}, 4,
                      out), 0);
    CHECK_STR(out, "foo=1,bar=2,rojo=1,congo=2,baz=3");
    /* Keys with vendors: "@" anywhere but first. */
    CHECK_INT(combine((const char *[]){"foo@=1,bar=2,foo@bar@baz=3"}, 1, out), 0);
    CHECK_STR(out, "foo@=1,bar=2,foo@bar@baz=3");
    /* A bad member discards the whole header. */
    const char *bad[] = {"foo =1", "FOO=1", "foo.bar=1", "@foo=1,bar=2", "foo=1,bar", "foo=a,b=",
                         "foo=x=y", "foo=\x01", "foo= "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(combine(&bad[i], 1, out), -1);
        CHECK_STR(out, "");
    }
    /* 32 members are kept, 33 discard the header. */
    char many[600] = "";
    size_t len = 0;
    for (int i = 1; i <= 33; i++) {
        len += (size_t)snprintf(many + len, sizeof many - len, "%sbar%02d=%02d", i > 1 ? "," : "",
                                i, i);
        if (i == 32) {
            const char *v = many;
            CHECK_INT(combine(&v, 1, out), 0);
            CHECK_STR(out, many);
        }
    }
    const char *v33 = many;
    CHECK_INT(combine(&v33, 1, out), -1);
    /* Over 512 characters: entries over 128 go first, then from the right. */
    char big[200], mid[120], a[1200];
    memcpy(big, "big=", 4);
    memset(big + 4, 'x', 180);
    big[184] = 0;
    memset(mid, 'm', 100);
    mid[100] = 0;
    snprintf(a, sizeof a, "a=%s,%s,b=%s,c=%s,d=%s,e=%s", mid, big, mid, mid, mid, mid);
    const char *va = a;
    CHECK_INT(combine(&va, 1, out), 0);
    char want[800];
    snprintf(want, sizeof want, "a=%s,b=%s,c=%s,d=%s", mid, mid, mid, mid);
    CHECK_STR(out, want); /* big removed first, then e= from the right */
    CHECK(strlen(out) <= CDS_TRACESTATE_MAX);
}

static void lifecycle(void)
{
    cds_trace t;
    const char *st[] = {"congo=t61rcWkgMzE"};
    cds_trace_begin(&t, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", st, 1);
    CHECK_STR(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
    CHECK_STR(t.parent_id, "b7ad6b7169203331");
    CHECK_INT(strlen(t.span_id), 16);
    CHECK(strcmp(t.span_id, "b7ad6b7169203331") != 0);
    CHECK_STR(t.state, "congo=t61rcWkgMzE");
    CHECK_INT(t.flags, 1);
    char tp[64];
    CHECK_INT(cds_traceparent_format(&t, "00f067aa0ba902b7", tp, sizeof tp), 0);
    CHECK_STR(tp, "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01");

    /* Stored in an outbox row, resumed by a dispatcher: same trace, the
     * step's span as parent, a span of its own, the state kept. */
    char stored[600];
    CHECK_INT(cds_trace_stored(&t, stored, sizeof stored), 0);
    CHECK(strncmp(stored, "00-0af7651916cd43dd8448eb211c80319c-", 36) == 0);
    CHECK(strcmp(stored + 55, " congo=t61rcWkgMzE") == 0);
    cds_trace d;
    CHECK_INT(cds_trace_resume(&d, stored), 0);
    CHECK_STR(d.trace_id, t.trace_id);
    CHECK_STR(d.parent_id, t.span_id);
    CHECK(strcmp(d.span_id, t.span_id) != 0);
    CHECK_STR(d.state, "congo=t61rcWkgMzE");
    CHECK_INT(d.flags, 1);
    CHECK_INT(cds_trace_resume(&d, "00-00000000000000000000000000000000-1234567890123456-01"), -1);
    CHECK_INT(cds_trace_resume(&d, "garbage"), -1);

    /* Invalid traceparent: a new trace, its tracestate dropped; two new
     * traces differ; flags of unknown bits are not passed on. */
    cds_trace_begin(&t, "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", st, 1);
    CHECK(strcmp(t.trace_id, "0af7651916cd43dd8448eb211c80319c") != 0);
    CHECK_INT(strlen(t.trace_id), 32);
    CHECK_STR(t.parent_id, "");
    CHECK_STR(t.state, "");
    CHECK_INT(t.flags, 0);
    cds_trace u;
    cds_trace_new(&u);
    CHECK(strcmp(u.trace_id, t.trace_id) != 0);
    CHECK(parses((cds_traceparent_format(&u, u.span_id, tp, sizeof tp), tp)));
    cds_trace_begin(&t, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff", NULL, 0);
    CHECK_INT(t.flags, 3);
}

/* Ids are hexed eight bytes at a time (SSE2) and the rest byte by byte:
 * every byte value, at lengths around the eight-byte step. */
static void hex(void)
{
    unsigned char b[256];
    char out[513], want[513];
    for (int i = 0; i < 256; i++) b[i] = (unsigned char)i;
    cds_hex_lower(out, b, 256);
    for (int i = 0; i < 256; i++) snprintf(want + 2 * i, 3, "%02x", i);
    CHECK_STR(out, want);
    for (size_t n = 0; n <= 17; n++) {
        cds_hex_lower(out, b + 250 - n, n);
        for (size_t i = 0; i < n; i++) snprintf(want + 2 * i, 3, "%02x", b[250 - n + i]);
        want[2 * n] = 0;
        CHECK_STR(out, want);
    }
    static const unsigned char id[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                         0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    cds_hex_lower(out, id, sizeof id);
    CHECK_STR(out, "4bf92f3577b34da6a3ce929d0e0e4736"); /* the spec's example trace-id */
}

int main(void)
{
    hex();
    traceparent_valid();
    traceparent_invalid();
    tracestate();
    lifecycle();
    return t_done();
}
