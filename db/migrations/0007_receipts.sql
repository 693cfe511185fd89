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
--
-- The functions named here are defined in db/functions/receipts.sql (once,
-- in their current form); this file keeps the tables, indexes and triggers.

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
