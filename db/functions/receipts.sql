-- db/functions/receipts.sql: e-receipts of credited payments: issue,
-- numbering plan for the signer, corrections and the daily export.
--
-- Repeatable: core/migrate.c runs this whole file again, in one transaction
-- with the other files of db/functions/, whenever any of them changed (see
-- the comment atop core/migrate.c). Every function is defined here only:
-- change it by editing this file, never in a migration.

-- The mẫu số given to a series nobody configured.
CREATE OR REPLACE FUNCTION cds_receipt_default_template() RETURNS text
LANGUAGE sql IMMUTABLE RETURN '01BLP0-001';

-- Text cut to at most `max` bytes of UTF-8, between characters: the
-- canonical form limits texts in bytes. cds_text_bytes is the call: a sql
-- function the planner inlines (issue 21: four plpgsql calls per receipt
-- issued became one comparison each); the loop runs only for a text too
-- long (cds_text_bytes_cut).
CREATE OR REPLACE FUNCTION cds_text_bytes_cut(t text, max int) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    n int := char_length(t);
BEGIN
    IF octet_length(t) <= max THEN
        RETURN t;
    END IF;
    n := max;  -- a character is at least one byte
    WHILE n > 0 AND octet_length(left(t, n)) > max LOOP
        n := n - 1;
    END LOOP;
    RETURN left(t, n);
END
$$;

-- Not STRICT, so that it is inlined: NULL goes to cds_text_bytes_cut, which
-- is, and returns NULL.
CREATE OR REPLACE FUNCTION cds_text_bytes(t text, max int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN octet_length(t) <= max THEN t ELSE cds_text_bytes_cut(t, max) END
$$;

-- The bank reference printed on a receipt: the bank's own reference when it
-- is a plain token (1..64 printable ASCII, no space), else the provider's
-- transaction id made one.
CREATE OR REPLACE FUNCTION cds_receipt_bank_ref(t bank_transactions) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN t.bank_reference ~ '^[!-~]{1,64}$' THEN t.bank_reference
        WHEN t.provider_tx_id ~ '^[!-~]{1,64}$' THEN t.provider_tx_id
        ELSE COALESCE(NULLIF(left(regexp_replace(t.provider_tx_id, '[^!-~]', '', 'g'), 64), ''),
                      'TX' || t.id::text)
    END
$$;

-- Issues the receipt of credited bank transaction p_tx, inside the caller's
-- transaction (cds_payment_credit, cds_payment_resolve), and returns its id;
-- NULL when the transaction pays nothing (no intent, nothing applied).
-- Idempotent: a transaction has at most one receipt. It has no number yet and
-- takes no shared lock: the signer numbers and signs it right after the
-- commit (cds_receipt_number_plan), woken by NOTIFY (identical notifications
-- of one transaction are folded into one by PostgreSQL).
-- p_id: the id to give a new receipt (NULL: a fresh one), so that the
-- caller can write it into the bank transaction when inserting that row
-- instead of updating the row afterwards (issue 21: one row version less per
-- payment); the id returned is the receipt's either way.
DROP FUNCTION IF EXISTS cds_receipt_issue(bigint);
CREATE OR REPLACE FUNCTION cds_receipt_issue(p_tx bigint, p_id uuid DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
    v_now timestamptz := date_trunc('second', now());
    v_void text;
BEGIN
    -- One statement for a new receipt (issue 21: the bank transaction and
    -- the receipt already issued were two lookups before it): the credited
    -- transaction's row joins the insert, which writes nothing when it pays
    -- nothing or already has its receipt.
    INSERT INTO receipts (id, agency_code, year, issuer_name, issuer_tax_code, issuer_address,
                          citizen_id, payer_name, payer_pid_sealed, payer_address_sealed,
                          fee_name, dossier_id, dossier_code, amount_vnd, bank_ref, paid_at,
                          issued_at, payment_id, bank_tx_id)
    SELECT COALESCE(p_id, gen_random_uuid()), p.agency_code, extract(year FROM v_now AT TIME ZONE 'Asia/Ho_Chi_Minh')::int,
           cds_text_bytes(a.name, 300), COALESCE(a.tax_code, ''),
           cds_text_bytes(COALESCE(a.address, ''), 500), c.id, cds_text_bytes(c.full_name, 300),
           c.pid_sealed, c.address_sealed, cds_text_bytes(pr.name, 300), d.id, d.code,
           t.applied_vnd, cds_receipt_bank_ref(t), date_trunc('second', t.transacted_at), v_now,
           p.id, p_tx
      FROM bank_transactions t
      JOIN payments p ON p.id = t.payment_id
      JOIN agencies a ON a.code = p.agency_code
      JOIN citizens c ON c.id = p.citizen_id
      JOIN dossiers d ON d.id = p.dossier_id
      JOIN procedures pr ON pr.code = d.procedure_code
     WHERE t.id = p_tx AND t.applied_vnd > 0
       AND NOT EXISTS (SELECT 1 FROM receipts r WHERE r.bank_tx_id = p_tx)
    RETURNING id INTO v_id;
    IF v_id IS NOT NULL THEN
        -- An assignment, not PERFORM: no executor (issue 21); void as text is ''.
        v_void := pg_notify('cds_receipts', '')::text;
        RETURN v_id;
    END IF;
    -- Nothing written: the receipt the transaction has already, or none.
    SELECT r.id INTO v_id FROM receipts r WHERE r.bank_tx_id = p_tx;
    RETURN v_id;
END
$$;

-- A replacement or an adjustment of receipt p_id: a new receipt (numbered by
-- the signer like any other), the content of the old
-- one with p_changes applied (payer_name, payer_address_sealed, fee_name,
-- amount_vnd), pointing to it; the old one marked replaced / adjusted; the
-- audit log row (who, why, what changed). status: 'created', 'duplicate'
-- (p_key seen before: that correction is returned), 'not_found',
-- 'already_corrected' (the receipt was replaced or adjusted already: nothing
-- changes, replaced_by names the newer one), 'key_reused' (p_key names a
-- correction of another receipt).
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

-- The rows of the daily export for the Vietnam calendar days p_from..p_to:
-- every numbered receipt (kind 'receipt', in series and number order), then
-- the totals per template, serial and fee (kind 'total': count, amount).
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

-- The next numbers for up to p_limit unnumbered receipts, series by series
-- (agency, year order: two signers never deadlock), in issue order: each
-- returned row is the receipt as it will be once numbered (template_no,
-- serial, number set), the receipt itself is not written. The series rows
-- stay locked, their last_number advanced, until the caller's transaction
-- ends; the caller must write every number it was given before COMMIT.
CREATE OR REPLACE FUNCTION cds_receipt_number_plan(p_limit int) RETURNS SETOF receipts
LANGUAGE plpgsql AS $$
DECLARE
    g record;
    s receipt_series;
    r receipts;
    n int;
    total int := 0;
BEGIN
    FOR g IN SELECT x.agency_code, x.year FROM receipts x WHERE x.number IS NULL
             GROUP BY 1, 2 ORDER BY 1, 2 LOOP
        EXIT WHEN total >= p_limit;
        INSERT INTO receipt_series (agency_code, year, template_no, serial)
        VALUES (g.agency_code, g.year, cds_receipt_default_template(), left(g.agency_code, 20))
        ON CONFLICT DO NOTHING;
        SELECT * INTO s FROM receipt_series x
         WHERE x.agency_code = g.agency_code AND x.year = g.year FOR UPDATE;
        n := 0;
        -- A fresh statement after the lock: sees what the previous holder numbered.
        FOR r IN SELECT * FROM receipts x
                  WHERE x.agency_code = g.agency_code AND x.year = g.year AND x.number IS NULL
                  ORDER BY x.issue_seq LIMIT p_limit - total LOOP
            n := n + 1;
            r.template_no := s.template_no;
            r.serial := s.serial;
            r.number := s.last_number + n;
            RETURN NEXT r;
        END LOOP;
        IF n > 0 THEN
            UPDATE receipt_series x SET last_number = x.last_number + n
             WHERE x.agency_code = g.agency_code AND x.year = g.year;
            total := total + n;
        END IF;
    END LOOP;
END
$$;
