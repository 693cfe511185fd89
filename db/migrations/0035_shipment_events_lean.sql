-- 0035_shipment_events_lean.sql: one index less on shipment_events, a table
-- every courier event inserts into (issue 21: per-event database cost).
-- shipment_events_dedup (shipment_id, status, occurred_at) served only the
-- check of cds_shipment_event for the same step told by the handheld and by
-- the carrier; shipment_events_shipment (shipment_id, occurred_at, id) finds
-- the same rows, a shipment's handful of events, with the status checked on
-- them. Each event wrote an entry in both.
DROP INDEX IF EXISTS shipment_events_dedup;
