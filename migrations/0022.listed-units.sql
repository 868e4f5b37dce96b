-- depends: 0021.lot-state
-- Issue 14's gas redesign (docs/gas-redesign.md): listed units and run cases packed in one call.

-- CasesPacked(bytes32,address,uint32,uint32,uint64[])
CREATE TABLE ev_cases_packed (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    lot_id        bytea NOT NULL,
    packer        bytea NOT NULL,
    first_index   bigint NOT NULL,
    per_case      bigint NOT NULL,
    ssccs         numeric[] NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_cases_packed_lot_id_idx ON ev_cases_packed (lot_id);

-- CagePacked(bytes32,address,uint64,bytes32[],bytes32[],bytes32[])
CREATE TABLE ev_cage_packed (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    cage_id       bytea NOT NULL,
    packer        bytea NOT NULL,
    sscc          numeric NOT NULL,
    tote_ids      bytea[] NOT NULL,
    hashes        bytea[] NOT NULL,
    case_ids      bytea[] NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_cage_packed_cage_id_idx ON ev_cage_packed (cage_id);

-- ToteDetached(bytes32,bytes32,bytes32)
CREATE TABLE ev_tote_detached (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    tote_id       bytea NOT NULL,
    cage_id       bytea NOT NULL,
    listing_hash  bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_tote_detached_tote_id_idx ON ev_tote_detached (tote_id);

-- DispenseChained(address,uint256,bytes32): a dispenser's chain word after each dispenseDay (undo proofs)
CREATE TABLE ev_dispense_chained (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    dispenser     bytea NOT NULL,
    word          numeric NOT NULL,
    call_hash     bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_dispense_chained_dispenser_idx ON ev_dispense_chained (dispenser);

-- A case of a CasesPacked is a case like one of CasePacked: the indexer writes one ev_case_packed row per case of
-- it, at the CasesPacked event's position (app/indexer/listings.py), so every read of cases (custody, access,
-- provenance, EPCIS) sees them. Several rows may then share a position: the key names the case.
ALTER TABLE ev_case_packed DROP CONSTRAINT ev_case_packed_pkey;
ALTER TABLE ev_case_packed ADD PRIMARY KEY (block_number, log_index, case_id);

-- Likewise a roll cage of a CagePacked is a pallet: one ev_pallet_packed row at the CagePacked's position, its
-- totes then its cases as case_ids (a caged tote is custodied with its cage, and released when it is unpacked).

-- Each listed unit's current listing (a tote, a consignment: abi.encode(Listed[]); a roll cage:
-- abi.encode(toteIds, hashes)), one row per version: the rows of a unit at the end of each transaction that
-- changed it (made it, or drew packs out of it into another unit), at the position of the transaction's last event
-- that did. Its current listing is its latest row. Derived by the indexer (app/indexer/listings.py) and, like every
-- mirror table, rolled back by deleting the rows above a reorg's common ancestor.
CREATE TABLE unit_listings (
    block_number  bigint  NOT NULL,
    log_index     integer NOT NULL,
    unit_id       bytea   NOT NULL,
    kind          text    NOT NULL CHECK (kind IN ('listed', 'cage')),
    listing       bytea   NOT NULL,  -- abi.encode(Listed[]) or abi.encode(bytes32[], bytes32[])
    listing_hash  bytea   NOT NULL,  -- keccak256(listing): the contract's listingOf(unit_id)
    cage_id       bytea,             -- a tote riding on a roll cage: the cage (its listing is in the cage's)
    PRIMARY KEY (unit_id, block_number, log_index)
);
CREATE INDEX unit_listings_block_idx ON unit_listings (block_number);
CREATE INDEX unit_listings_cage_idx ON unit_listings (cage_id) WHERE cage_id IS NOT NULL;
