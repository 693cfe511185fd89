/* `cds attachments import`: moves attachment files that older versions
 * kept under CDS_STORAGE_DIR into PostgreSQL (dossiers/attachments_import.c).
 * Idempotent: run it as often as you like; `cds migrate` runs it too when
 * the directory exists. Exit status 0 when every attachment has its
 * content in the database, 1 when some file was missing or damaged, 2 on a
 * usage or database error. */
#include "cli/cli.h"
#include "core/options.h"
#include "dossiers/dossiers.h"

#include <stdio.h>
#include <string.h>

int cds_cmd_attachments(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[2], "import") != 0) {
        fprintf(stderr, "usage: cds attachments import [--database-url URL] [--storage-dir DIR]\n");
        return 2;
    }
    const char *db = NULL, *dir = "var/files";
    const cds_opt opts[] = {
        {"database-url", "CDS_DATABASE_URL", CDS_OPT_STR, &db, 0, 0, "PostgreSQL connection string"},
        {"storage-dir", "CDS_STORAGE_DIR", CDS_OPT_STR, &dir, 0, 0, "where the files are (<dir>/<sha[0:2]>/<sha>)"},
    };
    char err[512];
    int rc = cds_opts_parse(opts, 2, argc, argv, 3, err, sizeof err);
    if (rc == 1) {
        cds_opts_help(stdout, "usage: cds attachments import [options]", opts, 2);
        return 0;
    }
    if (rc < 0 || !db || !*db) {
        fprintf(stderr, "cds attachments: %s\n", rc < 0 ? err : "no database: set CDS_DATABASE_URL");
        return 2;
    }
    rc = cds_attachments_import(db, dir, stdout);
    return rc < 0 ? 2 : rc > 0 ? 1 : 0;
}
