-- 0038_shipment_requests.sql: an operator's calls to a carrier about a
-- parcel it has (issue 19 part 3, "stuck: retry or cancel"), and agent
-- locations made and closed in the console.
--
--   shipment_requests   an outbox (core/outbox.h, run by delivery/requests.c):
--                       one row per operator's request, kind cancel (the
--                       carrier's cancel call; confirmed, the shipment is
--                       cancelled through cds_shipment_event) or track (the
--                       carrier's order detail; its events applied through
--                       cds_shipment_event like a webhook's). state queued ->
--                       sending -> done | refused (the carrier said no) |
--                       failed (no answer after the attempts); at most one
--                       open request per shipment and kind, so a double
--                       click queues one call
--   shipment_events.source 'console'   the cancellation the carrier
--                       confirmed to an operator's request
--   agent_locations.disabled_at/_by    a closed agent location: no new
--                       agent accounts there; its agents are disabled
--
-- Functions: db/functions/delivery.sql (claim, result), console.sql (the
-- requests, locations), auth.sql (cds_staff_create checks the location).

CREATE TABLE shipment_requests (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    shipment_id  uuid NOT NULL REFERENCES shipments (id),
    kind         text NOT NULL CHECK (kind IN ('cancel', 'track')),
    state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'done',
                     'refused', 'failed')),
    attempts     int NOT NULL DEFAULT 0,
    next_at      timestamptz NOT NULL DEFAULT now(),
    claimed_at   timestamptz,
    claimed_by   text,
    requested_by text NOT NULL,
    reason       text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 2000),
    result       text,
    trace        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    done_at      timestamptz
);
CREATE UNIQUE INDEX shipment_requests_open ON shipment_requests (shipment_id, kind)
    WHERE state IN ('queued', 'sending');
CREATE INDEX shipment_requests_due ON shipment_requests (next_at)
    WHERE state IN ('queued', 'sending');
CREATE INDEX shipment_requests_shipment ON shipment_requests (shipment_id, created_at DESC);

ALTER TABLE shipment_events DROP CONSTRAINT shipment_events_source_check;
ALTER TABLE shipment_events ADD CONSTRAINT shipment_events_source_check
    CHECK (source IN ('webhook', 'poll', 'booking', 'handheld', 'console'));

ALTER TABLE agent_locations
    ADD COLUMN disabled_at timestamptz,
    ADD COLUMN disabled_by text;
