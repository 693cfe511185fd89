-- 0024_receipts_by_payment.sql: the public lookup page of a paid dossier
-- links its receipt's public check (dossiers/lookup.c, issue 18): the
-- valid receipt of a payment is found by the payment's id, on every lookup
-- of a paid dossier, so that must not scan the receipts.
CREATE INDEX receipts_payment ON receipts (payment_id) WHERE status = 'valid';
