-- The per-citizen SMS limit defers and coalesces step messages; it never
-- drops one (issue 18, part 1).
--
-- 0004 closed an SMS over CDS_SMS_PER_HOUR as permanent-failure
-- (`rate_limited`), so after a busy hour the citizen never heard that the
-- result was out for delivery or the dossier completed. Now, at the claim
-- (cds_outbox_claim in db/functions/notify.sql):
--
--   * the states that ask the citizen to act or end the dossier (fee or
--     supplement requested, result ready, out for delivery, delivered or
--     completed, returned, cancelled, rejected: cds_sms_must_send) go out
--     even over the limit;
--   * any other SMS over the limit is deferred: it stays `created`, due when
--     the next window opens, with deferred_at set;
--   * a deferred SMS whose dossier has a newer SMS (sent, going out or
--     deferred itself) is `superseded`: the newer one states a later state;
--   * when the window opens, a citizen's deferred SMS of several dossiers go
--     out as one message (up to three dossiers each), the others
--     `superseded` by it (superseded_by);
--   * one text message per dossier on its way at a time, oldest first.
--
-- `superseded` is a final status, not a failure: the citizen was told the
-- newer state instead.
ALTER TABLE outbox
    DROP CONSTRAINT outbox_status,
    ADD CONSTRAINT outbox_status CHECK (status IN ('created', 'sending', 'pending', 'sent',
        'delivered', 'temporary-failure', 'permanent-failure', 'technical-failure',
        'superseded')),
    ADD COLUMN deferred_at   timestamptz,
    ADD COLUMN superseded_by bigint;
COMMENT ON COLUMN outbox.deferred_at IS
    'When the per-citizen SMS limit first held this SMS back (NULL: never).';
COMMENT ON COLUMN outbox.superseded_by IS
    'The newer SMS that told the citizen a later state instead of this one.';

-- Deferred SMS still waiting, per citizen: the claim looks here for those a
-- newer message replaces. Empty in normal traffic, so a probe costs nothing.
CREATE INDEX outbox_deferred ON outbox (citizen_id, dossier_id)
    WHERE deferred_at IS NOT NULL AND next_attempt_at IS NOT NULL;

-- Text messages of a dossier on their way (sending) or due: the claim sends
-- one at a time per dossier, oldest first, so they reach the gateway in
-- order and the last one states the latest state (two steps a few
-- milliseconds apart used to race). Receipts change none of these columns.
CREATE INDEX outbox_text_active ON outbox (dossier_id)
    WHERE (claimed_at IS NOT NULL OR next_attempt_at IS NOT NULL) AND channel IN ('sms', 'zns');

-- Rate-limited messages of the old rule were never sent: they are moved to
-- superseded only if a newer SMS of their dossier went out; the rest are
-- left as they are (history).
UPDATE outbox o SET status = 'superseded',
    superseded_by = (SELECT max(n.id) FROM outbox n
                     WHERE n.citizen_id = o.citizen_id AND n.dossier_id = o.dossier_id
                       AND n.channel = 'sms' AND n.id > o.id
                       AND n.status IN ('pending', 'sent', 'delivered'))
WHERE o.channel = 'sms' AND o.status = 'permanent-failure' AND o.last_error LIKE 'rate_limited%'
  AND EXISTS (SELECT 1 FROM outbox n
              WHERE n.citizen_id = o.citizen_id AND n.dossier_id = o.dossier_id
                AND n.channel = 'sms' AND n.id > o.id
                AND n.status IN ('pending', 'sent', 'delivered'));
