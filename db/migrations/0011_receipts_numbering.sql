-- 0011_receipts_numbering.sql: receipt numbers assigned right after the
-- payment commits, in batches, instead of inside the payment transaction.
--
-- Why: with the series counter row locked by every payment transaction, all
-- payments of one series held that lock through their commit, one after
-- another, so they could not share a commit (no group commit) and a
-- preempted lock holder stalled every other: on the 2-core benchmark
-- machine one series issued 1,200-2,000 receipts/s alone (pgbench) and cut
-- the webhook path to a third.
--
-- Now the payment transaction inserts the receipt (content, issue time,
-- year) without a number and takes no shared lock. The signer
-- (receipts/signer.c) numbers and signs in one transaction:
-- cds_receipt_number_batch locks each series row it needs (agency, year
-- order, so two signers never deadlock), gives the unnumbered receipts of
-- that series the next numbers in issue order (issue_seq), and the signer
-- signs them before COMMIT. Still gapless and never repeated, enforced in
-- PostgreSQL: numbering is one transaction holding the series row; if it
-- rolls back (crash, error), no number was consumed and the receipts stay
-- unnumbered for the next pass; a rolled-back payment never had a receipt.
-- A receipt is shown as "being issued" until it has number and signature.

ALTER TABLE receipts ALTER COLUMN template_no DROP NOT NULL,
                     ALTER COLUMN serial DROP NOT NULL,
                     ALTER COLUMN number DROP NOT NULL,
                     ADD COLUMN issue_seq bigserial,
                     ADD CONSTRAINT receipts_numbered_together
                         CHECK ((number IS NULL) = (template_no IS NULL)
                                AND (number IS NULL) = (serial IS NULL)),
                     ADD CONSTRAINT receipts_signed_numbered
                         CHECK (signature IS NULL OR number IS NOT NULL);
CREATE INDEX receipts_unnumbered ON receipts (agency_code, year, issue_seq) WHERE number IS NULL;
DROP INDEX receipts_unsigned;
CREATE INDEX receipts_unsigned ON receipts (issue_seq)
    WHERE signature IS NULL AND sign_error IS NULL AND number IS NOT NULL;

-- The payment functions' call: the receipt of credited transaction p_tx,
-- without its number yet (see above); its id, or NULL when the transaction
-- pays nothing. Idempotent: one receipt per transaction.
-- cds_receipt_issue: its current definition is in db/functions/receipts.sql.

-- Corrections as in 0007, the new receipt numbered by the signer like any
-- other; the audit row names it by id.
-- cds_receipt_correct: its current definition is in db/functions/receipts.sql.

-- The export lists numbered receipts only (a receipt is issued once numbered
-- and signed, a second after its payment at most).
-- cds_receipt_export: its current definition is in db/functions/receipts.sql.

-- The 0007 in-transaction allocator is no longer called.
