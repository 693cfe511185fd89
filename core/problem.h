/* The problem catalog: the problems many handlers answer with, in one table
 * (problem.c) of the stable code the app matches on, the HTTP status, the
 * English title of RFC 9457 and the Vietnamese detail the app shows as is.
 * A problem that only one handler answers stays a cds_problem call there.
 * Every code is listed in openapi.yaml (tests/unit/test_problem.c checks).
 *
 * And the two request helpers every list and every database callback
 * needs: "the database answered an error" and "decode the page cursor". */
#ifndef CDS_PROBLEM_H
#define CDS_PROBLEM_H
#include "core/http.h"

#include <libpq-fe.h>
#include <stddef.h>

typedef enum {
    CDS_P_INTERNAL,           /* 500 internal_error */
    CDS_P_DB_UNAVAILABLE,     /* 503 database_unavailable */
    CDS_P_SERVICE_BUSY,       /* 503 service_busy: a queue is full */
    CDS_P_OVERLOADED,         /* 503 overloaded: too much work at once */
    CDS_P_INVALID_CURSOR,     /* 400 invalid_cursor */
    CDS_P_DOSSIER_NOT_FOUND,  /* 404 dossier_not_found */
    CDS_P_PAYMENT_NOT_FOUND,  /* 404 payment_not_found */
    CDS_P_RECEIPT_NOT_FOUND,  /* 404 receipt_not_found */
    CDS_P_QR_FAILED,          /* 500 qr_failed */
    CDS_P_PAYLOAD_TOO_LARGE,  /* 413 payload_too_large */
    CDS_P_POSTAL_NOT_ALLOWED, /* 422 postal_not_allowed: the procedure's result is not posted */
    CDS_P_RATING_NOT_FINISHED, /* 409 rating_not_allowed: not completed/returned yet */
    CDS_P_RATING_EDIT_CLOSED,  /* 409 rating_edit_closed: 7 days after the first rating */
    CDS_P__COUNT
} cds_problem_id;

typedef struct cds_problem_def {
    int status;
    const char *code;   /* stable, snake_case */
    const char *title;  /* English, short */
    const char *detail; /* Vietnamese, shown to the citizen */
} cds_problem_def;

/* The English detail of a problem code (problem_en.c), answered instead of
 * the Vietnamese one when the request asks for English; NULL for a code it
 * does not know (tests/unit/test_problem.c: every code of openapi.yaml has
 * one). */
const char *cds_problem_detail_en(const char *code);
/* 1 when the English table is strictly sorted by code (its lookup is a
 * binary search): for the test. */
int cds_problem_en_sorted(void);

/* The table's row for id (NULL out of range). */
const cds_problem_def *cds_problem_get(cds_problem_id id);
/* Answers r with the problem id. */
void cds_fail(cds_req *r, cds_problem_id id);

/* The database answered an error (res) or nothing (NULL: the connection
 * was lost): logs its message under `what` and answers 503
 * database_unavailable. */
void cds_req_db_failed(cds_req *r, const char *what, PGresult *res);
/* 1 when res holds rows (PGRES_TUPLES_OK); else cds_req_db_failed and 0. */
int cds_req_db_rows(cds_req *r, const char *what, PGresult *res);
/* 1 when res holds exactly one row; else 0, having answered the database
 * error, or `missing` (the 404 of what the row is) when there is no row. */
int cds_req_db_one(cds_req *r, const char *what, PGresult *res, cds_problem_id missing);

/* The path parameter `name` when it is a UUID; else NULL, having answered
 * `missing` (the 404 of what it names: an id that cannot exist is as
 * unknown as one that does not, no hint about what ids look like). */
const char *cds_req_uuid_param(cds_req *r, const char *name, cds_problem_id missing);

/* The request's ?cursor=, decoded (core/cursor.h): 1 with its position in
 * pos (cap bytes), 0 when there is none (pos ""), or -1 when it is not one
 * of ours, having answered 400 invalid_cursor. */
int cds_req_cursor(cds_req *r, char *pos, size_t cap);
/* The same for the "<timestamp>|<uuid>" positions of lists ordered by time
 * then id: 0 with *after_time and *after_id (request arena), both NULL when
 * there is no cursor, or -1 having answered 400 invalid_cursor. */
int cds_req_cursor_after(cds_req *r, const char **after_time, const char **after_id);

/* One page of a list ordered newest first by time then id. */
typedef struct cds_page {
    int limit;                         /* ?limit=, 1..max */
    const char *after_time, *after_id; /* where the previous page ended; NULL on the first */
    char fetch[16];                    /* limit + 1 as text: one row more says there is a next page */
} cds_page;
/* Reads ?limit= (dflt, at most max) and a "<timestamp>|<uuid>" ?cursor=
 * (cds_req_cursor_after) into a page in the request's arena, set as its
 * user state so the result callback finds it with cds_req_user. The page,
 * or NULL having answered 400. */
cds_page *cds_req_page_after(cds_req *r, int dflt, int max);

#endif
