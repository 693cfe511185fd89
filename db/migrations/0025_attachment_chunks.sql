-- Attachments in PostgreSQL (issue 17): the bytes of every attachment in
-- pieces of 256 KiB, so that every node sees a file another node took, and
-- replication and backups reach it. An upload writes its pieces first
-- (attachment_uploads says one is under way) and the attachments row last,
-- in cds_attachment_commit: until then nothing refers to the pieces, so an
-- upload cut short (client gone, node killed) leaves no attachment anyone
-- can see, and cds_attachment_sweep removes its pieces later.
--
--   attachment_chunks   piece n (0, 1, ...) of attachment_id
--   attachment_uploads  uploads whose row is not written yet
--
-- Files of older versions (CDS_STORAGE_DIR/<sha[0:2]>/<sha>) are moved here
-- by `cds attachments import`.

CREATE TABLE attachment_chunks (
    attachment_id uuid NOT NULL,
    n             integer NOT NULL CHECK (n >= 0),
    data          bytea NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 262144),
    PRIMARY KEY (attachment_id, n)
);
-- PDF, JPEG and PNG are compressed already: out of line, not compressed again.
ALTER TABLE attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE attachment_uploads (
    attachment_id uuid PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachment_uploads_started ON attachment_uploads (started_at);

-- Larger files now that none is held whole by a download (25 MiB).
ALTER TABLE attachments DROP CONSTRAINT attachments_size_bytes_check;
ALTER TABLE attachments ADD CONSTRAINT attachments_size_bytes_check
    CHECK (size_bytes BETWEEN 1 AND 26214400);
