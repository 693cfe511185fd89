/* What core/migrate.c (versioned migrations, the lock, the order of a run)
 * and core/migrate_functions.c (the repeatable function files) share: the
 * parsed form of a file, one-line error messages, and running SQL on the
 * migrator's blocking session. Private to those two files. */
#ifndef CDS_MIGRATE_INTERNAL_H
#define CDS_MIGRATE_INTERNAL_H
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define MIGRATE_NAME_MAX 128

/* A line of this text alone splits a function file: what stands above it is
 * also run before pending migrations (see core/migrate.c). */
#define MIGRATE_FN_MARKER "-- cds:after-migrations"

typedef struct mig_file {
    int version;      /* migrations: NNNN; function files: 0 */
    const char *name; /* last path component, e.g. "0001_core.sql", "core.sql" */
    const char *data; /* NUL-terminated */
    size_t len;
    size_t pre_len; /* function files: bytes above the marker line (0: none) */
    char checksum[65];
} mig_file;

/* printf into err, folded to one line (libpq messages span several). */
__attribute__((format(printf, 3, 4))) void cds_mig_err(char *err, size_t cap, const char *fmt,
                                                       ...);

/* Runs a statement that must succeed; fills err with it and the reason. */
int cds_mig_run(PGconn *c, const char *sql, char *err, size_t errcap);

/* Runs a file's text (several statements) inside the open transaction.
 * `what` names it in the error ("migration 0003_x.sql"), which gives the
 * line of the failing statement, the message and the SQLSTATE. */
int cds_mig_exec_file(PGconn *c, const char *what, const char *sql, size_t len, char *err,
                      size_t errcap);

/* The function-file part of a run (core/migrate_functions.c), on the locked
 * session. `pre` runs the parts above the marker lines, with bodies
 * unchecked, in one transaction; `apply` re-creates every file when any
 * changed or `force`, drops the cds_* functions no file defines any more,
 * and records the checksums, all in one transaction. */
int cds_mig_functions_pre(PGconn *c, const mig_file *f, size_t n, char *err, size_t errcap);
int cds_mig_functions_apply(PGconn *c, const mig_file *f, size_t n, bool force, char *err,
                            size_t errcap);

/* One line per function file (applied, pending, changed, unknown) and a
 * summary, for `cds migrate --status`. */
int cds_mig_functions_status(PGconn *c, const mig_file *f, size_t n, FILE *out, char *err,
                             size_t errcap);

#endif
