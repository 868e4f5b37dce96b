-- depends: 0001.chain-mirror-base
-- The foundation's wiring probe: Beacon.Pinged events, mirrored (ev_<event> convention:
-- block_number, log_index, tx_hash, then the event's inputs in ABI order).
CREATE TABLE ev_pinged (
    block_number  bigint      NOT NULL,
    log_index     integer     NOT NULL,
    tx_hash       bytea       NOT NULL,
    sender        bytea       NOT NULL,
    seq           numeric     NOT NULL,
    note          text        NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_pinged_sender_idx ON ev_pinged (sender);
