-- Issue 20: traces into the outbox and the booking queue, and the partner
-- procedure ETag that follows its agency.
--
-- The trace of the step that caused a notification (W3C Trace
-- Context, core/trace.h): a message sent later by a dispatcher carries the
-- same trace id to the SMS gateway, FCM or APNs as the request that wrote it.
--
-- outbox.trace holds "<traceparent>" or "<traceparent> <tracestate>", the
-- traceparent naming the writing request's own span (the dispatcher's send
-- becomes its child). NULL for rows written outside any traced request.
--
-- How it gets there without a round trip: the SQL function a request calls
-- takes the request's trace as its last parameter (p_trace, NULL by
-- default), sets it as the transaction-local setting cds.trace, and
-- cds_outbox_for_step, the one writer of outbox rows, reads it back. The
-- setting spares every function between the two (cds_payment_take,
-- cds_dossier_step called from a courier event or a payment, ...) from
-- passing it along, and lasts only as long as the statement's transaction.
--
-- cds_outbox_for_step, cds_outbox_claim and the functions taking p_trace:
-- their current definitions are in db/functions/.

ALTER TABLE outbox ADD COLUMN trace text;
COMMENT ON COLUMN outbox.trace IS
    'W3C trace context of the request that wrote the row: traceparent, then a space and the '
    'tracestate when there is one (core/trace.h, cds_trace_stored).';

-- The partner procedure ETag (issue 20, optimistic concurrency): it is
-- "v<version>" of the procedure, but the representation it tags also shows
-- the agency's name and address, which `cds catalog load` may change without
-- touching the procedure. Such a change now raises the version of every
-- procedure of that agency (cds_agency_changed, db/functions/dossiers.sql),
-- so the tag changes whenever the representation does.
CREATE TRIGGER agencies_changed AFTER UPDATE ON agencies FOR EACH ROW
    WHEN ((OLD.name, OLD.address) IS DISTINCT FROM (NEW.name, NEW.address))
    EXECUTE FUNCTION cds_agency_changed();

-- Bookings (the shipments queue) carry the trace too: the result_ready step
-- that queued one (cds_dossier_shipment_trigger) is continued by the call
-- to the carrier and by the "booked" message to the citizen.
ALTER TABLE shipments ADD COLUMN trace text;
COMMENT ON COLUMN shipments.trace IS
    'W3C trace context of the request that queued the booking, as outbox.trace.';
