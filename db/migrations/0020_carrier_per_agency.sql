-- 0020_carrier_per_agency.sql: which carrier delivers each agency's results.
--
--   agencies.carrier          the carrier that books this agency's shipments
--                             ("vnpost", "ghn"); NULL: the server's
--                             CDS_DELIVERY_CARRIER (the citizen's choice
--                             records it)
--   agencies.carrier_account  the agency's own account at that carrier, when
--                             it has one (GHN: its ShopId, the pickup shop);
--                             NULL: the server's default account
--
-- Both are set by `cds catalog load` (the agencies' "carrier" and
-- "carrier_account" keys). The shipment keeps the carrier it was booked
-- with (shipments.carrier): changing an agency's carrier moves only the
-- shipments created afterwards. cds_dossier_shipment_trigger and
-- cds_shipment_claim (db/functions/delivery.sql) read them.

ALTER TABLE agencies
    ADD COLUMN carrier text CHECK (carrier IS NULL OR carrier ~ '^[a-z][a-z0-9_]{1,31}$'),
    ADD COLUMN carrier_account text CHECK (carrier_account IS NULL
        OR carrier_account ~ '^[0-9A-Za-z_.-]{1,64}$');
COMMENT ON COLUMN agencies.carrier IS
    'Carrier of this agency''s shipments (vnpost, ghn); NULL: the server''s CDS_DELIVERY_CARRIER.';
COMMENT ON COLUMN agencies.carrier_account IS
    'The agency''s account at its carrier (GHN ShopId); NULL: the server''s default account.';
