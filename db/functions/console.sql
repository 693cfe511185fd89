-- The operators' console (console/): the actions no other module's function
-- already is. Each is one transaction that also writes audit_log with the
-- operator's identity (p_actor, "staff:<id> <name>") and the reason given.
-- The payment actions are payment.sql's own cds_payment_resolve and
-- cds_payment_refunded (the partner API and `cds payments` call them too);
-- the courier actions wrap delivery.sql's cds_courier_create/_disable.

-- A shipment the carrier never took: booking failed for good (queued again,
-- attempts from zero), or still queued between retries (tried now).
-- status: requeued | not_found | not_retryable | conflict (the dossier has
-- another live shipment)
CREATE OR REPLACE FUNCTION cds_console_shipment_retry(p_id uuid, p_actor text, p_reason text,
    OUT status text)
LANGUAGE plpgsql AS $$
DECLARE
    s shipments;
BEGIN
    SELECT * INTO s FROM shipments x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF s.status = 'booking_failed' THEN
        IF EXISTS (SELECT 1 FROM shipments x WHERE x.dossier_id = s.dossier_id AND x.id <> s.id
                   AND x.status NOT IN ('returned', 'cancelled', 'booking_failed')) THEN
            status := 'conflict';
            RETURN;
        END IF;
        UPDATE shipments x SET status = 'pending', book_state = 'queued', book_attempts = 0,
            book_next_at = now(), book_error = NULL, book_claimed_at = NULL
        WHERE x.id = s.id;
    ELSIF s.status = 'pending' AND s.book_state = 'queued' THEN
        UPDATE shipments x SET book_next_at = now() WHERE x.id = s.id;
    ELSE
        status := 'not_retryable';
        RETURN;
    END IF;
    PERFORM pg_notify('cds_shipments', s.id::text);
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES (p_actor, 'shipment.retry', 'shipment:' || s.id, p_reason,
            jsonb_build_object('status', s.status, 'book_attempts', s.book_attempts,
                               'book_error', s.book_error));
    status := 'requeued';
END;
$$;

-- Queues an operator's call to the carrier about shipment s (kind cancel
-- or track; delivery/requests.c sends it), audited as p_action. One open
-- request per shipment and kind: a second while it is open changes nothing.
-- Returns requested | already_requested.
CREATE OR REPLACE FUNCTION cds_console_shipment_request(s shipments, p_kind text, p_action text,
    p_actor text, p_reason text, p_trace text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_req uuid;
BEGIN
    INSERT INTO shipment_requests AS q (shipment_id, kind, requested_by, reason, trace)
    VALUES (s.id, p_kind, p_actor, p_reason, p_trace)
    ON CONFLICT (shipment_id, kind) WHERE state IN ('queued', 'sending') DO NOTHING
    RETURNING q.id INTO v_req;
    IF v_req IS NULL THEN
        RETURN 'already_requested';
    END IF;
    PERFORM pg_notify('cds_shipment_requests', v_req::text);
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES (p_actor, p_action, 'shipment:' || s.id, p_reason,
            jsonb_build_object('request_id', v_req, 'carrier', s.carrier,
                               'tracking_no', s.tracking_no, 'status', s.status));
    RETURN 'requested';
END;
$$;

-- Cancels a shipment. One the carrier never took (booking failed, or
-- queued) is cancelled here and now: a dossier waiting for it
-- (result_ready) turns to ready_for_pickup, the citizen told to come to the
-- counter. One the carrier has booked but not picked up, of a carrier whose
-- adapter can cancel (p_cancel_carriers), gets the carrier's cancel call
-- queued (shipment_requests, delivery/requests.c): the shipment is
-- cancelled when the carrier confirms (cds_shipment_request_result). A
-- parcel picked up already is refused (the carriers cancel only before
-- pick-up), as is a carrier without a cancel call.
-- status: cancelled | requested | already_requested | not_found | final |
--         sending | picked_up | no_carrier_cancel
DROP FUNCTION IF EXISTS cds_console_shipment_cancel(uuid, text, text, text);
CREATE OR REPLACE FUNCTION cds_console_shipment_cancel(p_id uuid, p_actor text, p_reason text,
    p_trace text DEFAULT NULL, p_cancel_carriers text[] DEFAULT '{}',
    OUT status text, OUT dossier_status text)
LANGUAGE plpgsql AS $$
DECLARE
    s shipments;
    d dossiers;
BEGIN
    PERFORM cds_trace_set(p_trace);
    SELECT * INTO s FROM shipments x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF s.status IN ('delivered', 'returned', 'cancelled') THEN
        status := 'final';
        RETURN;
    END IF;
    IF s.book_state = 'sending' THEN
        status := 'sending';
        RETURN;
    END IF;
    IF s.status = 'booked' AND s.tracking_no IS NOT NULL THEN
        IF NOT s.carrier = ANY (p_cancel_carriers) THEN
            status := 'no_carrier_cancel';
            RETURN;
        END IF;
        status := cds_console_shipment_request(s, 'cancel', 'shipment.carrier_cancel', p_actor,
                                               p_reason, p_trace);
        RETURN;
    END IF;
    IF s.status NOT IN ('booking_failed', 'pending') THEN
        status := 'picked_up';
        RETURN;
    END IF;
    UPDATE shipments x SET status = 'cancelled',
        book_state = CASE WHEN x.book_state = 'queued' THEN 'failed' ELSE x.book_state END
    WHERE x.id = s.id;
    SELECT * INTO d FROM dossiers WHERE id = s.dossier_id;
    dossier_status := d.status;
    IF d.status = 'result_ready' THEN
        SELECT x.dossier_status INTO dossier_status
        FROM cds_dossier_step(d.code, 'console', 'shipment-cancel:' || s.id, 'ready_for_pickup',
                              now(), 'Kết quả không gửi qua bưu điện được; mời nhận tại quầy.',
                              NULL, NULL, jsonb_build_object('shipment_id', s.id), p_trace) x;
    END IF;
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES (p_actor, 'shipment.cancel', 'shipment:' || s.id, p_reason,
            jsonb_build_object('status', s.status, 'dossier_code', d.code,
                               'dossier_status', dossier_status));
    status := 'cancelled';
END;
$$;

-- Asks the carrier for a parcel's current state now (its order detail,
-- delivery/requests.c); the events it lists go through cds_shipment_event
-- as a webhook's would. p_track_carriers: the carriers whose adapter can.
-- status: requested | already_requested | not_found | not_booked | final |
--         no_carrier_track
CREATE OR REPLACE FUNCTION cds_console_shipment_repoll(p_id uuid, p_actor text, p_reason text,
    p_trace text, p_track_carriers text[], OUT status text)
LANGUAGE plpgsql AS $$
DECLARE
    s shipments;
BEGIN
    SELECT * INTO s FROM shipments x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF s.status IN ('delivered', 'returned', 'cancelled') THEN
        status := 'final';
        RETURN;
    END IF;
    IF s.tracking_no IS NULL THEN
        status := 'not_booked';
        RETURN;
    END IF;
    IF NOT s.carrier = ANY (p_track_carriers) THEN
        status := 'no_carrier_track';
        RETURN;
    END IF;
    status := cds_console_shipment_request(s, 'track', 'shipment.repoll', p_actor, p_reason,
                                           p_trace);
END;
$$;

-- Sends a notification that failed for good again, as a new outbox row (a
-- new idempotency key: the gateway would drop the old one as a repeat).
-- Once only: the old row keeps resent_as.
-- status: resent | already | not_found | not_failed | no_device
CREATE OR REPLACE FUNCTION cds_console_outbox_resend(p_id bigint, p_actor text, p_reason text,
    p_trace text DEFAULT NULL, OUT status text, OUT new_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    o outbox;
BEGIN
    SELECT * INTO o FROM outbox x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF o.resent_as IS NOT NULL THEN
        status := 'already';
        new_id := o.resent_as;
        RETURN;
    END IF;
    IF o.status NOT IN ('permanent-failure', 'technical-failure') THEN
        status := 'not_failed';
        RETURN;
    END IF;
    IF o.channel = 'push' AND o.device_id IS NULL THEN
        status := 'no_device';
        RETURN;
    END IF;
    INSERT INTO outbox (channel, citizen_id, dossier_id, event_id, template, vars,
                        recipient_sealed, device_id, trace)
    VALUES (o.channel, o.citizen_id, o.dossier_id, o.event_id, o.template, o.vars,
            o.recipient_sealed, o.device_id, COALESCE(p_trace, o.trace))
    RETURNING id INTO new_id;
    UPDATE outbox x SET resent_as = new_id WHERE x.id = o.id;
    PERFORM pg_notify('cds_outbox', 'next');
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES (p_actor, 'notification.resend', 'outbox:' || o.id, p_reason,
            jsonb_build_object('new_id', new_id, 'channel', o.channel, 'template', o.template,
                               'provider', o.provider, 'status', o.status,
                               'last_error', o.last_error));
    status := 'resent';
END;
$$;

-- An operator issues a courier account (cds_courier_create, as the
-- carrier's system does through the partner API), audited.
-- status: created | exists
CREATE OR REPLACE FUNCTION cds_console_courier_create(p_carrier text, p_external_id text,
    p_name text, p_phone text, p_secret_sha256 text, p_actor text, p_reason text,
    OUT status text, OUT id uuid, OUT created_at text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.status, c.id, c.created_at INTO status, id, created_at
    FROM cds_courier_create(p_carrier, p_external_id, p_name, p_phone, p_secret_sha256, p_actor) c;
    IF status = 'created' THEN
        INSERT INTO audit_log (actor, action, subject, reason, detail)
        VALUES (p_actor, 'courier.create', 'courier:' || id, p_reason,
                jsonb_build_object('carrier', p_carrier, 'external_id', p_external_id));
    END IF;
END;
$$;

-- An operator disables a courier (cds_courier_disable), audited.
-- status: disabled | already | not_found
CREATE OR REPLACE FUNCTION cds_console_courier_disable(p_id uuid, p_actor text, p_reason text,
    OUT status text, OUT disabled_at text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.status, c.disabled_at INTO status, disabled_at
    FROM cds_courier_disable(p_id, NULL, p_actor) c;
    IF status = 'disabled' THEN
        INSERT INTO audit_log (actor, action, subject, reason, detail)
        VALUES (p_actor, 'courier.disable', 'courier:' || p_id, p_reason, '{}');
    END IF;
END;
$$;

