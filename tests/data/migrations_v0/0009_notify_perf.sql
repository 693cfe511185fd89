-- The dispatcher's hot SQL without per-row work (0004_notify.sql keeps the
-- statuses and the meaning; only the way they are computed changes here).
--
-- cds_outbox_claim was a plpgsql loop over the claimed rows: per row a
-- RETURN NEXT, a devices lookup for a push and, for a first SMS attempt, an
-- upsert of sms_rate and possibly a second UPDATE of the row it had just
-- claimed. Measured in bench/run notify: 3.1 ms for a claim of ~40 rows,
-- about 75 us of PostgreSQL per message. Here it is one statement:
--
--   due      the due rows, oldest first, FOR UPDATE SKIP LOCKED (unchanged)
--   first_sms the first SMS attempts among them when a limit is set, numbered
--            per citizen
--   bumped   one sms_rate upsert per citizen (n += that citizen's count)
--   limited  the rows past the limit: the k-th first attempt of a citizen
--            whose counter was n_after - count before this claim counts as
--            (n_after - count + k), the value the loop gave it
--   upd      one UPDATE of every due row: `sending`, or `permanent-failure`
--            with the rate-limit error for the rows in limited (attempts and
--            claimed_by set as before, claimed_at left NULL)
--
-- and the rows claimed for sending are returned joined to their device. A
-- rate-limited row is written once instead of twice; what ends up in the
-- row, in sms_rate and in the answer is what the loop produced.
CREATE OR REPLACE FUNCTION cds_outbox_claim(p_node text, p_limit int, p_channels text[],
                                            p_sms_per_hour int)
RETURNS TABLE (id bigint, channel text, attempts int, template text, vars jsonb,
               recipient_sealed text, device_id uuid, platform text, token text,
               dossier_id uuid, created_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT o.id, o.channel, o.attempts, o.citizen_id FROM outbox o
        WHERE o.status IN ('created', 'temporary-failure') AND o.next_attempt_at <= now()
          AND o.channel = ANY (p_channels)
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
            claimed_at = CASE WHEN l.id IS NULL THEN now() END,
            claimed_by = p_node,
            last_error = CASE WHEN l.id IS NULL THEN o.last_error
                              ELSE format('rate_limited: more than %s SMS to this citizen in an hour',
                                          p_sms_per_hour) END
        FROM due LEFT JOIN limited l ON l.id = due.id
        WHERE o.id = due.id
        RETURNING o.id, o.channel, o.attempts, o.template, o.vars, o.recipient_sealed,
                  o.device_id, o.dossier_id, o.created_at, o.status
    )
    SELECT u.id, u.channel, u.attempts, u.template, u.vars, u.recipient_sealed, u.device_id,
           dv.platform, dv.token, u.dossier_id, u.created_at
    FROM upd u LEFT JOIN devices dv ON dv.id = u.device_id
    WHERE u.status = 'sending';
END;
$$;

-- cds_outbox_receipt read the message FOR UPDATE and then updated it: two
-- visits of the row for every receipt, and almost every receipt is the
-- expected one (a pending SMS of that gateway, a final status). That case is
-- now one UPDATE; anything else (not found, not ours, still sending, a
-- repeat, a non-final report) falls through to the same checks as before. A
-- receipt racing another one for the same message waits on the row lock,
-- finds it no longer pending and is answered by those checks, as before.
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
    IF p_outbox_id IS NOT NULL THEN
        SELECT * INTO o FROM outbox x WHERE x.id = p_outbox_id AND x.channel = 'sms' FOR UPDATE;
    ELSE
        SELECT * INTO o FROM outbox x
        WHERE x.provider = p_provider AND x.provider_message_id = p_message_id FOR UPDATE;
    END IF;
    IF NOT FOUND OR (o.status <> 'sending' AND o.provider IS DISTINCT FROM p_provider) THEN
        status := 'unknown';
        RETURN;
    END IF;
    outbox_id := o.id;
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
