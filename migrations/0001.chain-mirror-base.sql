-- The indexer's cursor and the blocks it has mirrored (for reorg detection by parent hash).
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
    timestamp    timestamptz NOT NULL
);
