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

-- cds:after-migrations

-- Template variables of a courier notification.
CREATE OR REPLACE FUNCTION cds_shipment_vars(p_dossier dossiers, s shipments, p_status text, p_reason text,
                                             p_location text, p_at timestamptz, p_max_failed int)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_name text;
BEGIN
    SELECT pr.name INTO v_name FROM procedures pr WHERE pr.code = p_dossier.procedure_code;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'dossier_code', p_dossier.code,
        'dossier_id', p_dossier.id,
        'procedure_name', v_name,
        'step', 'courier_' || p_status,
        'carrier_name', CASE s.carrier WHEN 'vnpost' THEN 'VNPost' WHEN 'ghn' THEN 'GHN'
                                       ELSE upper(s.carrier) END,
        'tracking_no', s.tracking_no,
        'reason', p_reason,
        'location', p_location,
        'attempt', s.failed_attempts,
        'max_attempts', p_max_failed,
        'amount', CASE WHEN s.cod THEN s.cod_due_vnd END,
        'time', to_char(p_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'HH24:MI DD/MM')));
END;
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
    RETURNING s.id, s.carrier, s.book_attempts,
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
        SELECT * INTO d FROM dossiers WHERE dossiers.id = s.dossier_id;
        PERFORM cds_outbox_for_step(d, NULL, 'courier_booked',
                                    cds_shipment_vars(d, s, 'booked', NULL, NULL, now(), NULL));
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
    v_src text := 'courier:' || p_carrier;
    v_step_status text;
    v_step_dossier text;
BEGIN
    PERFORM cds_trace_set(p_trace);
    SELECT * INTO s FROM shipments x WHERE x.tracking_no = p_tracking AND x.carrier = p_carrier
    FOR UPDATE;
    IF NOT FOUND THEN
        status := CASE WHEN EXISTS (SELECT 1 FROM shipments x WHERE x.tracking_no = p_tracking)
                       THEN 'wrong_carrier' ELSE 'unknown' END;
        RETURN;
    END IF;
    shipment_id := s.id;
    shipment_status := s.status;
    IF EXISTS (SELECT 1 FROM shipment_events e WHERE e.carrier = p_carrier
               AND e.event_id = p_event_id) THEN
        status := 'duplicate';
        RETURN;
    END IF;
    IF p_occurred_at < s.last_event_at OR s.status IN ('delivered', 'returned', 'cancelled') THEN
        INSERT INTO shipment_events (shipment_id, carrier, event_id, status, raw_code, raw_reason,
                                     location, occurred_at, applied, source)
        VALUES (s.id, p_carrier, p_event_id, p_status, p_raw_code, p_raw_reason, p_location,
                p_occurred_at, false, p_source);
        status := CASE WHEN p_occurred_at < s.last_event_at THEN 'late' ELSE 'final' END;
        RETURN;
    END IF;
    v_failed := s.failed_attempts + CASE WHEN p_status = 'delivery_failed' THEN 1 ELSE 0 END;
    IF p_status = 'delivery_failed' AND v_failed >= p_max_failed THEN
        v_new := 'returning';
    END IF;
    INSERT INTO shipment_events (shipment_id, carrier, event_id, status, raw_code, raw_reason,
                                 location, occurred_at, applied, source)
    VALUES (s.id, p_carrier, p_event_id, p_status, p_raw_code, p_raw_reason, p_location,
            p_occurred_at, true, p_source);
    UPDATE shipments x SET status = v_new, last_event_at = p_occurred_at, failed_attempts = v_failed,
        pod = CASE WHEN p_status = 'delivered' THEN p_pod ELSE x.pod END,
        cod_collected_vnd = CASE WHEN p_status = 'delivered' AND x.cod THEN p_cod
                                 ELSE x.cod_collected_vnd END
    WHERE x.id = s.id RETURNING * INTO s;
    shipment_status := v_new;

    SELECT * INTO d FROM dossiers WHERE dossiers.id = s.dossier_id;
    dossier_status := d.status;
    IF v_new = 'delivered' AND d.status IN ('result_ready', 'out_for_delivery') THEN
        v_step := 'completed';
        v_note := 'Đã giao kết quả qua ' || CASE p_carrier WHEN 'vnpost' THEN 'VNPost'
                                                              ELSE upper(p_carrier) END
                  || ' (mã vận đơn ' || p_tracking || ').';
    ELSIF v_new IN ('returning', 'returned') AND d.status IN ('result_ready', 'out_for_delivery') THEN
        v_step := 'ready_for_pickup';
        v_note := CASE WHEN p_status = 'delivery_failed'
                       THEN 'Bưu điện giao không thành công ' || v_failed || ' lần'
                            || COALESCE(' (' || p_raw_reason || ')', '')
                            || '; kết quả được chuyển về cơ quan, mời nhận tại quầy.'
                       ELSE 'Kết quả được bưu điện chuyển hoàn về cơ quan; mời nhận tại quầy.' END;
    ELSIF v_new IN ('picked_up', 'in_transit', 'out_for_delivery', 'delivery_failed')
          AND d.status = 'result_ready' THEN
        v_step := 'out_for_delivery';
        v_note := 'Mã vận đơn ' || p_tracking || '.';
    END IF;
    IF v_step IS NOT NULL THEN
        SELECT x.status, x.dossier_status INTO v_step_status, v_step_dossier
        FROM cds_dossier_step(d.code, v_src, p_event_id, v_step, p_occurred_at, v_note, NULL, NULL,
                              jsonb_build_object('shipment_id', s.id, 'tracking_no', p_tracking)) x;
        IF v_step_status = 'applied' THEN
            dossier_status := v_step_dossier;
        END IF;
    END IF;
    -- A status the dossier step did not already announce gets its own message;
    -- 'booked' was announced with the booking itself (cds_shipment_book_result),
    -- so a carrier's own "order received" (GHN's ready_to_pick, picking) says
    -- nothing new.
    IF v_new <> 'booked' AND (v_step_status IS DISTINCT FROM 'applied'
       OR v_new NOT IN ('picked_up', 'delivered', 'returning', 'returned')) THEN
        PERFORM cds_outbox_for_step(d, NULL, 'courier_' || v_new,
            cds_shipment_vars(d, s, v_new, p_raw_reason, p_location, p_occurred_at, p_max_failed));
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
          AND s.status IN ('booked', 'picked_up', 'in_transit', 'out_for_delivery',
                           'delivery_failed', 'returning')
          AND s.updated_at < now() - p_after
          AND (s.last_polled_at IS NULL OR s.last_polled_at < now() - p_after)
        ORDER BY s.last_polled_at NULLS FIRST
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED)
    UPDATE shipments s SET last_polled_at = now() FROM due WHERE s.id = due.id
    RETURNING s.carrier, s.tracking_no;
END;
$$;
