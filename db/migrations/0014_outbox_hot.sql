-- Outbox rows that a delivery receipt can update in place, and claim/record
-- plans that stay on the primary key (notify/ at thousands of messages a
-- second).
--
-- 1. HOT updates. PostgreSQL can update a row without touching its indexes
--    (a heap-only tuple) only when no column any index reads changes, and
--    that includes the columns of partial-index predicates. `status` was in
--    the predicates of outbox_due and outbox_sending, so every change of
--    status (claim, result, receipt: three per SMS) wrote a new entry in
--    every index of the table. The two queue indexes now key on columns that
--    carry the same meaning:
--
--      next_attempt_at  NULL unless an attempt is due: set while the row is
--                       created or temporary-failure, NULL from the claim on
--      claimed_at       NULL unless the row is sending (as before)
--
--    and two CHECK constraints keep them in step with status, so no writer
--    can leave a finished row in the queue or a queued row out of it. A
--    delivery receipt (pending -> delivered / permanent-failure) now changes
--    no indexed column and, with room left on the page (fillfactor 70: a
--    result adds the rendered text to the row), is a HOT update.
--
-- 2. Plans. cds_outbox_record joined its JSON batch to the outbox with the
--    planner free to start from outbox_sending, whose statistics often say
--    "one row": it then scanned every row in sending and re-read the JSON
--    once per such row (measured: 16 ms for a batch of 40 with 400 rows in
--    flight, O(in flight x batch)). Both functions now find their rows by
--    `id = ANY (array)`, an index scan of the primary key whatever the
--    statistics say.
ALTER TABLE outbox ALTER COLUMN next_attempt_at DROP NOT NULL;
UPDATE outbox SET next_attempt_at = NULL
WHERE status NOT IN ('created', 'temporary-failure') AND next_attempt_at IS NOT NULL;
UPDATE outbox SET claimed_at = NULL WHERE status <> 'sending' AND claimed_at IS NOT NULL;
UPDATE outbox SET claimed_at = COALESCE(claimed_at, updated_at)
WHERE status = 'sending' AND claimed_at IS NULL;
ALTER TABLE outbox
    ADD CONSTRAINT outbox_due_when_queued
        CHECK ((next_attempt_at IS NOT NULL) = (status IN ('created', 'temporary-failure'))),
    ADD CONSTRAINT outbox_claimed_when_sending
        CHECK ((claimed_at IS NOT NULL) = (status = 'sending'));
COMMENT ON COLUMN outbox.next_attempt_at IS
    'When the next attempt is due; NULL unless status is created or temporary-failure.';
COMMENT ON COLUMN outbox.claimed_at IS
    'When the dispatcher claimed the row; NULL unless status is sending.';
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
DROP INDEX outbox_sending;
CREATE INDEX outbox_sending ON outbox (claimed_at) WHERE claimed_at IS NOT NULL;
ALTER TABLE outbox SET (fillfactor = 70);

-- As in 0009, with the row leaving the queue (next_attempt_at NULL) and the
-- update finding its rows by primary key.
-- cds_outbox_claim: its current definition is in db/functions/notify.sql.

-- As in 0004, with the JSON read once and the rows found by primary key.
-- cds_outbox_record: its current definition is in db/functions/notify.sql.

-- As in 0004: a technical failure leaves the queue.
-- cds_outbox_sweep: its current definition is in db/functions/notify.sql.
