-- 0029_agents.sql: filing at a public-service agent (issue 19 part 1).
-- Functions: db/functions/dossiers.sql (cds_agent_*).
--
--   agent_consents   the citizen's consent that an agent files for them:
--                    a 6-digit code sent by SMS to the phone on record
--                    (kept as SHA-256 of consent id ':' code), 5 minutes,
--                    5 tries; or a VNeID login on the agent's device (its
--                    state in login_sessions, purpose 'agent_consent',
--                    bound to the agent: login_sessions.staff_id); once granted the agent may read the citizen's
--                    data to prefill the form and file for them for a while
--                    (act_until). The rows also count the codes sent per
--                    phone and per agent (the rate limits).
--   dossiers.filed_by_staff / agent_location_id / agent_consent_id
--                    a dossier an agent filed FOR the citizen: the citizen
--                    owns it; the agent sees only the dossiers they filed
--   bank_transactions.provider 'counter'   cash taken at an agent's counter,
--                    recorded and receipted like any other payment

CREATE TABLE agent_consents (
    id          uuid PRIMARY KEY,
    agent_id    uuid NOT NULL REFERENCES staff (id),
    citizen_id  uuid NOT NULL REFERENCES citizens (id),
    method      text NOT NULL CHECK (method IN ('sms', 'vneid')),
    code_hash   text CHECK (code_hash ~ '^[0-9a-f]{64}$'),
    tries       int NOT NULL DEFAULT 0,
    expires_at  timestamptz NOT NULL,
    granted_at  timestamptz,
    act_until   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((granted_at IS NULL) = (act_until IS NULL)),
    CHECK ((method = 'sms') = (code_hash IS NOT NULL))
);
CREATE INDEX agent_consents_agent ON agent_consents (agent_id, created_at);
CREATE INDEX agent_consents_citizen ON agent_consents (citizen_id, created_at);

ALTER TABLE dossiers
    ADD COLUMN filed_by_staff uuid REFERENCES staff (id),
    ADD COLUMN agent_location_id uuid REFERENCES agent_locations (id),
    ADD COLUMN agent_consent_id uuid REFERENCES agent_consents (id);
CREATE INDEX dossiers_filed_by ON dossiers (filed_by_staff, created_at DESC, id DESC)
    WHERE filed_by_staff IS NOT NULL;
CREATE INDEX dossiers_agent_location ON dossiers (agent_location_id, created_at)
    WHERE agent_location_id IS NOT NULL;

ALTER TABLE bank_transactions DROP CONSTRAINT bank_transactions_provider_check;
ALTER TABLE bank_transactions ADD CONSTRAINT bank_transactions_provider_check
    CHECK (provider IN ('payos', 'casso', 'sepay', 'cod', 'counter'));

ALTER TABLE login_sessions ADD COLUMN staff_id uuid REFERENCES staff (id);
ALTER TABLE login_sessions DROP CONSTRAINT login_sessions_purpose_check;
ALTER TABLE login_sessions ADD CONSTRAINT login_sessions_purpose_check
    CHECK (purpose IN ('citizen', 'staff', 'agent_consent'));
ALTER TABLE login_sessions ADD CONSTRAINT login_sessions_agent_bound
    CHECK ((purpose = 'agent_consent') = (staff_id IS NOT NULL));
