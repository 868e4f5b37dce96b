-- depends: 0016.epcis-captures
-- lot_status (0014) looked up by lot id ran a sequential scan of every opened lot, with an aggregate of its batches for
-- each, on every verification: the opened branch's batch figures are now scalar subqueries, so a lookup by id is pushed
-- down to the ev_lot_opened and ev_batch_commissioned lot_id indexes. Same columns, same values.

CREATE OR REPLACE VIEW lot_status AS
SELECT l.lot_id, l.gtin, l.manufacturer, l.lot_number, l.expiry, l.serial_count, l.serials_root,
       l.block_number, l.log_index, l.tx_hash,
       EXISTS (SELECT 1 FROM ev_lot_recalled r WHERE r.lot_id = l.lot_id) AS recalled,
       EXISTS (SELECT 1 FROM ev_lot_quarantined q
               WHERE q.lot_id = l.lot_id
                 AND NOT EXISTS (SELECT 1 FROM ev_lot_quarantine_cleared c
                                 WHERE c.lot_id = q.lot_id
                                   AND (c.block_number, c.log_index) > (q.block_number, q.log_index))) AS quarantined,
       l.capacity, l.batches
FROM (
    SELECT lot_id, gtin, manufacturer, lot_number, expiry, serial_count, serials_root, block_number, log_index,
           tx_hash, serial_count AS capacity, 1::bigint AS batches
      FROM ev_lot_commissioned
    UNION ALL
    SELECT o.lot_id, o.gtin, o.manufacturer, o.lot_number, o.expiry,
           COALESCE((SELECT sum(b.count) FROM ev_batch_commissioned b WHERE b.lot_id = o.lot_id), 0)::bigint,
           COALESCE((SELECT b.serials_root FROM ev_batch_commissioned b WHERE b.lot_id = o.lot_id
                     ORDER BY b.batch LIMIT 1),
                    '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea),
           o.block_number, o.log_index, o.tx_hash, o.capacity,
           (SELECT count(*) FROM ev_batch_commissioned b WHERE b.lot_id = o.lot_id)::bigint
      FROM ev_lot_opened o
) l;
