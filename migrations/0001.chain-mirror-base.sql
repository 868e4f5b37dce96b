-- The indexer's cursor, and the block headers it keeps: every block that carries a mirrored
-- event (for its timestamp), plus recent window ends as reorg checkpoints (pruned later).
CREATE TABLE indexer_cursor (
    name          text PRIMARY KEY,
    chain_id      bigint      NOT NULL,
    genesis_hash  bytea       NOT NULL,
    block_number  bigint      NOT NULL,
    block_hash    bytea       NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE blocks (
    number       bigint      PRIMARY KEY,
    hash         bytea       NOT NULL UNIQUE,
    parent_hash  bytea       NOT NULL,
    timestamp    timestamptz NOT NULL,
    has_events   boolean     NOT NULL DEFAULT false
);
