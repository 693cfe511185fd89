/* Versioned schema migrations and repeatable SQL function files, applied
 * with blocking libpq.
 *
 * Migrations are the files db/migrations/NNNN_name.sql compiled into the
 * binary (core/assets.h), applied in version order, each in one transaction
 * together with its row in schema_migrations (version, name, SHA-256 of the
 * file, applied_at). A session advisory lock keeps two processes from
 * migrating at once. An applied migration whose file has since changed is an
 * error: nothing is applied until the file is put back. The SQL functions
 * live in db/functions/<module>.sql, run again (in one transaction, recorded
 * in schema_functions) whenever one of them changed; core/migrate.c explains
 * the layout and the order of a run.
 *
 * These functions block: call them from the CLI or at start-up, before any
 * event loop runs, never on a loop thread. A migration must not contain
 * transaction control (BEGIN/COMMIT) nor statements that cannot run inside a
 * transaction block (CREATE INDEX CONCURRENTLY, VACUUM). */
#ifndef CDS_MIGRATE_H
#define CDS_MIGRATE_H
#include "core/assets.h"

#include <stddef.h>
#include <stdio.h>

/* Applies every pending embedded migration. Returns 0, or -1 with a one-line
 * reason in err (naming the migration file when one is at fault). */
int cds_migrate(const char *conninfo, char *err, size_t errcap);

/* The same with an explicit list (tests). A path whose directory is named
 * "functions" is a function file, applied in the order of `list`; any other
 * is a migration, whose last component must look like NNNN_name.sql (their
 * order in `list` does not matter). A list without function files leaves
 * functions alone. */
int cds_migrate_list(const char *conninfo, const cds_asset *list, size_t n, char *err,
                     size_t errcap);

/* Prints one line per migration and function file (applied with its time,
 * pending, or changed since applied) and summaries to `out`. Returns 0, or -1 if the database
 * cannot be read (reason on stderr). */
int cds_migrate_status(const char *conninfo, FILE *out);
int cds_migrate_status_list(const char *conninfo, const cds_asset *list, size_t n, FILE *out);

#endif
