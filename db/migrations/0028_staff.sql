-- 0028_staff.sql: the city's staff and how they log in (issue 19: agents,
-- operators, auditors). Functions: db/functions/auth.sql (cds_staff_*).
--
--   agent_locations      the public-service agent points (đại lý dịch vụ
--                        công, mostly post offices): name, address, the
--                        agency they file for
--   staff                one account per person: a login, a role
--                        (operator | auditor | agent; an agent belongs to
--                        one agent location), the password as an argon2id
--                        encoded hash (auth/staff_password.c), the TOTP
--                        secret sealed like personal data (auth/staff_totp.c)
--                        with the last time step used (a code is accepted
--                        once), the subject at the city's staff OIDC issuer
--                        when that login is used; consecutive failures and
--                        the lockout they cause; disabled, never deleted
--   staff_sessions       one row per login: the `sid` of the staff token;
--                        a logout or a disable revokes it and notifies
--                        channel cds_family_revoked (the same revocation set
--                        as the citizens' logins, auth/tokens.c)
--   staff_login_attempts every attempt, for the record and for operators
--   login_sessions.purpose  an OIDC login started for a citizen (VNeID) can
--                        never be finished as a staff login, nor the reverse

CREATE TABLE agent_locations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code        text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Za-z_.-]{1,32}$'),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    address     text NOT NULL CHECK (char_length(address) BETWEEN 1 AND 500),
    agency_code text NOT NULL REFERENCES agencies (code),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL
);

CREATE TABLE staff (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    login              text NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name       text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
    role               text NOT NULL CHECK (role IN ('operator', 'auditor', 'agent')),
    agent_location_id  uuid REFERENCES agent_locations (id),
    password_hash      text CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    totp_secret_sealed text,
    totp_last_step     bigint NOT NULL DEFAULT 0,
    oidc_subject       text UNIQUE CHECK (oidc_subject IS NULL OR char_length(oidc_subject) BETWEEN 1 AND 255),
    failed_logins      int NOT NULL DEFAULT 0,
    locked_until       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    created_by         text NOT NULL,
    disabled_at        timestamptz,
    disabled_by        text,
    CHECK ((role = 'agent') = (agent_location_id IS NOT NULL)),
    -- A way in: password + TOTP together, or the staff OIDC subject.
    CHECK ((password_hash IS NULL) = (totp_secret_sealed IS NULL)),
    CHECK (password_hash IS NOT NULL OR oidc_subject IS NOT NULL)
);
CREATE INDEX staff_location ON staff (agent_location_id) WHERE agent_location_id IS NOT NULL;

CREATE TABLE staff_sessions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    staff_id   uuid NOT NULL REFERENCES staff (id),
    method     text NOT NULL CHECK (method IN ('password', 'oidc')),
    client     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);
CREATE INDEX staff_sessions_revoked ON staff_sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE staff_login_attempts (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    login    text NOT NULL,
    staff_id uuid REFERENCES staff (id),
    method   text NOT NULL CHECK (method IN ('password', 'oidc')),
    client   text,
    outcome  text NOT NULL
);
CREATE INDEX staff_login_attempts_staff ON staff_login_attempts (staff_id, at);

ALTER TABLE login_sessions ADD COLUMN purpose text NOT NULL DEFAULT 'citizen'
    CHECK (purpose IN ('citizen', 'staff'));
