-- db/functions/delivery.sql: shipments of results by post: booking queue,
-- courier events, the citizen's delivery choice and tracking views.
--
-- Repeatable: core/migrate.c runs this whole file again, in one transaction
-- with the other files of db/functions/, whenever any of them changed (see
-- the comment atop core/migrate.c). Every function is defined here only:
-- change it by editing this file, never in a migration.
--
-- Above the cds:after-migrations line: the functions a migration
-- attaches (trigger functions, index expressions). They take and return
-- built-in types only, and that part is also run before pending migrations.

-- The dossier reached result_ready with delivery by post: queue its
-- booking in the same transaction, and wake the booking dispatchers. The
-- booking carries the trace of the step's request (cds_trace_set), so the
-- carrier's booking call continues it. The carrier is the agency's
-- (agencies.carrier, 0020), else the one the citizen's choice recorded
-- (CDS_DELIVERY_CARRIER then).
CREATE OR REPLACE FUNCTION cds_dossier_shipment_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_carrier text;
BEGIN
    SELECT a.carrier INTO v_carrier FROM procedures p JOIN agencies a ON a.code = p.agency_code
    WHERE p.code = NEW.procedure_code;
    INSERT INTO shipments (dossier_id, carrier, delivery, fee_vnd, cod, cod_due_vnd, trace)
    VALUES (NEW.id, COALESCE(v_carrier, NEW.delivery->>'carrier', 'vnpost'), NEW.delivery,
            COALESCE((NEW.delivery->>'fee_vnd')::bigint, 0),
            COALESCE((NEW.delivery->>'cod')::boolean, false),
            CASE WHEN COALESCE((NEW.delivery->>'cod')::boolean, false)
                 THEN COALESCE((NEW.delivery->>'fee_vnd')::bigint, 0) ELSE 0 END,
            NULLIF(current_setting('cds.trace', true), ''))
    ON CONFLICT DO NOTHING;
    PERFORM pg_notify('cds_shipments', NEW.id::text);
    RETURN NULL;
END;
$$;

-- BEFORE INSERT OR UPDATE trigger shipments_state (0041_courier_lean.sql):
-- is_live and is_open follow status (they are what the partial indexes
-- read, so that a courier event that changes status between open states
-- changes no indexed value and its update can be HOT), and an update sets
-- updated_at. Assignments only: no statement per row.
CREATE OR REPLACE FUNCTION cds_shipments_state() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    NEW.is_live := NEW.status NOT IN ('returned', 'cancelled', 'booking_failed');
    NEW.is_open := NEW.status IN ('booked', 'picked_up', 'in_transit', 'out_for_delivery',
                                  'delivery_failed', 'returning');
    RETURN NEW;
END;
$$;

-- cds:after-migrations

-- Template variables of a courier notification. p_procedure_name: the
-- dossier's procedure's name, which the caller read with the shipment
-- (issue 21: no lookup of its own; sql, inlined into the caller's
-- expression).
DROP FUNCTION IF EXISTS cds_shipment_vars(dossiers, shipments, text, text, text, timestamptz, int);
CREATE OR REPLACE FUNCTION cds_shipment_vars(p_dossier dossiers, s shipments, p_procedure_name text,
                                             p_status text, p_reason text, p_location text,
                                             p_at timestamptz, p_max_failed int)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'dossier_code', p_dossier.code,
        'dossier_id', p_dossier.id,
        'procedure_name', p_procedure_name,
        'step', 'courier_' || p_status,
        'carrier_name', CASE s.carrier WHEN 'vnpost' THEN 'VNPost' WHEN 'ghn' THEN 'GHN'
                                       ELSE upper(s.carrier) END,
        'tracking_no', s.tracking_no,
        'reason', p_reason,
        'location', p_location,
        'attempt', s.failed_attempts,
        'max_attempts', p_max_failed,
        'amount', CASE WHEN s.cod THEN s.cod_due_vnd END,
        'time', to_char(p_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'HH24:MI DD/MM')))
$$;

-- Claims up to p_limit due bookings for dispatcher p_node (SKIP LOCKED:
-- dispatchers never take the same one). A booking left in 'sending' longer
-- than p_timeout (its dispatcher died) is due again: it is resent with the
-- same shipment id, which the carrier uses to return the first order.
DROP FUNCTION IF EXISTS cds_shipment_claim(text, int, interval);
CREATE OR REPLACE FUNCTION cds_shipment_claim(p_node text, p_limit int, p_timeout interval)
RETURNS TABLE (id uuid, carrier text, attempts int, payload jsonb, trace text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT s.id FROM shipments s
        WHERE (s.book_state = 'queued' AND s.book_next_at <= now())
           OR (s.book_state = 'sending' AND s.book_claimed_at < now() - p_timeout)
        ORDER BY s.book_next_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED)
    UPDATE shipments s SET book_state = 'sending', book_attempts = s.book_attempts + 1,
                           book_claimed_at = now(), book_claimed_by = p_node
    FROM due WHERE s.id = due.id
    RETURNING s.id, s.carrier::text, s.book_attempts,
        (SELECT jsonb_build_object(
            'shipment_id', s.id, 'dossier_code', d.code, 'procedure_name', p.name,
            'delivery', s.delivery, 'cod_amount_vnd', s.cod_due_vnd,
            'sender', jsonb_build_object('agency_code', a.code, 'name', a.name,
                                         'address', a.address,
                                         'carrier_account', a.carrier_account))
         FROM dossiers d JOIN procedures p ON p.code = d.procedure_code
         JOIN agencies a ON a.code = p.agency_code WHERE d.id = s.dossier_id),
        s.trace;
END;
$$;

-- The carrier's answer to a booking attempt. p_outcome: booked (with the
-- tracking number), retry (after p_retry_ms), failed (for good: a person
-- must look). Only a booking still claimed by that very attempt changes.
-- status: booked | retry | failed | stale | tracking_taken
CREATE OR REPLACE FUNCTION cds_shipment_book_result(p_id uuid, p_attempt int, p_outcome text,
    p_tracking text, p_error text, p_retry_ms bigint, p_trace text DEFAULT NULL, OUT status text)
LANGUAGE plpgsql AS $$
DECLARE
    s shipments;
    d dossiers;
    v_event bigint;
    v_row record;
BEGIN
    PERFORM cds_trace_set(p_trace);
    SELECT * INTO s FROM shipments x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND OR s.book_state <> 'sending' OR s.book_attempts <> p_attempt THEN
        status := 'stale';
        RETURN;
    END IF;
    IF p_outcome = 'booked' THEN
        IF EXISTS (SELECT 1 FROM shipments x WHERE x.carrier = s.carrier
                   AND x.tracking_no = p_tracking AND x.id <> s.id) THEN
            UPDATE shipments x SET book_state = 'failed', status = 'booking_failed',
                book_error = 'the carrier returned a tracking number already in use: ' || p_tracking,
                book_claimed_at = NULL
            WHERE x.id = s.id;
            status := 'tracking_taken';
            RETURN;
        END IF;
        UPDATE shipments x SET book_state = 'done', tracking_no = p_tracking, booked_at = now(),
            book_error = NULL, book_claimed_at = NULL,
            status = CASE WHEN x.status = 'pending' THEN 'booked' ELSE x.status END,
            last_event_at = COALESCE(x.last_event_at, now())
        WHERE x.id = s.id RETURNING * INTO s;
        INSERT INTO shipment_events (shipment_id, carrier, event_id, status, raw_code, occurred_at,
                                     applied, source)
        VALUES (s.id, s.carrier, 'booking:' || s.id, 'booked', NULL, now(), true, 'booking')
        ON CONFLICT DO NOTHING;
        SELECT y AS d, pr.name AS pname INTO v_row
        FROM dossiers y LEFT JOIN procedures pr ON pr.code = y.procedure_code WHERE y.id = s.dossier_id;
        d := v_row.d;
        PERFORM cds_outbox_for_step(d, NULL, 'courier_booked',
                                    cds_shipment_vars(d, s, v_row.pname, 'booked', NULL, NULL, now(), NULL));
        status := 'booked';
    ELSIF p_outcome = 'retry' THEN
        UPDATE shipments x SET book_state = 'queued', book_error = p_error, book_claimed_at = NULL,
            book_next_at = now() + make_interval(secs => COALESCE(p_retry_ms, 1000) / 1000.0)
        WHERE x.id = s.id;
        status := 'retry';
    ELSE
        UPDATE shipments x SET book_state = 'failed', status = 'booking_failed', book_error = p_error,
            book_claimed_at = NULL
        WHERE x.id = s.id;
        status := 'failed';
    END IF;
END;
$$;

-- The stored form of a delivery code: sha256 of shipment id ':' code.
CREATE OR REPLACE FUNCTION cds_delivery_code_hash(p_shipment uuid, p_code text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(convert_to(p_shipment::text || ':' || p_code, 'UTF8'))
$$;

-- One carrier event. p_pod: proof of delivery (delivered only); p_cod:
-- the cash the courier collected on delivery (COD shipments). p_max_failed:
-- failed attempts after which the shipment returns to the agency.
-- status: applied | duplicate | late | final (the shipment is terminal: kept
--         in the history, nothing moves) | unknown (no such tracking number)
--         | wrong_carrier (the tracking number is another carrier's)
CREATE OR REPLACE FUNCTION cds_shipment_event(p_carrier text, p_tracking text, p_event_id text,
    p_status text, p_raw_code text, p_raw_reason text, p_occurred_at timestamptz,
    p_location text, p_pod jsonb, p_cod bigint, p_max_failed int, p_source text,
    p_trace text DEFAULT NULL,
    OUT status text, OUT shipment_status text, OUT dossier_status text, OUT shipment_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    s shipments;
    d dossiers;
    v_new text := p_status;
    v_failed int;
    v_step text;
    v_note text;
    v_note_en text; -- the same in English, for the public page (dossier_events.detail)
    v_src text := 'courier:' || p_carrier;
    v_step_status text;
    v_step_dossier text;
    v_code text;
    v_n int;
    v_void text;
    v_apply boolean;
    v_pname text;
    v_sensitive boolean;
    v_row record;
BEGIN
    -- An assignment, not PERFORM: no executor started (issue 21); a void
    -- result cast to text is ''.
    v_void := cds_trace_set(p_trace)::text;
    SELECT * INTO s FROM shipments x WHERE x.tracking_no = p_tracking AND x.carrier = p_carrier
    FOR UPDATE;
    IF NOT FOUND THEN
        status := CASE WHEN EXISTS (SELECT 1 FROM shipments x WHERE x.tracking_no = p_tracking)
                       THEN 'wrong_carrier' ELSE 'unknown' END;
        RETURN;
    END IF;
    shipment_id := s.id;
    shipment_status := s.status;
    -- What the event does if it is new, from the locked row alone (plpgsql
    -- expressions, no executor): a late event (older than the shipment's
    -- last) or one for a terminal shipment is only kept in the history.
    v_apply := NOT COALESCE(p_occurred_at < s.last_event_at
                            OR s.status IN ('delivered', 'returned', 'cancelled'), false);
    v_failed := s.failed_attempts + CASE WHEN p_status = 'delivery_failed' THEN 1 ELSE 0 END;
    IF p_status = 'delivery_failed' AND v_failed >= p_max_failed THEN
        v_new := 'returning';
    END IF;
    -- One statement, run after the row lock so that it sees what a
    -- concurrent delivery of the same shipment committed (issue 21: was
    -- three, the checks, the history and the update), for:
    -- * the event already recorded (dup);
    -- * its twin (twin): the same step told by both sources (the courier's
    --   handheld and the carrier's system, which know no common event id):
    --   same shipment, same status, times within 10 minutes of each other,
    --   one source the handheld and the other not. It counts once; a
    --   handheld's proof of delivery (names, photo, position) completes the
    --   carrier's. The same holds for a cancellation the carrier confirmed
    --   to an operator's request (source console) and the carrier's own
    --   callback;
    -- * neither: the history row, and when it applies the shipment's new
    --   state, which returns the dossier and its procedure's name and
    --   sensitivity (no lookups later; a record, as INTO takes one
    --   composite target).
    WITH c AS (
        SELECT EXISTS (SELECT 1 FROM shipment_events e WHERE e.carrier = p_carrier
                       AND e.event_id = p_event_id) AS dup,
               EXISTS (SELECT 1 FROM shipment_events e WHERE e.shipment_id = s.id
                       AND e.status = p_status
                       AND (e.source IN ('handheld', 'console')) <> (p_source IN ('handheld', 'console'))
                       AND e.occurred_at BETWEEN p_occurred_at - interval '10 minutes'
                                             AND p_occurred_at + interval '10 minutes') AS twin),
    e AS (
        INSERT INTO shipment_events (shipment_id, carrier, event_id, status, raw_code, raw_reason,
                                     location, occurred_at, applied, source)
        SELECT s.id, p_carrier, p_event_id, p_status, p_raw_code, p_raw_reason, p_location,
               p_occurred_at, v_apply, p_source
        FROM c WHERE NOT c.dup AND NOT c.twin),
    u AS (
        UPDATE shipments x SET status = v_new, last_event_at = p_occurred_at, failed_attempts = v_failed,
            pod = CASE WHEN p_status = 'delivered' THEN p_pod ELSE x.pod END,
            cod_collected_vnd = CASE WHEN p_status = 'delivered' AND x.cod THEN p_cod
                                     ELSE x.cod_collected_vnd END
        FROM c, dossiers y LEFT JOIN procedures pr ON pr.code = y.procedure_code
        WHERE x.id = s.id AND v_apply AND NOT c.dup AND NOT c.twin AND y.id = x.dossier_id
        RETURNING x AS s, y AS d, pr.name AS pname, pr.sensitive_result AS sensitive)
    SELECT c.dup, c.twin, u.s, u.d, u.pname, u.sensitive FROM c LEFT JOIN u ON true
    INTO v_row;
    IF v_row.dup THEN
        status := 'duplicate';
        RETURN;
    END IF;
    IF v_row.twin THEN
        IF p_status = 'delivered' AND p_source = 'handheld' AND p_pod IS NOT NULL THEN
            UPDATE shipments x SET pod = COALESCE(x.pod, '{}') || p_pod WHERE x.id = s.id;
        END IF;
        status := 'duplicate';
        RETURN;
    END IF;
    IF NOT v_apply THEN
        status := CASE WHEN p_occurred_at < s.last_event_at THEN 'late' ELSE 'final' END;
        RETURN;
    END IF;
    s := v_row.s;
    d := v_row.d;
    v_pname := v_row.pname;
    v_sensitive := v_row.sensitive;
    shipment_status := v_new;
    dossier_status := d.status;
    -- Sensitive results: the one-time delivery code, made when the courier
    -- sets out and sent to the citizen with that message; the handheld must
    -- give it back at delivery (cds_courier_event).
    -- (The procedure's sensitivity came with the update above.)
    IF v_new = 'out_for_delivery' AND s.delivery_code_hash IS NULL AND v_sensitive THEN
        v_code := lpad(((('x' || substr(md5(gen_random_uuid()::text), 1, 8))::bit(32)::bigint)
                        % 1000000)::text, 6, '0');
        UPDATE shipments x SET delivery_code_hash = cds_delivery_code_hash(x.id, v_code),
            delivery_code_tries = 0
        WHERE x.id = s.id RETURNING * INTO s;
    END IF;
    IF v_new = 'delivered' AND d.status IN ('result_ready', 'out_for_delivery') THEN
        v_step := 'completed';
        v_note := 'Đã giao kết quả qua ' || CASE p_carrier WHEN 'vnpost' THEN 'VNPost'
                                                              ELSE upper(p_carrier) END
                  || ' (mã vận đơn ' || p_tracking || ').';
        v_note_en := 'Result delivered by ' || CASE p_carrier WHEN 'vnpost' THEN 'VNPost'
                                                              ELSE upper(p_carrier) END
                     || ' (tracking number ' || p_tracking || ').';
    ELSIF v_new IN ('returning', 'returned') AND d.status IN ('result_ready', 'out_for_delivery') THEN
        v_step := 'ready_for_pickup';
        v_note := CASE WHEN p_status = 'delivery_failed'
                       THEN 'Bưu điện giao không thành công ' || v_failed || ' lần'
                            || COALESCE(' (' || p_raw_reason || ')', '')
                            || '; kết quả được chuyển về cơ quan, mời nhận tại quầy.'
                       ELSE 'Kết quả được bưu điện chuyển hoàn về cơ quan; mời nhận tại quầy.' END;
        v_note_en := CASE WHEN p_status = 'delivery_failed'
                          THEN 'The post failed to deliver ' || v_failed || ' times'
                               || COALESCE(' (' || p_raw_reason || ')', '')
                               || '; the result went back to the agency, please collect it at the counter.'
                          ELSE 'The post returned the result to the agency; please collect it at the counter.' END;
    ELSIF v_new = 'cancelled' AND d.status IN ('result_ready', 'out_for_delivery') THEN
        v_step := 'ready_for_pickup';
        v_note := 'Đơn gửi qua bưu điện đã huỷ; mời nhận kết quả tại quầy.';
        v_note_en := 'The postal delivery was cancelled; please collect the result at the counter.';
    ELSIF v_new IN ('picked_up', 'in_transit', 'out_for_delivery', 'delivery_failed')
          AND d.status = 'result_ready' THEN
        v_step := 'out_for_delivery';
        v_note := 'Mã vận đơn ' || p_tracking || '.';
        v_note_en := 'Tracking number ' || p_tracking || '.';
    END IF;
    IF v_step IS NOT NULL THEN
        -- An assignment, not SELECT ... FROM the function: no executor
        -- around the call (issue 21).
        v_row := cds_dossier_step(d.code, v_src, p_event_id, v_step, p_occurred_at, v_note, NULL, NULL,
                                  jsonb_build_object('shipment_id', s.id, 'tracking_no', p_tracking,
                                                     'note_en', v_note_en));
        v_step_status := v_row.status;
        v_step_dossier := v_row.dossier_status;
        IF v_step_status = 'applied' THEN
            dossier_status := v_step_dossier;
        END IF;
    END IF;
    -- A status the dossier step did not already announce gets its own message;
    -- 'booked' was announced with the booking itself (cds_shipment_book_result),
    -- so a carrier's own "order received" (GHN's ready_to_pick, picking) says
    -- nothing new.
    IF v_new <> 'booked' AND (v_step_status IS DISTINCT FROM 'applied'
       OR v_new NOT IN ('picked_up', 'delivered', 'returning', 'returned', 'cancelled')) THEN
        -- An assignment: no executor started for a SELECT around the call.
        v_n := cds_outbox_for_step(d, NULL, 'courier_' || v_new,
            cds_shipment_vars(d, s, v_pname, v_new, p_raw_reason, p_location, p_occurred_at,
                              p_max_failed)
            || CASE WHEN v_code IS NOT NULL THEN jsonb_build_object('delivery_code', v_code)
                    ELSE '{}' END);
    END IF;
    -- Cash on delivery: one bank transaction for the reconciliation report.
    IF v_new = 'delivered' AND s.cod AND COALESCE(p_cod, 0) > 0 THEN
        INSERT INTO bank_transactions (provider, provider_tx_id, amount_vnd, description, account_no,
            transacted_at, bank_reference, match_status, applied_vnd)
        VALUES ('cod', p_carrier || ':' || p_event_id, p_cod,
                'COD ' || p_tracking || ' ' || d.code, 'COD-' || p_carrier, p_occurred_at,
                p_tracking,
                CASE WHEN p_cod = s.cod_due_vnd THEN 'matched' ELSE 'unmatched' END,
                CASE WHEN p_cod = s.cod_due_vnd THEN p_cod ELSE 0 END)
        ON CONFLICT (provider, provider_tx_id) DO NOTHING;
    END IF;
    status := 'applied';
END;
$$;

-- The citizen chooses (or changes) how the result reaches them, before it
-- is ready. p_delivery is validated and priced in C (delivery/choice.c).
-- Delivery paid with the fee (cod false) is refused once the fee is paid or
-- a payment is open: that amount is fixed already, so only COD remains.
-- status: updated | not_found | too_late | postal_not_allowed | cod_required
CREATE OR REPLACE FUNCTION cds_dossier_delivery_set(p_citizen uuid, p_dossier uuid, p_delivery jsonb,
                                                    OUT status text, OUT dossier_status text)
LANGUAGE plpgsql AS $$
DECLARE
    d dossiers;
    v_postal boolean;
BEGIN
    SELECT * INTO d FROM dossiers x WHERE x.id = p_dossier AND x.citizen_id = p_citizen FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    dossier_status := d.status;
    IF d.status NOT IN ('submitted', 'received', 'supplement_requested', 'supplemented',
                        'fee_requested', 'paid', 'processing') THEN
        status := 'too_late';
        RETURN;
    END IF;
    SELECT postal_allowed INTO v_postal FROM procedures WHERE code = d.procedure_code;
    IF p_delivery->>'method' = 'post' AND NOT v_postal THEN
        status := 'postal_not_allowed';
        RETURN;
    END IF;
    IF p_delivery->>'method' = 'post' AND NOT COALESCE((p_delivery->>'cod')::boolean, false)
       AND (d.status IN ('paid', 'processing')
            OR EXISTS (SELECT 1 FROM payments p WHERE p.dossier_id = d.id
                       AND p.status NOT IN ('expired', 'cancelled'))) THEN
        status := 'cod_required';
        RETURN;
    END IF;
    UPDATE dossiers x SET delivery = p_delivery WHERE x.id = d.id;
    PERFORM cds_dossier_refresh(d.id);
    status := 'updated';
END;
$$;

-- The shipments of a dossier as its owner sees them (newest first), each
-- with its timeline; p_public leaves out what only the owner may see (the
-- address, the proof of delivery's names and photo).
CREATE OR REPLACE FUNCTION cds_shipments_json(p_dossier uuid, p_public boolean) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(jsonb_agg(j ORDER BY created_at DESC), '[]') FROM (
        SELECT s.created_at, jsonb_strip_nulls(jsonb_build_object(
            'id', s.id, 'carrier', s.carrier, 'tracking_no', s.tracking_no, 'status', s.status,
            'booking', CASE WHEN p_public THEN NULL ELSE s.book_state END,
            'fee_vnd', s.fee_vnd, 'cod', s.cod,
            'cod_due_vnd', CASE WHEN s.cod THEN s.cod_due_vnd END,
            'failed_attempts', s.failed_attempts,
            'recipient', CASE WHEN p_public THEN NULL ELSE s.delivery->'recipient' END,
            'proof_of_delivery', CASE WHEN p_public THEN
                    CASE WHEN s.pod IS NOT NULL THEN jsonb_build_object(
                        'delivered_at', s.pod->'delivered_at') END
                ELSE s.pod END,
            'created_at', cds_rfc3339(s.created_at),
            'booked_at', cds_rfc3339(s.booked_at),
            'updated_at', cds_rfc3339(s.updated_at),
            'timeline', COALESCE((
                SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                    'status', e.status, 'occurred_at', cds_rfc3339(e.occurred_at),
                    'location', e.location, 'reason', e.raw_reason,
                    'raw_code', CASE WHEN p_public THEN NULL ELSE e.raw_code END,
                    'applied', e.applied)) ORDER BY e.occurred_at, e.id)
                FROM shipment_events e WHERE e.shipment_id = s.id), '[]'))) AS j
        FROM shipments s WHERE s.dossier_id = p_dossier) x
$$;

-- Shipments of the given carriers not heard of for p_after, for the polling
-- fallback; marks them polled so the next round asks about others first.
CREATE OR REPLACE FUNCTION cds_shipments_to_poll(p_carriers text[], p_after interval, p_limit int)
RETURNS TABLE (carrier text, tracking_no text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT s.id FROM shipments s
        WHERE s.carrier = ANY (p_carriers) AND s.tracking_no IS NOT NULL
          AND s.is_open -- booked .. returning (0041_courier_lean.sql)
          AND s.updated_at < now() - p_after
          AND (s.last_polled_at IS NULL OR s.last_polled_at < now() - p_after)
        ORDER BY s.last_polled_at NULLS FIRST
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED)
    UPDATE shipments s SET last_polled_at = now() FROM due WHERE s.id = due.id
    RETURNING s.carrier::text, s.tracking_no::text;
END;
$$;

-- ---------------- operators' calls to the carrier (0038_shipment_requests.sql) ----------------

-- Claims up to p_limit due requests (SKIP LOCKED) for dispatcher p_node; one
-- left 'sending' longer than p_timeout (its dispatcher died) is due again.
-- A request whose shipment finished meanwhile (say a retried cancel whose
-- parcel the carrier's callback cancelled) is closed unsent, audited as
-- every outcome is.
CREATE OR REPLACE FUNCTION cds_shipment_request_claim(p_node text, p_limit int, p_timeout interval)
RETURNS TABLE (id uuid, kind text, carrier text, tracking_no text, account text, attempts int,
               trace text)
LANGUAGE plpgsql AS $$
BEGIN
    WITH closed AS (
        UPDATE shipment_requests q SET state = 'done', done_at = now(), claimed_at = NULL,
            result = 'the shipment finished before the call: ' || s.status
        FROM shipments s
        WHERE s.id = q.shipment_id AND q.state = 'queued' AND q.next_at <= now()
          AND s.status IN ('delivered', 'returned', 'cancelled')
        RETURNING q.id, q.kind, q.requested_by, q.result, s.id AS shipment_id, s.carrier,
                  s.tracking_no)
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    SELECT 'carrier:' || c.carrier, 'shipment.' || c.kind || '_done', 'shipment:' || c.shipment_id,
           c.result, jsonb_build_object('request_id', c.id, 'requested_by', c.requested_by,
                                        'tracking_no', c.tracking_no, 'applied', 0)
    FROM closed c;
    RETURN QUERY
    WITH due AS (
        SELECT q.id FROM shipment_requests q
        WHERE (q.state = 'queued' AND q.next_at <= now())
           OR (q.state = 'sending' AND q.claimed_at < now() - p_timeout)
        ORDER BY q.next_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED)
    UPDATE shipment_requests q SET state = 'sending', attempts = q.attempts + 1,
                                   claimed_at = now(), claimed_by = p_node
    FROM due, shipments s
    WHERE q.id = due.id AND s.id = q.shipment_id
    RETURNING q.id, q.kind, s.carrier::text, s.tracking_no::text,
        (SELECT a.carrier_account FROM dossiers d JOIN procedures p ON p.code = d.procedure_code
         JOIN agencies a ON a.code = p.agency_code WHERE d.id = s.dossier_id),
        q.attempts, q.trace;
END;
$$;

-- The carrier's answer to a request, applied only while that attempt still
-- holds it. p_outcome: done (cancel: the carrier cancelled the order, the
-- shipment is cancelled through cds_shipment_event with source console;
-- track: p_events, the carrier's events oldest first, each through
-- cds_shipment_event with source poll, as a webhook's), refused (the carrier
-- said no: nothing changes but the request), retry (after p_retry_ms),
-- failed (given up). The outcome goes to audit_log under the request's
-- subject, with the operator who asked in its detail.
-- status: the state written | stale; applied: events that moved the shipment
CREATE OR REPLACE FUNCTION cds_shipment_request_result(p_id uuid, p_attempt int, p_outcome text,
    p_error text, p_retry_ms bigint, p_events jsonb, p_max_failed int, p_trace text,
    OUT status text, OUT applied int)
LANGUAGE plpgsql AS $$
DECLARE
    q shipment_requests;
    s shipments;
    e jsonb;
    v_st text;
    v_summary text;
BEGIN
    applied := 0;
    PERFORM cds_trace_set(p_trace);
    SELECT * INTO q FROM shipment_requests x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND OR q.state <> 'sending' OR q.attempts <> p_attempt THEN
        status := 'stale';
        RETURN;
    END IF;
    SELECT * INTO s FROM shipments x WHERE x.id = q.shipment_id;
    IF p_outcome = 'retry' THEN
        UPDATE shipment_requests x SET state = 'queued', result = p_error, claimed_at = NULL,
            next_at = now() + make_interval(secs => COALESCE(p_retry_ms, 1000) / 1000.0)
        WHERE x.id = q.id;
        status := 'queued';
        RETURN;
    END IF;
    IF p_outcome = 'done' AND q.kind = 'cancel' THEN
        SELECT x.status INTO v_st
        FROM cds_shipment_event(s.carrier, s.tracking_no, 'cancel:' || q.id, 'cancelled',
                                'console_cancel', NULL, now(), NULL, NULL, NULL, p_max_failed,
                                'console', p_trace) x;
        applied := CASE WHEN v_st = 'applied' THEN 1 ELSE 0 END;
        v_summary := 'cancelled by the carrier (' || v_st || ')';
    ELSIF p_outcome = 'done' THEN
        FOR e IN SELECT x.v FROM jsonb_array_elements(COALESCE(p_events, '[]')) x(v) LOOP
            SELECT x.status INTO v_st
            FROM cds_shipment_event(s.carrier, s.tracking_no, e->>'event_id', e->>'status',
                                    NULLIF(e->>'raw_code', ''), NULLIF(e->>'raw_reason', ''),
                                    (e->>'occurred_at')::timestamptz, NULLIF(e->>'location', ''), NULL,
                                    (e->>'cod')::bigint, p_max_failed, 'poll', p_trace) x;
            applied := applied + CASE WHEN v_st = 'applied' THEN 1 ELSE 0 END;
        END LOOP;
        v_summary := jsonb_array_length(COALESCE(p_events, '[]')) || ' events, '
                     || applied || ' new';
    END IF;
    UPDATE shipment_requests x SET state = CASE p_outcome WHEN 'done' THEN 'done'
                                                          WHEN 'refused' THEN 'refused'
                                                          ELSE 'failed' END,
        result = COALESCE(v_summary, p_error), claimed_at = NULL, done_at = now()
    WHERE x.id = q.id RETURNING x.state INTO status;
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES ('carrier:' || s.carrier, 'shipment.' || q.kind || '_' || status,
            'shipment:' || s.id, left(COALESCE(v_summary, p_error, status), 2000),
            jsonb_build_object('request_id', q.id, 'requested_by', q.requested_by,
                               'tracking_no', s.tracking_no, 'applied', applied));
END;
$$;

-- ---------------- couriers and their handheld app (0027_couriers.sql) ----------------

-- A new courier account of a carrier. status: created | exists (that
-- carrier's external id is taken: nothing changes, the secret is never
-- shown again).
CREATE OR REPLACE FUNCTION cds_courier_create(p_carrier text, p_external_id text, p_name text,
    p_phone text, p_secret_sha256 text, p_issued_by text, OUT status text, OUT id uuid,
    OUT created_at text)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO couriers AS c (carrier, external_id, name, phone, secret_sha256, issued_by)
    VALUES (p_carrier, p_external_id, p_name, p_phone, p_secret_sha256, p_issued_by)
    ON CONFLICT (carrier, external_id) DO NOTHING
    RETURNING c.id, cds_rfc3339(c.created_at) INTO id, created_at;
    IF id IS NULL THEN
        SELECT c.id, cds_rfc3339(c.created_at) INTO id, created_at FROM couriers c
        WHERE c.carrier = p_carrier AND c.external_id = p_external_id;
        status := 'exists';
        RETURN;
    END IF;
    status := 'created';
END;
$$;

-- Disables a courier (their tokens stop working at once: every courier
-- route asks here). p_carrier: NULL for an operator, else the courier must
-- be that carrier's. status: disabled | already | not_found
CREATE OR REPLACE FUNCTION cds_courier_disable(p_id uuid, p_carrier text, p_by text,
    OUT status text, OUT disabled_at text)
LANGUAGE plpgsql AS $$
DECLARE
    c couriers;
BEGIN
    SELECT * INTO c FROM couriers x WHERE x.id = p_id
      AND (p_carrier IS NULL OR x.carrier = p_carrier) FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF c.disabled_at IS NOT NULL THEN
        status := 'already';
        disabled_at := cds_rfc3339(c.disabled_at);
        RETURN;
    END IF;
    UPDATE couriers x SET disabled_at = now(), disabled_by = p_by WHERE x.id = p_id
    RETURNING cds_rfc3339(x.disabled_at) INTO disabled_at;
    status := 'disabled';
END;
$$;

-- The shipment of a waybill as the courier's handheld shows it: only the
-- courier's own carrier's (another carrier's waybill is "not found", never
-- told apart). NULL when the courier is disabled or there is no such
-- shipment; the caller tells those apart with cds_courier_active.
CREATE OR REPLACE FUNCTION cds_courier_active(p_courier uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM couriers c WHERE c.id = p_courier AND c.disabled_at IS NULL)
$$;

CREATE OR REPLACE FUNCTION cds_courier_shipment(p_courier uuid, p_waybill text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', s.id, 'waybill', s.tracking_no, 'carrier', s.carrier, 'status', s.status,
        'dossier_code', d.code, 'procedure_name', p.name,
        'recipient', jsonb_build_object('name', s.delivery->'recipient'->'name',
                                        'phone', s.delivery->'recipient'->'phone',
                                        'address', s.delivery->'recipient'->'address'),
        'notes', s.delivery->'notes',
        'cod', s.cod, 'cod_due_vnd', CASE WHEN s.cod THEN s.cod_due_vnd END,
        'delivery_code_required', p.sensitive_result,
        'failed_attempts', s.failed_attempts,
        'next_attempt_at', cds_rfc3339(s.next_attempt_at),
        'updated_at', cds_rfc3339(s.updated_at)))
    FROM couriers c
    JOIN shipments s ON s.carrier = c.carrier AND s.tracking_no = p_waybill
    JOIN dossiers d ON d.id = s.dossier_id
    JOIN procedures p ON p.code = d.procedure_code
    WHERE c.id = p_courier AND c.disabled_at IS NULL
$$;

-- A photo of a signed delivery slip (checked in C: type, size, sha256).
-- The same bytes twice are one photo. NULL when the courier is disabled.
CREATE OR REPLACE FUNCTION cds_courier_photo_add(p_courier uuid, p_type text, p_sha256 text,
                                                 p_bytes bytea) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    IF NOT cds_courier_active(p_courier) THEN
        RETURN NULL;
    END IF;
    INSERT INTO courier_photos AS f (courier_id, content_type, size_bytes, sha256, bytes)
    VALUES (p_courier, p_type, length(p_bytes), p_sha256, p_bytes)
    ON CONFLICT (courier_id, sha256) DO NOTHING RETURNING f.id INTO v_id;
    IF v_id IS NULL THEN
        SELECT f.id INTO v_id FROM courier_photos f WHERE f.courier_id = p_courier
          AND f.sha256 = p_sha256;
    END IF;
    RETURN v_id;
END;
$$;

-- One handheld event (e: the event as checked in C: id, waybill, kind,
-- occurred_at, reason, reason_text, next_attempt_at, recipient_name,
-- relationship, photo_id, position {lat,lng,accuracy_m}, cod_collected_vnd,
-- delivery_code). Goes through cds_shipment_event with source 'handheld'
-- and the event id 'hh:<courier>:<handheld id>'.
-- status: the cds_shipment_event answer (applied | duplicate | late |
-- final), replayed (this handheld id was taken before: its first result
-- stands), or a refusal that changes nothing (a wrong code counts a try):
-- courier_disabled | shipment_not_found | photo_not_found |
-- cod_amount_mismatch | delivery_code_required | delivery_code_wrong |
-- delivery_code_locked | delivery_code_not_issued
CREATE OR REPLACE FUNCTION cds_courier_event(p_courier uuid, e jsonb, p_max_failed int,
    p_trace text, OUT status text, OUT shipment_status text, OUT dossier_status text)
LANGUAGE plpgsql AS $$
DECLARE
    c couriers;
    s shipments;
    v_sensitive boolean;
    v_checked boolean;
    v_at timestamptz := (e->>'occurred_at')::timestamptz;
    v_kind text := e->>'kind';
    v_pod jsonb;
    v_cod bigint := (e->>'cod_collected_vnd')::bigint;
    v_prev courier_events;
    v_photo courier_photos;
BEGIN
    SELECT * INTO c FROM couriers x WHERE x.id = p_courier AND x.disabled_at IS NULL;
    IF NOT FOUND THEN
        status := 'courier_disabled';
        RETURN;
    END IF;
    SELECT * INTO v_prev FROM courier_events x WHERE x.courier_id = p_courier
      AND x.client_event_id = e->>'id';
    IF FOUND THEN
        SELECT x.status INTO shipment_status FROM shipments x WHERE x.id = v_prev.shipment_id;
        status := 'replayed';
        RETURN;
    END IF;
    SELECT * INTO s FROM shipments x WHERE x.carrier = c.carrier AND x.tracking_no = e->>'waybill'
    FOR UPDATE;
    IF NOT FOUND THEN
        status := 'shipment_not_found';
        RETURN;
    END IF;
    shipment_status := s.status;
    IF v_kind = 'delivered' THEN
        SELECT * INTO v_photo FROM courier_photos f WHERE f.id = (e->>'photo_id')::uuid
          AND f.courier_id = p_courier;
        IF NOT FOUND THEN
            status := 'photo_not_found';
            RETURN;
        END IF;
        IF s.cod AND v_cod IS DISTINCT FROM s.cod_due_vnd THEN
            status := 'cod_amount_mismatch';
            RETURN;
        END IF;
        SELECT p.sensitive_result INTO v_sensitive FROM dossiers d
        JOIN procedures p ON p.code = d.procedure_code WHERE d.id = s.dossier_id;
        IF v_sensitive AND s.status NOT IN ('delivered', 'returned', 'cancelled') THEN
            IF e->>'delivery_code' IS NULL THEN
                status := 'delivery_code_required';
                RETURN;
            ELSIF s.delivery_code_hash IS NULL THEN
                status := 'delivery_code_not_issued';
                RETURN;
            ELSIF s.delivery_code_tries >= 5 THEN
                status := 'delivery_code_locked';
                RETURN;
            ELSIF cds_delivery_code_hash(s.id, e->>'delivery_code') <> s.delivery_code_hash THEN
                UPDATE shipments x SET delivery_code_tries = x.delivery_code_tries + 1
                WHERE x.id = s.id;
                status := CASE WHEN s.delivery_code_tries + 1 >= 5 THEN 'delivery_code_locked'
                               ELSE 'delivery_code_wrong' END;
                RETURN;
            END IF;
            v_checked := true;
        END IF;
        v_pod := jsonb_strip_nulls(jsonb_build_object(
            'recipient_name', e->>'recipient_name', 'relation', e->>'relationship',
            'delivered_at', cds_rfc3339(v_at), 'position', e->'position',
            'image_ref', 'courier-photo:' || v_photo.id, 'image_sha256', v_photo.sha256,
            'courier_id', c.id, 'code_checked', v_checked));
    ELSE
        v_cod := NULL;
    END IF;
    SELECT x.status, x.shipment_status, x.dossier_status INTO status, shipment_status, dossier_status
    FROM cds_shipment_event(c.carrier, s.tracking_no, 'hh:' || c.id || ':' || (e->>'id'), v_kind,
                            e->>'reason', e->>'reason_text', v_at,
                            CASE WHEN e ? 'position' THEN (e->'position'->>'lat') || ','
                                 || (e->'position'->>'lng') END,
                            v_pod, v_cod, p_max_failed, 'handheld', p_trace) x;
    IF status = 'applied' AND v_kind = 'delivery_failed' THEN
        UPDATE shipments x SET next_attempt_at = (e->>'next_attempt_at')::timestamptz
        WHERE x.id = s.id;
    END IF;
    INSERT INTO courier_events (courier_id, client_event_id, shipment_id, kind, occurred_at, result,
                                next_attempt_at)
    VALUES (p_courier, e->>'id', s.id, v_kind, v_at, status,
            (e->>'next_attempt_at')::timestamptz);
END;
$$;

-- A handheld's queue: its events applied one by one in event-time order
-- (then the handheld's order), whatever order they were sent in. Stops at
-- the first refusal, which is the last row; the events before it stand.
CREATE OR REPLACE FUNCTION cds_courier_events(p_courier uuid, p_events jsonb, p_max_failed int,
                                              p_trace text)
RETURNS TABLE (event_id text, status text, shipment_status text, dossier_status text)
LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
BEGIN
    FOR e IN SELECT x.v FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(v, n)
             ORDER BY (x.v->>'occurred_at')::timestamptz, x.n LOOP
        event_id := e->>'id';
        SELECT r.status, r.shipment_status, r.dossier_status
        INTO status, shipment_status, dossier_status
        FROM cds_courier_event(p_courier, e, p_max_failed, p_trace) r;
        RETURN NEXT;
        IF status NOT IN ('applied', 'duplicate', 'late', 'final', 'replayed') THEN
            RETURN;
        END IF;
    END LOOP;
END;
$$;
