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

-- Starts a login. The state itself never reaches the database, only its hash.
CREATE FUNCTION cds_login_begin(p_state_hash text, p_nonce text, p_verifier text, p_ial smallint,
                                p_ttl_seconds int) RETURNS timestamptz
LANGUAGE sql AS $$
    INSERT INTO login_sessions (state_hash, nonce, verifier, ial, expires_at)
    VALUES (p_state_hash, p_nonce, p_verifier, p_ial, now() + make_interval(secs => p_ttl_seconds))
    RETURNING expires_at;
$$;

-- Consumes a login exactly once. status: ok | unknown | expired | used.
CREATE FUNCTION cds_login_consume(p_state_hash text,
    OUT status text, OUT nonce text, OUT verifier text, OUT ial smallint)
LANGUAGE plpgsql AS $$
DECLARE
    s login_sessions;
BEGIN
    SELECT * INTO s FROM login_sessions WHERE state_hash = p_state_hash FOR UPDATE;
    IF NOT FOUND THEN
        status := 'unknown';
    ELSIF s.used_at IS NOT NULL THEN
        status := 'used';
    ELSIF s.expires_at <= now() THEN
        status := 'expired';
    ELSE
        UPDATE login_sessions SET used_at = now() WHERE state_hash = p_state_hash;
        status := 'ok';
        nonce := s.nonce;
        verifier := s.verifier;
        ial := s.ial;
    END IF;
END;
$$;

-- A successful VNeID login: the citizen (created or refreshed from the
-- identity provider's claims, contact choices kept), a new token family and
-- its first refresh token.
CREATE FUNCTION cds_citizen_login(p_pid_hash text, p_pid_sealed text, p_sub text, p_full_name text,
    p_birth_date date, p_gender text, p_address_sealed text, p_phone_sealed text, p_ial smallint,
    p_refresh_hash text, p_refresh_ttl_seconds int,
    OUT citizen_id uuid, OUT family_id uuid, OUT ial smallint)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO citizens AS c (pid_hash, pid_sealed, vneid_sub, full_name, birth_date, gender,
                               address_sealed, phone_sealed, ial)
    VALUES (p_pid_hash, p_pid_sealed, p_sub, p_full_name, p_birth_date, p_gender,
            p_address_sealed, p_phone_sealed, p_ial)
    ON CONFLICT (pid_hash) DO UPDATE SET
        pid_sealed = EXCLUDED.pid_sealed,
        vneid_sub = COALESCE(EXCLUDED.vneid_sub, c.vneid_sub),
        full_name = EXCLUDED.full_name,
        birth_date = EXCLUDED.birth_date,
        gender = EXCLUDED.gender,
        address_sealed = EXCLUDED.address_sealed,
        phone_sealed = COALESCE(EXCLUDED.phone_sealed, c.phone_sealed),
        ial = EXCLUDED.ial
    RETURNING c.id, c.ial INTO citizen_id, ial;
    INSERT INTO token_families (citizen_id) VALUES (citizen_id) RETURNING id INTO family_id;
    INSERT INTO refresh_tokens (family_id, token_hash, expires_at)
    VALUES (family_id, p_refresh_hash, now() + make_interval(secs => p_refresh_ttl_seconds));
END;
$$;

-- Rotates a refresh token. status:
--   ok       rotated: the new token replaces the old one
--   grace    the old token was rotated moments ago (a retry after a lost
--            answer): a sibling token is issued, nothing is revoked
--   reused   the old token was rotated earlier: theft is assumed and the
--            whole family is revoked (and announced to every node)
--   revoked | expired | unknown
CREATE FUNCTION cds_refresh_rotate(p_old_hash text, p_new_hash text, p_ttl_seconds int,
    p_grace_seconds int,
    OUT status text, OUT citizen_id uuid, OUT family_id uuid, OUT ial smallint)
LANGUAGE plpgsql AS $$
DECLARE
    t refresh_tokens;
    f token_families;
BEGIN
    SELECT * INTO t FROM refresh_tokens WHERE token_hash = p_old_hash FOR UPDATE;
    IF NOT FOUND THEN
        status := 'unknown';
        RETURN;
    END IF;
    SELECT * INTO f FROM token_families WHERE id = t.family_id FOR UPDATE;
    family_id := f.id;
    citizen_id := f.citizen_id;
    IF f.revoked_at IS NOT NULL THEN
        status := 'revoked';
        RETURN;
    END IF;
    IF t.expires_at <= now() THEN
        status := 'expired';
        RETURN;
    END IF;
    IF t.rotated_at IS NOT NULL AND now() - t.rotated_at > make_interval(secs => p_grace_seconds) THEN
        UPDATE token_families SET revoked_at = now(), revoke_reason = 'reuse' WHERE id = f.id;
        PERFORM pg_notify('cds_family_revoked', f.id::text);
        status := 'reused';
        RETURN;
    END IF;
    status := CASE WHEN t.rotated_at IS NULL THEN 'ok' ELSE 'grace' END;
    UPDATE refresh_tokens SET rotated_at = COALESCE(rotated_at, now()) WHERE id = t.id;
    INSERT INTO refresh_tokens (family_id, token_hash, parent_id, expires_at)
    VALUES (f.id, p_new_hash, t.id, now() + make_interval(secs => p_ttl_seconds));
    SELECT c.ial INTO ial FROM citizens c WHERE c.id = f.citizen_id;
END;
$$;

-- Logout: revokes the family (every refresh token of it, and, through the
-- notification, every access token of it on every node).
CREATE FUNCTION cds_logout(p_family_id uuid, p_citizen_id uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE token_families SET revoked_at = now(), revoke_reason = 'logout'
    WHERE id = p_family_id AND citizen_id = p_citizen_id AND revoked_at IS NULL;
    IF FOUND THEN
        PERFORM pg_notify('cds_family_revoked', p_family_id::text);
    END IF;
    RETURN FOUND;
END;
$$;

-- Times leave the database as RFC 3339 in Vietnam's offset, e.g.
-- 2026-11-22T09:30:00+07:00, whatever the session's TimeZone.
CREATE FUNCTION cds_rfc3339(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD"T"HH24:MI:SS') || '+07:00';
$$;

-- JSON built in SQL (json_build_object) renders timestamptz in the session's
-- zone: make that Vietnam's for every new session of this database.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET timezone TO %L', current_database(), 'Asia/Ho_Chi_Minh');
END
$$;
