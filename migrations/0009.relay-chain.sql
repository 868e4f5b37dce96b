-- depends: 0008.verifications-by-month
-- The chain the relayer's transactions were signed for (id and genesis hash). When the relayer finds
-- itself on another chain (a local dev chain started anew), what it had in flight on the old one is
-- void: its transactions are all marked 'voided', the unconfirmed operations pending again (marked
-- requeued_by = 'chain_reset'), the nonces forgotten. A re-queued operation that then cannot apply on
-- the new chain (its prerequisites were on the old one) fails with the error 'chain_reset'.
CREATE TABLE relay_chain (
    name          text        PRIMARY KEY DEFAULT 'main',
    chain_id      bigint      NOT NULL,
    genesis_hash  bytea       NOT NULL CHECK (length(genesis_hash) = 32),
    since         timestamptz NOT NULL DEFAULT now()
);
-- Until now the relayer did not record its chain: take the mirror's (`up` migrates before the indexer
-- starts, so it is the chain the outbox's transactions were sent to), so that an outbox wedged on an
-- earlier dev chain is voided on the first start on a new one.
INSERT INTO relay_chain (name, chain_id, genesis_hash)
SELECT 'main', chain_id, genesis_hash FROM indexer_cursor WHERE name = 'main';
ALTER TABLE operations ADD COLUMN requeued_by text;
ALTER TABLE relay_transactions DROP CONSTRAINT relay_transactions_status_check;
ALTER TABLE relay_transactions ADD CONSTRAINT relay_transactions_status_check
    CHECK (status IN ('sent', 'mined', 'reverted', 'dropped', 'voided'));
-- One transaction per account and nonce on a chain: the voided ones belonged to a chain that is gone.
ALTER TABLE relay_transactions DROP CONSTRAINT relay_transactions_account_nonce_key;
CREATE UNIQUE INDEX relay_transactions_account_nonce_idx ON relay_transactions (account, nonce)
    WHERE status <> 'voided';
