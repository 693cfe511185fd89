-- 0006_payments.sql: fees paid by VietQR bank transfer.
--
--   payment_accounts     the receiving bank account of each agency, and the
--                        service charge and time-to-live of its payment codes
--   payments             payment intents: what a dossier owes for one fee
--                        request, its reference and lifecycle (GOV.UK Pay's
--                        states: created, partially_paid, paid, expired,
--                        cancelled, refund_due, refunded)
--   bank_transactions    every credit a provider reported, once per provider
--                        transaction id; matched to an intent by the
--                        reference in its description, or kept unmatched for
--                        a person to resolve
--   audit_log            who did what by hand, when and why (resolutions,
--                        receipt corrections, ...)
--
-- Every transition is one function call: cds_payment_open (the citizen asks
-- to pay), cds_payment_credit (a provider webhook), cds_payment_resolve (an
-- operator assigns an unmatched transfer), cds_payment_expire (periodic).
-- A credit that pays an intent records the dossier step `paid`, with its
-- notifications, and issues the e-receipt, in the same transaction
-- (cds_receipt_issue, defined with the receipts in 0007: plpgsql resolves it
-- when these functions run, after every migration is applied).
--
-- The functions named here are defined in db/functions/payment.sql (once,
-- in their current form); this file keeps the tables, indexes and triggers.

CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
    action   text NOT NULL,
    subject  text NOT NULL,
    reason   text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 2000),
    detail   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_subject ON audit_log (subject, at);

CREATE TABLE payment_accounts (
    agency_code        text PRIMARY KEY REFERENCES agencies (code),
    bank_bin           text NOT NULL CHECK (bank_bin ~ '^[0-9]{6}$'),
    bank_name          text NOT NULL CHECK (char_length(bank_name) BETWEEN 1 AND 200),
    account_no         text NOT NULL CHECK (account_no ~ '^[0-9A-Za-z]{1,19}$'),
    account_name       text NOT NULL CHECK (char_length(account_name) BETWEEN 1 AND 200),
    service_charge_vnd bigint NOT NULL DEFAULT 0 CHECK (service_charge_vnd BETWEEN 0 AND 100000000),
    intent_ttl         interval NOT NULL DEFAULT '7 days' CHECK (intent_ttl > '0'::interval)
);
CREATE INDEX payment_accounts_account ON payment_accounts (account_no);

CREATE TABLE payments (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    dossier_id        uuid NOT NULL REFERENCES dossiers (id),
    citizen_id        uuid NOT NULL REFERENCES citizens (id),
    agency_code       text NOT NULL REFERENCES agencies (code),
    request_event_id  bigint NOT NULL REFERENCES dossier_events (id),
    reference         text NOT NULL UNIQUE CHECK (reference ~ '^CDS[0-9A-HJKMNP-TV-Z]{10}$'),
    bank_bin          text NOT NULL,
    bank_name         text NOT NULL,
    account_no        text NOT NULL,
    account_name      text NOT NULL,
    breakdown         jsonb NOT NULL,
    amount_vnd        bigint NOT NULL CHECK (amount_vnd BETWEEN 1 AND 999999999999),
    received_vnd      bigint NOT NULL DEFAULT 0 CHECK (received_vnd >= 0),
    refund_due_vnd    bigint NOT NULL DEFAULT 0 CHECK (refund_due_vnd >= 0),
    status            text NOT NULL DEFAULT 'created' CHECK (status IN
                          ('created', 'partially_paid', 'paid', 'expired', 'cancelled',
                           'refund_due', 'refunded')),
    paid_after_expiry boolean NOT NULL DEFAULT false,
    expires_at        timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    paid_at           timestamptz,
    finished_at       timestamptz
);
-- At most one open intent per dossier: asking again returns it.
CREATE UNIQUE INDEX payments_open ON payments (dossier_id) WHERE status IN ('created', 'partially_paid');
CREATE INDEX payments_dossier ON payments (dossier_id, created_at DESC);
CREATE INDEX payments_expiring ON payments (expires_at) WHERE status IN ('created', 'partially_paid');
CREATE TRIGGER payments_touch BEFORE UPDATE ON payments
    FOR EACH ROW EXECUTE FUNCTION cds_touch_updated_at();
COMMENT ON COLUMN payments.breakdown IS
    'What the amount is made of, as shown to the citizen: fee_vnd (listed), online_discount_vnd, '
    'service_charge_vnd, delivery_fee_vnd, advance_vnd, amount_vnd (fee - discount + service '
    '+ delivery - advance).';

CREATE TABLE bank_transactions (
    id              bigserial PRIMARY KEY,
    provider        text NOT NULL CHECK (provider IN ('payos', 'casso', 'sepay', 'cod')),
    provider_tx_id  text NOT NULL CHECK (char_length(provider_tx_id) BETWEEN 1 AND 128),
    amount_vnd      bigint NOT NULL CHECK (amount_vnd BETWEEN 1 AND 999999999999),
    description     text NOT NULL DEFAULT '',
    account_no      text NOT NULL DEFAULT '',
    bank_bin        text NOT NULL DEFAULT '',
    bank_reference  text NOT NULL DEFAULT '',
    counter_account text NOT NULL DEFAULT '',
    counter_name    text NOT NULL DEFAULT '',
    transacted_at   timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    reference       text,      -- the payment reference found in the description
    payment_id      uuid REFERENCES payments (id),
    applied_vnd     bigint NOT NULL DEFAULT 0 CHECK (applied_vnd >= 0),
    excess_vnd      bigint NOT NULL DEFAULT 0 CHECK (excess_vnd >= 0),
    match_status    text NOT NULL CHECK (match_status IN ('matched', 'unmatched', 'resolved')),
    after_expiry    boolean NOT NULL DEFAULT false,
    receipt_id      uuid,
    UNIQUE (provider, provider_tx_id),
    CHECK (applied_vnd + excess_vnd <= amount_vnd)
);
-- Reconciliation goes by the bank's day (the transfer's time in Vietnam).
CREATE INDEX bank_transactions_day ON bank_transactions (cds_vn_date(transacted_at), account_no);
CREATE INDEX bank_transactions_unmatched ON bank_transactions (received_at) WHERE match_status = 'unmatched';
CREATE INDEX bank_transactions_payment ON bank_transactions (payment_id);
COMMENT ON COLUMN bank_transactions.applied_vnd IS
    'The part of the transfer that pays the intent (and appears on its receipt); the rest, '
    'if any, is excess_vnd, owed back to the citizen (the intent becomes refund_due).';

-- A dossier cancelled or rejected closes its open intent
-- (cds_payments_on_dossier_end).
CREATE TRIGGER dossiers_end_payments AFTER UPDATE OF status ON dossiers
    FOR EACH ROW WHEN (NEW.status IN ('cancelled', 'rejected') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION cds_payments_on_dossier_end();
