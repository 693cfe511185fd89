-- db/functions/dossiers.sql: the procedure catalog, dossiers and their
-- steps (filed by citizens, imported and moved by the TTHC system), the
-- stored view of a dossier and the notifications a step writes.
--
-- Repeatable: core/migrate.c runs this whole file again, in one transaction
-- with the other files of db/functions/, whenever any of them changed (see
-- the comment atop core/migrate.c). Every function is defined here only:
-- change it by editing this file, never in a migration.
--
-- Above the cds:after-migrations line: the functions a migration
-- attaches (trigger functions, index expressions). They take and return
-- built-in types only, and that part is also run before pending migrations.

-- An agency's name and address are part of the representation of each of
-- its procedures (GET /v1/procedures/{code}, whose ETag is "v<version>" and
-- which PUT /v1/partner/procedures/{code} checks with If-Match): when they
-- change, those procedures' version goes up with them, so a tag read before
-- names an outdated representation (0017_trace_etag.sql attaches it).
CREATE OR REPLACE FUNCTION cds_agency_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE procedures SET version = version + 1, updated_at = now() WHERE agency_code = NEW.code;
    RETURN NULL;
END;
$$;

-- cds:after-migrations

-- Lower-case text without diacritics, for search: "Giấy phép Xây dựng" ->
-- "giay phep xay dung". unaccent() is only STABLE (its dictionary could
-- change); pinning the dictionary makes this safe to index.
CREATE OR REPLACE FUNCTION cds_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT lower(public.unaccent('public.unaccent'::regdictionary, t));
$$;

-- Creates or replaces a procedure from its JSON description (catalog file or
-- the TTHC system); the version goes up when anything changed.
CREATE OR REPLACE FUNCTION cds_procedure_upsert(p jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_code text := p->>'code';
    v_changed boolean;
BEGIN
    INSERT INTO procedures AS x (code, name, name_folded, sector, agency_code, fee_vnd,
        online_discount_pct, processing_days, ial_required, postal_allowed,
        required_documents, form_schema, active)
    VALUES (v_code, p->>'name', cds_fold(p->>'name'), p->>'sector', p->>'agency_code',
        (p->>'fee_vnd')::bigint, COALESCE((p->>'online_discount_pct')::smallint, 0),
        (p->>'processing_days')::int, COALESCE((p->>'ial_required')::smallint, 1),
        COALESCE((p->>'postal_allowed')::boolean, false),
        COALESCE(p->'required_documents', '[]'), COALESCE(p->'form_schema', '{"fields":[]}'),
        COALESCE((p->>'active')::boolean, true))
    ON CONFLICT (code) DO UPDATE SET
        name = EXCLUDED.name, name_folded = EXCLUDED.name_folded, sector = EXCLUDED.sector,
        agency_code = EXCLUDED.agency_code, fee_vnd = EXCLUDED.fee_vnd,
        online_discount_pct = EXCLUDED.online_discount_pct,
        processing_days = EXCLUDED.processing_days, ial_required = EXCLUDED.ial_required,
        postal_allowed = EXCLUDED.postal_allowed,
        required_documents = EXCLUDED.required_documents, form_schema = EXCLUDED.form_schema,
        active = EXCLUDED.active,
        version = x.version + 1, updated_at = now()
    WHERE (x.name, x.sector, x.agency_code, x.fee_vnd, x.online_discount_pct, x.processing_days,
           x.ial_required, x.postal_allowed, x.required_documents, x.form_schema, x.active)
          IS DISTINCT FROM
          (EXCLUDED.name, EXCLUDED.sector, EXCLUDED.agency_code, EXCLUDED.fee_vnd,
           EXCLUDED.online_discount_pct, EXCLUDED.processing_days, EXCLUDED.ial_required,
           EXCLUDED.postal_allowed, EXCLUDED.required_documents, EXCLUDED.form_schema,
           EXCLUDED.active);
    GET DIAGNOSTICS v_changed = ROW_COUNT;
    RETURN CASE WHEN v_changed THEN 'changed' ELSE 'unchanged' END;
END;
$$;

-- The date `n` working days after `d` (d itself not counted): Saturdays,
-- Sundays and holidays are skipped.
CREATE OR REPLACE FUNCTION cds_add_working_days(d date, n int) RETURNS date
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur date := d;
    left_ int := n;
BEGIN
    WHILE left_ > 0 LOOP
        cur := cur + 1;
        IF extract(isodow FROM cur) < 6 AND NOT EXISTS (SELECT 1 FROM holidays WHERE day = cur) THEN
            left_ := left_ - 1;
        END IF;
    END LOOP;
    RETURN cur;
END;
$$;

-- Writes the notifications of one applied step: an SMS to the citizen's
-- phone (the contact phone when set; a Zalo ZNS message instead when the
-- citizen chose Zalo, 0022_zns.sql) and a push to each registered device,
-- as the citizen's preferences allow. The dispatchers are woken by NOTIFY.
-- A text message written while the dossier has one in line is parked
-- behind it (trigger outbox_park, cds_outbox_park in notify.sql).
-- One statement, the SMS first, then the pushes in registration order. Each
-- row carries the trace of the request that caused it (cds_trace_set). A
-- push to a citizen who reads English carries "lang": "en" in its vars
-- (notify/render.c picks the English template); SMS are always Vietnamese.
CREATE OR REPLACE FUNCTION cds_outbox_for_step(p_dossier dossiers, p_event_id bigint, p_step text, p_vars jsonb)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
    v_void text;
BEGIN
    INSERT INTO outbox (channel, citizen_id, dossier_id, event_id, template, vars, recipient_sealed, device_id,
                        trace)
    SELECT x.channel, c.id, p_dossier.id, p_event_id, p_step,
           CASE WHEN x.channel = 'push' AND c.language = 'en'
                THEN p_vars || '{"lang": "en"}'::jsonb ELSE p_vars END,
           x.recipient, x.device,
           NULLIF(current_setting('cds.trace', true), '')
    FROM citizens c
    CROSS JOIN LATERAL (
        SELECT CASE WHEN c.notify_zalo THEN 'zns' ELSE 'sms' END AS channel,
               COALESCE(c.contact_phone_sealed, c.phone_sealed) AS recipient,
               NULL::uuid AS device, 0 AS k, NULL::timestamptz AS at
        WHERE (c.notify_sms OR c.notify_zalo)
          AND COALESCE(c.contact_phone_sealed, c.phone_sealed) IS NOT NULL
        UNION ALL
        SELECT 'push', NULL, d.id, 1, d.created_at
        FROM devices d WHERE c.notify_push AND d.citizen_id = c.id
    ) x
    WHERE c.id = p_dossier.citizen_id
    ORDER BY x.k, x.at;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        -- An assignment, not PERFORM: no executor started (issue 21); a
        -- void result cast to text is ''.
        v_void := pg_notify('cds_outbox', p_dossier.id::text)::text;
    END IF;
    RETURN n;
END;
$$;

-- Template variables of a step's notifications. plpgsql, not sql: a sql
-- function that cannot be inlined is parsed and planned at every call, while
-- plpgsql keeps its plan for the session. The fee of a fee request is what
-- the citizen pays (the payment's breakdown, cds_payment_breakdown), not the
-- listed fee the TTHC system sends.
CREATE OR REPLACE FUNCTION cds_step_vars(p_dossier dossiers, p_step text, p_note text, p_fee bigint,
                                         p_missing jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_name text;
    v_pct smallint;
BEGIN
    SELECT pr.name, pr.online_discount_pct INTO v_name, v_pct
    FROM procedures pr WHERE pr.code = p_dossier.procedure_code;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'dossier_code', p_dossier.code,
        'dossier_id', p_dossier.id,
        'procedure_name', v_name,
        'step', p_step,
        'due_date', to_char(p_dossier.due_date, 'DD/MM/YYYY'),
        'amount', CASE WHEN p_step = 'fee_requested' AND p_dossier.channel = 'online'
                       THEN p_fee - p_fee * v_pct / 100 ELSE p_fee END,
        'note', p_note,
        'missing_documents', p_missing));
END;
$$;

-- Files a dossier online. Everything checked in C (form against the schema,
-- attachments types) is trusted here; what the database knows is checked
-- here: the procedure exists and is active, the citizen's level suffices,
-- the attachments are the citizen's own, the Idempotency-Key was not used
-- (a retry returns the first dossier: status 'existing'; the same key with a
-- different request: 'key_reused'). The id comes from the caller, which
-- derives the lookup secret from it.
-- status: created | existing | key_reused | unknown_procedure |
--         level_insufficient | attachment_not_found | postal_not_allowed
CREATE OR REPLACE FUNCTION cds_dossier_file(p_id uuid, p_citizen uuid, p_procedure text, p_form jsonb,
    p_delivery jsonb, p_attachments jsonb, p_lookup_hash text, p_idempotency_key text,
    p_idempotency_hash text, p_trace text DEFAULT NULL,
    OUT status text, OUT dossier_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    pr procedures;
    c citizens;
    d dossiers;
    v_seq int;
    v_day date := (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date;
    v_event bigint;
    a jsonb;
BEGIN
    PERFORM cds_trace_set(p_trace);
    IF p_idempotency_key IS NOT NULL THEN
        SELECT * INTO d FROM dossiers
        WHERE citizen_id = p_citizen AND idempotency_key = p_idempotency_key;
        IF FOUND THEN
            dossier_id := d.id;
            status := CASE WHEN d.idempotency_hash = p_idempotency_hash THEN 'existing'
                           ELSE 'key_reused' END;
            RETURN;
        END IF;
    END IF;
    SELECT * INTO pr FROM procedures WHERE code = p_procedure AND active;
    IF NOT FOUND THEN
        status := 'unknown_procedure';
        RETURN;
    END IF;
    SELECT * INTO c FROM citizens WHERE id = p_citizen;
    IF COALESCE(c.ial, 0) < pr.ial_required THEN
        status := 'level_insufficient';
        RETURN;
    END IF;
    IF p_delivery->>'method' = 'post' AND NOT pr.postal_allowed THEN
        status := 'postal_not_allowed';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_attachments) x
               WHERE NOT EXISTS (SELECT 1 FROM attachments t
                                 WHERE t.id = (x->>'id')::uuid AND t.citizen_id = p_citizen)) THEN
        status := 'attachment_not_found';
        RETURN;
    END IF;
    INSERT INTO dossier_counters AS k (agency_code, day, last_seq) VALUES (pr.agency_code, v_day, 1)
    ON CONFLICT (agency_code, day) DO UPDATE SET last_seq = k.last_seq + 1
    RETURNING last_seq INTO v_seq;
    INSERT INTO dossiers (id, code, procedure_code, citizen_id, channel, status, form, delivery,
                          fee_vnd, lookup_hash, due_date, idempotency_key, idempotency_hash)
    VALUES (p_id, pr.agency_code || '-' || to_char(v_day, 'YYMMDD') || '-' || lpad(v_seq::text, 4, '0'),
            pr.code, p_citizen, 'online', 'submitted', p_form, p_delivery,
            pr.fee_vnd - pr.fee_vnd * pr.online_discount_pct / 100, p_lookup_hash,
            cds_add_working_days(v_day, pr.processing_days), p_idempotency_key, p_idempotency_hash)
    RETURNING * INTO d;
    FOR a IN SELECT * FROM jsonb_array_elements(p_attachments) LOOP
        INSERT INTO dossier_attachments (dossier_id, attachment_id, document_code, purpose)
        VALUES (d.id, (a->>'id')::uuid, a->>'document_code', 'filing');
    END LOOP;
    INSERT INTO dossier_events (dossier_id, source, event_id, step, occurred_at, applied)
    VALUES (d.id, 'citizen', 'file:' || d.id, 'submitted', now(), true)
    RETURNING id INTO v_event;
    PERFORM cds_outbox_for_step(d, v_event, 'submitted', cds_step_vars(d, 'submitted', NULL, NULL, NULL));
    PERFORM cds_dossier_refresh(d.id);
    status := 'created';
    dossier_id := d.id;
EXCEPTION WHEN unique_violation THEN
    -- Two retries with the same Idempotency-Key raced: the other one won.
    SELECT * INTO d FROM dossiers WHERE citizen_id = p_citizen AND idempotency_key = p_idempotency_key;
    IF NOT FOUND THEN
        RAISE;
    END IF;
    dossier_id := d.id;
    status := CASE WHEN d.idempotency_hash = p_idempotency_hash THEN 'existing' ELSE 'key_reused' END;
END;
$$;

-- A step for a dossier, from the TTHC system (source 'tthc:<client>'), the
-- citizen ('citizen') or the system ('system'). Idempotent by (source,
-- event_id). A step dated before the dossier's last applied step is recorded
-- in the timeline but does not move the state back; a legal step moves it
-- and writes its notifications, in this same transaction.
-- status: applied | duplicate | late | illegal | not_found
-- The new view is one rebuild of the stored document (parsed once).
CREATE OR REPLACE FUNCTION cds_dossier_step(p_code text, p_source text, p_event_id text, p_step text,
    p_occurred_at timestamptz, p_note text, p_fee bigint, p_missing jsonb, p_detail jsonb,
    p_trace text DEFAULT NULL,
    OUT status text, OUT dossier_status text, OUT event_pk bigint)
LANGUAGE plpgsql AS $$
DECLARE
    d dossiers;
    r record;
BEGIN
    -- Called by another function (a payment, a courier event), the step has
    -- no trace of its own: the caller's stays (and no statement is spent).
    IF p_trace IS NOT NULL THEN
        PERFORM cds_trace_set(p_trace);
    END IF;
    SELECT * INTO d FROM dossiers WHERE code = p_code FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    -- An assignment: no executor around the call.
    r := cds_dossier_step_locked(d, p_source, p_event_id, p_step, p_occurred_at, p_note, p_fee,
                                 p_missing, p_detail);
    status := r.status;
    dossier_status := r.dossier_status;
    event_pk := r.event_pk;
END;
$$;

-- cds_dossier_step on the dossier row d, which the caller has read FOR
-- UPDATE in this transaction (a payment's paid step reads its dossier by id
-- and locks it once, instead of reading its code and the step locking it
-- again: one statement less per credit, issue 21).
CREATE OR REPLACE FUNCTION cds_dossier_step_locked(d dossiers, p_source text, p_event_id text,
    p_step text, p_occurred_at timestamptz, p_note text, p_fee bigint, p_missing jsonb,
    p_detail jsonb, OUT status text, OUT dossier_status text, OUT event_pk bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_fee bigint;
    v_view jsonb;
    v_n int;
    v_legal boolean;
BEGIN
    dossier_status := d.status;
    -- One statement for the event already recorded (a retry) and whether
    -- the step is legal from the dossier's state (issue 21: one executor
    -- less per step).
    SELECT (SELECT e.id FROM dossier_events e WHERE e.source = p_source AND e.event_id = p_event_id),
           EXISTS (SELECT 1 FROM dossier_transitions t WHERE t.from_status = d.status AND t.to_status = p_step)
    INTO event_pk, v_legal;
    IF event_pk IS NOT NULL THEN
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
    IF NOT v_legal THEN
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
    -- An assignment, not PERFORM: plpgsql evaluates it without starting an
    -- executor for a SELECT around it.
    v_n := cds_outbox_for_step(d, event_pk, p_step, cds_step_vars(d, p_step, p_note, p_fee, p_missing));
    status := 'applied';
    dossier_status := p_step;
END;
$$;

-- A dossier filed at a counter, imported by the TTHC system so its citizen
-- gets the same updates (by SMS, even without the app). Idempotent by the
-- partner's reference. The citizen is found by the keyed hash of the personal
-- ID number, or created without a login.
-- status: created | existing | unknown_procedure | code_taken
CREATE OR REPLACE FUNCTION cds_dossier_import(p_id uuid, p_source text, p_ref text, p_code text, p_procedure text,
    p_pid_hash text, p_pid_sealed text, p_full_name text, p_phone_sealed text,
    p_submitted_at timestamptz, p_due_date date, p_status text, p_lookup_hash text,
    p_trace text DEFAULT NULL,
    OUT status text, OUT dossier_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    pr procedures;
    v_citizen uuid;
    d dossiers;
    v_event bigint;
BEGIN
    PERFORM cds_trace_set(p_trace);
    SELECT id INTO dossier_id FROM dossiers WHERE partner_source = p_source AND partner_ref = p_ref;
    IF FOUND THEN
        status := 'existing';
        RETURN;
    END IF;
    SELECT * INTO pr FROM procedures WHERE code = p_procedure;
    IF NOT FOUND THEN
        status := 'unknown_procedure';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM dossiers WHERE code = p_code) THEN
        status := 'code_taken';
        RETURN;
    END IF;
    INSERT INTO citizens AS c (pid_hash, pid_sealed, full_name, phone_sealed)
    VALUES (p_pid_hash, p_pid_sealed, p_full_name, p_phone_sealed)
    ON CONFLICT (pid_hash) DO UPDATE SET phone_sealed = COALESCE(c.phone_sealed, EXCLUDED.phone_sealed)
    RETURNING id INTO v_citizen;
    INSERT INTO dossiers (id, code, procedure_code, citizen_id, channel, status, fee_vnd, lookup_hash,
                          submitted_at, due_date, last_event_at, partner_source, partner_ref)
    VALUES (p_id, p_code, pr.code, v_citizen, 'counter', p_status, pr.fee_vnd, p_lookup_hash,
            p_submitted_at,
            COALESCE(p_due_date, cds_add_working_days((p_submitted_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
                                                      pr.processing_days)),
            p_submitted_at, p_source, p_ref)
    RETURNING * INTO d;
    INSERT INTO dossier_events (dossier_id, source, event_id, step, occurred_at, applied)
    VALUES (d.id, p_source, 'import:' || p_ref, p_status, p_submitted_at, true)
    RETURNING id INTO v_event;
    PERFORM cds_outbox_for_step(d, v_event, p_status, cds_step_vars(d, p_status, NULL, NULL, NULL));
    PERFORM cds_dossier_refresh(d.id);
    status := 'created';
    dossier_id := d.id;
END;
$$;

-- The citizen's own moves on their dossier: cancel, or hand in the documents
-- asked for (attachments already uploaded by the same citizen). Another
-- citizen's dossier is 'not_found'. The event id is the request's
-- Idempotency-Key when sent, so a retry is a 'duplicate', not a second step.
-- status: as cds_dossier_step, plus attachment_not_found
CREATE OR REPLACE FUNCTION cds_dossier_citizen_step(p_citizen uuid, p_dossier uuid, p_step text,
    p_event_id text, p_note text, p_attachments jsonb,
    p_trace text DEFAULT NULL,
    OUT status text, OUT dossier_status text, OUT event_pk bigint)
LANGUAGE plpgsql AS $$
DECLARE
    d dossiers;
    a jsonb;
BEGIN
    PERFORM cds_trace_set(p_trace);
    SELECT * INTO d FROM dossiers WHERE id = p_dossier AND citizen_id = p_citizen;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF p_attachments IS NOT NULL AND EXISTS (
        SELECT 1 FROM jsonb_array_elements(p_attachments) x
        WHERE NOT EXISTS (SELECT 1 FROM attachments t
                          WHERE t.id = (x->>'id')::uuid AND t.citizen_id = p_citizen)) THEN
        status := 'attachment_not_found';
        RETURN;
    END IF;
    SELECT s.status, s.dossier_status, s.event_pk INTO status, dossier_status, event_pk
    FROM cds_dossier_step(d.code, 'citizen', p_event_id, p_step, now(), p_note, NULL, NULL, NULL) s;
    IF status = 'applied' AND p_attachments IS NOT NULL THEN
        FOR a IN SELECT * FROM jsonb_array_elements(p_attachments) LOOP
            INSERT INTO dossier_attachments (dossier_id, attachment_id, document_code, purpose)
            VALUES (d.id, (a->>'id')::uuid, a->>'document_code', 'supplement')
            ON CONFLICT DO NOTHING;
        END LOOP;
        PERFORM cds_dossier_refresh(d.id);
    END IF;
END;
$$;

-- A dossier as the API shows it to its owner, built in one query: with
-- p_full, also the form, the timeline and the attachments. plpgsql keeps the
-- query's plan for the session (a sql function would be re-planned at every
-- call). VOLATILE on purpose: called in the same statement as a function that
-- just changed the dossier (filing, a step), it must take a fresh snapshot to
-- see the change.
CREATE OR REPLACE FUNCTION cds_dossier_json(p_id uuid, p_full boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    result jsonb;
BEGIN
    SELECT jsonb_build_object(
        'id', d.id, 'code', d.code, 'status', d.status, 'channel', d.channel,
        'procedure', jsonb_build_object('code', p.code, 'name', p.name, 'sector', p.sector),
        'agency', jsonb_build_object('code', a.code, 'name', a.name),
        'submitted_at', cds_rfc3339(d.submitted_at),
        'due_date', d.due_date,
        'overdue', d.due_date < (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
                   AND d.status NOT IN ('completed', 'rejected', 'cancelled'),
        'fee_vnd', d.fee_vnd,
        'delivery', d.delivery,
        'updated_at', cds_rfc3339(d.updated_at))
    || CASE WHEN d.filed_by_staff IS NULL THEN '{}'::jsonb ELSE jsonb_build_object(
        -- Filed for the citizen by a public-service agent (issue 19).
        'filed_by', (SELECT jsonb_build_object(
                         'agent_name', s.display_name, 'location_name', l.name,
                         'location_address', l.address, 'filed_at', cds_rfc3339(d.submitted_at))
                     FROM staff s JOIN agent_locations l ON l.id = d.agent_location_id
                     WHERE s.id = d.filed_by_staff)) END
    || CASE WHEN p_full THEN jsonb_build_object(
        'form', d.form,
        'timeline', COALESCE((
            SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                       'step', e.step, 'occurred_at', cds_rfc3339(e.occurred_at),
                       'applied', e.applied, 'note', e.note, 'fee_vnd', e.fee_vnd,
                       'missing_documents', e.missing_documents))
                   ORDER BY e.occurred_at, e.id)
            FROM dossier_events e WHERE e.dossier_id = d.id), '[]'),
        'attachments', COALESCE((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', t.id, 'document_code', da.document_code, 'purpose', da.purpose,
                       'media_type', t.media_type, 'file_name', t.file_name,
                       'size_bytes', t.size_bytes, 'sha256', t.sha256)
                   ORDER BY da.added_at, t.id)
            FROM dossier_attachments da JOIN attachments t ON t.id = da.attachment_id
            WHERE da.dossier_id = d.id), '[]'))
       ELSE '{}'::jsonb END
    INTO result
    FROM dossiers d
    JOIN procedures p ON p.code = d.procedure_code
    JOIN agencies a ON a.code = p.agency_code
    WHERE d.id = p_id;
    RETURN result;
END;
$$;

-- Rewrites a dossier's stored view after a change (see dossiers.view).
-- This UPDATE itself moves updated_at to now() (trigger dossiers_touch),
-- while cds_dossier_json reads the row as it was before it: when the change
-- was written by an earlier transaction (a step recorded as late, a raw
-- edit), that older updated_at would be stored and the view would disagree
-- with the row as soon as the two fall in different seconds. So the view
-- carries the time this UPDATE writes.
CREATE OR REPLACE FUNCTION cds_dossier_refresh(p_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dossiers SET view = ((cds_dossier_json(p_id, true) - 'overdue')
                                || jsonb_build_object('updated_at', cds_rfc3339(now())))::text
    WHERE id = p_id;
END;
$$;

-- The stored view with today's overdue flag.
CREATE OR REPLACE FUNCTION cds_dossier_overdue(p_due date, p_status text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_due < (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
           AND p_status NOT IN ('completed', 'rejected', 'cancelled');
$$;

-- ---- Ratings and feedback (0026_ratings.sql) ----

-- A rating as the citizen reads it.
CREATE OR REPLACE FUNCTION cds_rating_json(x dossier_ratings) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('dossier_id', x.dossier_id, 'stars', x.stars, 'comment', x.comment,
        'version', x.version, 'rated_at', cds_rfc3339(x.first_rated_at),
        'updated_at', cds_rfc3339(x.updated_at),
        'editable_until', cds_rfc3339(x.first_rated_at + interval '7 days'))
$$;

-- Rates dossier p_dossier (its owner p_citizen; NULL when the lookup page
-- checked the secret instead). status: created | updated | unchanged (the
-- same stars and comment again: nothing new is sent) | not_found |
-- not_finished (not completed/returned yet) | edit_closed (7 days after the
-- first rating). A new rating or a change is one TTHC delivery, keyed by
-- dossier and version, in the same transaction.
CREATE OR REPLACE FUNCTION cds_rating_put(p_dossier uuid, p_citizen uuid, p_stars int,
    p_comment text, p_channel text)
RETURNS TABLE (status text, dossier_status text, rating jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    d dossiers;
    x dossier_ratings;
    ag text;
BEGIN
    SELECT * INTO d FROM dossiers WHERE id = p_dossier
      AND (p_citizen IS NULL OR citizen_id = p_citizen) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::text, NULL::jsonb;
        RETURN;
    END IF;
    IF d.status NOT IN ('completed', 'returned') THEN
        RETURN QUERY SELECT 'not_finished'::text, d.status, NULL::jsonb;
        RETURN;
    END IF;
    SELECT * INTO x FROM dossier_ratings WHERE dossier_id = d.id;
    IF FOUND THEN
        IF x.first_rated_at + interval '7 days' < now() THEN
            RETURN QUERY SELECT 'edit_closed'::text, d.status, cds_rating_json(x);
            RETURN;
        END IF;
        IF x.stars = p_stars AND x.comment IS NOT DISTINCT FROM p_comment THEN
            RETURN QUERY SELECT 'unchanged'::text, d.status, cds_rating_json(x);
            RETURN;
        END IF;
        UPDATE dossier_ratings SET stars = p_stars, comment = p_comment, version = version + 1,
            channel = p_channel, updated_at = now()
        WHERE dossier_id = d.id RETURNING * INTO x;
        status := 'updated';
    ELSE
        SELECT p.agency_code INTO ag FROM procedures p WHERE p.code = d.procedure_code;
        INSERT INTO dossier_ratings (dossier_id, citizen_id, procedure_code, agency_code, stars,
                                     comment, channel)
        VALUES (d.id, d.citizen_id, d.procedure_code, ag, p_stars, p_comment, p_channel)
        RETURNING * INTO x;
        status := 'created';
    END IF;
    INSERT INTO tthc_outbox (kind, idempotency_key, payload)
    VALUES ('rating', 'rating:' || x.dossier_id || ':v' || x.version,
            jsonb_build_object('idempotency_key', 'rating:' || x.dossier_id || ':v' || x.version,
                'dossier_code', d.code, 'procedure_code', x.procedure_code,
                'agency_code', x.agency_code, 'stars', x.stars, 'comment', x.comment,
                'version', x.version, 'rated_at', cds_rfc3339(x.updated_at),
                'channel', x.channel));
    PERFORM pg_notify('cds_tthc', '');
    dossier_status := d.status;
    rating := cds_rating_json(x);
    RETURN NEXT;
END;
$$;

-- Feedback about dossier p_dossier (its owner p_citizen, or NULL after the
-- lookup secret). status: created | not_found. The reference is quotable
-- to the 1022 hotline; the feedback goes to the TTHC system in the same
-- transaction.
CREATE OR REPLACE FUNCTION cds_feedback_add(p_dossier uuid, p_citizen uuid, p_kind text,
    p_content text, p_channel text)
RETURNS TABLE (status text, feedback jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    d dossiers;
    f dossier_feedback;
BEGIN
    SELECT * INTO d FROM dossiers WHERE id = p_dossier
      AND (p_citizen IS NULL OR citizen_id = p_citizen);
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::jsonb;
        RETURN;
    END IF;
    INSERT INTO dossier_feedback (reference, dossier_id, kind, content, channel)
    VALUES ('PA-' || to_char(now() AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY') || '-'
                || lpad(nextval('feedback_number_seq')::text, 6, '0'),
            d.id, p_kind, p_content, p_channel)
    RETURNING * INTO f;
    INSERT INTO tthc_outbox (kind, idempotency_key, payload)
    VALUES ('feedback', 'feedback:' || f.reference,
            jsonb_build_object('idempotency_key', 'feedback:' || f.reference,
                'reference', f.reference, 'dossier_code', d.code,
                'procedure_code', d.procedure_code, 'kind', f.kind, 'content', f.content,
                'created_at', cds_rfc3339(f.created_at), 'channel', f.channel));
    PERFORM pg_notify('cds_tthc', '');
    status := 'created';
    feedback := jsonb_build_object('reference', f.reference, 'dossier_id', d.id, 'kind', f.kind,
        'content', f.content, 'created_at', cds_rfc3339(f.created_at));
    RETURN NEXT;
END;
$$;

-- An agency's ratings of month p_month (first day, Asia/Ho_Chi_Minh) by
-- procedure: count and average stars (2 decimals), as one JSON array.
CREATE OR REPLACE FUNCTION cds_rating_summary(p_agency text, p_month date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(jsonb_agg(jsonb_build_object('procedure_code', s.procedure_code,
               'procedure_name', p.name, 'count', s.n, 'average', s.avg)
               ORDER BY s.procedure_code), '[]'::jsonb)
    FROM (SELECT r.procedure_code, count(*) AS n, round(avg(r.stars), 2) AS avg
          FROM dossier_ratings r
          WHERE r.agency_code = p_agency
            AND r.first_rated_at >= (p_month::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')
            AND r.first_rated_at < ((p_month + interval '1 month')::timestamp
                                    AT TIME ZONE 'Asia/Ho_Chi_Minh')
          GROUP BY r.procedure_code) s
    LEFT JOIN procedures p ON p.code = s.procedure_code
$$;

-- The TTHC outbox: due rows, claimed with SKIP LOCKED, due again after
-- p_timeout_s should the dispatcher die (sent again under the same key).
CREATE OR REPLACE FUNCTION cds_tthc_claim(p_node text, p_limit int, p_timeout_s int)
RETURNS TABLE (id bigint, kind text, idempotency_key text, payload text, attempts int)
LANGUAGE sql AS $$
    UPDATE tthc_outbox o
    SET attempts = o.attempts + 1, claimed_by = p_node,
        next_attempt_at = now() + make_interval(secs => p_timeout_s)
    WHERE o.id IN (SELECT x.id FROM tthc_outbox x
                   WHERE x.state = 'due' AND x.next_attempt_at <= now()
                   ORDER BY x.next_attempt_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    RETURNING o.id, o.kind, o.idempotency_key, o.payload::text, o.attempts
$$;

-- The result of attempt p_attempt: sent, retry (after p_retry_ms), failed.
-- Applied only to the claim it answers.
CREATE OR REPLACE FUNCTION cds_tthc_result(p_id bigint, p_attempt int, p_outcome text,
    p_error text, p_retry_ms bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tthc_outbox
    SET state = CASE p_outcome WHEN 'retry' THEN 'due' ELSE p_outcome END,
        next_attempt_at = CASE WHEN p_outcome = 'retry'
                               THEN now() + make_interval(secs => p_retry_ms / 1000.0) END,
        sent_at = CASE WHEN p_outcome = 'sent' THEN now() END,
        error = p_error, claimed_by = NULL
    WHERE id = p_id AND attempts = p_attempt AND state = 'due'
      AND p_outcome IN ('sent', 'retry', 'failed');
    RETURN CASE WHEN FOUND THEN 'recorded' ELSE 'stale' END;
END;
$$;

-- Attachments stored in PostgreSQL (0025_attachment_chunks.sql). A piece of
-- an upload under way: the first one also records the upload, so that a
-- crash before cds_attachment_commit leaves pieces that the sweep finds.
CREATE OR REPLACE FUNCTION cds_attachment_chunk(p_id uuid, p_n int, p_data bytea) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_n = 0 THEN
        INSERT INTO attachment_uploads (attachment_id) VALUES (p_id) ON CONFLICT DO NOTHING;
    END IF;
    INSERT INTO attachment_chunks (attachment_id, n, data) VALUES (p_id, p_n, p_data);
END;
$$;

-- The upload is whole: the row that makes it visible, only when exactly
-- p_chunks pieces of p_size bytes in all are there (else SQLSTATE 22023,
-- nothing written). Sweeps a few abandoned uploads on the way.
CREATE OR REPLACE FUNCTION cds_attachment_commit(p_id uuid, p_citizen uuid, p_sha text,
                                                 p_size bigint, p_media text, p_name text,
                                                 p_chunks int)
RETURNS TABLE (id uuid, created_at text)
LANGUAGE plpgsql AS $$
DECLARE
    n int;
    total bigint;
BEGIN
    SELECT count(*), coalesce(sum(octet_length(c.data)), 0) INTO n, total
    FROM attachment_chunks c WHERE c.attachment_id = p_id;
    IF n <> p_chunks OR total <> p_size THEN
        RAISE EXCEPTION 'attachment % incomplete: % pieces, % bytes', p_id, n, total
            USING ERRCODE = '22023';
    END IF;
    DELETE FROM attachment_uploads u WHERE u.attachment_id = p_id;
    PERFORM cds_attachment_sweep(interval '1 hour', 4);
    RETURN QUERY
    INSERT INTO attachments AS a (id, citizen_id, sha256, size_bytes, media_type, file_name)
    VALUES (p_id, p_citizen, p_sha, p_size, p_media, p_name)
    RETURNING a.id, cds_rfc3339(a.created_at);
END;
$$;

-- An upload that will not be committed (client gone, body refused, a piece
-- that failed): its pieces and its mark go now rather than at the sweep.
-- Called once no piece query of it is out any more; never touches a
-- committed attachment. Returns the pieces removed.
CREATE OR REPLACE FUNCTION cds_attachment_discard(p_id uuid) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    IF EXISTS (SELECT 1 FROM attachments a WHERE a.id = p_id) THEN
        RETURN 0;
    END IF;
    DELETE FROM attachment_chunks c WHERE c.attachment_id = p_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM attachment_uploads u WHERE u.attachment_id = p_id;
    RETURN n;
END;
$$;

-- Uploads started longer than p_older ago and never committed (client gone,
-- node killed): their pieces go. At most p_limit uploads a call; SKIP LOCKED
-- so two nodes never wait for each other here. Returns how many.
CREATE OR REPLACE FUNCTION cds_attachment_sweep(p_older interval, p_limit int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    gone uuid[];
BEGIN
    WITH old AS (
        DELETE FROM attachment_uploads u
        WHERE u.attachment_id IN (SELECT x.attachment_id FROM attachment_uploads x
                                  WHERE x.started_at < now() - p_older
                                  ORDER BY x.started_at LIMIT p_limit
                                  FOR UPDATE SKIP LOCKED)
        RETURNING u.attachment_id)
    SELECT array_agg(attachment_id) INTO gone FROM old;
    IF gone IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM attachment_chunks c WHERE c.attachment_id = ANY (gone);
    RETURN cardinality(gone);
END;
$$;

-- ---------------- public-service agents (0029_agents.sql, dossiers/agent*.c) ----------------

-- The agent p_agent if it is an enabled agent account (else no row).
CREATE OR REPLACE FUNCTION cds_agent_row(p_agent uuid) RETURNS staff
LANGUAGE sql STABLE AS $$
    SELECT * FROM staff WHERE id = p_agent AND role = 'agent' AND disabled_at IS NULL;
$$;

-- An agent asks a citizen's consent: a code goes by SMS to the citizen's
-- phone on record (the notification outbox, template agent_consent).
-- p_code in clear goes only into the message; the consent keeps its hash.
-- Limits: p_per_phone codes per citizen and p_per_agent per agent within
-- p_window_s seconds.
-- status: sent | agent_disabled | citizen_not_found | no_phone |
-- rate_limited_phone | rate_limited_agent
CREATE OR REPLACE FUNCTION cds_agent_consent_start(p_agent uuid, p_consent uuid, p_pid_hash text,
    p_code text, p_code_hash text, p_ttl_s int, p_per_phone int, p_per_agent int, p_window_s int,
    p_trace text DEFAULT NULL,
    OUT status text, OUT expires_at text, OUT phone_sealed text)
LANGUAGE plpgsql AS $$
DECLARE
    s staff;
    c citizens;
    l agent_locations;
    v_exp timestamptz := now() + make_interval(secs => p_ttl_s);
BEGIN
    PERFORM cds_trace_set(p_trace);
    s := cds_agent_row(p_agent);
    IF s.id IS NULL THEN
        status := 'agent_disabled';
        RETURN;
    END IF;
    SELECT * INTO c FROM citizens x WHERE x.pid_hash = p_pid_hash FOR UPDATE;
    IF NOT FOUND THEN
        status := 'citizen_not_found';
        RETURN;
    END IF;
    IF c.phone_sealed IS NULL THEN
        status := 'no_phone';
        RETURN;
    END IF;
    IF (SELECT count(*) FROM agent_consents a WHERE a.citizen_id = c.id
        AND a.created_at > now() - make_interval(secs => p_window_s)) >= p_per_phone THEN
        status := 'rate_limited_phone';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('cds_agent_consents ' || p_agent, 0));
    IF (SELECT count(*) FROM agent_consents a WHERE a.agent_id = p_agent
        AND a.created_at > now() - make_interval(secs => p_window_s)) >= p_per_agent THEN
        status := 'rate_limited_agent';
        RETURN;
    END IF;
    SELECT * INTO l FROM agent_locations x WHERE x.id = s.agent_location_id;
    INSERT INTO agent_consents (id, agent_id, citizen_id, method, code_hash, expires_at)
    VALUES (p_consent, p_agent, c.id, 'sms', p_code_hash, v_exp);
    INSERT INTO outbox (channel, citizen_id, template, vars, recipient_sealed, trace)
    VALUES ('sms', c.id, 'agent_consent',
            jsonb_build_object('code', p_code, 'location_name', l.name, 'minutes', p_ttl_s / 60),
            c.phone_sealed, NULLIF(current_setting('cds.trace', true), ''));
    PERFORM pg_notify('cds_outbox', c.id::text);
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES ('staff:' || p_agent, 'agent_consent_requested', 'citizen:' || c.id,
            'consent code sent by SMS', jsonb_build_object('consent_id', p_consent,
                                                           'agent_location_id', l.id));
    status := 'sent';
    expires_at := cds_rfc3339(v_exp);
    phone_sealed := c.phone_sealed;
END;
$$;

-- The citizen reads the code to the agent. Wrong codes count; after
-- p_max_tries the consent is locked (even the right code is refused).
-- status: granted | wrong (tries_left) | locked | expired | not_found |
-- agent_disabled. Granted again is granted (a retry).
CREATE OR REPLACE FUNCTION cds_agent_consent_verify(p_agent uuid, p_consent uuid, p_code_hash text,
    p_max_tries int, p_act_s int, OUT status text, OUT tries_left int, OUT act_until text)
LANGUAGE plpgsql AS $$
DECLARE
    a agent_consents;
BEGIN
    IF (cds_agent_row(p_agent)).id IS NULL THEN
        status := 'agent_disabled';
        RETURN;
    END IF;
    SELECT * INTO a FROM agent_consents x WHERE x.id = p_consent AND x.agent_id = p_agent FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
    ELSIF a.granted_at IS NOT NULL THEN
        status := 'granted';
        act_until := cds_rfc3339(a.act_until);
    ELSIF a.tries >= p_max_tries THEN
        status := 'locked';
        tries_left := 0;
    ELSIF a.expires_at <= now() THEN
        status := 'expired';
    ELSIF a.code_hash <> p_code_hash THEN
        UPDATE agent_consents x SET tries = x.tries + 1 WHERE x.id = a.id;
        tries_left := p_max_tries - a.tries - 1;
        status := CASE WHEN tries_left <= 0 THEN 'locked' ELSE 'wrong' END;
    ELSE
        UPDATE agent_consents x SET granted_at = now(), act_until = now() + make_interval(secs => p_act_s)
        WHERE x.id = a.id RETURNING * INTO a;
        INSERT INTO audit_log (actor, action, subject, reason, detail)
        VALUES ('staff:' || p_agent, 'agent_consent_granted', 'citizen:' || a.citizen_id,
                'the citizen gave the SMS code', jsonb_build_object('consent_id', a.id));
        status := 'granted';
        act_until := cds_rfc3339(a.act_until);
    END IF;
END;
$$;

-- The citizen of a granted, current consent of this agent, with what the
-- form is prefilled from. p_action (NULL: none) is recorded in the audit
-- log as what the agent does for the citizen (agent_prefill_read,
-- agent_upload). status: ok | no_consent | agent_disabled.
DROP FUNCTION IF EXISTS cds_agent_consent_citizen(uuid, uuid);
CREATE OR REPLACE FUNCTION cds_agent_consent_citizen(p_agent uuid, p_consent uuid, p_action text,
    OUT status text, OUT citizen_id uuid, OUT ial smallint, OUT full_name text,
    OUT birth_date text, OUT gender text, OUT pid_sealed text, OUT address_sealed text,
    OUT phone_sealed text)
LANGUAGE plpgsql AS $$
DECLARE
    c citizens;
BEGIN
    IF (cds_agent_row(p_agent)).id IS NULL THEN
        status := 'agent_disabled';
        RETURN;
    END IF;
    SELECT x.* INTO c FROM agent_consents a JOIN citizens x ON x.id = a.citizen_id
    WHERE a.id = p_consent AND a.agent_id = p_agent AND a.granted_at IS NOT NULL
      AND a.act_until > now();
    IF NOT FOUND THEN
        status := 'no_consent';
        RETURN;
    END IF;
    IF p_action IS NOT NULL THEN
        INSERT INTO audit_log (actor, action, subject, reason, detail)
        VALUES ('staff:' || p_agent, p_action, 'citizen:' || c.id,
                CASE p_action WHEN 'agent_prefill_read' THEN 'read the citizen''s data to prefill a form'
                              ELSE 'uploaded a scan for the citizen' END,
                jsonb_build_object('consent_id', p_consent));
    END IF;
    status := 'ok';
    citizen_id := c.id;
    ial := c.ial;
    full_name := c.full_name;
    birth_date := c.birth_date::text;
    gender := c.gender;
    pid_sealed := c.pid_sealed;
    address_sealed := c.address_sealed;
    phone_sealed := c.phone_sealed;
END;
$$;

-- An agent files for the citizen of consent p_consent (cds_dossier_file,
-- then the dossier is marked as filed by the agent at their location).
-- status: cds_dossier_file's, or no_consent | agent_disabled.
CREATE OR REPLACE FUNCTION cds_agent_file(p_agent uuid, p_consent uuid, p_id uuid, p_procedure text,
    p_form jsonb, p_delivery jsonb, p_attachments jsonb, p_lookup_hash text,
    p_idempotency_key text, p_idempotency_hash text, p_trace text DEFAULT NULL,
    OUT status text, OUT dossier_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    s staff;
    v_citizen uuid;
BEGIN
    s := cds_agent_row(p_agent);
    IF s.id IS NULL THEN
        status := 'agent_disabled';
        RETURN;
    END IF;
    SELECT a.citizen_id INTO v_citizen FROM agent_consents a
    WHERE a.id = p_consent AND a.agent_id = p_agent AND a.granted_at IS NOT NULL AND a.act_until > now();
    IF NOT FOUND THEN
        status := 'no_consent';
        RETURN;
    END IF;
    SELECT f.status, f.dossier_id INTO status, dossier_id
    FROM cds_dossier_file(p_id, v_citizen, p_procedure, p_form, p_delivery, p_attachments,
                          p_lookup_hash, p_idempotency_key, p_idempotency_hash, p_trace) f;
    IF status = 'created' THEN
        UPDATE dossiers d SET filed_by_staff = p_agent, agent_location_id = s.agent_location_id,
                              agent_consent_id = p_consent
        WHERE d.id = dossier_id;
        PERFORM cds_dossier_refresh(dossier_id);
        INSERT INTO audit_log (actor, action, subject, reason, detail)
        VALUES ('staff:' || p_agent, 'agent_file', 'dossier:' || dossier_id,
                'filed for the citizen at an agent location',
                jsonb_build_object('citizen_id', v_citizen, 'consent_id', p_consent,
                                   'agent_location_id', s.agent_location_id));
    ELSIF status = 'existing' AND NOT EXISTS (SELECT 1 FROM dossiers d WHERE d.id = dossier_id
                                              AND d.filed_by_staff = p_agent) THEN
        status := 'key_reused';
    END IF;
END;
$$;

-- Cash at the agent's counter for a dossier the agent filed: its open
-- payment intent (opened now with p_reference if there is none) is credited
-- with provider 'counter' exactly like a transfer (cds_payment_credit), so
-- the dossier becomes paid and the e-receipt is issued. p_amount must be
-- what is due. A retry with the same key changes nothing.
-- status: applied | duplicate | not_found | not_payable | amount_mismatch
-- (due) | no_account | agent_disabled
CREATE OR REPLACE FUNCTION cds_agent_cash(p_agent uuid, p_dossier uuid, p_amount bigint, p_key text,
    p_reference text, p_trace text DEFAULT NULL,
    OUT status text, OUT due bigint, OUT payment_id uuid, OUT payment_status text,
    OUT receipt_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    s staff;
    d dossiers;
    p payments;
    o record;
    cr record;
    v_tx text := 'cash:' || p_agent || ':' || p_key;
BEGIN
    PERFORM cds_trace_set(p_trace);
    s := cds_agent_row(p_agent);
    IF s.id IS NULL THEN
        status := 'agent_disabled';
        RETURN;
    END IF;
    SELECT * INTO d FROM dossiers x WHERE x.id = p_dossier AND x.filed_by_staff = p_agent;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    -- A retry after the payment went through: the first answer again.
    SELECT b.payment_id, b.receipt_id INTO payment_id, receipt_id FROM bank_transactions b
    WHERE b.provider = 'counter' AND b.provider_tx_id = v_tx;
    IF FOUND THEN
        status := 'duplicate';
        SELECT x.status INTO payment_status FROM payments x WHERE x.id = payment_id;
        RETURN;
    END IF;
    -- A refusal undoes the intent it may have opened: nothing changes.
    BEGIN
        SELECT * INTO o FROM cds_payment_open(d.id, d.citizen_id, p_reference);
        IF o.status NOT IN ('created', 'existing') THEN
            status := CASE o.status WHEN 'no_account' THEN 'no_account' ELSE 'not_payable' END;
            RAISE EXCEPTION 'cds_agent_cash refused';
        END IF;
        SELECT * INTO p FROM payments x WHERE x.id = (o.payment->>'id')::uuid;
        due := p.amount_vnd - p.received_vnd;
        IF p_amount <> due THEN
            status := 'amount_mismatch';
            RAISE EXCEPTION 'cds_agent_cash refused';
        END IF;
    EXCEPTION WHEN raise_exception THEN
        RETURN;
    END;
    SELECT * INTO cr FROM cds_payment_credit('counter', v_tx, p_amount,
        'Tien mat tai quay ' || p.reference, p.account_no, p.bank_bin, v_tx, '',
        s.display_name, now(), p.reference, NULL, p_trace);
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES ('staff:' || p_agent, 'agent_cash', 'dossier:' || d.id, 'cash taken at the counter',
            jsonb_build_object('amount_vnd', p_amount, 'payment_id', p.id,
                               'agent_location_id', s.agent_location_id));
    status := cr.status;
    payment_id := cr.payment_id;
    payment_status := cr.payment_status;
    receipt_id := cr.receipt_id;
END;
$$;

-- Dossiers filed by agents, per agent location and day (Asia/Ho_Chi_Minh),
-- for the partner API.
CREATE OR REPLACE FUNCTION cds_agent_counts(p_from date, p_to date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(jsonb_agg(jsonb_build_object('agent_location_id', x.loc, 'location_code', l.code,
                                                 'location_name', l.name, 'day', x.day,
                                                 'dossiers', x.n, 'agents', x.agents)
                              ORDER BY x.day, l.code), '[]')
    FROM (SELECT d.agent_location_id AS loc, cds_vn_date(d.created_at) AS day, count(*) AS n,
                 count(DISTINCT d.filed_by_staff) AS agents
          FROM dossiers d
          WHERE d.agent_location_id IS NOT NULL
            AND d.created_at >= (p_from::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')
            AND d.created_at < ((p_to + 1)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')
          GROUP BY 1, 2) x
    JOIN agent_locations l ON l.id = x.loc;
$$;

-- The citizen logged in with VNeID on the agent's device (the identity
-- checked by auth/vneid_consent.c): the citizen created or refreshed from
-- VNeID's claims, and a consent granted at once.
-- status: granted | agent_disabled
CREATE OR REPLACE FUNCTION cds_agent_consent_vneid(p_agent uuid, p_consent uuid, p_pid_hash text,
    p_pid_sealed text, p_sub text, p_full_name text, p_birth_date date, p_gender text,
    p_address_sealed text, p_phone_sealed text, p_ial smallint, p_act_s int,
    OUT status text, OUT act_until text)
LANGUAGE plpgsql AS $$
DECLARE
    s staff;
    v_citizen uuid;
    v_until timestamptz := now() + make_interval(secs => p_act_s);
BEGIN
    s := cds_agent_row(p_agent);
    IF s.id IS NULL THEN
        status := 'agent_disabled';
        RETURN;
    END IF;
    SELECT u.citizen_id INTO v_citizen
    FROM cds_citizen_upsert(p_pid_hash, p_pid_sealed, p_sub, p_full_name, p_birth_date, p_gender,
                            p_address_sealed, p_phone_sealed, p_ial) u;
    INSERT INTO agent_consents (id, agent_id, citizen_id, method, expires_at, granted_at, act_until)
    VALUES (p_consent, p_agent, v_citizen, 'vneid', now(), now(), v_until);
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES ('staff:' || p_agent, 'agent_consent_granted', 'citizen:' || v_citizen,
            'the citizen logged in with VNeID at the counter',
            jsonb_build_object('consent_id', p_consent, 'method', 'vneid',
                               'agent_location_id', s.agent_location_id));
    status := 'granted';
    act_until := cds_rfc3339(v_until);
END;
$$;
