-- 0012_receipts_lean.sql: fewer row versions and index entries per receipt.
--
-- Measured on the payments benchmark (2 cores, load average 6-8): with the
-- receipts of 0011 the webhook path ran at 604 and 866 /s against 1,033 and
-- 1,688 /s with cds_receipt_issue returning NULL (no receipt written). Each receipt was written
-- three times (insert, number, signature), every version with an entry in
-- each of its seven indexes, on the same two cores as the payments.
--
--   * The number and the signature are now written by one UPDATE: the
--     signer asks cds_receipt_number_plan for the next numbers (series rows
--     locked, their counters advanced, the receipts not touched), signs the
--     content with those numbers, and writes number and signature together
--     before COMMIT. Every planned number is written in that transaction
--     (with the signature, or with sign_error, or alone when this node has
--     no key for the agency) or the whole transaction rolls back: the
--     series stays gapless.
--   * correction_key is indexed only where set (a correction), not for
--     every receipt.

ALTER TABLE receipts DROP CONSTRAINT receipts_correction_key_key;
CREATE UNIQUE INDEX receipts_correction_key ON receipts (correction_key) WHERE correction_key IS NOT NULL;

-- The next numbers for up to p_limit unnumbered receipts, series by series
-- (agency, year order: two signers never deadlock), in issue order: each
-- returned row is the receipt as it will be once numbered (template_no,
-- serial, number set), the receipt itself is not written. The series rows
-- stay locked, their last_number advanced, until the caller's transaction
-- ends; the caller must write every number it was given before COMMIT.
CREATE FUNCTION cds_receipt_number_plan(p_limit int) RETURNS SETOF receipts
LANGUAGE plpgsql AS $$
DECLARE
    g record;
    s receipt_series;
    r receipts;
    n int;
    total int := 0;
BEGIN
    FOR g IN SELECT x.agency_code, x.year FROM receipts x WHERE x.number IS NULL
             GROUP BY 1, 2 ORDER BY 1, 2 LOOP
        EXIT WHEN total >= p_limit;
        INSERT INTO receipt_series (agency_code, year, template_no, serial)
        VALUES (g.agency_code, g.year, cds_receipt_default_template(), left(g.agency_code, 20))
        ON CONFLICT DO NOTHING;
        SELECT * INTO s FROM receipt_series x
         WHERE x.agency_code = g.agency_code AND x.year = g.year FOR UPDATE;
        n := 0;
        -- A fresh statement after the lock: sees what the previous holder numbered.
        FOR r IN SELECT * FROM receipts x
                  WHERE x.agency_code = g.agency_code AND x.year = g.year AND x.number IS NULL
                  ORDER BY x.issue_seq LIMIT p_limit - total LOOP
            n := n + 1;
            r.template_no := s.template_no;
            r.serial := s.serial;
            r.number := s.last_number + n;
            RETURN NEXT r;
        END LOOP;
        IF n > 0 THEN
            UPDATE receipt_series x SET last_number = x.last_number + n
             WHERE x.agency_code = g.agency_code AND x.year = g.year;
            total := total + n;
        END IF;
    END LOOP;
END
$$;

-- The batch numbering of 0011 is replaced by the plan above.
DROP FUNCTION cds_receipt_number_batch(int);
