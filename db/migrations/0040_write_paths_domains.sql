-- 0040_write_paths_domains.sql: the one-column CHECKs of the tables a
-- payment credit and a courier event write become domains (issue 21:
-- database CPU per event).
--
-- PostgreSQL reads a table's CHECK constraints back from their stored
-- text (stringToNode), plans and compiles them again in every statement
-- that inserts or updates a row of the table, and checks all of them on
-- every update whatever columns it sets: ~13 % of the database's CPU in a
-- payOS credit (perf, bench/README.md, 2026-12-05). A domain's constraints
-- are planned once per session (the type cache) and checked only where a
-- value of the domain is written. The rules are the same ones, on the same
-- columns, checked on every write: only where they are written down moves.
-- Rules that tie several columns together stay table CHECKs.
--
-- To change such a rule later: ALTER DOMAIN ... DROP CONSTRAINT / ADD
-- CONSTRAINT (the columns keep their domain). Columns returned by plpgsql
-- RETURN QUERY functions as text (shipments.carrier, tracking_no) are left
-- as they are: RETURN QUERY wants the declared type exactly.

CREATE DOMAIN cds_vnd AS bigint CHECK (VALUE >= 0);
CREATE DOMAIN cds_vnd_amount AS bigint CHECK (VALUE BETWEEN 1 AND 999999999999);
CREATE DOMAIN cds_vnd_receipt AS bigint CHECK (VALUE BETWEEN 0 AND 999999999999);
CREATE DOMAIN cds_vnd_fee AS bigint CHECK (VALUE BETWEEN 0 AND 1000000000000);
CREATE DOMAIN cds_payment_status AS text CHECK (VALUE IN
    ('created', 'partially_paid', 'paid', 'expired', 'cancelled', 'refund_due', 'refunded'));
CREATE DOMAIN cds_payment_reference AS text CHECK (VALUE ~ '^CDS[0-9A-HJKMNP-TV-Z]{10}$');
CREATE DOMAIN cds_payment_provider AS text CHECK (VALUE IN ('transfer', 'payos'));
CREATE DOMAIN cds_bank_provider AS text CHECK (VALUE IN ('payos', 'casso', 'sepay', 'cod', 'counter'));
CREATE DOMAIN cds_bank_match AS text CHECK (VALUE IN ('matched', 'unmatched', 'resolved', 'duplicate'));
CREATE DOMAIN cds_bank_hold AS text CHECK (VALUE = 'no_bank_reference');
CREATE DOMAIN cds_event_key AS text CHECK (char_length(VALUE) BETWEEN 1 AND 128);
CREATE DOMAIN cds_receipt_number AS bigint CHECK (VALUE BETWEEN 1 AND 99999999);
CREATE DOMAIN cds_receipt_kind AS text CHECK (VALUE IN ('original', 'replacement', 'adjustment'));
CREATE DOMAIN cds_receipt_status AS text CHECK (VALUE IN ('valid', 'replaced', 'adjusted'));
CREATE DOMAIN cds_shipment_status AS text CHECK (VALUE IN
    ('pending', 'booked', 'picked_up', 'in_transit', 'out_for_delivery', 'delivered',
     'delivery_failed', 'returning', 'returned', 'cancelled', 'booking_failed'));
CREATE DOMAIN cds_shipment_book_state AS text CHECK (VALUE IN ('queued', 'sending', 'done', 'failed'));
CREATE DOMAIN cds_shipment_event_status AS text CHECK (VALUE IN
    ('booked', 'picked_up', 'in_transit', 'out_for_delivery', 'delivered', 'delivery_failed',
     'returning', 'returned', 'cancelled'));
CREATE DOMAIN cds_shipment_event_source AS text CHECK (VALUE IN
    ('webhook', 'poll', 'booking', 'handheld', 'console'));

-- payments (a column type cannot change under a trigger naming it: the
-- payOS links trigger of 0019 is made again, unchanged).
DROP TRIGGER payments_payos_links ON payments;
ALTER TABLE payments
    DROP CONSTRAINT payments_received_vnd_check, DROP CONSTRAINT payments_refund_due_vnd_check,
    DROP CONSTRAINT payments_amount_vnd_check, DROP CONSTRAINT payments_reference_check,
    DROP CONSTRAINT payments_status_check, DROP CONSTRAINT payments_provider_check,
    ALTER received_vnd TYPE cds_vnd, ALTER refund_due_vnd TYPE cds_vnd,
    ALTER amount_vnd TYPE cds_vnd_amount, ALTER reference TYPE cds_payment_reference,
    ALTER status TYPE cds_payment_status, ALTER provider TYPE cds_payment_provider;
CREATE TRIGGER payments_payos_links AFTER UPDATE OF status, received_vnd ON payments
    FOR EACH ROW WHEN (NEW.provider = 'payos' AND (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.received_vnd IS DISTINCT FROM NEW.received_vnd))
    EXECUTE FUNCTION cds_payos_links_on_payment();

ALTER TABLE bank_transactions
    DROP CONSTRAINT bank_transactions_provider_check,
    DROP CONSTRAINT bank_transactions_provider_tx_id_check,
    DROP CONSTRAINT bank_transactions_amount_vnd_check,
    DROP CONSTRAINT bank_transactions_applied_vnd_check,
    DROP CONSTRAINT bank_transactions_excess_vnd_check,
    DROP CONSTRAINT bank_transactions_match_status_check,
    DROP CONSTRAINT bank_transactions_hold_reason_check,
    ALTER provider TYPE cds_bank_provider, ALTER provider_tx_id TYPE cds_event_key,
    ALTER amount_vnd TYPE cds_vnd_amount, ALTER applied_vnd TYPE cds_vnd,
    ALTER excess_vnd TYPE cds_vnd, ALTER match_status TYPE cds_bank_match,
    ALTER hold_reason TYPE cds_bank_hold;

ALTER TABLE receipts
    DROP CONSTRAINT receipts_number_check, DROP CONSTRAINT receipts_kind_check,
    DROP CONSTRAINT receipts_status_check, DROP CONSTRAINT receipts_amount_vnd_check,
    ALTER number TYPE cds_receipt_number, ALTER kind TYPE cds_receipt_kind,
    ALTER status TYPE cds_receipt_status, ALTER amount_vnd TYPE cds_vnd_receipt;

ALTER TABLE dossier_events
    DROP CONSTRAINT dossier_events_fee_vnd_check,
    ALTER fee_vnd TYPE cds_vnd_fee;

ALTER TABLE shipments
    DROP CONSTRAINT shipments_status_check, DROP CONSTRAINT shipments_book_state_check,
    DROP CONSTRAINT shipments_cod_collected_vnd_check, DROP CONSTRAINT shipments_cod_due_vnd_check,
    DROP CONSTRAINT shipments_fee_vnd_check,
    ALTER status TYPE cds_shipment_status, ALTER book_state TYPE cds_shipment_book_state,
    ALTER cod_collected_vnd TYPE cds_vnd, ALTER cod_due_vnd TYPE cds_vnd, ALTER fee_vnd TYPE cds_vnd;

ALTER TABLE shipment_events
    DROP CONSTRAINT shipment_events_status_check, DROP CONSTRAINT shipment_events_source_check,
    DROP CONSTRAINT shipment_events_event_id_check,
    ALTER status TYPE cds_shipment_event_status, ALTER source TYPE cds_shipment_event_source,
    ALTER event_id TYPE cds_event_key;
