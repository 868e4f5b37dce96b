-- depends: 0004.operations-outbox
-- The write path: off-chain master data that travels with a write (product names, a lot's
-- serial list), and the relayer's own records of what it signed and sent.

-- Product details the chain does not hold. Written when the registration is accepted; removed
-- if it fails on chain.
CREATE TABLE product_details (
    gtin            bigint      PRIMARY KEY,
    organisation_id bigint      NOT NULL REFERENCES organisations (id),
    operation_id    uuid        NOT NULL REFERENCES operations (id),
    name            text        NOT NULL,
    strength        text,
    dosage_form     text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A lot's serial list, committed on chain only by its Merkle root: kept here so that a pack can be
-- named by its serial (leaf index, Merkle proofs). A (GTIN, serial) exists once, in one lot.
CREATE TABLE lot_commissions (
    lot_id          bytea       PRIMARY KEY CHECK (length(lot_id) = 32),
    gtin            bigint      NOT NULL,
    lot             text        NOT NULL,
    expiry          date        NOT NULL,
    serial_count    integer     NOT NULL CHECK (serial_count > 0),
    serials_root    bytea       NOT NULL CHECK (length(serials_root) = 32),
    organisation_id bigint      NOT NULL REFERENCES organisations (id),
    operation_id    uuid        REFERENCES operations (id),  -- NULL: bulk-loaded beside an on-chain commissioning
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE lot_serials (
    lot_id     bytea   NOT NULL REFERENCES lot_commissions (lot_id) ON DELETE CASCADE,
    leaf_index integer NOT NULL CHECK (leaf_index >= 0),
    serial     text    NOT NULL,
    sgtin_id   bytea   NOT NULL CHECK (length(sgtin_id) = 32),
    PRIMARY KEY (lot_id, leaf_index)
);
CREATE UNIQUE INDEX lot_serials_sgtin_idx ON lot_serials (sgtin_id);

-- The relayer: the next nonce per signing account, every transaction it signed (one per nonce)
-- and every signed attempt of it (a replacement re-signs the same call with higher fees). A
-- transaction is recorded before it is broadcast, so a relayer killed at any point finds it again.
CREATE TABLE relay_nonces (
    account    bytea  PRIMARY KEY CHECK (length(account) = 20),
    next_nonce bigint NOT NULL CHECK (next_nonce >= 0)
);
CREATE TABLE relay_transactions (
    id              bigserial   PRIMARY KEY,
    organisation_id bigint      NOT NULL REFERENCES organisations (id),
    action          text        NOT NULL,
    account         bytea       NOT NULL CHECK (length(account) = 20),
    nonce           bigint      NOT NULL,
    to_address      bytea       NOT NULL CHECK (length(to_address) = 20),
    calldata        bytea       NOT NULL,
    gas_limit       bigint      NOT NULL,
    status          text        NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'mined', 'reverted', 'dropped')),
    mined_hash      bytea,
    block_number    bigint,
    gas_used        bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account, nonce)
);
CREATE INDEX relay_transactions_sent_idx ON relay_transactions (organisation_id, action) WHERE status = 'sent';
CREATE TABLE relay_attempts (
    tx_hash                  bytea       PRIMARY KEY CHECK (length(tx_hash) = 32),
    transaction_id           bigint      NOT NULL REFERENCES relay_transactions (id),
    raw                      bytea       NOT NULL,
    max_fee_per_gas          numeric     NOT NULL,
    max_priority_fee_per_gas numeric     NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX relay_attempts_tx_idx ON relay_attempts (transaction_id, created_at);

ALTER TABLE operations ADD COLUMN transaction_id bigint REFERENCES relay_transactions (id);
CREATE INDEX operations_transaction_idx ON operations (transaction_id) WHERE transaction_id IS NOT NULL;
CREATE INDEX operations_submitted_idx ON operations (transaction_id) WHERE status = 'submitted';
