-- bench/sql/payments_prep.sql: the payment intents the same-SQL references
-- of row j (payments_same.pgbench, payments_min.pgbench) pay, made by the
-- functions cds-bench-webhooks reaches through the API: one citizen, N
-- dossiers imported for them (cds_dossier_import), moved to fee_requested
-- with a fee of 150,000 VND (cds_dossier_step, as the TTHC system does),
-- each with its open intent (cds_payment_open, as POST
-- /v1/dossiers/{id}/payment), reference CDSB<tag><i, 7 digits>. Not timed.
--   psql -v tag=NN -v n=INTENTS -f bench/sql/payments_prep.sql
-- Prints the receiving account (the webhook's accountNumber).
\set QUIET on
CREATE TEMP TABLE bench_pay AS
SELECT g, i.dossier_id
FROM generate_series(0, :n - 1) g,
LATERAL cds_dossier_import(gen_random_uuid(), 'tthc:tthc-hcm', 'PB-' || :'tag' || '-' || g || '-' || txid_current(),
    'PB' || :'tag' || '.' || txid_current() || '-' || g,
    (SELECT code FROM procedures WHERE name_folded LIKE '%giay phep xay dung%' AND active ORDER BY code LIMIT 1),
    encode(sha256('bench-payer'::bytea), 'hex'), 'v1.bench.pid', 'Nguyễn Văn Bench', 'v1.bench.phone',
    now() - interval '3 days', NULL, 'received', encode(sha256(('pl-' || :'tag' || g)::bytea), 'hex')) i;
SELECT count(*) FROM bench_pay b, dossiers d,
LATERAL cds_dossier_step(d.code, 'tthc:tthc-hcm', 'pp-' || d.code, 'processing', now() - interval '2 days',
                         NULL, NULL, NULL, NULL) s1,
LATERAL cds_dossier_step(d.code, 'tthc:tthc-hcm', 'pf-' || d.code, 'fee_requested', now() - interval '1 day',
                         NULL, 150000, NULL, NULL) s2
WHERE d.id = b.dossier_id;
SELECT count(*) FROM bench_pay b, dossiers d,
LATERAL cds_payment_open(d.id, d.citizen_id, 'CDSB' || :'tag' || lpad(b.g::text, 7, '0')) o
WHERE d.id = b.dossier_id AND o.status = 'created';
\set QUIET off
SELECT DISTINCT p.account_no FROM payments p WHERE p.reference LIKE 'CDSB' || :'tag' || '%';
