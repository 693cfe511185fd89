/* `cds attachments import`: the files older versions kept under
 * CDS_STORAGE_DIR (<dir>/<sha[0:2]>/<sha>, content-addressed) moved into
 * attachment_chunks (see dossiers.h). Blocking libpq: a command-line tool,
 * never a loop thread.
 *
 * Each attachment is one transaction: its file is read in pieces of
 * ATTACHMENT_PIECE bytes (one piece in memory at a time), each inserted as
 * a binary bytea parameter, the SHA-256 and size of the whole compared with
 * the row before COMMIT; a mismatch or a missing file rolls back and is
 * reported, the row stays without pieces (its download answers 500
 * attachment_corrupted, as it would have from disk). Only rows without
 * pieces are visited, and the insert does nothing for a piece already
 * there, so a second run, or two at once, change nothing twice. Files stay
 * on disk: removing them is the operator's call once the import is done. */
#include "dossiers/dossiers.h"

#include <errno.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

static int exec_ok(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok;
}

/* 0 imported, 1 file missing or damaged (rolled back), -1 database error. */
static int import_one(PGconn *pg, const char *dir, const char *id, const char *sha,
                      long long size, unsigned char *buf, FILE *out)
{
    char path[2048];
    if (snprintf(path, sizeof path, "%s/%.2s/%s", dir, sha, sha) >= (int)sizeof path) {
        fprintf(out, "attachment %s: storage path too long\n", id);
        return 1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(out, "attachment %s: %s: %s\n", id, path, strerror(errno));
        return 1;
    }
    if (!exec_ok(pg, "BEGIN")) {
        fclose(f);
        return -1;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : -1;
    long long total = 0;
    for (int n = 0; rc == 0; n++) {
        size_t got = fread(buf, 1, ATTACHMENT_PIECE, f);
        if (got == 0) {
            if (ferror(f)) {
                fprintf(out, "attachment %s: read %s failed\n", id, path);
                rc = 1;
            }
            break;
        }
        total += (long long)got;
        if (total > size) {
            fprintf(out, "attachment %s: %s is larger than its row says (%lld)\n", id, path, size);
            rc = 1;
            break;
        }
        EVP_DigestUpdate(md, buf, got);
        char num[16];
        snprintf(num, sizeof num, "%d", n);
        const char *vals[] = {id, num, (const char *)buf};
        int lens[] = {0, 0, (int)got};
        int fmts[] = {0, 0, 1};
        PGresult *res = PQexecParams(
            pg,
            "INSERT INTO attachment_chunks (attachment_id, n, data) VALUES ($1::uuid, $2::int, $3) "
            "ON CONFLICT DO NOTHING",
            3, NULL, vals, lens, fmts, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fprintf(out, "attachment %s: %s", id, PQresultErrorMessage(res));
            rc = -1;
        }
        PQclear(res);
    }
    fclose(f);
    unsigned char d[32];
    unsigned dl = 0;
    char got_sha[65] = "";
    if (rc == 0 && EVP_DigestFinal_ex(md, d, &dl) == 1 && dl == 32) hex(d, 32, got_sha);
    EVP_MD_CTX_free(md);
    if (rc == 0 && (total != size || strcmp(got_sha, sha) != 0)) {
        fprintf(out, "attachment %s: %s does not match its row (size %lld, sha256 %s)\n", id, path,
                total, got_sha);
        rc = 1;
    }
    if (rc != 0) {
        exec_ok(pg, "ROLLBACK");
        return rc;
    }
    return exec_ok(pg, "COMMIT") ? 0 : -1;
}

int cds_attachments_import(const char *conninfo, const char *dir, FILE *out)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(out, "attachments import: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return -1;
    }
    /* Rows without pieces, in id order, a batch at a time (no cursor held
     * across the transactions of the imports). */
    unsigned char *buf = malloc(ATTACHMENT_PIECE);
    int imported = 0, failed = 0, rc = 0;
    char after[37] = "00000000-0000-0000-0000-000000000000";
    while (buf && rc == 0) {
        const char *vals[] = {after};
        PGresult *res = PQexecParams(
            pg,
            "SELECT a.id, a.sha256, a.size_bytes FROM attachments a WHERE a.id > $1::uuid "
            "AND NOT EXISTS (SELECT 1 FROM attachment_chunks c WHERE c.attachment_id = a.id) "
            "ORDER BY a.id LIMIT 100",
            1, NULL, vals, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(out, "attachments import: %s", PQresultErrorMessage(res));
            PQclear(res);
            rc = -1;
            break;
        }
        int n = PQntuples(res);
        for (int i = 0; i < n && rc == 0; i++) {
            const char *id = PQgetvalue(res, i, 0);
            int r = import_one(pg, dir, id, PQgetvalue(res, i, 1),
                               strtoll(PQgetvalue(res, i, 2), NULL, 10), buf, out);
            if (r < 0) rc = -1;
            else if (r == 0) imported++;
            else failed++;
            snprintf(after, sizeof after, "%s", id);
        }
        PQclear(res);
        if (n == 0) break;
    }
    if (!buf) rc = -1;
    free(buf);
    PQfinish(pg);
    fprintf(out, "attachments import: %d imported, %d not importable%s\n", imported, failed,
            rc < 0 ? ", stopped on a database error" : "");
    return rc < 0 ? -1 : failed;
}
