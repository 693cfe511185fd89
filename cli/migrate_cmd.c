/* `cds migrate`: applies the embedded migrations to CDS_DATABASE_URL (or
 * --database-url), refusing if an applied one was changed; `--status` lists
 * applied and pending migrations. Then, when CDS_STORAGE_DIR names an
 * existing directory, moves the attachment files older versions kept there
 * into the database (`cds attachments import`, idempotent). */
#include "cli/cli.h"
#include "core/migrate.h"
#include "core/options.h"
#include "dossiers/dossiers.h"

#include <sys/stat.h>

#include <stdio.h>
#include <string.h>

int cds_cmd_migrate(int argc, char **argv)
{
    const char *db = NULL, *dir = NULL;
    int status = 0;
    const cds_opt opts[] = {
        {"database-url", "CDS_DATABASE_URL", CDS_OPT_SECRET, &db, 0, 0, "PostgreSQL connection string"},
        {"status", NULL, CDS_OPT_INT, &status, 0, 1, "1: list applied and pending migrations only"},
        {"storage-dir", "CDS_STORAGE_DIR", CDS_OPT_STR, &dir, 0, 0, "attachment files of older versions to import, if the directory exists"},
    };
    char err[512];
    int rc = cds_opts_parse(opts, 3, argc, argv, 2, err, sizeof err);
    if (rc == 1) {
        cds_opts_help(stdout, "usage: cds migrate [options]", opts, 3);
        return 0;
    }
    if (rc < 0 || !db || !*db) {
        fprintf(stderr, "cds migrate: %s\n", rc < 0 ? err : "no database: set CDS_DATABASE_URL");
        return 2;
    }
    if (status) return cds_migrate_status(db, stdout) == 0 ? 0 : 1;
    if (cds_migrate(db, err, sizeof err) != 0) {
        fprintf(stderr, "cds migrate: %s\n", err);
        return 1;
    }
    struct stat st;
    if (dir && *dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
        cds_attachments_import(db, dir, stdout) != 0)
        return 1;
    return 0;
}
