-- db/functions/core.sql: the functions every module builds on (idempotency
-- purge, Vietnam's calendar date, RFC 3339 times, the updated_at trigger).
--
-- Repeatable: core/migrate.c runs this whole file again, in one transaction
-- with the other files of db/functions/, whenever any of them changed (see
-- the comment atop core/migrate.c). Every function is defined here only:
-- change it by editing this file, never in a migration.
--
-- Above the cds:after-migrations line: the functions a migration
-- attaches (trigger functions, index expressions). They take and return
-- built-in types only, and that part is also run before pending migrations.

-- BEFORE UPDATE trigger for tables with an updated_at column.
CREATE OR REPLACE FUNCTION cds_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Due dates, "today" and receipt-numbering years follow the calendar in
-- Vietnam (UTC+7, no daylight saving), not the TimeZone of whichever session
-- asks. IMMUTABLE so it can back indexes and constraints.
CREATE OR REPLACE FUNCTION cds_vn_date(ts timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (ts AT TIME ZONE 'Asia/Ho_Chi_Minh')::date;
COMMENT ON FUNCTION cds_vn_date(timestamptz) IS
    'Calendar date in Asia/Ho_Chi_Minh of an instant, independent of the session TimeZone.';

-- cds:after-migrations

-- Deletes up to max_rows expired keys; returns how many. Called periodically;
-- SKIP LOCKED keeps concurrent purgers (several nodes) from queueing up.
CREATE OR REPLACE FUNCTION cds_idempotency_purge(max_rows int DEFAULT 10000) RETURNS int
LANGUAGE sql AS $$
    WITH victims AS (
        SELECT scope, key FROM idempotency_keys
        WHERE expires_at < now()
        ORDER BY expires_at
        LIMIT max_rows
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM idempotency_keys k
        USING victims v
        WHERE k.scope = v.scope AND k.key = v.key
        RETURNING 1
    )
    SELECT count(*)::int FROM gone
$$;

-- Times leave the database as RFC 3339 in Vietnam's offset, e.g.
-- 2026-11-22T09:30:00+07:00, whatever the session's TimeZone. STABLE, as
-- to_char is: declared so, the planner inlines it into the calling statement
-- (see 0010_hot_paths.sql).
CREATE OR REPLACE FUNCTION cds_rfc3339(t timestamptz) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD"T"HH24:MI:SS') || '+07:00';
$$;

-- The W3C trace of the request calling a writing function (its p_trace,
-- core/trace.h cds_trace_stored), kept as the transaction-local setting
-- cds.trace, where cds_outbox_for_step finds it for the rows it writes
-- (0017_trace_etag.sql). NULL changes nothing: a function called by
-- another keeps its caller's trace.
CREATE OR REPLACE FUNCTION cds_trace_set(p_trace text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    IF p_trace IS NOT NULL THEN
        -- An assignment, not PERFORM: no executor started around the call
        -- (issue 21, once per writing request).
        v := set_config('cds.trace', p_trace, true);
    END IF;
END;
$$;
