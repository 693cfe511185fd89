-- 0027_couriers.sql: the carrier's couriers and their handheld app (issue 19 part 2).
--
--   couriers          one account per courier of a carrier, issued by the
--                     carrier's system (signed partner API) or an operator
--                     (`cds couriers add`); the login secret is a 256-bit
--                     random string shown once, kept as its SHA-256 (a KDF
--                     is for guessable passwords; this one is not guessable)
--   courier_photos    photos of signed delivery slips (JPEG/PNG, capped),
--                     by SHA-256; a delivered event names one
--   courier_events    every handheld event taken, by the handheld's own id:
--                     a queue replayed after losing coverage finds its
--                     events here and changes nothing twice
--   shipments.delivery_code_hash / _tries   the one-time delivery code
--                     (sha256 of shipment id ':' code) made at
--                     out_for_delivery for sensitive results, and the wrong
--                     tries counted against it
--   procedures.sensitive_result   results whose delivery needs that code
--
-- Functions: db/functions/delivery.sql (cds_courier_*).

CREATE TABLE couriers (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    carrier      text NOT NULL CHECK (carrier ~ '^[a-z][a-z0-9_]{1,31}$'),
    external_id  text NOT NULL CHECK (external_id ~ '^[0-9A-Za-z_.:-]{1,64}$'),
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    phone        text CHECK (phone IS NULL OR phone ~ '^0[0-9]{9}$'),
    secret_sha256 text NOT NULL CHECK (secret_sha256 ~ '^[0-9a-f]{64}$'),
    issued_by    text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    disabled_at  timestamptz,
    disabled_by  text,
    UNIQUE (carrier, external_id)
);

CREATE TABLE courier_photos (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    courier_id   uuid NOT NULL REFERENCES couriers (id),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    size_bytes   int NOT NULL CHECK (size_bytes BETWEEN 1 AND 2097152),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes        bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (courier_id, sha256)
);

CREATE TABLE courier_events (
    courier_id      uuid NOT NULL REFERENCES couriers (id),
    client_event_id text NOT NULL CHECK (client_event_id ~ '^[0-9A-Za-z_.:-]{1,64}$'),
    shipment_id     uuid NOT NULL REFERENCES shipments (id),
    kind            text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    result          text NOT NULL,
    next_attempt_at timestamptz,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (courier_id, client_event_id)
);
CREATE INDEX courier_events_shipment ON courier_events (shipment_id, occurred_at);

ALTER TABLE shipments
    ADD COLUMN delivery_code_hash bytea,
    ADD COLUMN delivery_code_tries int NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE procedures ADD COLUMN sensitive_result boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN procedures.sensitive_result IS
    'Results delivered by post only against the one-time delivery code the citizen received.';

ALTER TABLE shipment_events DROP CONSTRAINT shipment_events_source_check;
ALTER TABLE shipment_events ADD CONSTRAINT shipment_events_source_check
    CHECK (source IN ('webhook', 'poll', 'booking', 'handheld'));
CREATE INDEX shipment_events_dedup ON shipment_events (shipment_id, status, occurred_at);
