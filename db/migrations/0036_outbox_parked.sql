-- 0036_outbox_parked.sql: a dossier's text messages waiting behind its
-- head are parked, out of the due index (issue 21).
--
-- Text messages (SMS, ZNS) of a dossier go to the gateway one at a time,
-- oldest first (issue 18). Until now every waiting one sat in outbox_due
-- and the claim's due scan walked past the held-back ones (an EXISTS probe
-- each) to find sendable rows: with ~5 per dossier, 1,000+ rows and
-- 30-40 ms per claim (bench/run notify). Now:
--
--   outbox.parked  a text message written while its dossier already has one
--                  in line (sending, waiting and not deferred, or parked):
--                  status `created`, next_attempt_at NULL (out of
--                  outbox_due), set by the insert trigger outbox_park.
--                  When the dossier's head leaves the line (sent, failed for
--                  good, superseded, deferred by the SMS limit), the same
--                  transaction unparks the oldest parked one (due at once,
--                  cds_outbox_text_promote); the sweeper unparks any parked
--                  head left with nothing in line before it (a safety net).
--
-- So outbox_due holds only messages that may go now, and the claim's due
-- scan is an index range scan over sendable rows.
--
-- The functions named here are defined in db/functions/notify.sql (once,
-- in their current form); this file keeps the table, indexes and triggers.
ALTER TABLE outbox ADD COLUMN parked boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN outbox.parked IS
    'A text message waiting behind an older one of its dossier (status created, not due).';

ALTER TABLE outbox DROP CONSTRAINT outbox_due_when_queued;

-- Queued text messages that are not their dossier's head: parked. The head
-- of a dossier is the oldest live text message that is not deferred (a
-- deferred SMS never held the newer ones back: a newer one supersedes it);
-- the newer ones behind it are parked, as if they had been written now.
UPDATE outbox o SET parked = true, next_attempt_at = NULL
WHERE o.channel IN ('sms', 'zns') AND o.dossier_id IS NOT NULL
  AND o.status = 'created' AND o.deferred_at IS NULL
  AND EXISTS (SELECT 1 FROM outbox p
              WHERE p.dossier_id = o.dossier_id AND p.channel IN ('sms', 'zns') AND p.id < o.id
                AND (p.claimed_at IS NOT NULL
                     OR (p.next_attempt_at IS NOT NULL AND p.deferred_at IS NULL)));

ALTER TABLE outbox
    ADD CONSTRAINT outbox_due_when_queued
        CHECK ((next_attempt_at IS NOT NULL)
               = (status IN ('created', 'temporary-failure') AND NOT parked)),
    ADD CONSTRAINT outbox_parked_created CHECK (NOT parked OR status = 'created');
COMMENT ON COLUMN outbox.next_attempt_at IS
    'When the next attempt is due; NULL unless status is created or temporary-failure and '
    'the row is not parked.';

-- A dossier's parked text messages, oldest first: the promotion takes the
-- first; the sweeper's safety net reads the whole (normally short) list.
CREATE INDEX outbox_parked ON outbox (dossier_id, id) WHERE parked;

-- Every writer of a text message of a dossier parks it the same way
-- (cds_outbox_park, db/functions/notify.sql): the steps' rows
-- (cds_outbox_for_step), an operator's resend, tests and the bench's fill.
-- Only text messages of a dossier call the function.
CREATE TRIGGER outbox_park BEFORE INSERT ON outbox FOR EACH ROW
    WHEN (NEW.channel IN ('sms', 'zns') AND NEW.dossier_id IS NOT NULL)
    EXECUTE FUNCTION cds_outbox_park();
