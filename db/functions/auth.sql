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

-- Consumes a login exactly once. status: ok | unknown | expired | used.
DROP FUNCTION IF EXISTS cds_login_consume(text);
CREATE OR REPLACE FUNCTION cds_login_consume(p_state_hash text,
    OUT status text, OUT nonce text, OUT verifier text, OUT ial smallint, OUT language text)
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
        language := s.language;
    END IF;
END;
$$;

-- A successful VNeID login: the citizen (created or refreshed from the
-- identity provider's claims, contact choices kept), a new token family and
-- its first refresh token. p_language: 'vi' or 'en' when the login request's
-- Accept-Language named one (NULL otherwise); it becomes the citizen's
-- language unless they chose one (language_chosen, PATCH /v1/me).
DROP FUNCTION IF EXISTS cds_citizen_login(text, text, text, text, date, text, text, text, smallint,
                                          text, int);
CREATE OR REPLACE FUNCTION cds_citizen_login(p_pid_hash text, p_pid_sealed text, p_sub text, p_full_name text,
    p_birth_date date, p_gender text, p_address_sealed text, p_phone_sealed text, p_ial smallint,
    p_refresh_hash text, p_refresh_ttl_seconds int, p_language text,
    OUT citizen_id uuid, OUT family_id uuid, OUT ial smallint)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_language IS NOT NULL AND p_language NOT IN ('vi', 'en') THEN
        p_language := NULL;
    END IF;
    INSERT INTO citizens AS c (pid_hash, pid_sealed, vneid_sub, full_name, birth_date, gender,
                               address_sealed, phone_sealed, ial, language)
    VALUES (p_pid_hash, p_pid_sealed, p_sub, p_full_name, p_birth_date, p_gender,
            p_address_sealed, p_phone_sealed, p_ial, COALESCE(p_language, 'vi'))
    ON CONFLICT (pid_hash) DO UPDATE SET
        pid_sealed = EXCLUDED.pid_sealed,
        vneid_sub = COALESCE(EXCLUDED.vneid_sub, c.vneid_sub),
        full_name = EXCLUDED.full_name,
        birth_date = EXCLUDED.birth_date,
        gender = EXCLUDED.gender,
        address_sealed = EXCLUDED.address_sealed,
        phone_sealed = COALESCE(EXCLUDED.phone_sealed, c.phone_sealed),
        ial = EXCLUDED.ial,
        language = CASE WHEN c.language_chosen OR p_language IS NULL THEN c.language
                        ELSE p_language END
    RETURNING c.id, c.ial INTO citizen_id, ial;
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
