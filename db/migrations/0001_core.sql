-- 0001_core.sql: the foundation the modules build on.
--
--   idempotency_keys        the first answer to a POST sent with an
--                           Idempotency-Key, replayed to retries of it
--   cds_idempotency_purge() deletes expired keys in bounded batches
--   cds_vn_date()           the calendar date in Vietnam of an instant,
--                           whatever the session's TimeZone setting
--   cds_touch_updated_at()  trigger function keeping updated_at columns true
--
-- Run by core/migrate.c inside one transaction together with its
-- schema_migrations row: no BEGIN/COMMIT here.
--
-- The functions named here are defined in db/functions/core.sql (once,
-- in their current form); this file keeps the tables, indexes and triggers.

CREATE TABLE idempotency_keys (
    scope         text        NOT NULL,
    key           text        NOT NULL,
    request_hash  text        NOT NULL,
    status        int,
    response_body bytea,
    content_type  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (scope, key),
    CONSTRAINT idempotency_keys_scope_len CHECK (char_length(scope) BETWEEN 1 AND 200),
    CONSTRAINT idempotency_keys_key_len CHECK (char_length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_hash_len CHECK (char_length(request_hash) BETWEEN 1 AND 128),
    CONSTRAINT idempotency_keys_status CHECK (status BETWEEN 100 AND 599),
    -- A row without a status is a request still being processed: it has no
    -- response yet, and a completed one always has a body (possibly empty).
    CONSTRAINT idempotency_keys_done CHECK ((status IS NULL) = (response_body IS NULL)),
    CONSTRAINT idempotency_keys_expiry CHECK (expires_at > created_at)
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

COMMENT ON TABLE idempotency_keys IS
    'POST requests carrying an Idempotency-Key. The first request inserts the row '
    '(status NULL while it runs); its answer is stored when it completes, and a retry '
    'with the same scope and key replays that answer. A retry whose request_hash '
    'differs is a different request reusing the key and is refused.';
COMMENT ON COLUMN idempotency_keys.scope IS
    'Who the key belongs to and for which operation, e.g. citizen id + route, so two '
    'clients choosing the same key never see each other''s answers.';
COMMENT ON COLUMN idempotency_keys.key IS 'The Idempotency-Key header value as sent.';
COMMENT ON COLUMN idempotency_keys.request_hash IS
    'Hash of what makes the request what it is (method, path, body).';
COMMENT ON COLUMN idempotency_keys.status IS
    'HTTP status of the stored answer; NULL while the first request is in progress.';
COMMENT ON COLUMN idempotency_keys.response_body IS 'Stored answer, byte for byte.';
COMMENT ON COLUMN idempotency_keys.content_type IS 'Content-Type of the stored answer.';
COMMENT ON COLUMN idempotency_keys.expires_at IS
    'After this instant the key is forgotten and may be purged.';
