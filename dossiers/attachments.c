/* Attachments: POST /v1/attachments stores a file the citizen uploads (a
 * scanned land-use certificate, a drawing, a photo), GET /v1/attachments/{id}
 * gives it back to its owner. Dossiers then refer to attachments by id.
 *
 * Storage: PostgreSQL, so every node sees a file any node took and the
 * database's replication and backups reach it (0025_attachment_chunks.sql):
 * the bytes in pieces of ATT_PIECE (256 KiB) in attachment_chunks, the row
 * in attachments written last. Every query goes through the thread's async
 * pool; a piece travels as a binary bytea parameter (cds_db_exec_bin: its
 * bytes as they are, no hex text twice their size), so one piece in flight
 * costs the process a few copies of 256 KiB (the body's, the pool's,
 * libpq's output buffer) at most.
 *
 * Upload. The body is the raw file, taken as a stream (core/http.h,
 * CDS_STREAMED: at most ATT_MAX_BYTES, 25 MiB, else 413 from the core) in
 * pieces of ATT_PIECE: each piece is hashed and written (one query) before
 * the core reads the next one from the client, so an upload costs the
 * server about a piece and a flow-control window, never the file, and a
 * slow database slows the client down instead of filling memory. The type is
 * read from the first bytes, never from the name or the Content-Type a
 * client claims: PDF, JPEG or PNG, else 415 before anything is written. Then
 * cds_attachment_commit writes the row only if all the pieces are there.
 * An upload that does not get that far (client gone or reset, body over the
 * cap or short of its Content-Length, too slow, a failed query) is
 * discarded: once no query of it is out any more (one already sent would
 * commit even if cancelled) cds_attachment_discard removes its pieces; a
 * node killed mid-upload leaves them to the sweep (an hour later). Nobody
 * ever sees an attachment without all its pieces.
 *
 * Download. The row is selected by id AND the caller's citizen id, so another
 * citizen's attachment answers exactly like an unknown one (404). The answer
 * is streamed (cds_respond_stream): each piece is fetched when the protocol
 * has room for it, so a slow reader makes the server hold a piece or two,
 * never the file, and the slow-read caps close a reader that takes nothing.
 * Each piece's length is checked against the row's size and the SHA-256 of
 * the whole against the row's, and the last piece is only sent once that
 * matched: a damaged store logs `attachment_corrupted` and the answer is cut
 * short (HTTP/1.1: connection closed before content-length; HTTP/2:
 * RST_STREAM), never served whole. A row whose pieces are missing (a file
 * not yet imported from CDS_STORAGE_DIR) answers 500 attachment_corrupted
 * before any byte. The answer carries the stored media type,
 * Content-Disposition: attachment (RFC 6266, with the RFC 5987 UTF-8 form for
 * Vietnamese names), Cache-Control: private, nosniff and the ETag
 * "<sha256>" (If-None-Match answers 304 without reading a piece). */
#include "internal.h"
#include "auth/auth.h"
#include "core/db.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/uuid.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATT_PIECE ATTACHMENT_PIECE
#define ATT_NAME_MAX 255    /* bytes of UTF-8 */
#define ATT_DOC_CODE_MAX 64 /* as dossier filing accepts */
#define ATT_MAX_BYTES ATTACHMENT_MAX_BYTES

static int st_piece_put, st_commit, st_discard, st_get, st_piece_get;

int cds_attachments_init(void)
{
    st_piece_put = cds_db_stmt_register("attachment_piece_put",
                                        "SELECT cds_attachment_chunk($1::uuid, $2::int, $3::bytea)",
                                        3);
    st_commit = cds_db_stmt_register(
        "attachment_commit",
        "SELECT id, created_at FROM cds_attachment_commit($1::uuid, $2::uuid, $3, $4::bigint, $5, "
        "$6, $7::int)",
        7);
    st_discard = cds_db_stmt_register("attachment_discard",
                                      "SELECT cds_attachment_discard($1::uuid)", 1);
    st_get = cds_db_stmt_register_ro(
        "attachment_get",
        "SELECT a.sha256, a.size_bytes, a.media_type, a.file_name, "
        "(SELECT count(*) FROM attachment_chunks c WHERE c.attachment_id = a.id) "
        "FROM attachments a WHERE a.id = $1::uuid AND a.citizen_id = $2::uuid",
        2);
    st_piece_get = cds_db_stmt_register_ro(
        "attachment_piece_get",
        "SELECT data FROM attachment_chunks WHERE attachment_id = $1::uuid AND n = $2::int", 2);
    return (st_piece_put < 0 || st_commit < 0 || st_discard < 0 || st_get < 0 ||
            st_piece_get < 0)
               ? -1
               : 0;
}

/* ---------------- shared helpers ---------------- */

static void internal_error(cds_req *r)
{
    cds_fail(r, CDS_P_INTERNAL);
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

/* An upload outlives its request when it must: a piece query still out when
 * the client goes away is not cancelled (one already sent would commit
 * anyway) but awaited, and then the pieces are discarded, so the discard
 * always comes after the last piece written. */
typedef struct upload {
    cds_req *r;               /* NULL once the request is gone */
    cds_db_pool *pool;
    const cds_principal *who; /* request arena, like the three below */
    const char *media_type, *file_name, *document_code;
    size_t len;               /* bytes sent to the database */
    int pieces;               /* pieces sent */
    int inflight;             /* a query of ours is out: its callback will run */
    int wrote;                /* a piece went out: discard them unless committed */
    int committed;
    int last;                 /* the piece out is the last one */
    char id[37];
    char sha[65];
    EVP_MD_CTX *md;
} upload;

static void upload_free(upload *u)
{
    EVP_MD_CTX_free(u->md);
    free(u);
}

static void on_discarded(void *arg, PGresult *res)
{
    upload *u = arg;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        cds_log(CDS_LOG_WARN, "attachments_db", "attachment %s: pieces of an unfinished upload "
                "left to the sweep: %s", u->id, res ? PQresultErrorMessage(res) : "no database");
    upload_free(u);
}

/* The request is gone and nothing of ours is out: what was written of an
 * upload that was not committed goes now (else the sweep takes it). */
static void upload_end(upload *u)
{
    const char *params[] = {u->id};
    if (u->wrote && !u->committed &&
        cds_db_exec(u->pool, st_discard, 1, params, on_discarded, u, NULL) == CDS_DB_OK)
        return;
    upload_free(u);
}

/* The request's user state: freed with it (answered, refused by the core,
 * client gone). */
static void upload_detach(void *arg)
{
    upload *u = arg;
    u->r = NULL;
    if (!u->inflight) upload_end(u);
}

static void on_committed(void *arg, PGresult *res)
{
    upload *u = arg;
    cds_req *r = u->r;
    u->inflight = 0;
    int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    u->committed = ok;
    if (!r) {
        upload_end(u);
        return;
    }
    if (!ok) {
        db_failed(r, res); /* the request and then u are gone */
        return;
    }
    const char *id = PQgetvalue(res, 0, 0);
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:o,s:s}", "id", id, "sha256", u->sha, "size_bytes",
                          (json_int_t)u->len, "media_type", u->media_type, "file_name",
                          u->file_name ? json_string(u->file_name) : json_null(), "created_at",
                          PQgetvalue(res, 0, 1));
    if (!o) {
        internal_error(r);
        return;
    }
    if (u->document_code) json_object_set_new(o, "document_code", json_string(u->document_code));
    cds_resp_header(r, "location", cds_req_printf(r, "/v1/attachments/%s", id));
    cds_respond_json(r, 201, o);
}

/* Every piece is written: the row that makes the attachment visible. */
static void commit(upload *u)
{
    cds_req *r = u->r;
    unsigned char md[32];
    unsigned mdlen = 0;
    if (EVP_DigestFinal_ex(u->md, md, &mdlen) != 1 || mdlen != 32) {
        internal_error(r);
        return;
    }
    hex(md, 32, u->sha);
    char size[24], num[16];
    snprintf(size, sizeof size, "%zu", u->len);
    snprintf(num, sizeof num, "%d", u->pieces);
    const char *params[] = {u->id, u->who->citizen_id, u->sha, size,
                            u->media_type, u->file_name, num};
    int rc = cds_db_exec(u->pool, st_commit, 7, params, on_committed, u, NULL);
    if (rc != CDS_DB_OK) {
        cds_fail(r, rc == CDS_DB_EBUSY ? CDS_P_SERVICE_BUSY : CDS_P_DB_UNAVAILABLE);
        return;
    }
    u->inflight = 1;
}

static void on_piece_stored(void *arg, PGresult *res)
{
    upload *u = arg;
    cds_req *r = u->r;
    u->inflight = 0;
    if (!r) {
        upload_end(u);
        return;
    }
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_failed(r, res);
        return;
    }
    if (u->last) commit(u);
    else cds_req_body_next(r); /* only now is more of the body read */
}

/* The next piece of the body (core/http.h, streamed request bodies): its
 * type checked if it is the first, hashed, and written before the next one
 * is read. */
static void on_body_piece(cds_req *r, const char *p, size_t n, int last, void *arg)
{
    upload *u = arg;
    if (u->pieces == 0) {
        const char *ext;
        if (n == 0) {
            cds_problem(r, 422, "empty_file", "Tệp tải lên không có nội dung.");
            return;
        }
        if (!(u->media_type = sniff((const unsigned char *)p, n, &ext))) {
            cds_problem(r, 415, "unsupported_file_type",
                        "Chỉ chấp nhận tệp PDF, JPEG hoặc PNG; nội dung tệp này không thuộc các "
                        "định dạng đó.");
            return;
        }
    }
    if (n > ATT_MAX_BYTES - u->len) { /* the route's cap says so already; never trust one place */
        cds_fail(r, CDS_P_PAYLOAD_TOO_LARGE);
        return;
    }
    u->last = last;
    if (n == 0) { /* the body ended on a piece's boundary */
        commit(u);
        return;
    }
    if (EVP_DigestUpdate(u->md, p, n) != 1) {
        internal_error(r);
        return;
    }
    char num[16];
    snprintf(num, sizeof num, "%d", u->pieces);
    const char *params[] = {u->id, num, p};
    const int lengths[] = {-1, -1, (int)n}; /* n <= ATT_PIECE; the pool copies the bytes */
    int rc = cds_db_exec_bin(u->pool, st_piece_put, 3, params, lengths, on_piece_stored, u, NULL);
    if (rc != CDS_DB_OK) {
        cds_fail(r, rc == CDS_DB_EBUSY ? CDS_P_SERVICE_BUSY : CDS_P_DB_UNAVAILABLE);
        return;
    }
    u->inflight = 1;
    u->wrote = 1;
    u->pieces++;
    u->len += n;
}

void cds_attachment_upload(cds_req *r)
{
    const cds_principal *p = cds_auth_citizen(r);
    if (!p) return;
    cds_attachment_upload_as(r, p);
}

void cds_attachment_upload_as(cds_req *r, const cds_principal *p)
{
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
    cds_db_pool *pool = cds_req_worker(r)->db;
    if (!pool) {
        cds_fail(r, CDS_P_DB_UNAVAILABLE);
        return;
    }
    upload *u = calloc(1, sizeof *u);
    if (!u || !(u->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1) {
        if (u) upload_free(u);
        internal_error(r);
        return;
    }
    u->r = r;
    u->pool = pool;
    u->who = p;
    u->file_name = name;
    u->document_code = doc;
    cds_uuid_v4(u->id);
    cds_req_set_user(r, u, upload_detach);
    cds_req_body_read(r, ATT_PIECE, on_body_piece, u);
}

/* ---------------- download ---------------- */

typedef struct download {
    const char *media_type, *disposition, *etag; /* request arena */
    char id[37];
    char sha[65];
    size_t size, got;
    int piece, pieces;
    cds_req *r;
    EVP_MD_CTX *md;
    cds_db_query *q;
    int slot;
    struct event *fail_ev; /* ends the answer from the loop, not from inside pull */
} download;

static void download_free(void *arg)
{
    download *d = arg;
    EVP_MD_CTX_free(d->md);
    if (d->fail_ev) event_free(d->fail_ev);
    free(d);
}

static void corrupted(download *d, const char *what)
{
    cds_log(CDS_LOG_ERROR, "attachment_corrupted", "attachment %s: %s", d->id, what);
}

static void on_fail_ev(evutil_socket_t fd, short what, void *arg)
{
    download *d = arg;
    cds_stream_abort(d->r); /* frees d */
}

static void fail_later(download *d)
{
    static const struct timeval now = {0, 0};
    if (!d->fail_ev) d->fail_ev = evtimer_new(cds_req_worker(d->r)->base, on_fail_ev, d);
    if (!d->fail_ev) abort(); /* out of memory for 100 bytes */
    evtimer_add(d->fail_ev, &now);
}

static void piece_cancel(void *handle)
{
    download *d = handle;
    cds_db_cancel(d->q);
}

static void on_piece(void *arg, PGresult *res)
{
    download *d = arg;
    cds_req *r = d->r;
    cds_req_untrack(r, d->slot);
    d->q = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cds_log(CDS_LOG_ERROR, "attachments_db", "attachment %s piece %d: %s", d->id, d->piece,
                res ? PQresultErrorMessage(res) : "connection lost");
        cds_stream_abort(r);
        return;
    }
    size_t want = d->size - d->got < ATT_PIECE ? d->size - d->got : ATT_PIECE;
    const char *v = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
    size_t vl = strlen(v);
    unsigned char *buf = NULL;
    if (vl != 2 + 2 * want || v[0] != '\\' || v[1] != 'x' || !(buf = malloc(want))) {
        corrupted(d, "a piece is missing or of the wrong size");
        cds_stream_abort(r);
        return;
    }
    for (size_t i = 0; i < want; i++) {
        int hi = OPENSSL_hexchar2int((unsigned char)v[2 + 2 * i]);
        int lo = OPENSSL_hexchar2int((unsigned char)v[3 + 2 * i]);
        buf[i] = (unsigned char)(hi << 4 | lo);
    }
    EVP_DigestUpdate(d->md, buf, want);
    d->got += want;
    d->piece++;
    if (d->got == d->size) { /* the last piece goes only if the whole is right */
        unsigned char md[32];
        unsigned mdlen = 0;
        char got[65] = "";
        if (EVP_DigestFinal_ex(d->md, md, &mdlen) == 1 && mdlen == 32) hex(md, 32, got);
        if (strcmp(got, d->sha) != 0) {
            free(buf);
            corrupted(d, "sha256 differs from the row");
            cds_stream_abort(r);
            return;
        }
    }
    cds_stream_write(r, (const char *)buf, want); /* r and d may be gone */
    free(buf);
}

static void pull(cds_req *r, void *arg)
{
    download *d = arg;
    char num[16];
    snprintf(num, sizeof num, "%d", d->piece);
    const char *params[] = {d->id, num};
    cds_db_pool *pool = cds_req_worker(r)->db;
    if (!pool || cds_db_exec(pool, st_piece_get, 2, params, on_piece, d, &d->q) != CDS_DB_OK) {
        cds_log(CDS_LOG_WARN, "attachments_db", "attachment %s: no database for piece %d", d->id,
                d->piece);
        fail_later(d);
        return;
    }
    d->slot = cds_req_track(r, piece_cancel, d);
    if (d->slot < 0) {
        cds_db_cancel(d->q);
        fail_later(d);
    }
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
    download *d = cds_req_user(r);
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
    long long pieces = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    if (strlen(sha) != 64 || size < 1 || size > ATT_MAX_BYTES) { /* the table's CHECKs say so */
        corrupted(d, "row out of range");
        cds_problem(r, 500, "attachment_corrupted",
                    "Tệp đính kèm trên hệ thống lưu trữ bị hỏng, vui lòng liên hệ bộ phận hỗ trợ.");
        return;
    }
    memcpy(d->sha, sha, 65);
    d->size = (size_t)size;
    d->pieces = (int)((d->size + ATT_PIECE - 1) / ATT_PIECE);
    d->media_type = cds_req_strdup(r, PQgetvalue(res, 0, 2));
    const char *name = PQgetisnull(res, 0, 3)
                           ? cds_req_printf(r, "%s.%s", d->id, ext_of(d->media_type))
                           : PQgetvalue(res, 0, 3);
    d->disposition = disposition(r, name);
    d->etag = cds_req_printf(r, "\"%s\"", sha);
    const char *inm = cds_req_header(r, "if-none-match");
    if (inm && etag_matches(inm, d->etag)) {
        cds_resp_header(r, "cache-control", "private");
        cds_resp_header(r, "etag", d->etag);
        cds_respond(r, 304, NULL, NULL, 0);
        return;
    }
    if (pieces != d->pieces) { /* not imported from the file store, or damaged */
        corrupted(d, cds_req_printf(r, "%lld pieces stored, %d expected", pieces, d->pieces));
        cds_problem(r, 500, "attachment_corrupted",
                    "Tệp đính kèm trên hệ thống lưu trữ bị hỏng, vui lòng liên hệ bộ phận hỗ trợ.");
        return;
    }
    if (!(d->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) != 1) {
        internal_error(r);
        return;
    }
    cds_resp_header(r, "content-disposition", d->disposition);
    cds_resp_header(r, "cache-control", "private");
    cds_resp_header(r, "x-content-type-options", "nosniff");
    cds_resp_header(r, "content-security-policy", "default-src 'none'; sandbox");
    cds_resp_header(r, "etag", d->etag);
    cds_respond_stream(r, 200, d->media_type, d->size, pull, d);
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
    download *d = calloc(1, sizeof *d);
    if (!d) {
        internal_error(r);
        return;
    }
    snprintf(d->id, sizeof d->id, "%s", id);
    d->r = r;
    d->slot = -1;
    cds_req_set_user(r, d, download_free);
    const char *params[] = {id, p->citizen_id};
    cds_req_db(r, st_get, 2, params, on_found);
}
