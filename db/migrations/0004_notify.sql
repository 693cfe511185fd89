-- Delivery of the outbox's notifications (notify/): statuses in the manner of
-- GOV.UK Notify, claiming by dispatchers, results, delivery receipts, the
-- per-citizen SMS rate limit and the in-app inbox.
--
-- Life of an outbox row:
--   created            written with the step (0003), waiting to be sent
--   sending            claimed by a dispatcher (claimed_at, claimed_by); a
--                      dispatcher that dies leaves it here until the sweeper
--                      hands it back (temporary-failure, due at once)
--   pending            an SMS the gateway accepted; waiting for its delivery
--                      receipt
--   sent               a push FCM/APNs accepted (they send no receipts)
--   delivered          the SMS gateway reported delivery
--   temporary-failure  this attempt failed and another is due at
--                      next_attempt_at (exponential backoff with jitter)
--   permanent-failure  the provider refused it for good (bad number,
--                      unregistered device, failed delivery receipt) or the
--                      per-citizen SMS limit dropped it
--   technical-failure  our side could not send it (a template variable
--                      missing, attempts exhausted)
-- The outbox id is the idempotency key of every attempt, so a provider can
-- drop the repeat of a send whose result was lost in a crash.
--
-- The functions named here are defined in db/functions/notify.sql (once,
-- in their current form); this file keeps the tables, indexes and triggers.

ALTER TABLE outbox
    ADD COLUMN provider            text,
    ADD COLUMN provider_message_id text,
    ADD COLUMN template_version    int,
    ADD COLUMN rendered            jsonb,
    ADD COLUMN last_error          text,
    ADD COLUMN claimed_at          timestamptz,
    ADD COLUMN claimed_by          text,
    ADD COLUMN sent_at             timestamptz,
    ADD COLUMN delivered_at        timestamptz,
    ADD COLUMN read_at             timestamptz,
    ADD CONSTRAINT outbox_status CHECK (status IN ('created', 'sending', 'pending', 'sent',
        'delivered', 'temporary-failure', 'permanent-failure', 'technical-failure'));
CREATE UNIQUE INDEX outbox_provider_message ON outbox (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX outbox_sending ON outbox (claimed_at) WHERE status = 'sending';
COMMENT ON COLUMN outbox.rendered IS
    'What was sent: {"body"} for an SMS (without diacritics), {"title","body"} for a push.';

-- SMS sent per citizen and clock hour: the flood guard. A citizen has one
-- notification phone (contact phone, else the VNeID one), so this is the
-- per-phone limit.
CREATE TABLE sms_rate (
    citizen_id uuid NOT NULL,
    hour       timestamptz NOT NULL,
    n          int NOT NULL,
    PRIMARY KEY (citizen_id, hour)
);
