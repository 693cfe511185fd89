-- Zalo ZNS as a third channel for the text message of a step (issue 18,
-- part 4; notify/zns.c).
--
--   citizens.notify_zalo  the citizen's choice (PATCH /v1/me
--                         notification_preferences.zalo): the step's text
--                         message goes by ZNS instead of SMS
--   outbox.channel 'zns'  such a message; when ZNS refuses it for good (no
--                         Zalo account on the number, ZNS not receivable,
--                         quota spent: the codes in notify/zns.c) the same
--                         row becomes an SMS (channel 'sms', attempts 0, due
--                         at once) and fallback_from keeps ZNS's answer. The
--                         row id stays the idempotency key on both channels
--                         (ZNS tracking_id, the SMS gateways' request id), and
--                         an SMS is written only after ZNS definitely did not
--                         send, so the citizen never gets both.
ALTER TABLE citizens ADD COLUMN notify_zalo boolean NOT NULL DEFAULT false;
ALTER TABLE outbox
    DROP CONSTRAINT outbox_channel_check,
    ADD CONSTRAINT outbox_channel_check CHECK (channel IN ('sms', 'push', 'zns')),
    ADD COLUMN fallback_from text;
COMMENT ON COLUMN outbox.fallback_from IS
    'ZNS''s answer that moved this message to SMS (NULL: it never went by ZNS or ZNS took it).';

-- The OA tokens, shared by every dispatching process (notify/zns_send.c):
-- Zalo's refresh token is good once, so the one its last refresh returned
-- must outlive the process that got it. Sealed like personal data (their
-- holder can send ZNS in the city's name). One row.
CREATE TABLE zns_oauth (
    id                smallint PRIMARY KEY CHECK (id = 1),
    refresh_sealed    text NOT NULL,
    access_sealed     text,
    access_expires_at timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
