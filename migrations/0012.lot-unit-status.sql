-- depends: 0011.rate-limits
-- One status source: whether a lot is recalled or quarantined, and a case's or pallet's own flags,
-- as the contract's `lot()` and `unit()` views hold them, computed from the mirror in one place.
-- Plain views (no storage, nothing for the indexer to write or roll back): a lookup by id is
-- inlined into the caller's query and runs on the ev_* tables' id indexes.

-- A commissioned lot and its status. Recalls are final; quarantine and clearance alternate (the
-- contract refuses a second of either), so a lot is quarantined when a quarantine has no clearance
-- after it.
CREATE VIEW lot_status AS
SELECT l.lot_id, l.gtin, l.manufacturer, l.lot_number, l.expiry, l.serial_count, l.serials_root,
       l.block_number, l.log_index, l.tx_hash,
       EXISTS (SELECT 1 FROM ev_lot_recalled r WHERE r.lot_id = l.lot_id) AS recalled,
       EXISTS (SELECT 1 FROM ev_lot_quarantined q
               WHERE q.lot_id = l.lot_id
                 AND NOT EXISTS (SELECT 1 FROM ev_lot_quarantine_cleared c
                                 WHERE c.lot_id = q.lot_id
                                   AND (c.block_number, c.log_index) > (q.block_number, q.log_index))) AS quarantined
FROM ev_lot_commissioned l;

-- A case or pallet: how it was packed, and its own flags (the `quarantined`, `excursion` and
-- `unpacked` of the contract's `unit()`; custody, transit and containment need the replay of its
-- events, app/services/custody.py). lot_id is a case's lot (NULL for a pallet).
CREATE VIEW unit_status AS
SELECT u.unit_id, u.kind, u.sscc, u.lot_id, u.packer, u.block_number, u.log_index, u.tx_hash,
       EXISTS (SELECT 1 FROM ev_unit_quarantined q
               WHERE q.unit_id = u.unit_id
                 AND NOT EXISTS (SELECT 1 FROM ev_unit_quarantine_cleared c
                                 WHERE c.unit_id = q.unit_id
                                   AND (c.block_number, c.log_index) > (q.block_number, q.log_index))) AS quarantined,
       EXISTS (SELECT 1 FROM ev_excursion_detected x WHERE x.unit_id = u.unit_id) AS excursion,
       EXISTS (SELECT 1 FROM ev_unpacked p WHERE p.unit_id = u.unit_id) AS unpacked
FROM (
    SELECT case_id AS unit_id, 'case'::text AS kind, sscc, lot_id, packer, block_number, log_index, tx_hash
      FROM ev_case_packed
    UNION ALL
    SELECT case_id, 'case', sscc, lot_id, packer, block_number, log_index, tx_hash FROM ev_case_tree_packed
    UNION ALL
    SELECT pallet_id, 'pallet', sscc, NULL::bytea, packer, block_number, log_index, tx_hash FROM ev_pallet_packed
) u;
