/* The request helpers of problem.h that read a UUID path parameter and a
 * signed pagination cursor, answering the catalog's problem when either is
 * wrong. Apart from problem.c because they need the cursor's signature
 * (cursor.c) and UUIDs (uuid.c), which the HTTP frame does not
 * (CMakeLists.txt, CDS_FRAME). */
#include "core/cursor.h"
#include "core/problem.h"
#include "core/uuid.h"

#include <stdio.h>
#include <string.h>

const char *cds_req_uuid_param(cds_req *r, const char *name, cds_problem_id missing)
{
    const char *id = cds_req_param(r, name);
    if (cds_uuid_valid(id)) return id;
    cds_fail(r, missing);
    return NULL;
}

int cds_req_cursor(cds_req *r, char *pos, size_t cap)
{
    const char *cursor = cds_req_query(r, "cursor");
    if (cap) pos[0] = '\0';
    if (!cursor || !*cursor) return 0;
    if (cds_cursor_decode(cursor, pos, cap) == 0) return 1;
    cds_fail(r, CDS_P_INVALID_CURSOR);
    return -1;
}

int cds_req_cursor_after(cds_req *r, const char **after_time, const char **after_id)
{
    char pos[300], *bar;
    *after_time = *after_id = NULL;
    int rc = cds_req_cursor(r, pos, sizeof pos);
    if (rc <= 0) return rc;
    if (!(bar = strrchr(pos, '|')) || !cds_uuid_valid(bar + 1)) {
        cds_fail(r, CDS_P_INVALID_CURSOR);
        return -1;
    }
    *bar = '\0';
    if (!cds_cursor_time_ok(pos)) { /* signed, but not a time PostgreSQL would read */
        cds_fail(r, CDS_P_INVALID_CURSOR);
        return -1;
    }
    *after_time = cds_req_strdup(r, pos);
    *after_id = cds_req_strdup(r, bar + 1);
    return 0;
}

cds_page *cds_req_page_after(cds_req *r, int dflt, int max)
{
    int limit = cds_req_limit(r, dflt, max);
    if (limit < 0) return NULL;
    const char *after_time, *after_id;
    if (cds_req_cursor_after(r, &after_time, &after_id) < 0) return NULL;
    cds_page *pg = cds_req_alloc(r, sizeof *pg);
    pg->limit = limit;
    pg->after_time = after_time;
    pg->after_id = after_id;
    snprintf(pg->fetch, sizeof pg->fetch, "%d", limit + 1);
    cds_req_set_user(r, pg, NULL);
    return pg;
}
