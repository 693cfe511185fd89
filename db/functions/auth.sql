-- db/functions/auth.sql: VNeID login (state, nonce, PKCE verifier), the
-- citizen's account on login, refresh-token rotation and logout.
--
-- Repeatable: core/migrate.c runs this whole file again, in one transaction
-- with the other files of db/functions/, whenever any of them changed (see
-- the comment atop core/migrate.c). Every function is defined here only:
-- change it by editing this file, never in a migration.

-- Starts a login. The state itself never reaches the database, only its hash.
-- p_language: the language the start's Accept-Language named (NULL: none).
DROP FUNCTION IF EXISTS cds_login_begin(text, text, text, smallint, int);
CREATE OR REPLACE FUNCTION cds_login_begin(p_state_hash text, p_nonce text, p_verifier text, p_ial smallint,
                                           p_ttl_seconds int, p_language text) RETURNS timestamptz
LANGUAGE sql AS $$
    INSERT INTO login_sessions (state_hash, nonce, verifier, ial, expires_at, language)
    VALUES (p_state_hash, p_nonce, p_verifier, p_ial, now() + make_interval(secs => p_ttl_seconds),
            CASE WHEN p_language IN ('vi', 'en') THEN p_language END)
    RETURNING expires_at;
$$;

-- Takes a login session of one purpose ('citizen', 'staff') exactly once:
-- the row for update, marked used when it is fresh. status: ok | unknown |
-- expired | used; s is the row when status is ok. The one reading both
-- logins' consume functions share.
CREATE OR REPLACE FUNCTION cds_login_session_take(p_state_hash text, p_purpose text,
    OUT status text, OUT s login_sessions)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT * INTO s FROM login_sessions
    WHERE state_hash = p_state_hash AND purpose = p_purpose FOR UPDATE;
    IF NOT FOUND THEN
        status := 'unknown';
    ELSIF s.used_at IS NOT NULL THEN
        status := 'used';
    ELSIF s.expires_at <= now() THEN
        status := 'expired';
    ELSE
        UPDATE login_sessions SET used_at = now() WHERE state_hash = p_state_hash;
        status := 'ok';
    END IF;
    IF status <> 'ok' THEN
        s := NULL;
    END IF;
END;
$$;

-- Consumes a login exactly once. status: ok | unknown | expired | used.
DROP FUNCTION IF EXISTS cds_login_consume(text);
CREATE OR REPLACE FUNCTION cds_login_consume(p_state_hash text,
    OUT status text, OUT nonce text, OUT verifier text, OUT ial smallint, OUT language text)
LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    SELECT * INTO t FROM cds_login_session_take(p_state_hash, 'citizen');
    status := t.status;
    nonce := (t.s).nonce;
    verifier := (t.s).verifier;
    ial := (t.s).ial;
    language := (t.s).language;
END;
$$;

-- The citizen of a VNeID identity, created or refreshed from the identity
-- provider's claims (contact choices kept): a login, or a consent given
-- with VNeID at an agent's counter (cds_vneid_consent_*). p_language: 'vi'
-- or 'en' when the request's Accept-Language named one (NULL otherwise); it
-- becomes the citizen's language unless they chose one (language_chosen,
-- PATCH /v1/me).
DROP FUNCTION IF EXISTS cds_citizen_upsert(text, text, text, text, date, text, text, text, smallint);
CREATE OR REPLACE FUNCTION cds_citizen_upsert(p_pid_hash text, p_pid_sealed text, p_sub text,
    p_full_name text, p_birth_date date, p_gender text, p_address_sealed text, p_phone_sealed text,
    p_ial smallint, p_language text DEFAULT NULL, OUT citizen_id uuid, OUT ial smallint)
LANGUAGE sql AS $$
    INSERT INTO citizens AS c (pid_hash, pid_sealed, vneid_sub, full_name, birth_date, gender,
                               address_sealed, phone_sealed, ial, language)
    VALUES (p_pid_hash, p_pid_sealed, p_sub, p_full_name, p_birth_date, p_gender,
            p_address_sealed, p_phone_sealed, p_ial,
            CASE WHEN p_language IN ('vi', 'en') THEN p_language ELSE 'vi' END)
    ON CONFLICT (pid_hash) DO UPDATE SET
        pid_sealed = EXCLUDED.pid_sealed,
        vneid_sub = COALESCE(EXCLUDED.vneid_sub, c.vneid_sub),
        full_name = EXCLUDED.full_name,
        birth_date = EXCLUDED.birth_date,
        gender = EXCLUDED.gender,
        address_sealed = EXCLUDED.address_sealed,
        phone_sealed = COALESCE(EXCLUDED.phone_sealed, c.phone_sealed),
        ial = EXCLUDED.ial,
        language = CASE WHEN c.language_chosen OR p_language IS NULL
                             OR p_language NOT IN ('vi', 'en') THEN c.language
                        ELSE p_language END
    RETURNING c.id, c.ial;
$$;

-- A successful VNeID login: the citizen (cds_citizen_upsert, with the login
-- request's language), a new token family and its first refresh token.
DROP FUNCTION IF EXISTS cds_citizen_login(text, text, text, text, date, text, text, text, smallint,
                                          text, int);
CREATE OR REPLACE FUNCTION cds_citizen_login(p_pid_hash text, p_pid_sealed text, p_sub text, p_full_name text,
    p_birth_date date, p_gender text, p_address_sealed text, p_phone_sealed text, p_ial smallint,
    p_refresh_hash text, p_refresh_ttl_seconds int, p_language text,
    OUT citizen_id uuid, OUT family_id uuid, OUT ial smallint)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT u.citizen_id, u.ial INTO citizen_id, ial
    FROM cds_citizen_upsert(p_pid_hash, p_pid_sealed, p_sub, p_full_name, p_birth_date, p_gender,
                            p_address_sealed, p_phone_sealed, p_ial, p_language) u;
    INSERT INTO token_families (citizen_id) VALUES (citizen_id) RETURNING id INTO family_id;
    INSERT INTO refresh_tokens (family_id, token_hash, expires_at)
    VALUES (family_id, p_refresh_hash, now() + make_interval(secs => p_refresh_ttl_seconds));
END;
$$;

-- Rotates a refresh token, never forking a login (issue 14: a retry in the
-- grace window used to get a new sibling token, so a thief replaying quickly
-- kept a parallel branch of the login forever).
--
-- Each token has exactly one successor, and the server can make it again
-- without storing it: the successor's plaintext is HMAC-SHA256(refresh key,
-- parent's plaintext) (auth/keys.c, cds_auth_refresh_successor), so the C side
-- always sends the hash of the one possible successor as p_new_hash. A retry
-- inside the window therefore gets the same token it got the first time, as
-- long as that successor has not been used yet: a lost answer. Any other use
-- of a rotated token (after the window, or once its successor was used, or
-- with a successor that is not the recorded one) revokes the whole family.
--
-- Concurrency: every rotation of a family locks the family row first-come,
-- so the successor's rotated_at read below cannot change under us (its own
-- rotation needs the family lock we hold).
--
-- status: ok | grace (the same successor again) | reused | revoked |
--         expired | unknown
CREATE OR REPLACE FUNCTION cds_refresh_rotate(p_old_hash text, p_new_hash text, p_ttl_seconds int,
    p_grace_seconds int,
    OUT status text, OUT citizen_id uuid, OUT family_id uuid, OUT ial smallint)
LANGUAGE plpgsql AS $$
DECLARE
    t refresh_tokens;
    f token_families;
    n refresh_tokens;
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
    IF t.rotated_at IS NULL THEN
        UPDATE refresh_tokens SET rotated_at = now() WHERE id = t.id;
        INSERT INTO refresh_tokens (family_id, token_hash, parent_id, expires_at)
        VALUES (f.id, p_new_hash, t.id, now() + make_interval(secs => p_ttl_seconds));
        status := 'ok';
    ELSE
        -- The recorded successor, by its (unique, indexed) hash.
        SELECT * INTO n FROM refresh_tokens WHERE token_hash = p_new_hash;
        IF now() - t.rotated_at <= make_interval(secs => p_grace_seconds)
           AND n.parent_id = t.id AND n.rotated_at IS NULL THEN
            status := 'grace';
        ELSE
            UPDATE token_families SET revoked_at = now(), revoke_reason = 'reuse' WHERE id = f.id;
            PERFORM pg_notify('cds_family_revoked', f.id::text);
            status := 'reused';
            RETURN;
        END IF;
    END IF;
    SELECT c.ial INTO ial FROM citizens c WHERE c.id = f.citizen_id;
END;
$$;

-- Logout: revokes the family (every refresh token of it, and, through the
-- notification, every access token of it on every node).
CREATE OR REPLACE FUNCTION cds_logout(p_family_id uuid, p_citizen_id uuid) RETURNS boolean
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

-- ---------------- staff (0028_staff.sql, auth/staff*.c) ----------------

-- A new staff account. status: created | exists (that login is taken; the
-- existing id) | no_location (an agent's location is unknown or closed) |
-- bad_role.
CREATE OR REPLACE FUNCTION cds_staff_create(p_login text, p_display_name text, p_role text,
    p_location uuid, p_password_hash text, p_totp_sealed text, p_oidc_subject text, p_by text,
    OUT status text, OUT id uuid, OUT created_at text)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_role NOT IN ('operator', 'auditor', 'agent') OR ((p_role = 'agent') <> (p_location IS NOT NULL)) THEN
        status := 'bad_role';
        RETURN;
    END IF;
    IF p_location IS NOT NULL AND NOT EXISTS (SELECT 1 FROM agent_locations l WHERE l.id = p_location
                                              AND l.disabled_at IS NULL) THEN
        status := 'no_location';
        RETURN;
    END IF;
    INSERT INTO staff AS s (login, display_name, role, agent_location_id, password_hash,
                            totp_secret_sealed, oidc_subject, created_by)
    VALUES (p_login, p_display_name, p_role, p_location, p_password_hash, p_totp_sealed,
            p_oidc_subject, p_by)
    ON CONFLICT (login) DO NOTHING
    RETURNING s.id, cds_rfc3339(s.created_at) INTO id, created_at;
    IF FOUND THEN
        status := 'created';
        INSERT INTO audit_log (actor, action, subject, reason, detail)
        VALUES (p_by, 'staff_create', 'staff:' || id, 'account created',
                jsonb_build_object('login', p_login, 'role', p_role, 'agent_location_id', p_location));
    ELSE
        status := 'exists';
        SELECT s.id, cds_rfc3339(s.created_at) INTO id, created_at FROM staff s WHERE s.login = p_login;
    END IF;
END;
$$;

-- Ends every session of a staff member now, on every node (the tokens'
-- `sid` joins the revoked set through the notification).
CREATE OR REPLACE FUNCTION cds_staff_revoke_sessions(p_staff uuid) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
    n int := 0;
BEGIN
    FOR v_id IN UPDATE staff_sessions SET revoked_at = now()
                WHERE staff_id = p_staff AND revoked_at IS NULL RETURNING staff_sessions.id LOOP
        PERFORM pg_notify('cds_family_revoked', v_id::text);
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;

-- Disables an account (kept, never deleted). status: disabled |
-- already_disabled | not_found.
CREATE OR REPLACE FUNCTION cds_staff_disable(p_id uuid, p_by text,
    OUT status text, OUT disabled_at text)
LANGUAGE plpgsql AS $$
DECLARE
    s staff;
BEGIN
    SELECT * INTO s FROM staff x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF s.disabled_at IS NOT NULL THEN
        status := 'already_disabled';
    ELSE
        UPDATE staff x SET disabled_at = now(), disabled_by = p_by WHERE x.id = p_id
        RETURNING x.disabled_at INTO s.disabled_at;
        INSERT INTO audit_log (actor, action, subject, reason)
        VALUES (p_by, 'staff_disable', 'staff:' || p_id, 'account disabled');
        status := 'disabled';
    END IF;
    PERFORM cds_staff_revoke_sessions(p_id);
    disabled_at := cds_rfc3339(s.disabled_at);
END;
$$;

-- A new TOTP secret (sealed by the caller) for an account; the steps used
-- before count no more. status: ok | not_found.
CREATE OR REPLACE FUNCTION cds_staff_totp_set(p_id uuid, p_sealed text, p_by text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE staff SET totp_secret_sealed = p_sealed, totp_last_step = 0
    WHERE id = p_id AND password_hash IS NOT NULL;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    INSERT INTO audit_log (actor, action, subject, reason)
    VALUES (p_by, 'staff_totp_reset', 'staff:' || p_id, 'TOTP secret replaced');
    PERFORM cds_staff_revoke_sessions(p_id);
    RETURN 'ok';
END;
$$;

-- The outcome of a password + TOTP login whose checks ran in C (the
-- argon2id hash and the TOTP secret never leave for the database's side):
-- p_password_ok, and p_step the TOTP time step the code matched (NULL: no
-- match). A step is accepted once: only one above the last one used.
-- Consecutive failures lock the account for p_lock_seconds after
-- p_max_failures. Every attempt is recorded.
-- status: ok (session_id and the account's columns set) | bad_credentials |
-- code_used | locked (retry_after seconds) | disabled | unknown.
CREATE OR REPLACE FUNCTION cds_staff_login_password(p_login text, p_password_ok boolean,
    p_step bigint, p_client text, p_max_failures int, p_lock_seconds int,
    OUT status text, OUT session_id uuid, OUT retry_after int, OUT staff_id uuid,
    OUT role text, OUT agent_location_id uuid, OUT display_name text)
LANGUAGE plpgsql AS $$
DECLARE
    s staff;
BEGIN
    SELECT * INTO s FROM staff x WHERE x.login = p_login AND x.password_hash IS NOT NULL FOR UPDATE;
    IF NOT FOUND THEN
        status := 'unknown';
    ELSIF s.disabled_at IS NOT NULL THEN
        status := 'disabled';
    ELSIF s.locked_until > now() THEN
        status := 'locked';
        retry_after := ceil(extract(epoch FROM s.locked_until - now()))::int;
    ELSIF NOT p_password_ok OR p_step IS NULL THEN
        status := 'bad_credentials';
    ELSIF p_step <= s.totp_last_step THEN
        status := 'code_used';
    ELSE
        status := 'ok';
    END IF;
    IF status = 'ok' THEN
        UPDATE staff x SET totp_last_step = p_step, failed_logins = 0, locked_until = NULL
        WHERE x.id = s.id;
        INSERT INTO staff_sessions AS x (staff_id, method, client) VALUES (s.id, 'password', p_client)
        RETURNING x.id INTO session_id;
        staff_id := s.id;
        role := s.role;
        agent_location_id := s.agent_location_id;
        display_name := s.display_name;
    ELSIF status IN ('bad_credentials', 'code_used') THEN
        UPDATE staff x SET
            failed_logins = CASE WHEN x.failed_logins + 1 >= p_max_failures THEN 0
                                 ELSE x.failed_logins + 1 END,
            locked_until = CASE WHEN x.failed_logins + 1 >= p_max_failures
                                THEN now() + make_interval(secs => p_lock_seconds) END
        WHERE x.id = s.id;
    END IF;
    INSERT INTO staff_login_attempts (login, staff_id, method, client, outcome)
    VALUES (left(p_login, 64), s.id, 'password', p_client, status);
END;
$$;

-- What a password + TOTP login checks in C: the hash, the sealed secret.
-- No row for an unknown login (or one without a password).
CREATE OR REPLACE FUNCTION cds_staff_login_lookup(p_login text,
    OUT password_hash text, OUT totp_secret_sealed text)
LANGUAGE sql STABLE AS $$
    SELECT s.password_hash, s.totp_secret_sealed FROM staff s
    WHERE s.login = p_login AND s.password_hash IS NOT NULL;
$$;

-- A staff OIDC login for subject p_subject (checked by auth/staff_oidc.c).
-- status: ok | unknown (no account has that subject) | disabled.
CREATE OR REPLACE FUNCTION cds_staff_login_oidc(p_subject text, p_client text,
    OUT status text, OUT session_id uuid, OUT staff_id uuid, OUT login text, OUT role text,
    OUT agent_location_id uuid, OUT display_name text)
LANGUAGE plpgsql AS $$
DECLARE
    s staff;
BEGIN
    SELECT * INTO s FROM staff x WHERE x.oidc_subject = p_subject;
    IF NOT FOUND THEN
        status := 'unknown';
    ELSIF s.disabled_at IS NOT NULL THEN
        status := 'disabled';
    ELSE
        status := 'ok';
        INSERT INTO staff_sessions AS x (staff_id, method, client) VALUES (s.id, 'oidc', p_client)
        RETURNING x.id INTO session_id;
        staff_id := s.id;
        login := s.login;
        role := s.role;
        agent_location_id := s.agent_location_id;
        display_name := s.display_name;
    END IF;
    INSERT INTO staff_login_attempts (login, staff_id, method, client, outcome)
    VALUES (COALESCE(s.login, left('oidc:' || p_subject, 64)), s.id, 'oidc', p_client, status);
END;
$$;

-- Starts a staff OIDC login (login_sessions with purpose 'staff', so a
-- citizen's VNeID state can never finish here, nor this one there).
CREATE OR REPLACE FUNCTION cds_staff_oidc_begin(p_state_hash text, p_nonce text, p_verifier text,
                                                p_ttl_seconds int) RETURNS timestamptz
LANGUAGE sql AS $$
    INSERT INTO login_sessions (state_hash, nonce, verifier, ial, expires_at, purpose)
    VALUES (p_state_hash, p_nonce, p_verifier, 1, now() + make_interval(secs => p_ttl_seconds), 'staff')
    RETURNING expires_at;
$$;

-- Consumes a staff OIDC login once. status: ok | unknown | expired | used.
CREATE OR REPLACE FUNCTION cds_staff_oidc_consume(p_state_hash text,
    OUT status text, OUT nonce text, OUT verifier text)
LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    SELECT * INTO t FROM cds_login_session_take(p_state_hash, 'staff');
    status := t.status;
    nonce := (t.s).nonce;
    verifier := (t.s).verifier;
END;
$$;

-- Logout of one staff session. true when it was open.
CREATE OR REPLACE FUNCTION cds_staff_logout(p_session uuid, p_staff uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE staff_sessions SET revoked_at = now()
    WHERE id = p_session AND staff_id = p_staff AND revoked_at IS NULL;
    IF FOUND THEN
        PERFORM pg_notify('cds_family_revoked', p_session::text);
    END IF;
    RETURN FOUND;
END;
$$;

-- A new agent location (post office). status: created | exists (that code;
-- the existing id) | unknown_agency.
CREATE OR REPLACE FUNCTION cds_agent_location_create(p_code text, p_name text, p_address text,
    p_agency text, p_by text, OUT status text, OUT id uuid)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM agencies a WHERE a.code = p_agency) THEN
        status := 'unknown_agency';
        RETURN;
    END IF;
    INSERT INTO agent_locations AS l (code, name, address, agency_code, created_by)
    VALUES (p_code, p_name, p_address, p_agency, p_by)
    ON CONFLICT (code) DO NOTHING RETURNING l.id INTO id;
    IF FOUND THEN
        status := 'created';
        INSERT INTO audit_log (actor, action, subject, reason, detail)
        VALUES (p_by, 'agent_location_create', 'agent_location:' || id, 'location created',
                jsonb_build_object('code', p_code, 'agency', p_agency));
    ELSE
        status := 'exists';
        SELECT l.id INTO id FROM agent_locations l WHERE l.code = p_code;
    END IF;
END;
$$;

-- Closes an agent location (0038): no new agents there, and each of its
-- agents is disabled (cds_staff_disable: sessions end on every node).
-- status: disabled | already | not_found
CREATE OR REPLACE FUNCTION cds_agent_location_disable(p_id uuid, p_by text, p_reason text,
    OUT status text, OUT agents int)
LANGUAGE plpgsql AS $$
DECLARE
    l agent_locations;
    v_staff uuid;
BEGIN
    agents := 0;
    SELECT * INTO l FROM agent_locations x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF l.disabled_at IS NOT NULL THEN
        status := 'already';
        RETURN;
    END IF;
    UPDATE agent_locations x SET disabled_at = now(), disabled_by = p_by WHERE x.id = p_id;
    FOR v_staff IN SELECT s.id FROM staff s WHERE s.agent_location_id = p_id
                   AND s.disabled_at IS NULL ORDER BY s.id LOOP
        PERFORM cds_staff_disable(v_staff, p_by);
        agents := agents + 1;
    END LOOP;
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES (p_by, 'agent_location_disable', 'agent_location:' || p_id, p_reason,
            jsonb_build_object('code', l.code, 'agents_disabled', agents));
    status := 'disabled';
END;
$$;

-- A VNeID login on an agent's device, for the citizen's consent that the
-- agent p_staff files for them (dossiers/agents.c). The state is bound to
-- that agent: another agent cannot finish it. NULL: not an enabled agent.
CREATE OR REPLACE FUNCTION cds_vneid_consent_begin(p_staff uuid, p_state_hash text, p_nonce text,
    p_verifier text, p_ttl_seconds int) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    v_exp timestamptz;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM staff s WHERE s.id = p_staff AND s.role = 'agent'
                   AND s.disabled_at IS NULL) THEN
        RETURN NULL;
    END IF;
    INSERT INTO login_sessions (state_hash, nonce, verifier, ial, expires_at, purpose, staff_id)
    VALUES (p_state_hash, p_nonce, p_verifier, 1, now() + make_interval(secs => p_ttl_seconds),
            'agent_consent', p_staff)
    RETURNING expires_at INTO v_exp;
    RETURN v_exp;
END;
$$;

-- Consumes it once. status: ok | unknown | expired | used.
CREATE OR REPLACE FUNCTION cds_vneid_consent_consume(p_staff uuid, p_state_hash text,
    OUT status text, OUT nonce text, OUT verifier text)
LANGUAGE plpgsql AS $$
DECLARE
    s login_sessions;
BEGIN
    SELECT * INTO s FROM login_sessions
    WHERE state_hash = p_state_hash AND purpose = 'agent_consent' AND staff_id = p_staff FOR UPDATE;
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
    END IF;
END;
$$;
