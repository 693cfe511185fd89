-- 0007_receipts.sql: e-receipts for fees and charges (biên lai điện tử thu
-- phí, lệ phí), issued in the transaction that records a payment.
--
--   receipt_series   mẫu số (template_no) and ký hiệu (serial) of each
--                    agency and year, and the counter of its numbers: the
--                    row is locked by the issuing transaction, so numbers
--                    are gapless and never repeat, whatever the number of
--                    server processes, and a rolled-back payment gives its
--                    number back (the UPDATE is rolled back with it)
--   receipt_keys     the public keys receipts were signed with, by key id,
--                    so a receipt still verifies after its key rotated out
--   receipts         the receipts: content as issued (the payer's personal
--                    ID and address copied sealed from citizens: their
--                    plaintext exists only in C), the signature added right
--                    after commit by the signer of receipts/signer.c, the
--                    correction chain (replaces / replaced_by)
--
-- Transitions, one function each: cds_receipt_issue (from the payment
-- functions of 0006), cds_receipt_sign_batch is plain SQL in the signer,
-- cds_receipt_correct (replacement or adjustment, audited), and
-- cds_receipt_export (the daily report rows).

CREATE TABLE receipt_series (
    agency_code  text NOT NULL,
    year         int NOT NULL CHECK (year BETWEEN 2000 AND 2999),
    template_no  text NOT NULL CHECK (template_no ~ '^[0-9A-Za-z./-]{1,20}$'),
    serial       text NOT NULL CHECK (serial ~ '^[0-9A-Za-z./-]{1,20}$'),
    last_number  bigint NOT NULL DEFAULT 0 CHECK (last_number BETWEEN 0 AND 99999999),
    PRIMARY KEY (agency_code, year),
    UNIQUE (template_no, serial, year)
) WITH (fillfactor = 50); -- the counter update stays on its page (HOT)
COMMENT ON TABLE receipt_series IS
    'One receipt series per issuing agency and year: mẫu số, ký hiệu and the last number '
    'issued. A series missing when the first receipt of a year is issued is created with '
    'the default template (cds_receipt_default_template) and the agency code as serial; '
    '`cds receipt series` sets them beforehand.';

-- The mẫu số given to a series nobody configured.
CREATE FUNCTION cds_receipt_default_template() RETURNS text
LANGUAGE sql IMMUTABLE RETURN '01BLP0-001';

CREATE TABLE receipt_keys (
    kid         text PRIMARY KEY CHECK (kid ~ '^[0-9a-f]{16}$'),
    alg         text NOT NULL CHECK (alg IN ('ES256', 'EdDSA')),
    public_pem  text NOT NULL,
    first_used  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE receipts (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_code           text NOT NULL,
    template_no           text NOT NULL,
    serial                text NOT NULL,
    year                  int NOT NULL,
    number                bigint NOT NULL CHECK (number BETWEEN 1 AND 99999999),
    kind                  text NOT NULL DEFAULT 'original'
                              CHECK (kind IN ('original', 'replacement', 'adjustment')),
    replaces              uuid REFERENCES receipts (id),
    status                text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'replaced', 'adjusted')),
    replaced_by           uuid REFERENCES receipts (id),
    issuer_name           text NOT NULL,
    issuer_tax_code       text NOT NULL DEFAULT '',
    issuer_address        text NOT NULL DEFAULT '',
    citizen_id            uuid NOT NULL,
    payer_name            text NOT NULL,
    payer_pid_sealed      text NOT NULL,  -- sealed with aad "citizen.pid"
    payer_address_sealed  text,           -- sealed with aad "citizen.address"
    fee_name              text NOT NULL,
    dossier_id            uuid,
    dossier_code          text NOT NULL,
    amount_vnd            bigint NOT NULL CHECK (amount_vnd BETWEEN 0 AND 999999999999),
    payment_method        text NOT NULL DEFAULT 'Chuyển khoản VietQR',
    bank_ref              text NOT NULL,
    paid_at               timestamptz NOT NULL,
    issued_at             timestamptz NOT NULL,
    payment_id            uuid,
    bank_tx_id            bigint UNIQUE,
    correction_key        text UNIQUE,
    alg                   text,
    kid                   text,
    signature             text,
    signed_at             timestamptz,
    sign_error            text,
    UNIQUE (template_no, serial, year, number),
    CHECK ((kind = 'original') = (replaces IS NULL)),
    CHECK (amount_vnd >= 1 OR kind = 'adjustment'),
    CHECK ((signature IS NULL) = (kid IS NULL) AND (signature IS NULL) = (alg IS NULL)),
    CHECK (paid_at = date_trunc('second', paid_at) AND issued_at = date_trunc('second', issued_at))
);
CREATE INDEX receipts_citizen ON receipts (citizen_id, issued_at DESC, id DESC);
CREATE INDEX receipts_unsigned ON receipts (issued_at) WHERE signature IS NULL AND sign_error IS NULL;
CREATE INDEX receipts_day ON receipts (cds_vn_date(issued_at), template_no, serial, number);
COMMENT ON TABLE receipts IS
    'E-receipts. Never deleted: a wrong one is replaced or adjusted by a new receipt (new '
    'number) that points to it (replaces), and it is marked replaced / adjusted (replaced_by). '
    'The signature covers the canonical form of the content (receipts/canonical.h), rebuilt '
    'from these columns, the personal ID number and address unsealed; a row altered after '
    'signing no longer verifies.';
COMMENT ON COLUMN receipts.sign_error IS
    'Why the signer could not sign this receipt (its content fails the checks, e.g. an '
    'agency without a tax code); the signer skips it until the column is cleared.';

-- Text cut to at most `max` bytes of UTF-8, between characters: the
-- canonical form limits texts in bytes.
CREATE FUNCTION cds_text_bytes(t text, max int) RETURNS text
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

-- The next number of the agency's series for `p_year`, the row locked until
-- the caller's transaction ends. Creates the series when missing.
CREATE FUNCTION cds_receipt_next_number(p_agency text, p_year int,
                                        OUT template_no text, OUT serial text, OUT number bigint)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE receipt_series s SET last_number = s.last_number + 1
     WHERE s.agency_code = p_agency AND s.year = p_year
     RETURNING s.template_no, s.serial, s.last_number INTO template_no, serial, number;
    IF NOT FOUND THEN
        INSERT INTO receipt_series (agency_code, year, template_no, serial)
        VALUES (p_agency, p_year, cds_receipt_default_template(), left(p_agency, 20))
        ON CONFLICT DO NOTHING;
        UPDATE receipt_series s SET last_number = s.last_number + 1
         WHERE s.agency_code = p_agency AND s.year = p_year
         RETURNING s.template_no, s.serial, s.last_number INTO template_no, serial, number;
    END IF;
END
$$;

-- The bank reference printed on a receipt: the bank's own reference when it
-- is a plain token (1..64 printable ASCII, no space), else the provider's
-- transaction id made one.
CREATE FUNCTION cds_receipt_bank_ref(t bank_transactions) RETURNS text
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
-- Idempotent: a transaction has at most one receipt. The content is read
-- before the series row is locked, so the lock is held for one UPDATE, one
-- INSERT and the caller's commit. The signer is woken by NOTIFY (identical
-- notifications of one transaction are folded into one by PostgreSQL).
CREATE OR REPLACE FUNCTION cds_receipt_issue(p_tx bigint) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    t bank_transactions;
    v_id uuid;
    v_now timestamptz := date_trunc('second', now());
    v_agency text; v_iname text; v_itax text; v_iaddr text;
    v_citizen uuid; v_pname text; v_pid text; v_paddr text;
    v_fee text; v_dossier uuid; v_dcode text;
    n record;
BEGIN
    SELECT * INTO t FROM bank_transactions WHERE id = p_tx;
    IF NOT FOUND OR t.payment_id IS NULL OR t.applied_vnd <= 0 THEN
        RETURN NULL;
    END IF;
    SELECT r.id INTO v_id FROM receipts r WHERE r.bank_tx_id = p_tx;
    IF FOUND THEN
        RETURN v_id;
    END IF;
    SELECT p.agency_code, cds_text_bytes(a.name, 300), COALESCE(a.tax_code, ''),
           cds_text_bytes(COALESCE(a.address, ''), 500),
           c.id, cds_text_bytes(c.full_name, 300), c.pid_sealed, c.address_sealed,
           cds_text_bytes(pr.name, 300), d.id, d.code
      INTO v_agency, v_iname, v_itax, v_iaddr, v_citizen, v_pname, v_pid, v_paddr,
           v_fee, v_dossier, v_dcode
      FROM payments p
      JOIN agencies a ON a.code = p.agency_code
      JOIN citizens c ON c.id = p.citizen_id
      JOIN dossiers d ON d.id = p.dossier_id
      JOIN procedures pr ON pr.code = d.procedure_code
     WHERE p.id = t.payment_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    n := cds_receipt_next_number(v_agency, extract(year FROM v_now AT TIME ZONE 'Asia/Ho_Chi_Minh')::int);
    INSERT INTO receipts (agency_code, template_no, serial, year, number, issuer_name,
                          issuer_tax_code, issuer_address, citizen_id, payer_name, payer_pid_sealed,
                          payer_address_sealed, fee_name, dossier_id, dossier_code, amount_vnd,
                          bank_ref, paid_at, issued_at, payment_id, bank_tx_id)
    VALUES (v_agency, n.template_no, n.serial,
            extract(year FROM v_now AT TIME ZONE 'Asia/Ho_Chi_Minh')::int, n.number, v_iname,
            v_itax, v_iaddr, v_citizen, v_pname, v_pid, v_paddr, v_fee, v_dossier, v_dcode,
            t.applied_vnd, cds_receipt_bank_ref(t), date_trunc('second', t.transacted_at), v_now,
            t.payment_id, p_tx)
    RETURNING id INTO v_id;
    PERFORM pg_notify('cds_receipts', '');
    RETURN v_id;
END
$$;

-- A replacement or an adjustment of receipt p_id: a new receipt with the
-- next number of the agency's series for this year, the content of the old
-- one with p_changes applied (payer_name, payer_address_sealed, fee_name,
-- amount_vnd), pointing to it; the old one marked replaced / adjusted; the
-- audit log row (who, why, what changed). status: 'created', 'duplicate'
-- (p_key seen before: that correction is returned), 'not_found',
-- 'already_corrected' (the receipt was replaced or adjusted already: nothing
-- changes, replaced_by names the newer one), 'key_reused' (p_key names a
-- correction of another receipt).
CREATE FUNCTION cds_receipt_correct(p_id uuid, p_kind text, p_actor text, p_reason text,
                                    p_changes jsonb, p_key text,
                                    OUT status text, OUT receipt_id uuid, OUT replaced_by uuid)
LANGUAGE plpgsql AS $$
DECLARE
    o receipts;
    v_now timestamptz := date_trunc('second', now());
    v_year int := extract(year FROM v_now AT TIME ZONE 'Asia/Ho_Chi_Minh')::int;
    n record;
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
    n := cds_receipt_next_number(o.agency_code, v_year);
    INSERT INTO receipts (agency_code, template_no, serial, year, number, kind, replaces,
                          issuer_name, issuer_tax_code, issuer_address, citizen_id, payer_name,
                          payer_pid_sealed, payer_address_sealed, fee_name, dossier_id,
                          dossier_code, amount_vnd, payment_method, bank_ref, paid_at, issued_at,
                          payment_id, correction_key)
    VALUES (o.agency_code, n.template_no, n.serial, v_year, n.number, p_kind, o.id,
            o.issuer_name, o.issuer_tax_code, o.issuer_address, o.citizen_id,
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
            jsonb_build_object('new_receipt', receipt_id, 'number', n.number,
                               'template_no', n.template_no, 'serial', n.serial,
                               'changes', p_changes - 'payer_address_sealed'
                                   || CASE WHEN p_changes ? 'payer_address_sealed'
                                           THEN '{"payer_address":"(sealed)"}'::jsonb
                                           ELSE '{}'::jsonb END));
    PERFORM pg_notify('cds_receipts', '');
    status := 'created';
END
$$;

-- The rows of the daily export for the Vietnam calendar days p_from..p_to:
-- every receipt issued (kind 'receipt', in series and number order), then
-- the totals per template, serial and fee (kind 'total': count, amount).
CREATE FUNCTION cds_receipt_export(p_from date, p_to date)
RETURNS TABLE (kind text, template_no text, serial text, year int, number bigint, issued_at text,
               paid_at text, receipt_kind text, status text, replaces_number bigint,
               agency_code text, issuer_tax_code text, payer_name text, fee_name text,
               dossier_code text, bank_ref text, amount_vnd bigint, count bigint)
LANGUAGE sql STABLE AS $$
    SELECT 'receipt', r.template_no, r.serial, r.year, r.number, cds_rfc3339(r.issued_at),
           cds_rfc3339(r.paid_at), r.kind, r.status, o.number, r.agency_code, r.issuer_tax_code,
           r.payer_name, r.fee_name, r.dossier_code, r.bank_ref, r.amount_vnd, 1::bigint
      FROM receipts r LEFT JOIN receipts o ON o.id = r.replaces
     WHERE cds_vn_date(r.issued_at) BETWEEN p_from AND p_to
    UNION ALL
    SELECT 'total', t.template_no, t.serial, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, t.fee_name, NULL, NULL, t.amount, t.n
      FROM (SELECT r.template_no, r.serial, r.fee_name, sum(r.amount_vnd)::bigint AS amount,
                   count(*) AS n
              FROM receipts r
             WHERE cds_vn_date(r.issued_at) BETWEEN p_from AND p_to
             GROUP BY 1, 2, 3) t
    ORDER BY 1, 2, 3, 4, 5, 14
$$;
