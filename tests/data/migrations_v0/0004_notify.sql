-- Delivery of the outbox's notifications (notify/): statuses in the manner of
-- GOV.UK Notify, claiming by dispatchers, results, delivery receipts, the
-- per-citizen SMS rate limit and the in-app inbox.
--
-- Life of an outbox row:
--   created            written with the step (0003), waiting to be sent
--   sending            claimed by a dispatcher (claimed_at, claimed_by); a
--                      dispatcher that dies leaves it here until the sweeper
--                      hands it back (temporary-failure, due at once)
--   pending            an SMS the gateway accepted; waiting for its delivery
--                      receipt
--   sent               a push FCM/APNs accepted (they send no receipts)
--   delivered          the SMS gateway reported delivery
--   temporary-failure  this attempt failed and another is due at
--                      next_attempt_at (exponential backoff with jitter)
--   permanent-failure  the provider refused it for good (bad number,
--                      unregistered device, failed delivery receipt) or the
--                      per-citizen SMS limit dropped it
--   technical-failure  our side could not send it (a template variable
--                      missing, attempts exhausted)
-- The outbox id is the idempotency key of every attempt, so a provider can
-- drop the repeat of a send whose result was lost in a crash.

ALTER TABLE outbox
    ADD COLUMN provider            text,
    ADD COLUMN provider_message_id text,
    ADD COLUMN template_version    int,
    ADD COLUMN rendered            jsonb,
    ADD COLUMN last_error          text,
    ADD COLUMN claimed_at          timestamptz,
    ADD COLUMN claimed_by          text,
    ADD COLUMN sent_at             timestamptz,
    ADD COLUMN delivered_at        timestamptz,
    ADD COLUMN read_at             timestamptz,
    ADD CONSTRAINT outbox_status CHECK (status IN ('created', 'sending', 'pending', 'sent',
        'delivered', 'temporary-failure', 'permanent-failure', 'technical-failure'));
CREATE UNIQUE INDEX outbox_provider_message ON outbox (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX outbox_sending ON outbox (claimed_at) WHERE status = 'sending';
COMMENT ON COLUMN outbox.rendered IS
    'What was sent: {"body"} for an SMS (without diacritics), {"title","body"} for a push.';

-- SMS sent per citizen and clock hour: the flood guard. A citizen has one
-- notification phone (contact phone, else the VNeID one), so this is the
-- per-phone limit.
CREATE TABLE sms_rate (
    citizen_id uuid NOT NULL,
    hour       timestamptz NOT NULL,
    n          int NOT NULL,
    PRIMARY KEY (citizen_id, hour)
);

-- Claims up to p_limit due rows of the given channels for dispatcher p_node.
-- SKIP LOCKED: dispatchers never wait for each other nor take the same row.
-- The first attempt of an SMS counts against the citizen's hourly limit
-- (p_sms_per_hour, 0 = none); an SMS over it is closed as permanent-failure
-- here and not returned.
CREATE FUNCTION cds_outbox_claim(p_node text, p_limit int, p_channels text[], p_sms_per_hour int)
RETURNS TABLE (id bigint, channel text, attempts int, template text, vars jsonb,
               recipient_sealed text, device_id uuid, platform text, token text,
               dossier_id uuid, created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_n int;
BEGIN
    FOR r IN
        WITH due AS (
            SELECT o.id FROM outbox o
            WHERE o.status IN ('created', 'temporary-failure') AND o.next_attempt_at <= now()
              AND o.channel = ANY (p_channels)
            ORDER BY o.next_attempt_at
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED)
        UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1, claimed_at = now(),
                            claimed_by = p_node
        FROM due WHERE o.id = due.id
        RETURNING o.id, o.channel, o.attempts, o.template, o.vars, o.recipient_sealed,
                  o.device_id, o.citizen_id, o.dossier_id, o.created_at
    LOOP
        IF r.channel = 'sms' AND r.attempts = 1 AND p_sms_per_hour > 0 THEN
            INSERT INTO sms_rate AS s (citizen_id, hour, n)
            VALUES (r.citizen_id, date_trunc('hour', now()), 1)
            ON CONFLICT (citizen_id, hour) DO UPDATE SET n = s.n + 1
            RETURNING s.n INTO v_n;
            IF v_n > p_sms_per_hour THEN
                UPDATE outbox o SET status = 'permanent-failure', claimed_at = NULL,
                    last_error = format('rate_limited: more than %s SMS to this citizen in an hour',
                                        p_sms_per_hour)
                WHERE o.id = r.id;
                CONTINUE;
            END IF;
        END IF;
        id := r.id;
        channel := r.channel;
        attempts := r.attempts;
        template := r.template;
        vars := r.vars;
        recipient_sealed := r.recipient_sealed;
        device_id := r.device_id;
        platform := NULL;
        token := NULL;
        IF r.device_id IS NOT NULL THEN
            SELECT d.platform, d.token INTO platform, token FROM devices d WHERE d.id = r.device_id;
        END IF;
        dossier_id := r.dossier_id;
        created_at := r.created_at;
        RETURN NEXT;
    END LOOP;
END;
$$;

-- Records the outcome of a batch of attempts, one JSON object each:
--   {"id", "attempt", "status": pending|sent|temporary-failure|permanent-failure|
--    technical-failure, "provider"?, "provider_message_id"?, "error"?,
--    "retry_ms"? (temporary-failure: delay before the next attempt),
--    "template_version"?, "rendered"?, "delete_device"? (true: the device
--    token is dead and is removed)}
-- Only a row still claimed by that very attempt changes: a dispatcher that
-- lost its claim to the sweeper cannot overwrite a newer attempt's result.
-- Returns the number of rows changed.
CREATE FUNCTION cds_outbox_record(p jsonb) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    WITH r AS (
        SELECT * FROM jsonb_to_recordset(p) AS x(id bigint, attempt int, status text,
            provider text, provider_message_id text, error text, retry_ms bigint,
            template_version int, rendered jsonb, delete_device boolean)
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
                                   ELSE o.next_attempt_at END
        FROM r
        WHERE o.id = r.id AND o.status = 'sending' AND o.attempts = r.attempt
          AND r.status IN ('pending', 'sent', 'temporary-failure', 'permanent-failure',
                           'technical-failure')
        RETURNING o.id, o.device_id, r.delete_device
    ), gone AS (
        DELETE FROM devices d USING upd
        WHERE upd.delete_device AND d.id = upd.device_id
    )
    SELECT count(*) INTO n FROM upd;
    RETURN n;
END;
$$;

-- Hands back rows left in 'sending' longer than p_after (their dispatcher
-- died or lost the database): due at once as temporary-failure, or closed as
-- technical-failure when their attempts are spent. Also forgets SMS rate
-- windows older than a day. Returns the number of rows handed back.
CREATE FUNCTION cds_outbox_sweep(p_after interval, p_max_attempts int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    WITH stuck AS (
        SELECT o.id FROM outbox o
        WHERE o.status = 'sending' AND o.claimed_at < now() - p_after
        FOR UPDATE SKIP LOCKED)
    UPDATE outbox o SET
        status = CASE WHEN o.attempts >= p_max_attempts THEN 'technical-failure'
                      ELSE 'temporary-failure' END,
        last_error = 'claim expired: the dispatcher did not record a result',
        claimed_at = NULL,
        next_attempt_at = now()
    FROM stuck WHERE o.id = stuck.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM sms_rate WHERE hour < now() - interval '1 day';
    IF n > 0 THEN
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
CREATE FUNCTION cds_outbox_receipt(p_provider text, p_message_id text, p_outbox_id bigint,
                                   p_status text, p_error text,
                                   OUT status text, OUT outbox_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    o outbox;
BEGIN
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

-- The citizen's inbox: one entry per dossier event that reached them, newest
-- first, with what each channel carried. p_before: the event id of the last
-- entry of the previous page (NULL for the first page).
CREATE FUNCTION cds_notifications_list(p_citizen uuid, p_before bigint, p_limit int)
RETURNS TABLE (event_id bigint, dossier_id uuid, step text, vars jsonb, push jsonb, sms jsonb,
               sent_at timestamptz, read_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT o.event_id, min(o.dossier_id::text)::uuid, min(o.template), (array_agg(o.vars))[1],
           (array_agg(o.rendered ORDER BY o.id) FILTER (WHERE o.channel = 'push'))[1],
           (array_agg(o.rendered ORDER BY o.id) FILTER (WHERE o.channel = 'sms'))[1],
           min(o.sent_at), max(o.read_at)
    FROM outbox o
    WHERE o.citizen_id = p_citizen AND o.event_id IS NOT NULL
      AND o.status IN ('pending', 'sent', 'delivered')
      AND (p_before IS NULL OR o.event_id < p_before)
    GROUP BY o.event_id
    ORDER BY o.event_id DESC
    LIMIT p_limit
$$;

-- Marks one inbox entry read. Returns false when the citizen has no such entry.
CREATE FUNCTION cds_notification_read(p_citizen uuid, p_event bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE outbox SET read_at = COALESCE(read_at, now())
    WHERE citizen_id = p_citizen AND event_id = p_event
      AND status IN ('pending', 'sent', 'delivered');
    RETURN FOUND;
END;
$$;
