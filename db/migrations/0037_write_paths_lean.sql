-- 0037_write_paths_lean.sql: less database work per payment and courier
-- event (issue 21: per-event database cost).
--
-- One index less on shipments, whose row every courier event updates
-- without HOT (its status is in the predicates of
-- shipments_dossier_live and shipments_open), so each event wrote an entry
-- into every index of the table.
-- The unique (carrier, tracking_no) and shipments_tracking (tracking_no)
-- become one unique index on (tracking_no, carrier): the same uniqueness,
-- and it serves both lookups, by tracking number and carrier (a carrier's
-- event, the handheld) and by tracking number alone (cds_shipment_event's
-- wrong_carrier answer).
ALTER TABLE shipments ADD CONSTRAINT shipments_tracking_carrier_key UNIQUE (tracking_no, carrier);
ALTER TABLE shipments DROP CONSTRAINT shipments_carrier_tracking_no_key;
DROP INDEX shipments_tracking;

-- The advance an intent counts (cds_payment_breakdown: what expired intents
-- of the same fee request received) was a sequential scan of payments at
-- every open of a payment (2.1 ms each with 7,000 payments on the bench's
-- scratch cluster, growing with the table). Only expired intents are in
-- this index.
CREATE INDEX payments_expired_request ON payments (request_event_id) WHERE status = 'expired';
