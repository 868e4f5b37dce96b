-- depends: 0006.read-path
-- The block a relayed transaction was mined in, by hash as well as number: an operation is
-- confirmed only while the mirror holds that very block at that height. A reorg that drops the
-- block opens the transaction again (the relayer looks for it on the new branch, or re-broadcasts
-- its recorded bytes under the same nonce), and what it had confirmed is submitted again.
ALTER TABLE relay_transactions ADD COLUMN block_hash bytea CHECK (length(block_hash) = 32);
