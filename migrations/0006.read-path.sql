-- depends: 0005.write-path
-- The read path: a per-pack view of the pack-set events, the lots' Merkle trees (so a pack's
-- proof is a few slices of one row), the verification log, and alerts from the detection rules.

-- One row per pack per pack-set event (CasePacked runs, CaseTreePacked, Dispensed, Destroyed,
-- PacksQuarantined, PacksQuarantineCleared), exploded by the indexer in the same transaction as
-- the event rows. Append-only and keyed by block, like ev_*: a reorg rollback is a DELETE above
-- the common ancestor.
CREATE TABLE pack_events (
    block_number  bigint  NOT NULL,
    log_index     integer NOT NULL,
    lot_id        bytea   NOT NULL,
    leaf_index    integer NOT NULL,
    kind          text    NOT NULL CHECK (kind IN ('cased', 'dispensed', 'destroyed', 'quarantined', 'cleared')),
    container_id  bytea   NOT NULL,  -- the case packed into, or the container the event named
    actor         bytea   NOT NULL,  -- packer or `by`
    PRIMARY KEY (lot_id, leaf_index, block_number, log_index)
);
CREATE INDEX pack_events_block_idx ON pack_events (block_number);
CREATE INDEX pack_events_container_idx ON pack_events (container_id);

-- A lot's serial tree in OpenZeppelin's layout (node 0 is the root, leaf i is node 2n-2-i),
-- 32 bytes per node. Stored EXTERNAL (uncompressed) so that substring() reads only the TOAST
-- chunks a proof needs, not the whole tree.
CREATE TABLE lot_trees (
    lot_id bytea PRIMARY KEY REFERENCES lot_commissions (lot_id) ON DELETE CASCADE,
    nodes  bytea NOT NULL CHECK (length(nodes) % 32 = 0 AND length(nodes) >= 32)
);
ALTER TABLE lot_trees ALTER COLUMN nodes SET STORAGE EXTERNAL;

-- The Merkle proof of leaf `leaf` of a tree of `n` leaves, siblings from the leaf up
-- (what MerkleProof.verify takes; empty for a one-leaf tree), or NULL when the lot has no stored
-- tree. Each substring() of the EXTERNAL value reads only the TOAST chunks it covers: the siblings
-- in the tree's first 256 nodes (its top eight levels, 8 KiB) come from one slice, each deeper one
-- from its own. PL/pgSQL, so that its statements are planned once per session.
CREATE FUNCTION lot_proof(p_lot bytea, p_n integer, p_leaf integer) RETURNS bytea[]
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
      FROM lot_trees t WHERE t.lot_id = p_lot;
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

-- Every verification: who asked (organisation and the GLN it asked from), through which
-- channel, what code, and the verdict with its reasons. Rejected scans of the write path are
-- logged here too (channel 'scan'), so a party scanning what it never received is seen.
CREATE TABLE verifications (
    id              bigserial   PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    organisation_id bigint      REFERENCES organisations (id),
    requester_gln   bigint,
    channel         text        NOT NULL CHECK (channel IN ('api', 'lvm', 'scan')),
    code            text        NOT NULL,
    gtin            bigint,
    serial          text,
    lot             text,
    expiry          date,
    sgtin_id        bytea,
    unit_id         bytea,
    verdict         text        NOT NULL,
    reasons         text[]      NOT NULL DEFAULT '{}',
    corr_uuid       text,
    context         text,
    detected        boolean     NOT NULL DEFAULT false  -- the detection rules have seen it
);
CREATE INDEX verifications_undetected_idx ON verifications (id) WHERE NOT detected;
CREATE INDEX verifications_sgtin_idx ON verifications (sgtin_id, at) WHERE sgtin_id IS NOT NULL;
CREATE INDEX verifications_org_idx ON verifications (organisation_id, at);

-- Alerts raised by the detection rules. One open (or acknowledged) alert per (rule, subject);
-- a repeat adds to `occurrences` and to the evidence. `parties` are the organisations that may
-- see it (besides regulators): the requester, the holders on the path, the manufacturer.
CREATE TABLE alerts (
    id               bigserial   PRIMARY KEY,
    rule             text        NOT NULL,
    subject          text        NOT NULL,
    status           text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'closed')),
    severity         text        NOT NULL DEFAULT 'high' CHECK (severity IN ('low', 'medium', 'high')),
    summary          text        NOT NULL,
    evidence         jsonb       NOT NULL DEFAULT '[]',
    parties          bigint[]    NOT NULL DEFAULT '{}',
    gtin             bigint,
    lot_id           bytea,
    sgtin_id         bytea,
    unit_id          bytea,
    occurrences      integer     NOT NULL DEFAULT 1,
    first_seen       timestamptz NOT NULL DEFAULT now(),
    last_seen        timestamptz NOT NULL DEFAULT now(),
    acknowledged_by  bigint      REFERENCES organisations (id),
    acknowledged_at  timestamptz,
    closed_by        bigint      REFERENCES organisations (id),
    closed_at        timestamptz,
    resolution       text
);
CREATE UNIQUE INDEX alerts_live_idx ON alerts (rule, subject) WHERE status <> 'closed';
CREATE INDEX alerts_status_idx ON alerts (status, id);
CREATE INDEX alerts_parties_idx ON alerts USING gin (parties);

-- How far the detector has read the mirror's events (verifications carry their own `detected`
-- flag: their ids may commit out of order, blocks cannot).
CREATE TABLE detector_cursor (
    name          text   PRIMARY KEY,
    block_number  bigint NOT NULL DEFAULT -1
);

-- Time windows (regulator queries, provenance) become block ranges through block times.
CREATE INDEX blocks_timestamp_idx ON blocks (timestamp);
