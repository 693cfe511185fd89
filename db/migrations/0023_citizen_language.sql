-- 0023_citizen_language.sql: the language a citizen reads their push and
-- inbox texts in (issue 18, part 5): Vietnamese by default, English on
-- request (PATCH /v1/me {"language": "en"}). SMS stay Vietnamese without
-- diacritics whatever it says. A dossier step's push rows carry it in their
-- vars ("lang") from the moment they are written (cds_notify_citizen), so a
-- retry renders the same text.
ALTER TABLE citizens ADD COLUMN language text NOT NULL DEFAULT 'vi'
    CHECK (language IN ('vi', 'en'));
COMMENT ON COLUMN citizens.language IS
    'Language of push and inbox texts: vi (default) or en. SMS are always Vietnamese.';
