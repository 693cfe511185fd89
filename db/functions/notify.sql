-- db/functions/notify.sql: the outbox as the dispatchers see it (claim,
-- results, sweep, delivery receipts) and the citizen's inbox.
--
-- Repeatable: core/migrate.c runs this whole file again, in one transaction
-- with the other files of db/functions/, whenever any of them changed (see
-- the comment atop core/migrate.c). Every function is defined here only:
-- change it by editing this file, never in a migration.
--
-- Above the cds:after-migrations line: the functions a migration
-- attaches (trigger functions). They take and return built-in types only,
-- and that part is also run before pending migrations.

-- Text messages (SMS, ZNS) of a dossier go to the gateway one at a time,
-- oldest first, so the last one states the latest state (issue 18). The
-- dossier's line: its text messages sending, waiting and not deferred (a
-- deferred SMS holds no newer one back: a newer one supersedes it,
-- cds_outbox_claim A), or parked (0036_outbox_parked.sql). A text message
-- written while its dossier's line is not empty is parked: status created,
-- out of the due index (next_attempt_at NULL) until cds_outbox_text_promote
-- makes it due. So outbox_due holds only messages that may go now.
--
-- Race safety: whoever adds to a dossier's line (this trigger) or takes its
-- head out and promotes the next (cds_outbox_text_promote: the record, the
-- claim deferring an SMS, the sweeper) holds the dossier's transaction
-- advisory lock (cds_outbox_text_lock) before reading the line, and reads
-- it in a statement after taking it (READ COMMITTED: a fresh snapshot). So
-- a step writing a message and the record of its dossier's head are in one
-- order or the other: either the record commits first and the step sees the
-- head gone (the message is due at once), or the step commits first and the
-- record's promotion sees the parked message. The steps already lock their
-- dossier's row; the advisory lock is taken because the record must not
-- (FOR SHARE on a dossier row writes WAL and dirties its page for every
-- batch). Deadlock-free: a holder of these locks waits only for other such
-- locks, taken in key order by the functions that take several (a
-- multi-dossier INSERT takes them in row order: tests and bench fills only),
-- or for parked rows, which only these holders lock.
-- The key of a dossier's text lock: one place for every taker (inlined
-- where it is used, so the trigger's assignment stays a simple expression).
CREATE OR REPLACE FUNCTION cds_outbox_text_key(p_dossier uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended('cds_outbox_text ' || p_dossier::text, 0)
$$;

CREATE OR REPLACE FUNCTION cds_outbox_text_lock(p_dossier uuid) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(cds_outbox_text_key(p_dossier))
$$;

-- BEFORE INSERT trigger outbox_park (0036_outbox_parked.sql), for a text
-- message of a dossier: parked when the dossier's line is not empty. A row
-- written in another state (tests writing history) is left as it is.
-- The lock is taken by an assignment (PL/pgSQL evaluates it as a simple
-- expression, without the executor a PERFORM of cds_outbox_text_lock went
-- through for each inserted row: payments, courier and steps insert here);
-- the check stays a statement of its own, so its snapshot sees what the
-- holder the lock waited for committed.
CREATE OR REPLACE FUNCTION cds_outbox_park() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    locked text;
BEGIN
    IF NEW.status <> 'created' OR NEW.parked OR NEW.next_attempt_at IS NULL THEN
        RETURN NEW;
    END IF;
    locked := pg_advisory_xact_lock(cds_outbox_text_key(NEW.dossier_id));
    IF EXISTS (SELECT 1 FROM outbox p
               WHERE p.dossier_id = NEW.dossier_id AND p.channel IN ('sms', 'zns')
                 AND (p.claimed_at IS NOT NULL
                      OR (p.next_attempt_at IS NOT NULL AND p.deferred_at IS NULL)))
       OR EXISTS (SELECT 1 FROM outbox p WHERE p.dossier_id = NEW.dossier_id AND p.parked) THEN
        NEW.parked := true;
        NEW.next_attempt_at := NULL;
    END IF;
    RETURN NEW;
END;
$$;

-- cds:after-migrations

-- Plans: the dispatcher's functions (claim, record, promote, receipts) run
-- their statements with generic plans (plan_cache_mode on each function).
-- PL/pgSQL's plan cache otherwise plans the first five calls of a session
-- with the parameters and keeps doing so whenever a generic plan looks
-- dearer than those: the claim's and the record's CTEs were planned again
-- on every call, a quarter of PostgreSQL's CPU in row g (perf, 2026-12-05).
-- Every statement here finds its rows by primary key or by a partial index
-- whatever the parameters, so one plan fits every call (the drain of
-- bench/run notify's same-SQL reference: 7,356-9,740 msg/s with the
-- default, 9,617-10,804 with generic plans).

-- Makes due, for each dossier of p_dossiers whose line holds only parked
-- messages, the oldest of them (see cds_outbox_park). Takes the dossiers'
-- locks in key order first. Called when a head leaves the line (sent,
-- failed for good, superseded, deferred) and by the sweeper. Returns how
-- many became due.
CREATE OR REPLACE FUNCTION cds_outbox_text_promote(p_dossiers uuid[]) RETURNS int
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    n int;
BEGIN
    PERFORM pg_advisory_xact_lock(k.k)
    FROM (SELECT DISTINCT cds_outbox_text_key(d) AS k
          FROM unnest(p_dossiers) d WHERE d IS NOT NULL ORDER BY 1) k;
    WITH head AS (
        SELECT (SELECT p.id FROM outbox p WHERE p.parked AND p.dossier_id = d.d
                ORDER BY p.id LIMIT 1) AS id
        FROM (SELECT DISTINCT x AS d FROM unnest(p_dossiers) x WHERE x IS NOT NULL) d
        WHERE NOT EXISTS (SELECT 1 FROM outbox b
                          WHERE b.dossier_id = d.d AND b.channel IN ('sms', 'zns')
                            AND (b.claimed_at IS NOT NULL
                                 OR (b.next_attempt_at IS NOT NULL AND b.deferred_at IS NULL)))
    )
    UPDATE outbox o SET parked = false, next_attempt_at = now()
    WHERE o.id = ANY (ARRAY(SELECT h.id FROM head h WHERE h.id IS NOT NULL)) AND o.parked;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;

-- The states whose SMS goes out even over the per-citizen limit: those that
-- ask the citizen to act (pay, add documents, collect, be home for the
-- courier) or end the dossier (0021_sms_defer.sql).
CREATE OR REPLACE FUNCTION cds_sms_must_send(p_template text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_template IN ('fee_requested', 'payment_partial', 'supplement_requested',
                          'result_ready', 'ready_for_pickup', 'out_for_delivery',
                          'courier_out_for_delivery', 'courier_delivered', 'completed',
                          'courier_returned', 'cancelled', 'rejected', 'agent_consent')
$$;

-- Claims up to p_limit due rows of the given channels for dispatcher p_node.
-- SKIP LOCKED: dispatchers never wait for each other nor take the same row.
-- The first attempt of an SMS counts against the citizen's limit
-- (p_sms_per_hour SMS per window of p_window_s seconds, 0 = none). An SMS
-- over it is never dropped (0021_sms_defer.sql): a state that asks the
-- citizen to act or ends the dossier goes out anyway; any other is deferred
-- to the next window (left `created`, deferred_at set) and not returned.
-- Text messages (SMS or ZNS) go one at a time per dossier, oldest first:
-- the others of a dossier are parked, out of the due index (cds_outbox_park),
-- so the due scan is an index range scan over messages that may go now and
-- a claim fills its limit with them (issue 21: when held-back ones were in
-- the index, a claim walked past 1,000+ of them, 30-40 ms, or, earlier,
-- came back short and the dispatcher waited for its poll: 141 msg/s).
-- cds_outbox_record makes a dossier's next one due and wakes a dispatcher.
-- Then, only when deferred SMS are involved:
--   A. a deferred SMS whose dossier has a newer live SMS is superseded;
--   B. deferred SMS now going out are coalesced per citizen, up to three
--      dossiers in one message: the newest carries them all in `digest`
--      ([{template, vars, dossier_id}] oldest first), the others are
--      superseded by it.
-- An SMS deferred here leaves its dossier's line: the next parked one of
-- the dossier becomes due (as before 0036 a deferred SMS held no newer one
-- back). A claimed row leaves the queue (next_attempt_at NULL).
-- Each row carries the trace of the step that queued it (outbox.trace).
DROP FUNCTION IF EXISTS cds_outbox_claim(text, int, text[], int);
CREATE OR REPLACE FUNCTION cds_outbox_claim(p_node text, p_limit int, p_channels text[],
                                            p_sms_per_hour int, p_window_s int)
RETURNS TABLE (id bigint, channel text, attempts int, template text, vars jsonb,
               recipient_sealed text, device_id uuid, platform text, token text,
               dossier_id uuid, created_at timestamptz, digest jsonb, trace text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_win timestamptz := to_timestamp(floor(extract(epoch FROM now()) / GREATEST(p_window_s, 1))
                                      * GREATEST(p_window_s, 1));
    v_next timestamptz := v_win + make_interval(secs => GREATEST(p_window_s, 1));
    v_sending bigint[];
    v_citizens uuid[];
    v_deferred boolean;
    v_digest jsonb;
    v_held uuid[];
    v_touched uuid[];
BEGIN
    WITH due AS MATERIALIZED (
        SELECT o.id, o.channel, o.attempts, o.citizen_id, o.dossier_id, o.template,
               o.deferred_at IS NOT NULL AS deferred
        FROM outbox o
        WHERE o.next_attempt_at <= now() AND o.channel = ANY (p_channels)
          AND o.status IN ('created', 'temporary-failure')
        ORDER BY o.next_attempt_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), blocked AS MATERIALIZED (
        -- two of a dossier in this claim (an older one deferred, which is
        -- not in the dossier's line, and its head): the oldest goes (and is
        -- superseded, A), the others stay as they are (due, untouched) for
        -- a later claim
        SELECT d.id FROM due d
        WHERE d.channel IN ('sms', 'zns') AND d.dossier_id IS NOT NULL
          AND EXISTS (SELECT 1 FROM due e
                      WHERE e.dossier_id = d.dossier_id AND e.channel IN ('sms', 'zns')
                        AND e.id < d.id)
    ), first_sms AS (
        -- a citizen's deferred SMS go out as one message: they count once,
        -- first (they are the oldest)
        SELECT d.id, d.citizen_id, d.template,
               dense_rank() OVER (PARTITION BY d.citizen_id
                                  ORDER BY CASE WHEN d.deferred THEN 0 ELSE d.id END) AS k,
               count(*) FILTER (WHERE NOT d.deferred) OVER (PARTITION BY d.citizen_id)
                 + max(d.deferred::int) OVER (PARTITION BY d.citizen_id) AS cnt
        FROM due d
        WHERE p_sms_per_hour > 0 AND d.channel = 'sms' AND d.attempts = 0
          AND NOT EXISTS (SELECT 1 FROM blocked b WHERE b.id = d.id)
    ), bumped AS (
        INSERT INTO sms_rate AS s (citizen_id, hour, n)
        SELECT f.citizen_id, v_win, max(f.cnt)::int FROM first_sms f
        GROUP BY f.citizen_id
        ON CONFLICT (citizen_id, hour) DO UPDATE SET n = s.n + EXCLUDED.n
        RETURNING s.citizen_id, s.n
    ), held AS (
        SELECT f.id FROM first_sms f JOIN bumped b ON b.citizen_id = f.citizen_id
        WHERE b.n - f.cnt + f.k > p_sms_per_hour AND NOT cds_sms_must_send(f.template)
    ), upd AS (
        UPDATE outbox o SET
            status = CASE WHEN h.id IS NULL THEN 'sending' ELSE 'created' END,
            attempts = CASE WHEN h.id IS NULL THEN o.attempts + 1 ELSE o.attempts END,
            next_attempt_at = CASE WHEN h.id IS NULL THEN NULL ELSE v_next END,
            claimed_at = CASE WHEN h.id IS NULL THEN now() END,
            claimed_by = p_node,
            deferred_at = CASE WHEN h.id IS NULL THEN o.deferred_at
                               ELSE COALESCE(o.deferred_at, now()) END,
            last_error = CASE WHEN h.id IS NULL THEN o.last_error
                              ELSE format('deferred: more than %s SMS to this citizen in %s s; '
                                          'sent when the next window opens',
                                          p_sms_per_hour, p_window_s) END
        FROM due LEFT JOIN held h ON h.id = due.id
        WHERE o.id = ANY (ARRAY(SELECT d.id FROM due d
                                WHERE NOT EXISTS (SELECT 1 FROM blocked b WHERE b.id = d.id)))
          AND o.id = due.id
        RETURNING o.id, o.status, o.channel, o.citizen_id, o.deferred_at, o.dossier_id
    )
    SELECT array_agg(u.id) FILTER (WHERE u.status = 'sending'),
           array_agg(DISTINCT u.citizen_id) FILTER (WHERE u.channel = 'sms'),
           COALESCE(bool_or(u.channel = 'sms' AND u.deferred_at IS NOT NULL), false),
           array_agg(DISTINCT u.dossier_id) FILTER (WHERE u.status = 'created'
                                                    AND u.dossier_id IS NOT NULL)
    INTO v_sending, v_citizens, v_deferred, v_held
    FROM upd u;
    IF NOT v_deferred AND v_citizens IS NOT NULL THEN
        v_deferred := EXISTS (SELECT 1 FROM outbox x
                              WHERE x.citizen_id = ANY (v_citizens) AND x.deferred_at IS NOT NULL
                                AND x.next_attempt_at IS NOT NULL);
    END IF;
    IF v_deferred THEN
        -- The dossiers of the deferred SMS going out now are locked first
        -- (cds_outbox_text_lock): a step writing a newer message of one of
        -- them either committed before (A below sees it and supersedes the
        -- deferred one) or waits and sees this one sending (parks its own).
        SELECT array_agg(DISTINCT x.dossier_id) INTO v_touched FROM outbox x
        WHERE x.id = ANY (v_sending) AND x.channel = 'sms' AND x.deferred_at IS NOT NULL
          AND x.dossier_id IS NOT NULL;
        PERFORM pg_advisory_xact_lock(k.k)
        FROM (SELECT DISTINCT cds_outbox_text_key(d) AS k
              FROM unnest(v_touched) d ORDER BY 1) k;
        -- A. older states: a deferred SMS with a newer live SMS of its dossier
        WITH cand AS (
            SELECT x.id, x.citizen_id, x.dossier_id FROM outbox x
            WHERE x.citizen_id = ANY (v_citizens) AND x.channel = 'sms'
              AND x.deferred_at IS NOT NULL
              AND (x.next_attempt_at IS NOT NULL
                   OR (x.status = 'sending' AND x.id = ANY (v_sending)))
        ), newer AS (
            SELECT c.id,
                   (SELECT max(n.id) FROM outbox n
                    WHERE n.citizen_id = c.citizen_id AND n.dossier_id = c.dossier_id
                      AND n.channel = 'sms' AND n.id > c.id
                      AND n.status NOT IN ('superseded', 'permanent-failure',
                                           'technical-failure')) AS by_id
            FROM cand c
        )
        UPDATE outbox o SET status = 'superseded', superseded_by = nw.by_id,
            next_attempt_at = NULL, claimed_at = NULL,
            last_error = 'superseded: a newer SMS of this dossier tells a later state'
        FROM newer nw WHERE o.id = nw.id AND nw.by_id IS NOT NULL;
        -- B. one message per citizen for the deferred SMS going out now
        WITH s AS (
            SELECT x.id, x.citizen_id, x.dossier_id, x.template, x.vars,
                   (row_number() OVER (PARTITION BY x.citizen_id ORDER BY x.id DESC) - 1) / 3 AS g
            FROM outbox x
            WHERE x.id = ANY (v_sending) AND x.status = 'sending' AND x.channel = 'sms'
              AND x.deferred_at IS NOT NULL
        ), grp AS (
            SELECT s.citizen_id, s.g, max(s.id) AS carrier,
                   jsonb_agg(jsonb_build_object('template', s.template, 'vars', s.vars,
                                                'dossier_id', s.dossier_id) ORDER BY s.id) AS d
            FROM s GROUP BY s.citizen_id, s.g HAVING count(*) > 1
        ), sup AS (
            UPDATE outbox o SET status = 'superseded', superseded_by = grp.carrier,
                next_attempt_at = NULL, claimed_at = NULL,
                last_error = format('coalesced: told in message %s', grp.carrier)
            FROM s JOIN grp ON grp.citizen_id = s.citizen_id AND grp.g = s.g
            WHERE o.id = s.id AND s.id <> grp.carrier
        )
        SELECT jsonb_object_agg(grp.carrier::text, grp.d) INTO v_digest FROM grp;
    END IF;
    -- deferred SMS (v_held) and superseded ones (v_touched) left their
    -- dossiers' lines: the next of each is due
    IF v_held IS NOT NULL OR v_touched IS NOT NULL THEN
        IF cds_outbox_text_promote(v_held || v_touched) > 0 THEN
            PERFORM pg_notify('cds_outbox', 'next');
        END IF;
    END IF;
    RETURN QUERY
    SELECT o.id, o.channel, o.attempts, o.template, o.vars, o.recipient_sealed, o.device_id,
           dv.platform, dv.token, o.dossier_id, o.created_at, v_digest -> o.id::text, o.trace
    FROM outbox o LEFT JOIN devices dv ON dv.id = o.device_id
    WHERE o.id = ANY (v_sending) AND o.status = 'sending';
END;
$$;

-- Records the outcome of a batch of attempts, one JSON object each:
--   {"id", "attempt", "status": pending|sent|temporary-failure|permanent-failure|
--    technical-failure|fallback, "provider"?, "provider_message_id"?, "error"?,
--    "retry_ms"? (temporary-failure: delay before the next attempt),
--    "template_version"?, "rendered"?, "delete_device"? (true: the device
--    token is dead and is removed)}
-- "fallback" (a ZNS message ZNS refused for good, 0022_zns.sql): the row
-- becomes an SMS due at once, attempts 0, with ZNS's error in fallback_from.
-- Only a row still claimed by that very attempt changes: a dispatcher that
-- lost its claim to the sweeper cannot overwrite a newer attempt's result.
-- Returns the number of rows changed. The JSON is read once and each item's
-- row is found by one probe of the primary key, in id order (a nested loop
-- from the items: the planner has no other way to a parameter's row). The
-- earlier `id = ANY (ARRAY(...)) AND id = r.id` drove the join from the
-- outbox side and rescanned the items for every row, n^2 comparisons: the
-- record of 64 rows took 3.9 ms, now 2.8 ms (scratch cluster, issue 21).
CREATE OR REPLACE FUNCTION cds_outbox_record(p jsonb) RETURNS int
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    n int;
    v_fallback boolean;
    v_next boolean := false;
    v_done uuid[];
BEGIN
    WITH r AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset(p) AS x(id bigint, attempt int, status text,
            provider text, provider_message_id text, error text, retry_ms bigint,
            template_version int, rendered jsonb, delete_device boolean)
        WHERE x.status IN ('pending', 'sent', 'temporary-failure', 'permanent-failure',
                           'technical-failure', 'fallback')
        ORDER BY x.id
    ), upd AS (
        UPDATE outbox o SET
            status = CASE WHEN r.status = 'fallback' THEN 'created' ELSE r.status END,
            channel = CASE WHEN r.status = 'fallback' THEN 'sms' ELSE o.channel END,
            attempts = CASE WHEN r.status = 'fallback' THEN 0 ELSE o.attempts END,
            fallback_from = CASE WHEN r.status = 'fallback' THEN r.error ELSE o.fallback_from END,
            provider = CASE WHEN r.status = 'fallback' THEN NULL
                            ELSE COALESCE(r.provider, o.provider) END,
            provider_message_id = CASE WHEN r.status = 'fallback' THEN NULL
                                       ELSE COALESCE(r.provider_message_id, o.provider_message_id) END,
            template_version = COALESCE(r.template_version, o.template_version),
            rendered = COALESCE(r.rendered, o.rendered),
            last_error = r.error,
            claimed_at = NULL,
            sent_at = CASE WHEN r.status IN ('pending', 'sent') THEN now() ELSE o.sent_at END,
            next_attempt_at = CASE WHEN r.status = 'temporary-failure'
                                   THEN now() + make_interval(secs => COALESCE(r.retry_ms, 1000) / 1000.0)
                                   WHEN r.status = 'fallback' THEN now()
                              END
        FROM r
        WHERE o.id = r.id AND o.status = 'sending' AND o.attempts = r.attempt
        RETURNING o.id, o.device_id, r.delete_device, r.status = 'fallback' AS fell_back,
                  o.channel, o.dossier_id, o.status
    ), gone AS (
        DELETE FROM devices d USING upd
        WHERE upd.delete_device AND d.id = upd.device_id
    )
    SELECT (SELECT count(*) FROM upd), COALESCE((SELECT bool_or(u.fell_back) FROM upd u), false),
           -- text messages that left their dossier's line (sent, failed
           -- for good; a temporary failure or a fallback to SMS stays its
           -- head)
           (SELECT array_agg(DISTINCT u.dossier_id) FROM upd u
            WHERE u.channel IN ('sms', 'zns') AND u.dossier_id IS NOT NULL
              AND u.status NOT IN ('temporary-failure', 'created'))
    INTO n, v_fallback, v_done;
    -- each such dossier's next text message, parked while this one was on
    -- its way, is due: a dispatcher is woken instead of waiting for its poll
    IF v_done IS NOT NULL THEN
        v_next := cds_outbox_text_promote(v_done) > 0;
    END IF;
    IF v_fallback OR v_next THEN
        PERFORM pg_notify('cds_outbox', CASE WHEN v_fallback THEN 'fallback' ELSE 'next' END);
    END IF;
    RETURN n;
END;
$$;

-- Hands back rows left in 'sending' longer than p_after (their dispatcher
-- died or lost the database): due at once as temporary-failure, or closed as
-- technical-failure when their attempts are spent. Also forgets SMS rate
-- windows older than a day. Returns the number of rows handed back. A
-- technical failure leaves the queue (next_attempt_at NULL) and its
-- dossier's line (the next one is due). The safety net: a dossier whose
-- line holds only parked messages gets its oldest one due
-- (cds_outbox_text_promote), whatever left it so; the probe is the parked
-- rows' index and outbox_text_active, a few rows per dossier.
CREATE OR REPLACE FUNCTION cds_outbox_sweep(p_after interval, p_max_attempts int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
    v_stale uuid[];
    v_promoted int := 0;
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
    SELECT array_agg(DISTINCT p.dossier_id) INTO v_stale
    FROM (SELECT DISTINCT x.dossier_id FROM outbox x WHERE x.parked) p
    WHERE NOT EXISTS (SELECT 1 FROM outbox b
                      WHERE b.dossier_id = p.dossier_id AND b.channel IN ('sms', 'zns')
                        AND (b.claimed_at IS NOT NULL
                             OR (b.next_attempt_at IS NOT NULL AND b.deferred_at IS NULL)));
    IF v_stale IS NOT NULL THEN
        v_promoted := cds_outbox_text_promote(v_stale);
    END IF;
    IF n > 0 OR v_promoted > 0 THEN
        PERFORM pg_notify('cds_outbox', 'sweep');
    END IF;
    RETURN n;
END;
$$;

-- A delivery receipt from an SMS gateway, naming the message by the
-- gateway's id (p_message_id) or by ours (p_outbox_id: eSMS echoes our
-- RequestId). p_status is delivered, permanent-failure or pending (the telco
-- has not answered yet). Applies to a message waiting for its receipt; a
-- repeat of a receipt already applied changes nothing.
-- status: applied | unchanged | unknown | not_ready (the send's result is not
-- recorded yet: the gateway should try again in a moment)
-- The expected receipt (a pending SMS of that gateway, a final status) is one
-- UPDATE; anything else falls through to the checks below.
CREATE OR REPLACE FUNCTION cds_outbox_receipt(p_provider text, p_message_id text,
                                              p_outbox_id bigint, p_status text, p_error text,
                                              OUT status text, OUT outbox_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    o outbox;
BEGIN
    IF p_status <> 'pending' THEN
        IF p_outbox_id IS NOT NULL THEN
            UPDATE outbox x SET status = p_status, last_error = p_error,
                delivered_at = CASE WHEN p_status = 'delivered' THEN now() END
            WHERE x.id = p_outbox_id AND x.channel = 'sms' AND x.status = 'pending'
              AND x.provider = p_provider
            RETURNING x.id INTO outbox_id;
        ELSE
            UPDATE outbox x SET status = p_status, last_error = p_error,
                delivered_at = CASE WHEN p_status = 'delivered' THEN now() END
            WHERE x.provider = p_provider AND x.provider_message_id = p_message_id
              AND x.status = 'pending'
            RETURNING x.id INTO outbox_id;
        END IF;
        IF FOUND THEN
            status := 'applied';
            RETURN;
        END IF;
    END IF;
    -- The message, by our id or by the gateway's.
    IF p_outbox_id IS NOT NULL THEN
        SELECT x.id INTO outbox_id FROM outbox x WHERE x.id = p_outbox_id AND x.channel = 'sms';
    ELSE
        SELECT x.id INTO outbox_id FROM outbox x
        WHERE x.provider = p_provider AND x.provider_message_id = p_message_id;
    END IF;
    IF outbox_id IS NULL THEN
        status := 'unknown';
        RETURN;
    END IF;
    -- A `pending` report (the telco has not answered yet) writes nothing:
    -- the row's committed state decides, read without a lock. Locking it
    -- made two reports of one message arriving together (the gateway's own
    -- and a resend) answer one of them 503 receipt_too_early, though
    -- neither had anything to write (test_notify, 2026-12-05).
    -- Any other report locks the row, SKIP LOCKED: a row another
    -- transaction holds is most likely being recorded (cds_outbox_record,
    -- sending -> pending): not ready, never a wait. Waiting here, with the
    -- batch's earlier rows locked, while that record waited for one of them
    -- was a deadlock that failed both (bench/run notify, issue 21): the
    -- record's rows then stayed `sending` until the sweeper, and their
    -- dossiers' next messages with them.
    IF p_status = 'pending' THEN
        SELECT * INTO o FROM outbox x WHERE x.id = outbox_id;
    ELSE
        SELECT * INTO o FROM outbox x WHERE x.id = outbox_id FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            status := 'not_ready';
            RETURN;
        END IF;
    END IF;
    IF o.status <> 'sending' AND o.provider IS DISTINCT FROM p_provider THEN
        outbox_id := NULL;
        status := 'unknown';
        RETURN;
    END IF;
    IF o.status = 'sending' THEN
        status := 'not_ready';
        RETURN;
    END IF;
    IF o.status <> 'pending' OR p_status = 'pending' THEN
        status := 'unchanged';
        RETURN;
    END IF;
    UPDATE outbox x SET status = p_status, last_error = p_error,
        delivered_at = CASE WHEN p_status = 'delivered' THEN now() END
    WHERE x.id = o.id;
    status := 'applied';
END;
$$;

-- The citizen's inbox, newest first, with what each channel carried (push,
-- SMS, Zalo ZNS). An entry
-- is the messages written together: a step's messages (the same dossier
-- event), or any other messages of the same dossier, template and
-- transaction (the courier's, written without an event). Its id is the
-- smallest outbox id among them. p_before: the id of the last entry of the
-- previous page (NULL for the first page). push_lang: the language the push
-- was rendered in (its vars' "lang", Vietnamese when absent); vars are the
-- step's, without it, so the inbox can render the entry in the other one.
DROP FUNCTION IF EXISTS cds_notifications_list(uuid, bigint, int);
CREATE OR REPLACE FUNCTION cds_notifications_list(p_citizen uuid, p_before bigint, p_limit int)
RETURNS TABLE (event_id bigint, dossier_id uuid, step text, vars jsonb, push jsonb, sms jsonb,
               sent_at timestamptz, read_at timestamptz, zns jsonb, push_lang text)
LANGUAGE sql STABLE AS $$
    SELECT min(o.id), min(o.dossier_id::text)::uuid, min(o.template),
           (array_agg(o.vars - 'lang' ORDER BY o.id))[1],
           (array_agg(o.rendered ORDER BY o.id) FILTER (WHERE o.channel = 'push'))[1],
           (array_agg(o.rendered ORDER BY o.id) FILTER (WHERE o.channel = 'sms'))[1],
           min(o.sent_at), max(o.read_at),
           (array_agg(o.rendered ORDER BY o.id) FILTER (WHERE o.channel = 'zns'))[1],
           COALESCE((array_agg(o.vars->>'lang' ORDER BY o.id) FILTER (WHERE o.channel = 'push'))[1],
                    'vi')
    FROM outbox o
    WHERE o.citizen_id = p_citizen
      AND o.status IN ('pending', 'sent', 'delivered')
    GROUP BY o.event_id,
             CASE WHEN o.event_id IS NULL THEN o.dossier_id END,
             CASE WHEN o.event_id IS NULL THEN o.template END,
             CASE WHEN o.event_id IS NULL THEN o.created_at END
    HAVING p_before IS NULL OR min(o.id) < p_before
    ORDER BY min(o.id) DESC
    LIMIT p_limit
$$;

-- Marks the inbox entry whose id is p_event read (every message of it).
-- Returns false when the citizen has no such entry.
CREATE OR REPLACE FUNCTION cds_notification_read(p_citizen uuid, p_event bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    e outbox;
BEGIN
    SELECT * INTO e FROM outbox x WHERE x.id = p_event AND x.citizen_id = p_citizen;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE outbox o SET read_at = COALESCE(o.read_at, now())
    WHERE o.citizen_id = p_citizen
      AND o.status IN ('pending', 'sent', 'delivered')
      AND CASE WHEN e.event_id IS NOT NULL THEN o.event_id = e.event_id
               ELSE o.event_id IS NULL AND o.dossier_id IS NOT DISTINCT FROM e.dossier_id
                    AND o.template = e.template AND o.created_at = e.created_at END;
    RETURN FOUND;
END;
$$;

-- Delivery receipts in batches (notify/receipts.c gathers those of one turn
-- of its loop): p is [{"i", "provider", "message_id"?, "outbox_id"?,
-- "status", "error"?}, ...], each applied as cds_outbox_receipt applies one,
-- all in one transaction. One row per item: its i, the status (applied |
-- unchanged | unknown | not_ready) and the outbox id.
-- The expected receipts (a final status for a message of that gateway
-- waiting for it) are one UPDATE for the whole batch, the messages found by
-- our id (eSMS echoes it) or by the gateway's: a statement per receipt was
-- most of the receipts' cost (executor start, constraint checks;
-- bench/README, row g). The plan cannot depend on statistics: the outbox
-- is analyzed when few rows are pending or carry a gateway's id, and a join
-- on them then became a scan of the whole gateway index per batch (28 ms;
-- c777b6a, reverted, and the first try of this one). It never waits on a
-- message still being recorded: a row whose committed state is `sending`
-- does not match `pending` and is not locked. A duplicate in the batch
-- updates its row once; it and every other item (repeats, unknown, not
-- ready, `pending`) go through cds_outbox_receipt one by one, which sees
-- what the batch changed.
-- Items are taken in a fixed order (our id, then the gateway's) so two
-- batches reporting on the same messages lock them in the same order; if
-- one still fails (a deadlock) the whole batch is answered 503 and the
-- gateways send it again. No subtransaction per item: past 64 in one
-- transaction every other session's snapshots would overflow to
-- pg_subtrans.
CREATE OR REPLACE FUNCTION cds_outbox_receipts(p jsonb)
RETURNS TABLE (item int, status text, outbox_id bigint)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    x record;
    v_items int[];
    v_ids bigint[];
BEGIN
    -- Each item's message by our id or by the gateway's (one probe of the
    -- unique index each, a plan no statistics can turn into a scan), then
    -- one UPDATE, a probe of the primary key per item, in id order.
    WITH t AS MATERIALIZED (
        SELECT j.i, j.provider, j.status, j.error, j.outbox_id IS NOT NULL AS ours,
               CASE WHEN j.outbox_id IS NOT NULL THEN j.outbox_id
                    ELSE (SELECT g.id FROM outbox g
                          WHERE g.provider = j.provider AND g.provider_message_id = j.message_id)
               END AS oid
        FROM jsonb_to_recordset(p) AS j(i int, provider text, message_id text,
                                        outbox_id bigint, status text, error text)
        WHERE j.status <> 'pending' AND j.i IS NOT NULL
        ORDER BY oid
    ), done AS (
        UPDATE outbox o SET status = t.status, last_error = t.error,
            delivered_at = CASE WHEN t.status = 'delivered' THEN now() END
        FROM t
        WHERE o.id = t.oid AND o.status = 'pending' AND o.provider = t.provider
          AND (o.channel = 'sms' OR NOT t.ours)
        RETURNING t.i, o.id
    )
    SELECT array_agg(d.i), array_agg(d.id) INTO v_items, v_ids FROM done d;
    IF v_items IS NOT NULL THEN
        RETURN QUERY SELECT u.i, 'applied'::text, u.id FROM unnest(v_items, v_ids) AS u(i, id);
        IF cardinality(v_items) = jsonb_array_length(p) THEN
            RETURN; -- every item applied: nothing left to go one by one
        END IF;
    END IF;
    FOR x IN
        SELECT * FROM jsonb_to_recordset(p) AS t(i int, provider text, message_id text,
                                                 outbox_id bigint, status text, error text)
        WHERE v_items IS NULL OR t.i IS NULL OR t.i <> ALL (v_items)
        ORDER BY t.outbox_id, t.provider, t.message_id, t.i
    LOOP
        item := x.i;
        SELECT rc.status, rc.outbox_id INTO status, outbox_id
        FROM cds_outbox_receipt(x.provider, x.message_id, x.outbox_id, x.status, x.error) rc;
        RETURN NEXT;
    END LOOP;
END;
$$;
