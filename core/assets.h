/* Files compiled into the binary at build time (cmake/embed.cmake): the SQL
 * migrations, the public pages' templates and CSS (<module>/pages/) and
 * openapi.yaml. Looked up by their path in the source tree. */
#ifndef CDS_ASSETS_H
#define CDS_ASSETS_H
#include <stddef.h>

typedef struct cds_asset {
    const char *path; /* e.g. "db/migrations/0001_core.sql"; NULL ends the table */
    const char *data; /* NUL-terminated */
    size_t len;
} cds_asset;

extern const cds_asset cds_assets[];

/* The asset at `path`, or NULL. */
const cds_asset *cds_asset_find(const char *path);

#endif
