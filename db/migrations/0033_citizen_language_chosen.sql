-- 0033_citizen_language_chosen.sql: whether the citizen chose their
-- language (issue 18, part 5). Until they do (PATCH /v1/me {"language"}),
-- each VNeID login takes it from the login's Accept-Language (that of the
-- callback, else that of the start, kept with the login session), so a
-- phone set to English gets English push and inbox texts from the first
-- step on; once chosen, no login changes it (cds_citizen_login).
ALTER TABLE citizens ADD COLUMN language_chosen boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN citizens.language_chosen IS
    'The citizen chose citizens.language (PATCH /v1/me); false: it follows the last login''s Accept-Language.';
-- Only PATCH /v1/me could set English until now: those were choices.
UPDATE citizens SET language_chosen = true WHERE language = 'en';

-- The language the start of a login asked for ('vi', 'en'; NULL: none named).
ALTER TABLE login_sessions ADD COLUMN language text CHECK (language IN ('vi', 'en'));
