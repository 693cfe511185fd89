-- One bank transfer, one credit, whatever number of providers report it
-- (issue 14). Until now a credit was deduplicated on each provider's own
-- transaction id, so the same transfer reported by Casso and by SePay (both
-- configured on one account, as scripts/run does) was credited twice.
--
-- A transfer's identity no longer depends on who reports it: its transfer
-- key is receiving account + the bank's own reference of the transfer +
-- amount + value date (the bank day in Vietnam), cds_transfer_key in
-- db/functions/payment.sql, where cds_payment_credit and
-- cds_payment_reconciliation (duplicate_count, duplicate_vnd) use it.
-- The first report of a transfer is credited as before; any later report of
-- the same transfer, by another provider or under another provider id, is
-- recorded as a row with match_status 'duplicate' and duplicate_of pointing
-- at the first, credits nothing, issues no receipt, and is counted apart in
-- reconciliation. A unique index keeps one non-duplicate row per key even
-- against concurrent reports, which also queue on an advisory lock of the
-- key so the second one finds the first instead of failing on the index.
--
-- A report without a bank reference has no transfer key: account, amount
-- and day alone do not tell two transfers apart (two citizens may pay the
-- same fee into the same account on the same day), so nothing would be safe
-- to merge it with, and crediting it could credit a transfer another
-- provider already reported with its reference. Such a report is recorded
-- but held: unmatched, hold_reason 'no_bank_reference', for a person to
-- assign (cds_payment_resolve), never credited automatically. payOS
-- (data.reference), Casso (reference) and SePay (referenceCode) all send the
-- bank reference with a bank transfer, so the hold is the exception.

ALTER TABLE bank_transactions
    ADD COLUMN transfer_key text,
    ADD COLUMN duplicate_of bigint REFERENCES bank_transactions (id),
    ADD COLUMN hold_reason  text CHECK (hold_reason IN ('no_bank_reference'));
ALTER TABLE bank_transactions DROP CONSTRAINT bank_transactions_match_status_check;
ALTER TABLE bank_transactions ADD CONSTRAINT bank_transactions_match_status_check
    CHECK (match_status IN ('matched', 'unmatched', 'resolved', 'duplicate'));
ALTER TABLE bank_transactions ADD CONSTRAINT bank_transactions_duplicate_of_check
    CHECK ((match_status = 'duplicate') = (duplicate_of IS NOT NULL));
COMMENT ON COLUMN bank_transactions.transfer_key IS
    'The transfer''s identity whoever reports it: account|bank reference|amount|value date '
    '(cds_transfer_key); NULL without a bank reference, and for cash on delivery.';
COMMENT ON COLUMN bank_transactions.duplicate_of IS
    'Set on a further report of a transfer already recorded (match_status duplicate): the row '
    'that was credited. Such a row credits nothing.';

-- Rows before this migration: the first report of each transfer gets its
-- key (cds_transfer_key's expression, written out: a migration does not
-- rely on a function's current body); later reports already credited (the
-- double credits this migration stops) keep none, so they stay as they were
-- and visible as they are.
UPDATE bank_transactions b SET transfer_key = k.key
FROM (SELECT DISTINCT ON (key) id, key
        FROM (SELECT id,
                     CASE WHEN regexp_replace(bank_reference, '\s', '', 'g') = '' THEN NULL
                     ELSE upper(regexp_replace(account_no, '\s', '', 'g')) || '|'
                          || upper(regexp_replace(bank_reference, '\s', '', 'g')) || '|'
                          || amount_vnd || '|'
                          || to_char(cds_vn_date(transacted_at), 'YYYY-MM-DD') END AS key
                FROM bank_transactions WHERE provider <> 'cod') x
       WHERE key IS NOT NULL ORDER BY key, id) k
WHERE b.id = k.id;
CREATE UNIQUE INDEX bank_transactions_transfer ON bank_transactions (transfer_key)
    WHERE duplicate_of IS NULL;
