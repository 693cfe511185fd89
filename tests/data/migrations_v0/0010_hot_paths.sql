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
CREATE OR REPLACE FUNCTION cds_rfc3339(t timestamptz) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD"T"HH24:MI:SS') || '+07:00';
$$;

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
CREATE OR REPLACE FUNCTION cds_outbox_for_step(p_dossier dossiers, p_event_id bigint, p_step text, p_vars jsonb)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    INSERT INTO outbox (channel, citizen_id, dossier_id, event_id, template, vars, recipient_sealed, device_id)
    SELECT x.channel, c.id, p_dossier.id, p_event_id, p_step, p_vars, x.recipient, x.device
    FROM citizens c
    CROSS JOIN LATERAL (
        SELECT 'sms' AS channel, COALESCE(c.contact_phone_sealed, c.phone_sealed) AS recipient,
               NULL::uuid AS device, 0 AS k, NULL::timestamptz AS at
        WHERE c.notify_sms AND COALESCE(c.contact_phone_sealed, c.phone_sealed) IS NOT NULL
        UNION ALL
        SELECT 'push', NULL, d.id, 1, d.created_at
        FROM devices d WHERE c.notify_push AND d.citizen_id = c.id
    ) x
    WHERE c.id = p_dossier.citizen_id
    ORDER BY x.k, x.at;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('cds_outbox', p_dossier.id::text);
    END IF;
    RETURN n;
END;
$$;

-- 4. A step's new view in one rebuild of the document instead of two: the
--    stored text is parsed once, and the new timeline, status, fee and
--    updated_at are merged in one concatenation (jsonb_set then || copied
--    the whole view twice; parsing, each copy and the text output each cost
--    about as much as the rest of the step's plpgsql). Otherwise unchanged.
CREATE OR REPLACE FUNCTION cds_dossier_step(p_code text, p_source text, p_event_id text, p_step text,
    p_occurred_at timestamptz, p_note text, p_fee bigint, p_missing jsonb, p_detail jsonb,
    OUT status text, OUT dossier_status text, OUT event_pk bigint)
LANGUAGE plpgsql AS $$
DECLARE
    d dossiers;
    v_fee bigint;
    v_view jsonb;
BEGIN
    SELECT * INTO d FROM dossiers WHERE code = p_code FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    dossier_status := d.status;
    SELECT id INTO event_pk FROM dossier_events WHERE source = p_source AND event_id = p_event_id;
    IF FOUND THEN
        status := 'duplicate';
        RETURN;
    END IF;
    IF p_occurred_at < d.last_event_at THEN
        INSERT INTO dossier_events (dossier_id, source, event_id, step, occurred_at, applied, note,
                                    fee_vnd, missing_documents, detail)
        VALUES (d.id, p_source, p_event_id, p_step, p_occurred_at, false, p_note, p_fee, p_missing,
                p_detail)
        RETURNING id INTO event_pk;
        PERFORM cds_dossier_refresh(d.id);
        status := 'late';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM dossier_transitions WHERE from_status = d.status AND to_status = p_step) THEN
        status := 'illegal';
        RETURN;
    END IF;
    INSERT INTO dossier_events (dossier_id, source, event_id, step, occurred_at, applied, note,
                                fee_vnd, missing_documents, detail)
    VALUES (d.id, p_source, p_event_id, p_step, p_occurred_at, true, p_note, p_fee, p_missing,
            p_detail)
    RETURNING id INTO event_pk;
    v_fee := CASE WHEN p_step = 'fee_requested' AND p_fee IS NOT NULL THEN p_fee ELSE d.fee_vnd END;
    -- One write of the row: the new state and the owner's view together. An
    -- applied step is the newest of the timeline (anything older was recorded
    -- as late), so the stored view is extended rather than rebuilt.
    IF d.view IS NULL THEN
        v_view := (cds_dossier_json(d.id, true) - 'overdue')
            || jsonb_build_object('status', p_step, 'fee_vnd', v_fee, 'updated_at', cds_rfc3339(now()));
    ELSE
        v_view := d.view::jsonb;
        v_view := v_view || jsonb_build_object(
            'timeline', COALESCE(v_view->'timeline', '[]')
                || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                       'step', p_step, 'occurred_at', cds_rfc3339(p_occurred_at), 'applied', true,
                       'note', p_note, 'fee_vnd', p_fee, 'missing_documents', p_missing))),
            'status', p_step, 'fee_vnd', v_fee, 'updated_at', cds_rfc3339(now()));
    END IF;
    UPDATE dossiers SET status = p_step, last_event_at = p_occurred_at, fee_vnd = v_fee, view = v_view::text
    WHERE id = d.id
    RETURNING * INTO d;
    PERFORM cds_outbox_for_step(d, event_pk, p_step, cds_step_vars(d, p_step, p_note, p_fee, p_missing));
    status := 'applied';
    dossier_status := p_step;
END;
$$;
