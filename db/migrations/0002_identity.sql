-- 0002_identity.sql: citizens and their sessions (login with VNeID).
--
--   citizens            one row per personal ID number; personal data sealed
--                       with AES-256-GCM by the application (core/pdata.c),
--                       looked up by a keyed hash of the personal ID number
--   login_sessions      a started VNeID login: PKCE verifier and nonce bound
--                       to the state, short-lived, single-use
--   token_families      one per login; revoking it ends every token of it
--   refresh_tokens      opaque refresh tokens stored as SHA-256 hashes,
--                       rotated on every use
--   devices             push tokens (FCM, APNs) of a citizen's phones
--
-- Each state transition is one function call (one round trip from C).
--
-- The functions named here are defined in db/functions/auth.sql (once,
-- in their current form); this file keeps the tables, indexes and triggers.

CREATE TABLE citizens (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pid_hash             text NOT NULL UNIQUE,
    pid_sealed           text NOT NULL,
    vneid_sub            text UNIQUE,
    full_name            text NOT NULL CHECK (char_length(full_name) BETWEEN 1 AND 200),
    birth_date           date,
    gender               text CHECK (gender IN ('male', 'female', 'other')),
    address_sealed       text,
    phone_sealed         text,
    contact_phone_sealed text,
    email                text CHECK (email IS NULL OR char_length(email) <= 254),
    ial                  smallint NOT NULL CHECK (ial IN (1, 2)),
    notify_sms           boolean NOT NULL DEFAULT true,
    notify_push          boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER citizens_touch BEFORE UPDATE ON citizens
    FOR EACH ROW EXECUTE FUNCTION cds_touch_updated_at();
COMMENT ON COLUMN citizens.pid_hash IS
    'HMAC-SHA256 of the 12-digit personal ID number under the lookup key: the stable key.';
COMMENT ON COLUMN citizens.pid_sealed IS 'Personal ID number, sealed ("v1.<kid>.<data>").';
COMMENT ON COLUMN citizens.phone_sealed IS 'Phone number given by VNeID, sealed.';
COMMENT ON COLUMN citizens.contact_phone_sealed IS
    'Phone number the citizen chose for notifications (PATCH /v1/me), sealed; wins over phone_sealed.';
COMMENT ON COLUMN citizens.ial IS 'VNeID identification level of the last login (1 or 2).';

CREATE TABLE login_sessions (
    state_hash   text PRIMARY KEY,
    nonce        text NOT NULL,
    verifier     text NOT NULL,
    ial          smallint NOT NULL CHECK (ial IN (1, 2)),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX login_sessions_expires ON login_sessions (expires_at);
COMMENT ON TABLE login_sessions IS
    'Logins started and not yet finished. Keyed by SHA-256 of the state, so the table '
    'alone cannot finish a login; consumed exactly once by cds_login_consume.';

CREATE TABLE token_families (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    citizen_id    uuid NOT NULL REFERENCES citizens (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    revoke_reason text CHECK (revoke_reason IN ('logout', 'reuse'))
);
CREATE INDEX token_families_citizen ON token_families (citizen_id);
CREATE INDEX token_families_revoked ON token_families (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    id          bigserial PRIMARY KEY,
    family_id   uuid NOT NULL REFERENCES token_families (id),
    token_hash  text NOT NULL UNIQUE,
    parent_id   bigint REFERENCES refresh_tokens (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE devices (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    citizen_id  uuid NOT NULL REFERENCES citizens (id),
    platform    text NOT NULL CHECK (platform IN ('fcm', 'apns')),
    token       text NOT NULL CHECK (char_length(token) BETWEEN 8 AND 4096),
    app_version text CHECK (app_version IS NULL OR char_length(app_version) <= 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (platform, token)
);
CREATE INDEX devices_citizen ON devices (citizen_id);
CREATE TRIGGER devices_touch BEFORE UPDATE ON devices
    FOR EACH ROW EXECUTE FUNCTION cds_touch_updated_at();

-- JSON built in SQL (json_build_object) renders timestamptz in the session's
-- zone: make that Vietnam's for every new session of this database.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET timezone TO %L', current_database(), 'Asia/Ho_Chi_Minh');
END
$$;
