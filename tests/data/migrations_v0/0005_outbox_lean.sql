-- The outbox without foreign keys to citizens, dossiers and dossier_events.
--
-- Each key made every outbox insert look the referenced row up and lock it
-- (FOR KEY SHARE: a WAL record and a dirtied page of the citizen's row at
-- every step), and a step writes one to three outbox rows. The rows they
-- reference are written in the same transaction as the outbox row or long
-- before it and are never deleted (dossiers and citizens are records kept
-- for good), so the keys guarded nothing the writers do not already
-- guarantee. The device key stays: deleting a dead device token must leave
-- its pending pushes pointing at nothing (ON DELETE SET NULL).
ALTER TABLE outbox
    DROP CONSTRAINT outbox_citizen_id_fkey,
    DROP CONSTRAINT outbox_dossier_id_fkey,
    DROP CONSTRAINT outbox_event_id_fkey;
