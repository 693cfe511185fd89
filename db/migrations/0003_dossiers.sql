-- 0003_dossiers.sql: the procedure catalog, dossiers and their steps, and
-- the outbox that carries each step's notifications.
--
--   agencies, procedures    the catalog (loaded by `cds catalog load`, updated
--                           by the TTHC system)
--   holidays                Vietnamese public days off; due dates count
--                           working days (no weekends, no holidays)
--   attachments             uploaded files (content in the file store, keyed
--                           by SHA-256), owned by a citizen
--   dossiers                one filing; its code is agency + date + sequence
--   dossier_events          the timeline: every step received, applied or late
--   outbox                  notifications to send (SMS, push), written in the
--                           same transaction as the step that causes them;
--                           delivered by the notification dispatchers
--
-- Every transition is one function call: cds_dossier_file, cds_dossier_step,
-- cds_dossier_import, cds_dossier_cancel, cds_dossier_supplement.
--
-- The functions named here are defined in db/functions/dossiers.sql (once,
-- in their current form); this file keeps the tables, indexes and triggers.

CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Citizens known only from a dossier filed at a counter have never logged in:
-- no identification level yet.
ALTER TABLE citizens ALTER COLUMN ial DROP NOT NULL;

CREATE TABLE agencies (
    code     text PRIMARY KEY CHECK (code ~ '^[0-9A-Z.]{2,32}$'),
    name     text NOT NULL,
    tax_code text,
    address  text
);

CREATE TABLE procedures (
    code                text PRIMARY KEY CHECK (code ~ '^[0-9A-Za-z.\-]{1,32}$'),
    name                text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 500),
    name_folded         text NOT NULL,
    sector              text NOT NULL,
    agency_code         text NOT NULL REFERENCES agencies (code),
    fee_vnd             bigint NOT NULL CHECK (fee_vnd BETWEEN 0 AND 1000000000000),
    online_discount_pct smallint NOT NULL DEFAULT 0 CHECK (online_discount_pct BETWEEN 0 AND 100),
    processing_days     int NOT NULL CHECK (processing_days BETWEEN 0 AND 365),
    ial_required        smallint NOT NULL DEFAULT 1 CHECK (ial_required IN (1, 2)),
    postal_allowed      boolean NOT NULL DEFAULT false,
    required_documents  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(required_documents) = 'array'),
    form_schema         jsonb NOT NULL DEFAULT '{"fields":[]}' CHECK (jsonb_typeof(form_schema) = 'object'),
    active              boolean NOT NULL DEFAULT true,
    version             int NOT NULL DEFAULT 1,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX procedures_name_trgm ON procedures USING gin (name_folded gin_trgm_ops);
CREATE INDEX procedures_sector ON procedures (sector);

CREATE TABLE holidays (
    day  date PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE attachments (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    citizen_id  uuid NOT NULL REFERENCES citizens (id),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes  bigint NOT NULL CHECK (size_bytes BETWEEN 1 AND 10485760),
    media_type  text NOT NULL CHECK (media_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    file_name   text CHECK (file_name IS NULL OR char_length(file_name) <= 255),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_citizen ON attachments (citizen_id);

CREATE TABLE dossier_counters (
    agency_code text NOT NULL,
    day         date NOT NULL,
    last_seq    int NOT NULL,
    PRIMARY KEY (agency_code, day)
);

CREATE TABLE dossiers (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code             text NOT NULL UNIQUE,
    procedure_code   text NOT NULL REFERENCES procedures (code),
    citizen_id       uuid NOT NULL REFERENCES citizens (id),
    channel          text NOT NULL CHECK (channel IN ('online', 'counter')),
    status           text NOT NULL,
    form             jsonb NOT NULL DEFAULT '{}',
    delivery         jsonb NOT NULL DEFAULT '{"method":"pickup"}',
    fee_vnd          bigint NOT NULL DEFAULT 0 CHECK (fee_vnd >= 0),
    lookup_hash      text NOT NULL,
    submitted_at     timestamptz NOT NULL DEFAULT now(),
    due_date         date NOT NULL,
    last_event_at    timestamptz NOT NULL DEFAULT now(),
    partner_source   text,
    partner_ref      text,
    idempotency_key  text,
    idempotency_hash text,
    view             text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (partner_source, partner_ref),
    UNIQUE (citizen_id, idempotency_key)
) WITH (fillfactor = 80); -- room on each page for HOT updates: a step changes no indexed column
CREATE INDEX dossiers_citizen ON dossiers (citizen_id, created_at DESC, id DESC);
-- Not a partial index on status: a predicate column makes every step a
-- non-HOT update touching all indexes; the overdue list filters status
-- after a range scan on due_date instead.
CREATE INDEX dossiers_due ON dossiers (due_date);
CREATE TRIGGER dossiers_touch BEFORE UPDATE ON dossiers
    FOR EACH ROW EXECUTE FUNCTION cds_touch_updated_at();
COMMENT ON COLUMN dossiers.view IS
    'The dossier as its owner reads it (cds_dossier_json, as JSON text), rewritten by every '
    'function that changes the dossier, in the same transaction: a read is one row copied out. '
    'The overdue flag, which depends on the day, is left out and computed at read time.';
COMMENT ON COLUMN dossiers.lookup_hash IS
    'SHA-256 (hex) of the short secret printed on the acknowledgement; the public lookup '
    'compares it in constant time. The secret itself is never stored.';

CREATE TABLE dossier_attachments (
    dossier_id    uuid NOT NULL REFERENCES dossiers (id),
    attachment_id uuid NOT NULL REFERENCES attachments (id),
    document_code text,
    purpose       text NOT NULL CHECK (purpose IN ('filing', 'supplement')),
    added_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dossier_id, attachment_id)
);

CREATE TABLE dossier_events (
    id                bigserial PRIMARY KEY,
    dossier_id        uuid NOT NULL REFERENCES dossiers (id),
    source            text NOT NULL,
    event_id          text NOT NULL,
    step              text NOT NULL,
    occurred_at       timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    applied           boolean NOT NULL,
    note              text,
    fee_vnd           bigint CHECK (fee_vnd IS NULL OR fee_vnd BETWEEN 0 AND 1000000000000),
    missing_documents jsonb,
    detail            jsonb,
    UNIQUE (source, event_id)
);
CREATE INDEX dossier_events_dossier ON dossier_events (dossier_id, occurred_at, id);

CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    channel          text NOT NULL CHECK (channel IN ('sms', 'push')),
    citizen_id       uuid NOT NULL REFERENCES citizens (id),
    dossier_id       uuid REFERENCES dossiers (id),
    event_id         bigint REFERENCES dossier_events (id),
    template         text NOT NULL,
    vars             jsonb NOT NULL DEFAULT '{}',
    recipient_sealed text,
    device_id        uuid REFERENCES devices (id) ON DELETE SET NULL,
    status           text NOT NULL DEFAULT 'created',
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('created', 'temporary-failure');
CREATE INDEX outbox_citizen ON outbox (citizen_id, id DESC);
COMMENT ON TABLE outbox IS
    'Notifications caused by a state change, written in the same transaction. The outbox '
    'row id is the idempotency key sent with every delivery attempt.';

-- The legal moves of the state machine.
CREATE TABLE dossier_transitions (
    from_status text NOT NULL,
    to_status   text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO dossier_transitions VALUES
    ('submitted', 'received'), ('submitted', 'supplement_requested'), ('submitted', 'rejected'),
    ('submitted', 'cancelled'),
    ('received', 'supplement_requested'), ('received', 'fee_requested'),
    ('received', 'processing'), ('received', 'rejected'), ('received', 'cancelled'),
    ('supplement_requested', 'supplemented'), ('supplement_requested', 'rejected'),
    ('supplement_requested', 'cancelled'),
    ('supplemented', 'received'), ('supplemented', 'supplement_requested'),
    ('supplemented', 'fee_requested'), ('supplemented', 'processing'),
    ('supplemented', 'rejected'), ('supplemented', 'cancelled'),
    ('fee_requested', 'paid'), ('fee_requested', 'rejected'), ('fee_requested', 'cancelled'),
    ('paid', 'processing'), ('paid', 'result_ready'),
    ('processing', 'supplement_requested'), ('processing', 'fee_requested'),
    ('processing', 'result_ready'), ('processing', 'rejected'),
    ('result_ready', 'out_for_delivery'), ('result_ready', 'ready_for_pickup'),
    ('result_ready', 'completed'),
    ('out_for_delivery', 'completed'), ('out_for_delivery', 'ready_for_pickup'),
    ('ready_for_pickup', 'completed');
