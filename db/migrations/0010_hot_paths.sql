-- Cheaper reads of a dossier and cheaper steps (measured with bench/run's
-- dossier and steps rows; see bench/README.md, "Known findings").
--
-- 1. cds_rfc3339 was declared IMMUTABLE while its body calls to_char, which
--    PostgreSQL marks STABLE. The planner refuses to inline a function whose
--    body is more volatile than its declaration, so every call went through
--    the SQL-function executor, which parses and plans the body again for
--    each statement that calls it: twice per step (the new timeline entry and
--    updated_at), once per timeline entry whenever a view is rebuilt. Declared
--    STABLE (what it is), it is inlined into the calling statement and its
--    plan is cached with it. Nothing indexes it, so IMMUTABLE bought nothing.
-- cds_rfc3339: its current definition is in db/functions/core.sql.

-- 2. The stored view of a filed dossier (its form, timeline, attachments) is
--    often over the 2 kB at which PostgreSQL compresses a row, with pglz by
--    default: every GET /v1/dossiers/{id} decompressed it (a tenth of the
--    backend's CPU for that route) and every step on such a dossier
--    compressed it again. lz4 does both several times faster, at a slightly
--    lower ratio. Rows written from now on use it; older ones keep pglz until
--    their next step rewrites them. A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE dossiers ALTER COLUMN view SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available, dossiers.view stays pglz: %', SQLERRM;
END;
$$;

-- 3. The notifications of a step in one statement instead of a lookup of
--    the citizen, an INSERT and a loop over the devices: the same rows (the
--    SMS first, then one push per device in registration order), the same
--    NOTIFY, the same count; each statement a plpgsql function runs pays
--    executor start-up, locks and constraint set-up, and a step runs this on
--    every call.
-- cds_outbox_for_step: its current definition is in db/functions/dossiers.sql.

-- 4. A step's new view in one rebuild of the document instead of two: the
--    stored text is parsed once, and the new timeline, status, fee and
--    updated_at are merged in one concatenation (jsonb_set then || copied
--    the whole view twice; parsing, each copy and the text output each cost
--    about as much as the rest of the step's plpgsql). Otherwise unchanged.
-- cds_dossier_step: its current definition is in db/functions/dossiers.sql.
