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
CREATE OR REPLACE FUNCTION cds_receipt_issue(p_tx bigint) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    t bank_transactions;
    v_id uuid;
    v_now timestamptz := date_trunc('second', now());
BEGIN
    SELECT * INTO t FROM bank_transactions WHERE id = p_tx;
    IF NOT FOUND OR t.payment_id IS NULL OR t.applied_vnd <= 0 THEN
        RETURN NULL;
    END IF;
    SELECT r.id INTO v_id FROM receipts r WHERE r.bank_tx_id = p_tx;
    IF FOUND THEN
        RETURN v_id;
    END IF;
    INSERT INTO receipts (agency_code, year, issuer_name, issuer_tax_code, issuer_address,
                          citizen_id, payer_name, payer_pid_sealed, payer_address_sealed,
                          fee_name, dossier_id, dossier_code, amount_vnd, bank_ref, paid_at,
                          issued_at, payment_id, bank_tx_id)
    SELECT p.agency_code, extract(year FROM v_now AT TIME ZONE 'Asia/Ho_Chi_Minh')::int,
           cds_text_bytes(a.name, 300), COALESCE(a.tax_code, ''),
           cds_text_bytes(COALESCE(a.address, ''), 500), c.id, cds_text_bytes(c.full_name, 300),
           c.pid_sealed, c.address_sealed, cds_text_bytes(pr.name, 300), d.id, d.code,
           t.applied_vnd, cds_receipt_bank_ref(t), date_trunc('second', t.transacted_at), v_now,
           p.id, p_tx
      FROM payments p
      JOIN agencies a ON a.code = p.agency_code
      JOIN citizens c ON c.id = p.citizen_id
      JOIN dossiers d ON d.id = p.dossier_id
      JOIN procedures pr ON pr.code = d.procedure_code
     WHERE p.id = t.payment_id
    RETURNING id INTO v_id;
    IF v_id IS NOT NULL THEN
        PERFORM pg_notify('cds_receipts', '');
    END IF;
    RETURN v_id;
END
$$;

-- Numbers up to p_limit unnumbered receipts, series by series, in issue
-- order, and returns how many. Locks each series row it uses until the
-- caller's transaction ends: the caller signs the receipts and commits.
CREATE FUNCTION cds_receipt_number_batch(p_limit int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    g record;
    s receipt_series;
    n int;
    total int := 0;
BEGIN
    FOR g IN SELECT r.agency_code, r.year FROM receipts r WHERE r.number IS NULL
             GROUP BY 1, 2 ORDER BY 1, 2 LOOP
        EXIT WHEN total >= p_limit;
        INSERT INTO receipt_series (agency_code, year, template_no, serial)
        VALUES (g.agency_code, g.year, cds_receipt_default_template(), left(g.agency_code, 20))
        ON CONFLICT DO NOTHING;
        SELECT * INTO s FROM receipt_series x
         WHERE x.agency_code = g.agency_code AND x.year = g.year FOR UPDATE;
        -- A fresh statement after the lock: sees what the previous holder numbered.
        WITH planned AS (
            SELECT r.id, s.last_number + row_number() OVER (ORDER BY r.issue_seq) AS num
              FROM receipts r
             WHERE r.agency_code = g.agency_code AND r.year = g.year AND r.number IS NULL
             ORDER BY r.issue_seq
             LIMIT p_limit - total
        )
        UPDATE receipts r SET template_no = s.template_no, serial = s.serial, number = planned.num
          FROM planned WHERE r.id = planned.id;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            UPDATE receipt_series x SET last_number = x.last_number + n
             WHERE x.agency_code = g.agency_code AND x.year = g.year;
            total := total + n;
        END IF;
    END LOOP;
    RETURN total;
END
$$;

-- Corrections as in 0007, the new receipt numbered by the signer like any
-- other; the audit row names it by id.
CREATE OR REPLACE FUNCTION cds_receipt_correct(p_id uuid, p_kind text, p_actor text, p_reason text,
                                               p_changes jsonb, p_key text,
                                               OUT status text, OUT receipt_id uuid,
                                               OUT replaced_by uuid)
LANGUAGE plpgsql AS $$
DECLARE
    o receipts;
    v_now timestamptz := date_trunc('second', now());
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT r.id, r.replaces INTO receipt_id, replaced_by FROM receipts r WHERE r.correction_key = p_key;
        IF FOUND THEN
            status := CASE WHEN replaced_by = p_id THEN 'duplicate' ELSE 'key_reused' END;
            replaced_by := NULL;
            IF status = 'key_reused' THEN receipt_id := NULL; END IF;
            RETURN;
        END IF;
    END IF;
    SELECT * INTO o FROM receipts r WHERE r.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF o.status <> 'valid' THEN
        status := 'already_corrected';
        replaced_by := o.replaced_by;
        RETURN;
    END IF;
    INSERT INTO receipts (agency_code, year, kind, replaces, issuer_name, issuer_tax_code,
                          issuer_address, citizen_id, payer_name, payer_pid_sealed,
                          payer_address_sealed, fee_name, dossier_id, dossier_code, amount_vnd,
                          payment_method, bank_ref, paid_at, issued_at, payment_id, correction_key)
    VALUES (o.agency_code, extract(year FROM v_now AT TIME ZONE 'Asia/Ho_Chi_Minh')::int, p_kind,
            o.id, o.issuer_name, o.issuer_tax_code, o.issuer_address, o.citizen_id,
            COALESCE(p_changes->>'payer_name', o.payer_name), o.payer_pid_sealed,
            COALESCE(p_changes->>'payer_address_sealed', o.payer_address_sealed),
            COALESCE(p_changes->>'fee_name', o.fee_name), o.dossier_id, o.dossier_code,
            COALESCE((p_changes->>'amount_vnd')::bigint, o.amount_vnd), o.payment_method,
            o.bank_ref, o.paid_at, v_now, o.payment_id, p_key)
    RETURNING id INTO receipt_id;
    UPDATE receipts r SET status = CASE p_kind WHEN 'replacement' THEN 'replaced' ELSE 'adjusted' END,
                          replaced_by = receipt_id
     WHERE r.id = o.id;
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES (p_actor, 'receipt.' || p_kind, 'receipt:' || o.id, p_reason,
            jsonb_build_object('new_receipt', receipt_id,
                               'changes', p_changes - 'payer_address_sealed'
                                   || CASE WHEN p_changes ? 'payer_address_sealed'
                                           THEN '{"payer_address":"(sealed)"}'::jsonb
                                           ELSE '{}'::jsonb END));
    PERFORM pg_notify('cds_receipts', '');
    status := 'created';
END
$$;

-- The export lists numbered receipts only (a receipt is issued once numbered
-- and signed, a second after its payment at most).
CREATE OR REPLACE FUNCTION cds_receipt_export(p_from date, p_to date)
RETURNS TABLE (kind text, template_no text, serial text, year int, number bigint, issued_at text,
               paid_at text, receipt_kind text, status text, replaces_number bigint,
               agency_code text, issuer_tax_code text, payer_name text, fee_name text,
               dossier_code text, bank_ref text, amount_vnd bigint, count bigint)
LANGUAGE sql STABLE AS $$
    SELECT 'receipt', r.template_no, r.serial, r.year, r.number, cds_rfc3339(r.issued_at),
           cds_rfc3339(r.paid_at), r.kind, r.status, o.number, r.agency_code, r.issuer_tax_code,
           r.payer_name, r.fee_name, r.dossier_code, r.bank_ref, r.amount_vnd, 1::bigint
      FROM receipts r LEFT JOIN receipts o ON o.id = r.replaces
     WHERE cds_vn_date(r.issued_at) BETWEEN p_from AND p_to AND r.number IS NOT NULL
    UNION ALL
    SELECT 'total', t.template_no, t.serial, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, t.fee_name, NULL, NULL, t.amount, t.n
      FROM (SELECT r.template_no, r.serial, r.fee_name, sum(r.amount_vnd)::bigint AS amount,
                   count(*) AS n
              FROM receipts r
             WHERE cds_vn_date(r.issued_at) BETWEEN p_from AND p_to AND r.number IS NOT NULL
             GROUP BY 1, 2, 3) t
    ORDER BY 1, 2, 3, 4, 5, 14
$$;

-- The 0007 in-transaction allocator is no longer called.
DROP FUNCTION cds_receipt_next_number(text, int);
