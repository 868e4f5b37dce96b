-- depends: 0013.distribution-events
-- Lots commissioned in batches (issue 14): a lot is opened with a capacity, then commissioned batch by batch,
-- each batch committed on chain by the root of its own OpenZeppelin tree over its (lot leaf index, sgtinId)
-- leaves (the lot's indexes, not from 0). Off-chain: a lot's commission row says how many serials it holds
-- so far (accepted batches included, so the next batch's first index is known before the earlier one is
-- mined); each serial knows its batch; each batch has its own stored tree.

ALTER TABLE lot_commissions ADD COLUMN capacity integer CHECK (capacity IS NULL OR capacity > 0);
ALTER TABLE lot_commissions DROP CONSTRAINT lot_commissions_serial_count_check;
ALTER TABLE lot_commissions ADD CONSTRAINT lot_commissions_serial_count_check CHECK (serial_count >= 0);
ALTER TABLE lot_commissions ALTER COLUMN serials_root DROP NOT NULL;  -- NULL: an opened lot (roots per batch)

ALTER TABLE lot_serials ADD COLUMN batch integer NOT NULL DEFAULT 0 CHECK (batch >= 0);

ALTER TABLE lot_trees ADD COLUMN batch integer NOT NULL DEFAULT 0 CHECK (batch >= 0);
ALTER TABLE lot_trees ADD COLUMN first_index integer NOT NULL DEFAULT 0 CHECK (first_index >= 0);
ALTER TABLE lot_trees ADD COLUMN operation_id uuid REFERENCES operations (id);  -- the commission_batch that made it
ALTER TABLE lot_trees DROP CONSTRAINT lot_trees_pkey;
ALTER TABLE lot_trees ADD PRIMARY KEY (lot_id, batch);

-- The Merkle proof of leaf `p_leaf` (its position in the batch: lot index - the batch's first index) of batch
-- `p_batch` of a lot, whose tree has `p_n` leaves; lot_proof() of 0006 with the batch in the key.
CREATE FUNCTION batch_proof(p_lot bytea, p_batch integer, p_n integer, p_leaf integer) RETURNS bytea[]
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
DECLARE
    head_nodes CONSTANT integer := 256;
    k integer := 2 * p_n - 2 - p_leaf;
    sibling integer;
    deep integer[] := '{}';
    top integer[] := '{}';
    head bytea;
    deep_nodes bytea[];
    proof bytea[] := '{}';
    i integer;
BEGIN
    IF p_leaf < 0 OR p_leaf >= p_n THEN
        RETURN NULL;
    END IF;
    WHILE k > 0 LOOP
        sibling := CASE WHEN k % 2 = 1 THEN k + 1 ELSE k - 1 END;
        IF sibling < head_nodes THEN
            top := top || sibling;
        ELSE
            deep := deep || sibling;
        END IF;
        k := (k - 1) / 2;
    END LOOP;
    SELECT substring(t.nodes FROM 1 FOR head_nodes * 32),
           ARRAY(SELECT substring(t.nodes FROM d.node * 32 + 1 FOR 32)
                 FROM unnest(deep) WITH ORDINALITY AS d(node, depth) ORDER BY d.depth)
      INTO head, deep_nodes
      FROM lot_trees t WHERE t.lot_id = p_lot AND t.batch = p_batch;
    IF head IS NULL THEN
        RETURN NULL;
    END IF;
    proof := deep_nodes;  -- deeper siblings come first (the proof goes from the leaf up)
    FOREACH i IN ARRAY top LOOP
        proof := proof || substring(head FROM i * 32 + 1 FOR 32);
    END LOOP;
    RETURN proof;
END
$$;

-- A lot commissioned in one go has one tree, batch 0.
CREATE OR REPLACE FUNCTION lot_proof(p_lot bytea, p_n integer, p_leaf integer) RETURNS bytea[]
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$ SELECT batch_proof(p_lot, 0, p_n, p_leaf) $$;

-- A lot on chain, whether commissioned in one go (LotCommissioned: one batch of all its serials) or opened
-- (LotOpened) and commissioned in batches: serial_count and batches as the contract's lot() has them, and
-- serials_root its first batch's root (zero before any), as lot().serialsRoot. Columns appended to 0012's.
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
    SELECT o.lot_id, o.gtin, o.manufacturer, o.lot_number, o.expiry, COALESCE(b.serial_count, 0)::bigint,
           COALESCE(b.first_root, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea),
           o.block_number, o.log_index, o.tx_hash, o.capacity, COALESCE(b.batches, 0)::bigint
      FROM ev_lot_opened o
      LEFT JOIN LATERAL (SELECT sum(count) AS serial_count, count(*) AS batches,
                                (array_agg(serials_root ORDER BY batch))[1] AS first_root
                         FROM ev_batch_commissioned WHERE lot_id = o.lot_id) b ON true
) l;

-- Every commissioning batch on chain, as the contract's batch(lotId, b) has it: a lot commissioned in one go is
-- its batch 0.
CREATE VIEW lot_batches AS
SELECT lot_id, 0::bigint AS batch, 0::bigint AS first_index, serial_count AS count, serials_root,
       block_number, log_index, tx_hash
  FROM ev_lot_commissioned
UNION ALL
SELECT lot_id, batch, first_index, count, serials_root, block_number, log_index, tx_hash
  FROM ev_batch_commissioned;
