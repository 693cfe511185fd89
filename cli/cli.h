/* Subcommands of the `cds` program. Each returns the process exit status. */
#ifndef CDS_CLI_H
#define CDS_CLI_H
#include "core/options.h"

#include <libpq-fe.h>
#include <stddef.h>

int cds_cmd_serve(int argc, char **argv);
int cds_cmd_migrate(int argc, char **argv);
int cds_cmd_routes(int argc, char **argv);
int cds_cmd_catalog(int argc, char **argv);
int cds_cmd_receipt(int argc, char **argv);
/* receipt_db_cmd.c: `cds receipt export|correct|series`, with the database. */
int cds_cmd_receipt_db(int argc, char **argv);
int cds_cmd_vietqr(int argc, char **argv);
int cds_cmd_webhook(int argc, char **argv);
int cds_cmd_payments(int argc, char **argv);
/* couriers_cmd.c: `cds couriers add|disable` (a carrier's courier accounts). */
int cds_cmd_couriers(int argc, char **argv);
/* staff_cmd.c: `cds staff location|create|totp|disable` (staff accounts). */
int cds_cmd_staff(int argc, char **argv);
/* attachments_cmd.c: `cds attachments import` (files of CDS_STORAGE_DIR into the database). */
int cds_cmd_attachments(int argc, char **argv);

/* cmd_common.c, the plumbing of `cds <cmd> <sub> [--option ...]` with a
 * database (me: "cds couriers", ... in every message).
 * cds_cli_args: no subcommand (usage on stderr, 2), --help (usage, 0), bad
 * options (2): that exit status; -1 when the command goes on (argv[2] is
 * the subcommand, options from argv[3]). */
int cds_cli_args(const char *me, const char *usage, const cds_opt *opts, size_t nopts, int argc,
                 char **argv);
/* The connection, or NULL after printing why. */
PGconn *cds_cli_connect(const char *me, const char *db);
/* One statement's rows (exactly one with one_row), or NULL after printing
 * the error. */
PGresult *cds_cli_query(const char *me, PGconn *c, const char *sql, int n, const char *const *v,
                        int one_row);

#endif
