-- depends: 0009.relay-chain
-- Recalls, quarantines and clearances not yet confirmed, by the lot or unit they change: the write
-- pre-check refuses a second one for the same target while the first is in flight (409), whoever asked.
CREATE INDEX operations_status_change_in_flight_idx
    ON operations ((coalesce(payload->>'unit_id', payload->>'lot_id')), created_at)
    WHERE status IN ('pending', 'submitted') AND action IN ('recall', 'quarantine', 'clear_quarantine');
