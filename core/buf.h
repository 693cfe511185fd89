/* The one growable buffer of the code base, with a maximum size fixed when
 * it is made (curl's dynbuf is the model). Every append is checked: past the
 * maximum, or when memory runs out, it fails with a code and adds nothing,
 * so nothing is ever cut silently. The failure sticks (later appends fail
 * too), so a writer may append a run of pieces and look once at the end.
 * The content is always NUL-terminated.
 *
 * A buffer may instead write into memory its caller owns (a stack array or
 * an output parameter, cds_buf_init_fixed): it never reallocates it, and the
 * maximum is that size less the NUL. */
#ifndef CDS_BUF_H
#define CDS_BUF_H
#include <stdarg.h>
#include <stddef.h>

enum {
    CDS_BUF_OK = 0,
    CDS_BUF_E_CAP = -1,   /* the append would pass the maximum */
    CDS_BUF_E_NOMEM = -2, /* out of memory */
    CDS_BUF_E_WRITER = -3, /* the writer failed (cds_buf_fail) */
};

typedef struct cds_buf {
    char *p;     /* the content, NUL-terminated; NULL while a heap buffer is empty */
    size_t len;  /* bytes of content */
    size_t cap;  /* bytes allocated (or given), with room for the NUL */
    size_t max;  /* the largest len allowed */
    size_t need; /* the len the content would have without the maximum */
    int err;     /* 0, or the first failure (CDS_BUF_E_*) */
    int fixed;   /* p is the caller's memory */
} cds_buf;

/* An empty heap buffer that may grow to `max` bytes of content. */
void cds_buf_init(cds_buf *b, size_t max);
/* An empty buffer over mem[0..size): at most size - 1 bytes of content
 * (none, and no NUL written, when size is 0). */
void cds_buf_init_fixed(cds_buf *b, char *mem, size_t size);

/* Each returns CDS_BUF_OK, or the (sticky) error and appends nothing. */
int cds_buf_add(cds_buf *b, const void *data, size_t n);
int cds_buf_adds(cds_buf *b, const char *s);
int cds_buf_addc(cds_buf *b, char c);
int cds_buf_printf(cds_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cds_buf_vprintf(cds_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Marks the buffer failed by its writer (a template that is missing, a
 * piece that could not be made), so whoever sends it sees the failure. */
void cds_buf_fail(cds_buf *b);
/* Empties the content and clears the error; keeps the memory. */
void cds_buf_reset(cds_buf *b);
/* Frees a heap buffer's memory (a fixed buffer's is the caller's); the
 * buffer is then empty, with the same maximum. */
void cds_buf_free(cds_buf *b);
/* Hands a heap buffer's content to the caller (free() it), and sets *len
 * when len is not NULL; an empty content is an allocated "". NULL when the
 * buffer failed (it is freed then) or memory ran out. The buffer is empty
 * afterwards. */
char *cds_buf_take(cds_buf *b, size_t *len);

/* The content as a string: "" while a heap buffer is empty. */
static inline const char *cds_buf_str(const cds_buf *b)
{
    return b->p ? b->p : "";
}

#endif
