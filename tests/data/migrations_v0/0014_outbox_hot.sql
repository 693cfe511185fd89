-- Outbox rows that a delivery receipt can update in place, and claim/record
-- plans that stay on the primary key (notify/ at thousands of messages a
-- second).
--
-- 1. HOT updates. PostgreSQL can update a row without touching its indexes
--    (a heap-only tuple) only when no column any index reads changes, and
--    that includes the columns of partial-index predicates. `status` was in
--    the predicates of outbox_due and outbox_sending, so every change of
--    status (claim, result, receipt: three per SMS) wrote a new entry in
--    every index of the table. The two queue indexes now key on columns that
--    carry the same meaning:
--
--      next_attempt_at  NULL unless an attempt is due: set while the row is
--                       created or temporary-failure, NULL from the claim on
--      claimed_at       NULL unless the row is sending (as before)
--
--    and two CHECK constraints keep them in step with status, so no writer
--    can leave a finished row in the queue or a queued row out of it. A
--    delivery receipt (pending -> delivered / permanent-failure) now changes
--    no indexed column and, with room left on the page (fillfactor 70: a
--    result adds the rendered text to the row), is a HOT update.
--
-- 2. Plans. cds_outbox_record joined its JSON batch to the outbox with the
--    planner free to start from outbox_sending, whose statistics often say
--    "one row": it then scanned every row in sending and re-read the JSON
--    once per such row (measured: 16 ms for a batch of 40 with 400 rows in
--    flight, O(in flight x batch)). Both functions now find their rows by
--    `id = ANY (array)`, an index scan of the primary key whatever the
--    statistics say.
ALTER TABLE outbox ALTER COLUMN next_attempt_at DROP NOT NULL;
UPDATE outbox SET next_attempt_at = NULL
WHERE status NOT IN ('created', 'temporary-failure') AND next_attempt_at IS NOT NULL;
UPDATE outbox SET claimed_at = NULL WHERE status <> 'sending' AND claimed_at IS NOT NULL;
UPDATE outbox SET claimed_at = COALESCE(claimed_at, updated_at)
WHERE status = 'sending' AND claimed_at IS NULL;
ALTER TABLE outbox
    ADD CONSTRAINT outbox_due_when_queued
        CHECK ((next_attempt_at IS NOT NULL) = (status IN ('created', 'temporary-failure'))),
    ADD CONSTRAINT outbox_claimed_when_sending
        CHECK ((claimed_at IS NOT NULL) = (status = 'sending'));
COMMENT ON COLUMN outbox.next_attempt_at IS
    'When the next attempt is due; NULL unless status is created or temporary-failure.';
COMMENT ON COLUMN outbox.claimed_at IS
    'When the dispatcher claimed the row; NULL unless status is sending.';
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
DROP INDEX outbox_sending;
CREATE INDEX outbox_sending ON outbox (claimed_at) WHERE claimed_at IS NOT NULL;
ALTER TABLE outbox SET (fillfactor = 70);

-- As in 0009, with the row leaving the queue (next_attempt_at NULL) and the
-- update finding its rows by primary key.
CREATE OR REPLACE FUNCTION cds_outbox_claim(p_node text, p_limit int, p_channels text[],
                                            p_sms_per_hour int)
RETURNS TABLE (id bigint, channel text, attempts int, template text, vars jsonb,
               recipient_sealed text, device_id uuid, platform text, token text,
               dossier_id uuid, created_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH due AS MATERIALIZED (
        SELECT o.id, o.channel, o.attempts, o.citizen_id FROM outbox o
        WHERE o.next_attempt_at <= now() AND o.channel = ANY (p_channels)
          AND o.status IN ('created', 'temporary-failure')
        ORDER BY o.next_attempt_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), first_sms AS (
        SELECT d.id, d.citizen_id,
               row_number() OVER (PARTITION BY d.citizen_id ORDER BY d.id) AS k,
               count(*) OVER (PARTITION BY d.citizen_id) AS cnt
        FROM due d
        WHERE p_sms_per_hour > 0 AND d.channel = 'sms' AND d.attempts = 0
    ), bumped AS (
        INSERT INTO sms_rate AS s (citizen_id, hour, n)
        SELECT f.citizen_id, date_trunc('hour', now()), count(*)::int FROM first_sms f
        GROUP BY f.citizen_id
        ON CONFLICT (citizen_id, hour) DO UPDATE SET n = s.n + EXCLUDED.n
        RETURNING s.citizen_id, s.n
    ), limited AS (
        SELECT f.id FROM first_sms f JOIN bumped b ON b.citizen_id = f.citizen_id
        WHERE b.n - f.cnt + f.k > p_sms_per_hour
    ), upd AS (
        UPDATE outbox o SET
            status = CASE WHEN l.id IS NULL THEN 'sending' ELSE 'permanent-failure' END,
            attempts = o.attempts + 1,
            next_attempt_at = NULL,
            claimed_at = CASE WHEN l.id IS NULL THEN now() END,
            claimed_by = p_node,
            last_error = CASE WHEN l.id IS NULL THEN o.last_error
                              ELSE format('rate_limited: more than %s SMS to this citizen in an hour',
                                          p_sms_per_hour) END
        FROM due LEFT JOIN limited l ON l.id = due.id
        WHERE o.id = ANY (ARRAY(SELECT d.id FROM due d)) AND o.id = due.id
        RETURNING o.id, o.channel, o.attempts, o.template, o.vars, o.recipient_sealed,
                  o.device_id, o.dossier_id, o.created_at, o.status
    )
    SELECT u.id, u.channel, u.attempts, u.template, u.vars, u.recipient_sealed, u.device_id,
           dv.platform, dv.token, u.dossier_id, u.created_at
    FROM upd u LEFT JOIN devices dv ON dv.id = u.device_id
    WHERE u.status = 'sending';
END;
$$;

-- As in 0004, with the JSON read once and the rows found by primary key.
CREATE OR REPLACE FUNCTION cds_outbox_record(p jsonb) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    WITH r AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset(p) AS x(id bigint, attempt int, status text,
            provider text, provider_message_id text, error text, retry_ms bigint,
            template_version int, rendered jsonb, delete_device boolean)
        WHERE x.status IN ('pending', 'sent', 'temporary-failure', 'permanent-failure',
                           'technical-failure')
    ), upd AS (
        UPDATE outbox o SET
            status = r.status,
            provider = COALESCE(r.provider, o.provider),
            provider_message_id = COALESCE(r.provider_message_id, o.provider_message_id),
            template_version = COALESCE(r.template_version, o.template_version),
            rendered = COALESCE(r.rendered, o.rendered),
            last_error = r.error,
            claimed_at = NULL,
            sent_at = CASE WHEN r.status IN ('pending', 'sent') THEN now() ELSE o.sent_at END,
            next_attempt_at = CASE WHEN r.status = 'temporary-failure'
                                   THEN now() + make_interval(secs => COALESCE(r.retry_ms, 1000) / 1000.0)
                              END
        FROM r
        WHERE o.id = ANY (ARRAY(SELECT x.id FROM r x)) AND o.id = r.id
          AND o.status = 'sending' AND o.attempts = r.attempt
        RETURNING o.id, o.device_id, r.delete_device
    ), gone AS (
        DELETE FROM devices d USING upd
        WHERE upd.delete_device AND d.id = upd.device_id
    )
    SELECT count(*) INTO n FROM upd;
    RETURN n;
END;
$$;

-- As in 0004: a technical failure leaves the queue.
CREATE OR REPLACE FUNCTION cds_outbox_sweep(p_after interval, p_max_attempts int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    WITH stuck AS (
        SELECT o.id FROM outbox o
        WHERE o.claimed_at < now() - p_after AND o.status = 'sending'
        FOR UPDATE SKIP LOCKED)
    UPDATE outbox o SET
        status = CASE WHEN o.attempts >= p_max_attempts THEN 'technical-failure'
                      ELSE 'temporary-failure' END,
        last_error = 'claim expired: the dispatcher did not record a result',
        claimed_at = NULL,
        next_attempt_at = CASE WHEN o.attempts >= p_max_attempts THEN NULL ELSE now() END
    FROM stuck WHERE o.id = stuck.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM sms_rate WHERE hour < now() - interval '1 day';
    IF n > 0 THEN
        PERFORM pg_notify('cds_outbox', 'sweep');
    END IF;
    RETURN n;
END;
$$;

-- Delivery receipts in batches (notify/receipts.c gathers those of one turn
-- of its loop): p is [{"i", "provider", "message_id"?, "outbox_id"?,
-- "status", "error"?}, ...], each applied as cds_outbox_receipt applies one,
-- all in one transaction. One row per item: its i, the status (applied |
-- unchanged | unknown | not_ready) and the outbox id. Items are taken in a
-- fixed order (our id, then the gateway's) so two batches reporting on the
-- same messages lock them in the same order; if one still fails (a deadlock)
-- the whole batch is answered 503 and the gateways send it again. No
-- subtransaction per item: past 64 in one transaction every other session's
-- snapshots would overflow to pg_subtrans.
CREATE FUNCTION cds_outbox_receipts(p jsonb)
RETURNS TABLE (item int, status text, outbox_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    x record;
BEGIN
    FOR x IN
        SELECT * FROM jsonb_to_recordset(p) AS t(i int, provider text, message_id text,
                                                 outbox_id bigint, status text, error text)
        ORDER BY t.outbox_id, t.provider, t.message_id, t.i
    LOOP
        item := x.i;
        SELECT rc.status, rc.outbox_id INTO status, outbox_id
        FROM cds_outbox_receipt(x.provider, x.message_id, x.outbox_id, x.status, x.error) rc;
        RETURN NEXT;
    END LOOP;
END;
$$;
