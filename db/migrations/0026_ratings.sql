-- 0026_ratings.sql: the citizen's rating of the service and feedback
-- (phản ánh, kiến nghị) about a dossier (issue 18, part 3), and the outbox
-- that forwards both to the city's TTHC system.
--
--   dossier_ratings  one per dossier (1-5 stars, optional comment), given
--                    after completed/returned, editable for 7 days after the
--                    first rating (first_rated_at); every change raises
--                    version, and each version is one TTHC delivery with the
--                    idempotency key "rating:<dossier id>:v<version>".
--                    agency_code/procedure_code are copied at rating time so
--                    the monthly summary reads one table.
--   dossier_feedback the citizen's feedback with its quotable reference
--                    PA-<year>-<6+ digits> (from feedback_number_seq: unique
--                    and short, not gapless).
--   tthc_outbox      what must reach the TTHC system, written in the same
--                    transaction as the rating or feedback; claimed with
--                    SKIP LOCKED by dossiers/tthc_outbox.c, woken by NOTIFY
--                    cds_tthc. state: due -> sent | failed (after the last
--                    attempt, for a person).

CREATE TABLE dossier_ratings (
    dossier_id     uuid PRIMARY KEY REFERENCES dossiers (id),
    citizen_id     uuid NOT NULL REFERENCES citizens (id),
    procedure_code text NOT NULL,
    agency_code    text NOT NULL,
    stars          smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
    comment        text CHECK (comment IS NULL OR char_length(comment) BETWEEN 1 AND 1000),
    version        int NOT NULL DEFAULT 1 CHECK (version >= 1),
    channel        text NOT NULL CHECK (channel IN ('app', 'lookup')),
    first_rated_at timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossier_ratings_agency ON dossier_ratings (agency_code, first_rated_at);

CREATE SEQUENCE feedback_number_seq;

CREATE TABLE dossier_feedback (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    reference  text NOT NULL UNIQUE CHECK (reference ~ '^PA-[0-9]{4}-[0-9]{6,}$'),
    dossier_id uuid NOT NULL REFERENCES dossiers (id),
    kind       text NOT NULL CHECK (kind IN ('phan_anh', 'kien_nghi')),
    content    text NOT NULL CHECK (char_length(content) BETWEEN 1 AND 2000),
    channel    text NOT NULL CHECK (channel IN ('app', 'lookup')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossier_feedback_dossier ON dossier_feedback (dossier_id, created_at DESC);

CREATE TABLE tthc_outbox (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('rating', 'feedback')),
    idempotency_key text NOT NULL UNIQUE,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'sent', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz DEFAULT now(),
    claimed_by      text,
    error           text,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'due') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX tthc_outbox_due ON tthc_outbox (next_attempt_at) WHERE state = 'due';
