-- bench/sql/steps_prep.sql: the dossiers the same-SQL references of row f
-- (steps_same.pgbench, steps_min.pgbench) move, made as cds-bench-steps
-- makes them through POST /v1/partner/dossiers: imported as filed at a
-- counter three days ago, status received, each with its own citizen and
-- phone, by the same function (cds_dossier_import). Not timed.
--   psql -v run=TAG -v n=DOSSIERS -f bench/sql/steps_prep.sql
SELECT count(*) FROM (
    SELECT cds_dossier_import(gen_random_uuid(), 'tthc:tthc-hcm', 'BENCH-' || :'run' || '-' || g,
        'BENCH.' || :'run' || '-' || lpad(g::text, 6, '0'), '1.000105',
        encode(sha256(('bench-' || :'run' || '-' || g)::bytea), 'hex'), 'v1.bench.pid',
        'Người Thử Nghiệm ' || g, 'v1.bench.phone-' || g, now() - interval '3 days', NULL,
        'received', encode(sha256(('lookup-' || :'run' || '-' || g)::bytea), 'hex'),
        '00-' || md5(:'run' || g) || '-' || left(md5(g::text), 16) || '-00')
    FROM generate_series(0, :n - 1) g) x;
