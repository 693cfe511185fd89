-- 0030_console.sql: the operators' console (console/, issue 19 part 3).
--
--   outbox.resent_as   a notification that failed for good and that an
--                      operator sent again points at the new outbox row
--                      (a new id, so a new idempotency key at the gateway:
--                      the same key would be dropped as a repeat). A second
--                      resend of the same row changes nothing.
--
-- Every console action writes audit_log (0006) with the operator's identity
-- in the same transaction; the functions are in db/functions/console.sql.
-- No index is added on the outbox: one whose key or predicate named status
-- would cost the HOT updates of delivery receipts (0014); the console reads
-- the failures of the last days by the primary key instead.
ALTER TABLE outbox ADD COLUMN resent_as bigint;
COMMENT ON COLUMN outbox.resent_as IS
    'Set when an operator sent this failed notification again: the outbox row of the new attempt.';
