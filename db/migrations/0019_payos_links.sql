-- 0019_payos_links.sql: payOS payment links (issue 16, item 2).
--
-- Which provider collects an agency's fees is configuration of its
-- receiving account (payment_accounts.provider):
--   transfer  a plain VietQR code we make; the transfer is reported by the
--             providers watching the account (Casso, SePay, payOS's account
--             webhook) and matched by the reference in its text
--   payos     a payOS payment link per intent: payOS's own VietQR (qrCode)
--             and checkout page; its webhook names the link by orderCode
-- An intent keeps the provider its account had when it was opened.
--
--   payos_links   one row per payment link we asked payOS for. orderCode
--                 comes from payos_order_code_seq and is the create call's
--                 idempotency key (payOS refuses an orderCode twice, code
--                 231). state: creating (asked, answer not recorded yet) ->
--                 active (qrCode, checkoutUrl recorded) -> paid (a webhook
--                 credited through it) | cancel_due -> cancelled | failed.
--                 cancel_due rows are an outbox: claimed with SKIP LOCKED
--                 by the cancel dispatchers (payment/payos_cancel.c), woken
--                 by NOTIFY cds_payos. A link becomes cancel_due, in the
--                 transaction that causes it, when its intent is no longer
--                 open (expired, paid another way, cancelled) or no longer
--                 owes the link's amount (trigger payments_payos_links,
--                 cds_payos_links_on_payment in db/functions/payment.sql).

ALTER TABLE payment_accounts
    ADD COLUMN provider text NOT NULL DEFAULT 'transfer' CHECK (provider IN ('transfer', 'payos'));
ALTER TABLE payments
    ADD COLUMN provider text NOT NULL DEFAULT 'transfer' CHECK (provider IN ('transfer', 'payos'));

-- payOS's SDK sends orderCode as a JavaScript number: at most 2^53 - 1.
CREATE SEQUENCE payos_order_code_seq MINVALUE 1 MAXVALUE 9007199254740991;

CREATE TABLE payos_links (
    order_code      bigint PRIMARY KEY CHECK (order_code BETWEEN 1 AND 9007199254740991),
    payment_id      uuid NOT NULL REFERENCES payments (id),
    amount_vnd      bigint NOT NULL CHECK (amount_vnd BETWEEN 1 AND 999999999999),
    description     text NOT NULL CHECK (char_length(description) BETWEEN 1 AND 25),
    expires_at      timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'creating' CHECK (state IN ('creating', 'active', 'paid',
                        'cancel_due', 'cancelled', 'failed')),
    link_id         text CHECK (link_id IS NULL OR link_id ~ '^[0-9A-Za-z_-]{1,64}$'),
    checkout_url    text,
    qr_code         text,
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    claimed_by      text,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'active' OR (qr_code IS NOT NULL AND checkout_url IS NOT NULL)),
    CHECK ((state = 'cancel_due') = (next_attempt_at IS NOT NULL))
);
-- At most one link being made or in use per intent.
CREATE UNIQUE INDEX payos_links_live ON payos_links (payment_id) WHERE state IN ('creating', 'active');
CREATE INDEX payos_links_payment ON payos_links (payment_id);
CREATE INDEX payos_links_cancel_due ON payos_links (next_attempt_at) WHERE state = 'cancel_due';
CREATE TRIGGER payos_links_touch BEFORE UPDATE ON payos_links
    FOR EACH ROW EXECUTE FUNCTION cds_touch_updated_at();

CREATE TRIGGER payments_payos_links AFTER UPDATE OF status, received_vnd ON payments
    FOR EACH ROW WHEN (NEW.provider = 'payos' AND (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.received_vnd IS DISTINCT FROM NEW.received_vnd))
    EXECUTE FUNCTION cds_payos_links_on_payment();
