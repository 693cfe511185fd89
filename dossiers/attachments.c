/* Attachments: POST /v1/attachments stores a file the citizen uploads (a
 * scanned land-use certificate, a drawing, a photo), GET /v1/attachments/{id}
 * gives it back to its owner. Dossiers then refer to attachments by id.
 *
 * Upload. The body is the raw file (the route caps it at 10 MiB, so a larger
 * one gets 413 from the core). Its type is read from its first bytes, never
 * from the name or the Content-Type a client claims: PDF, JPEG or PNG, else
 * 415. A worker thread (core/workpool.h) hashes it (SHA-256) and writes it to
 * <storage_dir>/<sha[0:2]>/<sha> through a temporary file in the same
 * directory, fsync and rename, so a reader never sees half a file; when that
 * content-addressed file already exists the write is skipped (the same scan
 * uploaded twice is stored once, two rows point to it). Only then is the row
 * inserted, so a row never names a missing file (a crash in between leaves an
 * unreferenced file, never a dangling row).
 *
 * The request body is the only copy of the file in memory, and the core frees
 * it as soon as the client goes away (stream reset, closed connection). The
 * worker therefore reads it in 64 KiB pieces, each copied under the upload's
 * mutex, and the request's cancel hook clears the body pointer under the same
 * mutex before the job is cancelled: the loop thread waits at most for one
 * 64 KiB memcpy, never for disk I/O, and the worker never touches freed
 * memory. (A core call handing the body's ownership to the job would let the
 * worker write straight from it; until then this is the safe form.)
 *
 * Download. The row is selected by id AND the caller's citizen id, so another
 * citizen's attachment answers exactly like an unknown one (404). A worker
 * reads the file and checks its SHA-256 against the row: a damaged store
 * answers 500 `attachment_corrupted` and is logged, never served. The answer
 * carries the stored media type, Content-Disposition: attachment (RFC 6266,
 * with the RFC 5987 UTF-8 form for Vietnamese names), Cache-Control: private,
 * nosniff and the ETag "<sha256>" (If-None-Match answers 304 without reading
 * the file). */
#include "internal.h"
#include "auth/auth.h"
#include "core/db.h"
#include "core/files.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/uuid.h"
#include "core/workpool.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ATT_MAX_BYTES 10485760 /* also the route's body cap and the table's CHECK */
#define ATT_CHUNK (64 * 1024)
#define ATT_NAME_MAX 255    /* bytes of UTF-8 */
#define ATT_DOC_CODE_MAX 64 /* as dossier filing accepts */
#define ATT_STORE_MAX 800   /* storage_dir length; paths add < 100 bytes */
#define ATT_PATH_MAX (ATT_STORE_MAX + 128)

static int st_insert, st_get;
static char store[ATT_STORE_MAX + 1];

int cds_attachments_init(void)
{
    const char *dir = g_dossiers.storage_dir;
    if (!dir || !*dir || strlen(dir) > ATT_STORE_MAX) {
        cds_log(CDS_LOG_ERROR, "attachments_config",
                "storage directory missing or longer than %d bytes", ATT_STORE_MAX);
        return -1;
    }
    if (cds_mkdir_p(dir, 0750) != 0) {
        cds_log(CDS_LOG_ERROR, "attachments_config", "cannot create storage directory %s: %s", dir,
                strerror(errno));
        return -1;
    }
    snprintf(store, sizeof store, "%s", dir);
    st_insert = cds_db_stmt_register(
        "attachment_insert",
        "INSERT INTO attachments (citizen_id, sha256, size_bytes, media_type, file_name) "
        "VALUES ($1::uuid, $2, $3::bigint, $4, $5) RETURNING id, cds_rfc3339(created_at)",
        5);
    st_get =
        cds_db_stmt_register("attachment_get",
                             "SELECT sha256, size_bytes, media_type, file_name FROM attachments "
                             "WHERE id = $1::uuid AND citizen_id = $2::uuid",
                             2);
    return (st_insert < 0 || st_get < 0) ? -1 : 0;
}

/* ---------------- shared helpers ---------------- */

static void internal_error(cds_req *r)
{
    cds_fail(r, CDS_P_INTERNAL);
}

static void busy(cds_req *r)
{
    cds_fail(r, CDS_P_SERVICE_BUSY);
}

static void db_failed(cds_req *r, PGresult *res)
{
    if (!res) {
        cds_fail(r, CDS_P_DB_UNAVAILABLE);
        return;
    }
    cds_log(CDS_LOG_ERROR, "attachments_db", "%s", PQresultErrorMessage(res));
    internal_error(r);
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* "<store>/<sha[0:2]>" (dir may be NULL) and "<store>/<sha[0:2]>/<sha>". */
static int store_paths(const char *sha, char *dir, char *file)
{
    int a = dir ? snprintf(dir, ATT_PATH_MAX, "%s/%.2s", store, sha) : 0;
    int b = snprintf(file, ATT_PATH_MAX, "%s/%.2s/%s", store, sha, sha);
    return (a < 0 || a >= ATT_PATH_MAX || b < 0 || b >= ATT_PATH_MAX) ? -1 : 0;
}

/* The media type from the content's signature, or NULL. */
static const char *sniff(const unsigned char *p, size_t n, const char **ext)
{
    if (n >= 5 && memcmp(p, "%PDF-", 5) == 0) {
        *ext = "pdf";
        return "application/pdf";
    }
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) {
        *ext = "jpg";
        return "image/jpeg";
    }
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
        *ext = "png";
        return "image/png";
    }
    return NULL;
}

static const char *ext_of(const char *media_type)
{
    if (strcmp(media_type, "application/pdf") == 0) return "pdf";
    if (strcmp(media_type, "image/jpeg") == 0) return "jpg";
    return "png";
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF) of at
 * most `max` bytes, without C0/C1 control characters, DEL, '/' or '\'. A file
 * name is shown in the app and sent back in a header: nothing in it may end a
 * header line or look like a path. */
static int text_valid(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F || c == '/' || c == '\\') return 0;
            i++;
            continue;
        }
        int len;
        unsigned cp, min;
        if ((c & 0xE0) == 0xC0)
            len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (i + (size_t)len > n) return 0;
        for (int k = 1; k < len; k++) {
            if ((p[i + (size_t)k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + (size_t)k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
            (cp >= 0x80 && cp <= 0x9F))
            return 0;
        i += (size_t)len;
    }
    return 1;
}

/* 1 when the raw query string has parameter `key` (cds_req_query answers NULL
 * both when it is absent and when its escapes are bad). */
static int query_has(const cds_req *r, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = cds_req_query_string(r); p && *p;) {
        size_t len = strcspn(p, "&");
        if (len >= kl && memcmp(p, key, kl) == 0 && (len == kl || p[kl] == '=')) return 1;
        p = p[len] ? p + len + 1 : NULL;
    }
    return 0;
}

/* ---------------- upload ---------------- */

typedef struct upload {
    pthread_mutex_t mu;
    const unsigned char *body; /* the request's body; NULL once the request is gone (mu) */
    size_t len;
    cds_req *r;
    cds_job *job;
    int slot;
    /* Set by the worker, read by done() after the pool handed the job back. */
    char sha[65];
    int failed; /* 1: storage failed (what/err), 2: the request went away */
    const char *what;
    int err;
    int dedup;
} upload;

/* Copies body[off, off+n) into buf; -1 once the request is gone. */
static int upload_copy(upload *u, size_t off, unsigned char *buf, size_t n)
{
    pthread_mutex_lock(&u->mu);
    int ok = u->body != NULL;
    if (ok) memcpy(buf, u->body + off, n);
    pthread_mutex_unlock(&u->mu);
    return ok ? 0 : -1;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void upload_fail(upload *u, const char *what)
{
    u->failed = 1;
    u->what = what;
    u->err = errno;
}

/* Worker: hash, then write unless the content is already stored. */
static void upload_work(void *arg)
{
    upload *u = arg;
    unsigned char buf[ATT_CHUNK];
    unsigned char md[32];
    unsigned mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (size_t off = 0; ok && off < u->len; off += ATT_CHUNK) {
        size_t n = u->len - off < ATT_CHUNK ? u->len - off : ATT_CHUNK;
        if (upload_copy(u, off, buf, n) != 0) {
            u->failed = 2;
            EVP_MD_CTX_free(ctx);
            return;
        }
        ok = EVP_DigestUpdate(ctx, buf, n) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        errno = EINVAL;
        upload_fail(u, "sha256");
        return;
    }
    hex(md, 32, u->sha);

    char dir[ATT_PATH_MAX], path[ATT_PATH_MAX], tmp[ATT_PATH_MAX];
    if (store_paths(u->sha, dir, path) != 0) {
        errno = ENAMETOOLONG;
        upload_fail(u, "path");
        return;
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        upload_fail(u, "mkdir");
        return;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == u->len) {
        u->dedup = 1;
        return;
    }
    unsigned char rnd[8];
    char rhex[17];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        errno = EIO;
        upload_fail(u, "random");
        return;
    }
    hex(rnd, sizeof rnd, rhex);
    int tn = snprintf(tmp, sizeof tmp, "%s/.%s.%s.tmp", dir, u->sha, rhex);
    if (tn < 0 || (size_t)tn >= sizeof tmp) {
        errno = ENAMETOOLONG;
        upload_fail(u, "path");
        return;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        upload_fail(u, "open");
        return;
    }
    const char *what = NULL;
    for (size_t off = 0; !what && off < u->len; off += ATT_CHUNK) {
        size_t n = u->len - off < ATT_CHUNK ? u->len - off : ATT_CHUNK;
        if (upload_copy(u, off, buf, n) != 0) {
            u->failed = 2;
            break;
        }
        if (write_all(fd, buf, n) != 0) what = "write";
    }
    if (!what && !u->failed && fsync(fd) != 0) what = "fsync";
    int saved = errno;
    if (close(fd) != 0 && !what && !u->failed) {
        what = "close";
        saved = errno;
    }
    if (!what && !u->failed && rename(tmp, path) != 0) {
        what = "rename";
        saved = errno;
    }
    if (what || u->failed) {
        unlink(tmp);
        if (what) {
            errno = saved;
            upload_fail(u, what);
        }
        return;
    }
    /* The rename itself must survive a power cut before the row exists. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            cds_log(CDS_LOG_WARN, "attachment_store", "fsync %s: %s", dir, strerror(errno));
        close(dfd);
    }
}

static void upload_free(void *arg)
{
    upload *u = arg;
    pthread_mutex_destroy(&u->mu);
    free(u);
}

/* The request died: the body is about to be freed. */
static void upload_abandon(void *handle)
{
    upload *u = handle;
    pthread_mutex_lock(&u->mu);
    u->body = NULL;
    pthread_mutex_unlock(&u->mu);
    cds_job_cancel(u->job); /* may free u at once (still queued) */
}

typedef struct upload_meta {
    const cds_principal *who; /* request arena */
    const char *media_type, *file_name, *document_code, *sha;
    size_t len;
} upload_meta;

static void on_inserted(cds_req *r, PGresult *res)
{
    upload_meta *m = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        db_failed(r, res);
        return;
    }
    const char *id = PQgetvalue(res, 0, 0);
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:o,s:s}", "id", id, "sha256", m->sha, "size_bytes",
                          (json_int_t)m->len, "media_type", m->media_type, "file_name",
                          m->file_name ? json_string(m->file_name) : json_null(), "created_at",
                          PQgetvalue(res, 0, 1));
    if (!o) {
        internal_error(r);
        return;
    }
    if (m->document_code) json_object_set_new(o, "document_code", json_string(m->document_code));
    cds_resp_header(r, "location", cds_req_printf(r, "/v1/attachments/%s", id));
    cds_respond_json(r, 201, o);
}

static void upload_done(void *arg)
{
    upload *u = arg;
    cds_req *r = u->r;
    cds_req_untrack(r, u->slot);
    upload_meta *m = cds_req_user(r);
    if (u->failed) {
        /* failed == 2 cannot reach here: the request is alive. */
        cds_log(CDS_LOG_ERROR, "attachment_store", "%s under %s: %s", u->what ? u->what : "?",
                store, strerror(u->err));
        upload_free(u);
        cds_problem(r, 500, "storage_error", "Không lưu được tệp, vui lòng thử lại sau.");
        return;
    }
    m->sha = cds_req_strdup(r, u->sha);
    if (u->dedup) cds_log(CDS_LOG_DEBUG, "attachment_dedup", "content already stored");
    upload_free(u);
    char size[24];
    snprintf(size, sizeof size, "%zu", m->len);
    const char *params[] = {m->who->citizen_id, m->sha, size, m->media_type, m->file_name};
    cds_req_db(r, st_insert, 5, params, on_inserted);
}

void cds_attachment_upload(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *name = cds_req_query(r, "name");
    if ((!name && query_has(r, "name")) || (name && !text_valid(name, ATT_NAME_MAX))) {
        cds_problem(r, 422, "invalid_file_name",
                    "Tên tệp không hợp lệ: tối đa 255 byte, không chứa dấu '/', '\\' hay ký tự "
                    "điều khiển.");
        return;
    }
    const char *doc = cds_req_query(r, "document_code");
    if ((!doc && query_has(r, "document_code")) || (doc && !text_valid(doc, ATT_DOC_CODE_MAX))) {
        cds_problem(r, 422, "invalid_document_code",
                    "Mã giấy tờ không hợp lệ: tối đa 64 byte, không chứa dấu '/', '\\' hay ký tự "
                    "điều khiển.");
        return;
    }
    size_t len;
    const unsigned char *body = (const unsigned char *)cds_req_body(r, &len);
    if (len == 0) {
        cds_problem(r, 422, "empty_file", "Tệp tải lên không có nội dung.");
        return;
    }
    if (len > ATT_MAX_BYTES) { /* the route's cap says so already; never trust one place */
        cds_fail(r, CDS_P_PAYLOAD_TOO_LARGE);
        return;
    }
    const char *ext;
    const char *media = sniff(body, len, &ext);
    if (!media) {
        cds_problem(
            r, 415, "unsupported_file_type",
            "Chỉ chấp nhận tệp PDF, JPEG hoặc PNG; nội dung tệp này không thuộc các định dạng đó.");
        return;
    }
    upload_meta *m = cds_req_alloc(r, sizeof *m);
    memset(m, 0, sizeof *m);
    m->who = p;
    m->media_type = media;
    m->file_name = name;
    m->document_code = doc;
    m->len = len;
    cds_req_set_user(r, m, NULL);

    upload *u = calloc(1, sizeof *u);
    if (!u || pthread_mutex_init(&u->mu, NULL) != 0) {
        free(u);
        internal_error(r);
        return;
    }
    u->body = body;
    u->len = len;
    u->r = r;
    u->slot = -1;
    u->job = cds_job_submit(cds_req_worker(r)->base, upload_work, upload_done, upload_free, u);
    if (!u->job) {
        upload_free(u);
        busy(r);
        return;
    }
    u->slot = cds_req_track(r, upload_abandon, u);
    if (u->slot < 0) { /* more tracked operations than the core allows: a bug here */
        upload_abandon(u);
        internal_error(r);
    }
}

/* ---------------- download ---------------- */

typedef struct download {
    char path[ATT_PATH_MAX];
    char sha[65];
    size_t size;
    cds_req *r;
    int slot;
    cds_job *job;
    /* Set by the worker. */
    unsigned char *data;
    int failed; /* 1: missing or damaged (what), 2: I/O error (what/err) */
    const char *what;
    int err;
} download;

typedef struct download_meta {
    const char *id, *media_type, *disposition, *etag;
} download_meta;

static void download_free(void *arg)
{
    download *d = arg;
    free(d->data);
    free(d);
}

static void download_cancel(void *handle)
{
    download *d = handle;
    cds_job_cancel(d->job);
}

static void download_work(void *arg)
{
    download *d = arg;
    int fd = open(d->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        d->failed = errno == ENOENT ? 1 : 2;
        d->what = errno == ENOENT ? "file missing" : "open";
        d->err = errno;
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        d->failed = 2;
        d->what = "fstat";
        d->err = errno;
    } else if (!S_ISREG(st.st_mode) || (size_t)st.st_size != d->size || d->size > ATT_MAX_BYTES) {
        d->failed = 1;
        d->what = "size differs from the row";
    } else if (!(d->data = malloc(d->size ? d->size : 1))) {
        d->failed = 2;
        d->what = "malloc";
        d->err = ENOMEM;
    }
    for (size_t off = 0; !d->failed && off < d->size;) {
        ssize_t n = read(fd, d->data + off, d->size - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            d->failed = n < 0 ? 2 : 1;
            d->what = n < 0 ? "read" : "file shrank";
            d->err = errno;
            break;
        }
        off += (size_t)n;
    }
    close(fd);
    if (d->failed) return;
    unsigned char md[32];
    unsigned mdlen = 0;
    char got[65];
    if (EVP_Digest(d->data, d->size, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        d->failed = 2;
        d->what = "sha256";
        d->err = EINVAL;
        return;
    }
    hex(md, 32, got);
    if (memcmp(got, d->sha, 64) != 0) {
        d->failed = 1;
        d->what = "sha256 differs from the row";
    }
}

static void download_done(void *arg)
{
    download *d = arg;
    cds_req *r = d->r;
    cds_req_untrack(r, d->slot);
    download_meta *m = cds_req_user(r);
    if (d->failed == 1) {
        cds_log(CDS_LOG_ERROR, "attachment_corrupted", "attachment %s: %s (%s)", m->id, d->what,
                d->path);
        download_free(d);
        cds_problem(r, 500, "attachment_corrupted",
                    "Tệp đính kèm trên hệ thống lưu trữ bị hỏng, vui lòng liên hệ bộ phận hỗ trợ.");
        return;
    }
    if (d->failed) {
        cds_log(CDS_LOG_ERROR, "attachment_store", "attachment %s: %s: %s", m->id, d->what,
                strerror(d->err));
        download_free(d);
        cds_problem(r, 500, "storage_error", "Không đọc được tệp, vui lòng thử lại sau.");
        return;
    }
    cds_resp_header(r, "content-disposition", m->disposition);
    cds_resp_header(r, "cache-control", "private");
    cds_resp_header(r, "x-content-type-options", "nosniff");
    cds_resp_header(r, "content-security-policy", "default-src 'none'; sandbox");
    cds_resp_header(r, "etag", m->etag);
    cds_respond(r, 200, m->media_type, (const char *)d->data, d->size);
    download_free(d);
}

/* RFC 6266: attachment; filename="<ASCII stand-in>"; filename*=UTF-8''<RFC 5987>.
 * The stand-in keeps printable ASCII but '"', '\' and '%' (some clients
 * decode it), one '_' per other character. The name was checked at upload
 * (valid UTF-8, no control characters). */
static char *disposition(cds_req *r, const char *name)
{
    static const char attr[] = "!#$&+-.^_`|~";
    size_t n = strlen(name);
    char *ascii = cds_req_alloc(r, n + 1), *enc = cds_req_alloc(r, 3 * n + 1);
    size_t a = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\' && c != '%')
            ascii[a++] = (char)c;
        else if (c < 0x80 || (c & 0xC0) == 0xC0)
            ascii[a++] = '_'; /* a code point starts */
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c && strchr(attr, c))) {
            enc[e++] = (char)c;
        } else {
            static const char digits[] = "0123456789ABCDEF";
            enc[e++] = '%';
            enc[e++] = digits[c >> 4];
            enc[e++] = digits[c & 15];
        }
    }
    ascii[a] = 0;
    enc[e] = 0;
    return cds_req_printf(r, "attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, enc);
}

/* If-None-Match (RFC 9110 13.1.2, weak comparison): "*" or a list entry equal
 * to our tag, with or without W/. */
static int etag_matches(const char *inm, const char *etag)
{
    size_t el = strlen(etag);
    for (const char *p = inm; p && *p;) {
        p += strspn(p, " \t,");
        if (*p == '*') return 1;
        if (strncmp(p, "W/", 2) == 0) p += 2;
        size_t len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == el && memcmp(p, etag, el) == 0) return 1;
        p = strchr(p, ',');
    }
    return 0;
}

static void not_found(cds_req *r)
{
    cds_problem(r, 404, "attachment_not_found", "Không tìm thấy tệp đính kèm.");
}

static void on_found(cds_req *r, PGresult *res)
{
    download_meta *m = cds_req_user(r);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_failed(r, res);
        return;
    }
    if (PQntuples(res) != 1) {
        not_found(r);
        return;
    }
    const char *sha = PQgetvalue(res, 0, 0);
    long long size = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    if (strlen(sha) != 64 || size < 1 || size > ATT_MAX_BYTES) { /* the table's CHECKs say so */
        cds_log(CDS_LOG_ERROR, "attachment_corrupted", "attachment %s: row out of range", m->id);
        cds_problem(r, 500, "attachment_corrupted",
                    "Tệp đính kèm trên hệ thống lưu trữ bị hỏng, vui lòng liên hệ bộ phận hỗ trợ.");
        return;
    }
    m->media_type = cds_req_strdup(r, PQgetvalue(res, 0, 2));
    const char *name = PQgetisnull(res, 0, 3)
                           ? cds_req_printf(r, "%s.%s", m->id, ext_of(m->media_type))
                           : PQgetvalue(res, 0, 3);
    m->disposition = disposition(r, name);
    m->etag = cds_req_printf(r, "\"%s\"", sha);
    const char *inm = cds_req_header(r, "if-none-match");
    if (inm && etag_matches(inm, m->etag)) {
        cds_resp_header(r, "cache-control", "private");
        cds_resp_header(r, "etag", m->etag);
        cds_respond(r, 304, NULL, NULL, 0);
        return;
    }
    download *d = calloc(1, sizeof *d);
    if (!d) {
        internal_error(r);
        return;
    }
    memcpy(d->sha, sha, 65);
    d->size = (size_t)size;
    d->r = r;
    d->slot = -1;
    if (store_paths(d->sha, NULL, d->path) != 0) {
        free(d);
        internal_error(r);
        return;
    }
    d->job =
        cds_job_submit(cds_req_worker(r)->base, download_work, download_done, download_free, d);
    if (!d->job) {
        free(d);
        busy(r);
        return;
    }
    d->slot = cds_req_track(r, download_cancel, d);
    if (d->slot < 0) {
        cds_job_cancel(d->job);
        internal_error(r);
    }
}

void cds_attachment_download(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    const char *id = cds_req_param(r, "id");
    if (!cds_uuid_valid(id)) { /* as unknown: no hint about what ids look like */
        not_found(r);
        return;
    }
    download_meta *m = cds_req_alloc(r, sizeof *m);
    memset(m, 0, sizeof *m);
    m->id = id;
    cds_req_set_user(r, m, NULL);
    const char *params[] = {id, p->citizen_id};
    cds_req_db(r, st_get, 2, params, on_found);
}
