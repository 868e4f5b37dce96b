-- depends: 0014.lot-batches
-- Issue 14's pack-set events in the per-pack view (app/indexer/packs.py): packs moved out of their case
-- into a tote or a loose consignment ('moved'), into a return consignment ('returned'), reported stolen
-- ('stolen'), and dispenses undone ('undone'). A pack's container is the one of its latest 'cased',
-- 'moved' or 'returned' row (app/services/custody.py).
ALTER TABLE pack_events DROP CONSTRAINT pack_events_kind_check;
ALTER TABLE pack_events ADD CONSTRAINT pack_events_kind_check CHECK (kind IN (
    'cased', 'moved', 'returned', 'dispensed', 'destroyed', 'quarantined', 'cleared', 'stolen', 'undone'));

-- Totes and consignments are units too: unit_status lists them (a consignment has no SSCC: its id is
-- keccak256(abi.encode("consignment", number))), and says whether a consignment is a return not yet
-- accepted (nor refused).
CREATE OR REPLACE VIEW unit_status AS
SELECT u.unit_id, u.kind, u.sscc, u.lot_id, u.packer, u.block_number, u.log_index, u.tx_hash,
       EXISTS (SELECT 1 FROM ev_unit_quarantined q
               WHERE q.unit_id = u.unit_id
                 AND NOT EXISTS (SELECT 1 FROM ev_unit_quarantine_cleared c
                                 WHERE c.unit_id = q.unit_id
                                   AND (c.block_number, c.log_index) > (q.block_number, q.log_index))) AS quarantined,
       EXISTS (SELECT 1 FROM ev_excursion_detected x WHERE x.unit_id = u.unit_id) AS excursion,
       EXISTS (SELECT 1 FROM ev_unpacked p WHERE p.unit_id = u.unit_id) AS unpacked,
       u.is_return AND NOT EXISTS (SELECT 1 FROM ev_unpacked p WHERE p.unit_id = u.unit_id) AS return_pending
FROM (
    SELECT case_id AS unit_id, 'case'::text AS kind, sscc, lot_id, packer, block_number, log_index, tx_hash,
           false AS is_return
      FROM ev_case_packed
    UNION ALL
    SELECT case_id, 'case', sscc, lot_id, packer, block_number, log_index, tx_hash, false FROM ev_case_tree_packed
    UNION ALL
    SELECT pallet_id, 'pallet', sscc, NULL::bytea, packer, block_number, log_index, tx_hash, false
      FROM ev_pallet_packed
    UNION ALL
    SELECT tote_id, 'tote', sscc, NULL::bytea, packer, block_number, log_index, tx_hash, false FROM ev_tote_packed
    UNION ALL
    SELECT consignment_id, 'consignment', NULL::numeric, NULL::bytea, from_org, block_number, log_index, tx_hash,
           is_return
      FROM ev_consignment_created
) u;
