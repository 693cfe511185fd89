/* Configuration from CDS_* environment variables and command-line flags,
 * declared once as a table so that parsing, validation and `--help` (and the
 * README's table) always agree. Flags override the environment. */
#ifndef CDS_OPTIONS_H
#define CDS_OPTIONS_H
#include <stddef.h>
#include <stdio.h>

enum { CDS_OPT_STR, CDS_OPT_INT, CDS_OPT_SIZE };

typedef struct cds_opt {
    const char *flag;  /* "port" for --port */
    const char *env;   /* "CDS_PORT" */
    int type;
    void *dst;         /* const char **, int *, size_t * */
    long long min, max; /* for numbers */
    const char *help;
} cds_opt;

/* Parses env then argv[first..]; positional arguments are an error.
 * Returns 0, 1 for --help (printed), or -1 with a message in err. */
int cds_opts_parse(const cds_opt *opts, size_t n, int argc, char **argv, int first, char *err,
                   size_t cap);
void cds_opts_help(FILE *f, const char *usage, const cds_opt *opts, size_t n);

#endif
