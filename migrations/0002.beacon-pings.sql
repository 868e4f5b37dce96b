-- depends: 0001.chain-mirror-base
-- The foundation's wiring probe: Beacon.Pinged events, mirrored.
CREATE TABLE pings (
    block_number  bigint      NOT NULL,
    log_index     integer     NOT NULL,
    tx_hash       bytea       NOT NULL,
    contract      bytea       NOT NULL,
    sender        bytea       NOT NULL,
    seq           numeric(78) NOT NULL,
    note          text        NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX pings_sender_idx ON pings (sender);
