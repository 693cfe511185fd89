-- The in-app inbox lists every message that reached the citizen, not only
-- those a dossier step caused.
--
-- 0004 grouped the inbox by dossier event, so the courier's own messages
-- (booked, in transit, a failed attempt...: written by 0008 without an
-- event) were sent by SMS and push but never listed. An entry is now the
-- messages written together:
--   * a step's messages: the same dossier event (as before);
--   * any other messages: the same dossier, template and transaction
--     (created_at is the transaction's time).
-- An entry's id is the smallest outbox id among its messages. Ids grow as
-- messages are written, so newest first is the ids in descending order, as
-- with event ids before, and the signed cursor keeps working unchanged.
CREATE OR REPLACE FUNCTION cds_notifications_list(p_citizen uuid, p_before bigint, p_limit int)
RETURNS TABLE (event_id bigint, dossier_id uuid, step text, vars jsonb, push jsonb, sms jsonb,
               sent_at timestamptz, read_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT min(o.id), min(o.dossier_id::text)::uuid, min(o.template), (array_agg(o.vars))[1],
           (array_agg(o.rendered ORDER BY o.id) FILTER (WHERE o.channel = 'push'))[1],
           (array_agg(o.rendered ORDER BY o.id) FILTER (WHERE o.channel = 'sms'))[1],
           min(o.sent_at), max(o.read_at)
    FROM outbox o
    WHERE o.citizen_id = p_citizen
      AND o.status IN ('pending', 'sent', 'delivered')
    GROUP BY o.event_id,
             CASE WHEN o.event_id IS NULL THEN o.dossier_id END,
             CASE WHEN o.event_id IS NULL THEN o.template END,
             CASE WHEN o.event_id IS NULL THEN o.created_at END
    HAVING p_before IS NULL OR min(o.id) < p_before
    ORDER BY min(o.id) DESC
    LIMIT p_limit
$$;

-- Marks the entry whose id is p_entry read (every message of it). Returns
-- false when the citizen has no such entry.
CREATE OR REPLACE FUNCTION cds_notification_read(p_citizen uuid, p_event bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    e outbox;
BEGIN
    SELECT * INTO e FROM outbox x WHERE x.id = p_event AND x.citizen_id = p_citizen;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE outbox o SET read_at = COALESCE(o.read_at, now())
    WHERE o.citizen_id = p_citizen
      AND o.status IN ('pending', 'sent', 'delivered')
      AND CASE WHEN e.event_id IS NOT NULL THEN o.event_id = e.event_id
               ELSE o.event_id IS NULL AND o.dossier_id IS NOT DISTINCT FROM e.dossier_id
                    AND o.template = e.template AND o.created_at = e.created_at END;
    RETURN FOUND;
END;
$$;
