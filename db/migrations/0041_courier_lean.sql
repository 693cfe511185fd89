-- 0041_courier_lean.sql: less database work per courier event (issue 21,
-- row m: the SQL of one carrier webhook had to get cheaper).
--
-- 1. HOT updates of shipments. Every courier event updates its shipment;
--    the update could never be HOT (heap-only: no new index entries) because
--    the status it changes was in the predicates of shipments_dossier_live
--    and shipments_open, and updated_at (set by shipments_touch) was a key
--    of shipments_open: each event wrote an entry into every index of the
--    table (4.75 per event). The predicates now read two columns, is_live
--    and is_open, derived from status by the BEFORE trigger shipments_state
--    (cds_shipments_state, which also sets updated_at as shipments_touch
--    did), and which change only when the shipment ends: PostgreSQL
--    compares the indexed values, so an event between open states leaves
--    them equal and the update may be HOT. (Not generated columns: their
--    expressions are read back from text and planned in every statement
--    that updates the table, 2.3 % of the database's CPU per event.) The
--    polling index is keyed by the time of the last poll (what the poll
--    orders by) instead of updated_at. Fillfactor 80 leaves each page room
--    for new versions of its rows.
-- 2. The remaining one-column CHECKs of the tables a courier event writes
--    become domains, as 0040_write_paths_domains.sql did for the others: a
--    table's CHECKs are read back from text, planned and run in every
--    statement writing the table (shipments' two regular expressions at
--    every event, outbox's status list at every notification insert,
--    dossiers' two at every step); a domain's are planned once per
--    session. Same rules, same columns. outbox.channel stays text with its
--    CHECK: cds_outbox_claim (notify.sql) returns it by RETURN QUERY,
--    which wants the declared type exactly; shipments.carrier and
--    tracking_no are returned by delivery.sql's functions with a cast.
--    To change one of these rules later: ALTER DOMAIN (not the table).
--    A column's change to a domain with a CHECK rewrites its table (as in
--    0040): shipments, outbox and dossiers are rewritten once, under an
--    exclusive lock, when this migration runs.
-- 3. No foreign keys from the two histories to their parents
--    (shipment_events -> shipments, dossier_events -> dossiers), as
--    0005_outbox_lean.sql did for the outbox: each key ran a lookup
--    statement with a FOR KEY SHARE lock per history row (one per courier
--    event, one per dossier step) on a row its writer already holds FOR
--    UPDATE. The only writers (cds_shipment_event, cds_shipment_book_result;
--    cds_dossier_step_locked, cds_dossier_file, cds_dossier_import) insert
--    the id of the row they have just locked or written in the same
--    transaction, and shipments and dossiers are never deleted (records kept
--    for good), so the keys guarded nothing the writers do not already
--    guarantee.

CREATE DOMAIN cds_carrier AS text CHECK (VALUE ~ '^[a-z][a-z0-9_]{1,31}$');
CREATE DOMAIN cds_tracking_no AS text CHECK (VALUE ~ '^[0-9A-Za-z\-]{4,40}$');
CREATE DOMAIN cds_outbox_status AS text CHECK (VALUE IN
    ('created', 'sending', 'pending', 'sent', 'delivered', 'temporary-failure',
     'permanent-failure', 'technical-failure', 'superseded'));
CREATE DOMAIN cds_dossier_channel AS text CHECK (VALUE IN ('online', 'counter'));

ALTER TABLE shipments SET (fillfactor = 80);
DROP INDEX shipments_dossier_live;
DROP INDEX shipments_open;
DROP TRIGGER shipments_touch ON shipments;
-- Added as generated columns (filled in the table's rewrite, no UPDATE),
-- then kept up by the trigger.
ALTER TABLE shipments
    DROP CONSTRAINT shipments_carrier_check, DROP CONSTRAINT shipments_tracking_no_check,
    ALTER carrier TYPE cds_carrier, ALTER tracking_no TYPE cds_tracking_no,
    ADD COLUMN is_live boolean NOT NULL
        GENERATED ALWAYS AS (status NOT IN ('returned', 'cancelled', 'booking_failed')) STORED,
    ADD COLUMN is_open boolean NOT NULL
        GENERATED ALWAYS AS (status IN ('booked', 'picked_up', 'in_transit', 'out_for_delivery',
                                        'delivery_failed', 'returning')) STORED;
ALTER TABLE shipments ALTER is_live DROP EXPRESSION, ALTER is_open DROP EXPRESSION;
CREATE TRIGGER shipments_state BEFORE INSERT OR UPDATE ON shipments
    FOR EACH ROW EXECUTE FUNCTION cds_shipments_state();
COMMENT ON COLUMN shipments.is_live IS
    'Not returned, cancelled or failed to book: at most one live shipment per dossier '
    '(shipments_dossier_live). Set from status by the trigger shipments_state.';
COMMENT ON COLUMN shipments.is_open IS
    'On its way (booked to returning): polled when the carrier is silent (shipments_open). '
    'Set from status by the trigger shipments_state.';
-- At most one live shipment per dossier; a returned or failed one may be
-- followed by another.
CREATE UNIQUE INDEX shipments_dossier_live ON shipments (dossier_id) WHERE is_live;
-- The polling fallback (cds_shipments_to_poll): open shipments of a carrier,
-- the least recently polled first.
CREATE INDEX shipments_open ON shipments (carrier, last_polled_at NULLS FIRST) WHERE is_open;

ALTER TABLE outbox
    DROP CONSTRAINT outbox_status,
    ALTER status TYPE cds_outbox_status;

ALTER TABLE dossiers
    DROP CONSTRAINT dossiers_fee_vnd_check, DROP CONSTRAINT dossiers_channel_check,
    ALTER fee_vnd TYPE cds_vnd, ALTER channel TYPE cds_dossier_channel;

ALTER TABLE shipment_events DROP CONSTRAINT shipment_events_shipment_id_fkey;
ALTER TABLE dossier_events DROP CONSTRAINT dossier_events_dossier_id_fkey;
