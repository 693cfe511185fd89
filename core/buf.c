/* The capped buffer (see buf.h). A heap buffer starts with no memory and
 * doubles from 256 bytes, never allocating more than max + 1; a fixed one
 * only writes inside what it was given. */
#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_ALLOC 256

void cds_buf_init(cds_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max < SIZE_MAX ? max : SIZE_MAX - 1;
}

void cds_buf_init_fixed(cds_buf *b, char *mem, size_t size)
{
    memset(b, 0, sizeof *b);
    b->p = mem;
    b->cap = size;
    b->max = size ? size - 1 : 0;
    b->fixed = 1;
    if (size) mem[0] = '\0';
}

static int fail(cds_buf *b, int err, size_t n)
{
    if (!b->err) b->err = err;
    b->need = n > SIZE_MAX - b->need ? SIZE_MAX : b->need + n;
    return b->err;
}

/* Room for `n` more bytes and the NUL; 0 or the error. */
static int room(cds_buf *b, size_t n)
{
    if (n > b->max - b->len) return CDS_BUF_E_CAP;
    if (n == 0 || b->len + n < b->cap) return 0;
    if (b->fixed) return CDS_BUF_E_CAP; /* cannot happen: max = cap - 1 */
    size_t cap = b->cap ? b->cap : FIRST_ALLOC;
    while (cap <= b->len + n)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > b->max + 1) cap = b->max + 1;
    char *p = realloc(b->p, cap);
    if (!p) return CDS_BUF_E_NOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int cds_buf_add(cds_buf *b, const void *data, size_t n)
{
    if (b->err) return fail(b, b->err, n);
    int rc = room(b, n);
    if (rc) return fail(b, rc, n);
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    b->need += n;
    if (b->len < b->cap) b->p[b->len] = '\0';
    return CDS_BUF_OK;
}

int cds_buf_adds(cds_buf *b, const char *s)
{
    return cds_buf_add(b, s, strlen(s));
}

int cds_buf_addc(cds_buf *b, char c)
{
    return cds_buf_add(b, &c, 1);
}

int cds_buf_vprintf(cds_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char *at = b->p && !b->err ? b->p + b->len : NULL;
    size_t avail = at ? b->cap - b->len : 0;
    int n = vsnprintf(at, avail, fmt, ap2);
    va_end(ap2);
    if (n < 0) return fail(b, CDS_BUF_E_CAP, 0);
    if (b->err) return fail(b, b->err, (size_t)n);
    if (n == 0) return CDS_BUF_OK;
    if ((size_t)n < avail) { /* it fitted where it was written */
        if ((size_t)n > b->max - b->len) {
            b->p[b->len] = '\0';
            return fail(b, CDS_BUF_E_CAP, (size_t)n);
        }
        b->len += (size_t)n;
        b->need += (size_t)n;
        return CDS_BUF_OK;
    }
    int rc = room(b, (size_t)n);
    if (rc) {
        if (b->len < b->cap) b->p[b->len] = '\0';
        return fail(b, rc, (size_t)n);
    }
    va_copy(ap2, ap);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    b->need += (size_t)n;
    return CDS_BUF_OK;
}

int cds_buf_printf(cds_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cds_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void cds_buf_fail(cds_buf *b)
{
    if (!b->err) b->err = CDS_BUF_E_WRITER;
}

void cds_buf_reset(cds_buf *b)
{
    b->len = b->need = 0;
    b->err = 0;
    if (b->cap) b->p[0] = '\0';
}

void cds_buf_free(cds_buf *b)
{
    if (!b->fixed) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
    cds_buf_reset(b);
}

char *cds_buf_take(cds_buf *b, size_t *len)
{
    if (len) *len = 0;
    if (b->fixed) return NULL;
    if (b->err) {
        cds_buf_free(b);
        return NULL;
    }
    char *p = b->p ? b->p : calloc(1, 1);
    if (p && len) *len = b->len;
    b->p = NULL;
    b->cap = 0;
    cds_buf_reset(b);
    return p;
}
