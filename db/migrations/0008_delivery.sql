-- 0008_delivery.sql: courier delivery of results (delivery/).
--
--   shipments         one per dossier whose result goes by post, created in
--                     the transaction that moves the dossier to result_ready
--                     (trigger dossiers_shipment); it is also the booking
--                     outbox: book_state queued -> sending -> done | failed,
--                     claimed by the booking dispatchers with SKIP LOCKED and
--                     sent to the carrier with our shipment id as its client
--                     order id (idempotency key), so a crash never books twice
--   shipment_events   every status a carrier reported (webhook or polling),
--                     normalized (booked, picked_up, in_transit,
--                     out_for_delivery, delivered, delivery_failed, returning,
--                     returned, cancelled) with the carrier's raw code and
--                     reason kept; unique by (carrier, event id)
--
-- Every transition is one function call: cds_shipment_claim (a dispatcher
-- takes bookings), cds_shipment_book_result (the carrier's answer),
-- cds_shipment_event (a carrier event: state, history, the dossier step,
-- the citizen's notifications, COD reconciliation), cds_dossier_delivery_set
-- (the citizen chooses or changes delivery before the result is ready).
--
-- Shipment state follows the event time: an event older than the last
-- applied one goes into the history without moving the state (late); a
-- terminal state (delivered, returned, cancelled) is final. Dossier effects:
-- picked_up (or any later movement while the dossier is still result_ready)
-- -> out_for_delivery; delivered -> completed; returning/returned, or the
-- Nth failed attempt (N configurable, 3 by default) -> ready_for_pickup with
-- a note telling the citizen to come to the counter. Other statuses write
-- the citizen's notifications with the templates courier_<status>.
--
-- The functions named here are defined in db/functions/delivery.sql (once,
-- in their current form); this file keeps the tables, indexes and triggers.

CREATE TABLE shipments (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    dossier_id       uuid NOT NULL REFERENCES dossiers (id),
    carrier          text NOT NULL CHECK (carrier ~ '^[a-z][a-z0-9_]{1,31}$'),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'booked',
                         'picked_up', 'in_transit', 'out_for_delivery', 'delivered',
                         'delivery_failed', 'returning', 'returned', 'cancelled',
                         'booking_failed')),
    tracking_no      text CHECK (tracking_no IS NULL OR tracking_no ~ '^[0-9A-Za-z\-]{4,40}$'),
    delivery         jsonb NOT NULL,
    fee_vnd          bigint NOT NULL DEFAULT 0 CHECK (fee_vnd >= 0),
    cod              boolean NOT NULL DEFAULT false,
    cod_due_vnd      bigint NOT NULL DEFAULT 0 CHECK (cod_due_vnd >= 0),
    cod_collected_vnd bigint CHECK (cod_collected_vnd IS NULL OR cod_collected_vnd >= 0),
    failed_attempts  int NOT NULL DEFAULT 0,
    last_event_at    timestamptz,
    pod              jsonb,
    -- the booking outbox
    book_state       text NOT NULL DEFAULT 'queued' CHECK (book_state IN ('queued', 'sending',
                         'done', 'failed')),
    book_attempts    int NOT NULL DEFAULT 0,
    book_next_at     timestamptz NOT NULL DEFAULT now(),
    book_claimed_at  timestamptz,
    book_claimed_by  text,
    book_error       text,
    booked_at        timestamptz,
    last_polled_at   timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (carrier, tracking_no)
);
-- At most one live shipment per dossier; a returned or failed one may be
-- followed by another.
CREATE UNIQUE INDEX shipments_dossier_live ON shipments (dossier_id)
    WHERE status NOT IN ('returned', 'cancelled', 'booking_failed');
CREATE INDEX shipments_dossier ON shipments (dossier_id, created_at DESC);
CREATE INDEX shipments_tracking ON shipments (tracking_no);
CREATE INDEX shipments_book_due ON shipments (book_next_at) WHERE book_state IN ('queued', 'sending');
CREATE INDEX shipments_open ON shipments (carrier, updated_at)
    WHERE status IN ('booked', 'picked_up', 'in_transit', 'out_for_delivery', 'delivery_failed',
                     'returning');
CREATE TRIGGER shipments_touch BEFORE UPDATE ON shipments
    FOR EACH ROW EXECUTE FUNCTION cds_touch_updated_at();
COMMENT ON COLUMN shipments.delivery IS
    'The dossier''s delivery choice when the shipment was created: recipient, address, notes, '
    'fee_vnd, cod, weight_class.';
COMMENT ON COLUMN shipments.pod IS
    'Proof of delivery: recipient_name, relation, delivered_at, position {lat, lng}, image_ref, '
    'image_sha256.';

CREATE TABLE shipment_events (
    id           bigserial PRIMARY KEY,
    shipment_id  uuid NOT NULL REFERENCES shipments (id),
    carrier      text NOT NULL,
    event_id     text NOT NULL CHECK (char_length(event_id) BETWEEN 1 AND 128),
    status       text NOT NULL CHECK (status IN ('booked', 'picked_up', 'in_transit',
                     'out_for_delivery', 'delivered', 'delivery_failed', 'returning', 'returned',
                     'cancelled')),
    raw_code     text,
    raw_reason   text,
    location     text,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    applied      boolean NOT NULL,
    source       text NOT NULL DEFAULT 'webhook' CHECK (source IN ('webhook', 'poll', 'booking')),
    UNIQUE (carrier, event_id)
);
CREATE INDEX shipment_events_shipment ON shipment_events (shipment_id, occurred_at, id);

-- The dossier reached result_ready with delivery by post: its booking is
-- queued in the same transaction (cds_dossier_shipment_trigger).
CREATE TRIGGER dossiers_shipment AFTER UPDATE OF status ON dossiers
    FOR EACH ROW WHEN (NEW.status = 'result_ready' AND OLD.status IS DISTINCT FROM 'result_ready'
                       AND NEW.delivery->>'method' = 'post')
    EXECUTE FUNCTION cds_dossier_shipment_trigger();
