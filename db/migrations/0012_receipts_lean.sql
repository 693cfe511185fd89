-- 0012_receipts_lean.sql: fewer row versions and index entries per receipt.
--
-- Measured on the payments benchmark (2 cores, load average 6-8): with the
-- receipts of 0011 the webhook path ran at 604 and 866 /s against 1,033 and
-- 1,688 /s with cds_receipt_issue returning NULL (no receipt written). Each receipt was written
-- three times (insert, number, signature), every version with an entry in
-- each of its seven indexes, on the same two cores as the payments.
--
--   * The number and the signature are now written by one UPDATE: the
--     signer asks cds_receipt_number_plan for the next numbers (series rows
--     locked, their counters advanced, the receipts not touched), signs the
--     content with those numbers, and writes number and signature together
--     before COMMIT. Every planned number is written in that transaction
--     (with the signature, or with sign_error, or alone when this node has
--     no key for the agency) or the whole transaction rolls back: the
--     series stays gapless.
--   * correction_key is indexed only where set (a correction), not for
--     every receipt.

ALTER TABLE receipts DROP CONSTRAINT receipts_correction_key_key;
CREATE UNIQUE INDEX receipts_correction_key ON receipts (correction_key) WHERE correction_key IS NOT NULL;

-- The batch numbering of 0011 is replaced by the plan above.
