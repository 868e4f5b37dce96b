-- depends: 0001.chain-mirror-base
-- The mirror of every PharmaTrack event: one append-only table per event, ev_<event>, with
-- block_number, log_index, tx_hash and then the event's inputs in ABI order (app/indexer/events.py
-- maps names and types; `from`/`to` become from_org/to_org). Every indexed event parameter is a
-- query key, so each gets an index.

-- CasePacked(bytes32,bytes32,address,uint64,uint32,uint32)
CREATE TABLE ev_case_packed (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    case_id       bytea NOT NULL,
    lot_id        bytea NOT NULL,
    packer        bytea NOT NULL,
    sscc          numeric NOT NULL,
    first_index   bigint NOT NULL,
    count         bigint NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_case_packed_case_id_idx ON ev_case_packed (case_id);
CREATE INDEX ev_case_packed_lot_id_idx ON ev_case_packed (lot_id);
CREATE INDEX ev_case_packed_packer_idx ON ev_case_packed (packer);

-- CaseTreePacked(bytes32,bytes32,address,uint64,bytes32,uint32,uint256[])
CREATE TABLE ev_case_tree_packed (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    case_id       bytea NOT NULL,
    lot_id        bytea NOT NULL,
    packer        bytea NOT NULL,
    sscc          numeric NOT NULL,
    children_root bytea NOT NULL,
    first_word    bigint NOT NULL,
    masks         numeric[] NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_case_tree_packed_case_id_idx ON ev_case_tree_packed (case_id);
CREATE INDEX ev_case_tree_packed_lot_id_idx ON ev_case_tree_packed (lot_id);
CREATE INDEX ev_case_tree_packed_packer_idx ON ev_case_tree_packed (packer);

-- Destroyed(bytes32,bytes32,address,uint32,uint256[])
CREATE TABLE ev_destroyed (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    lot_id        bytea NOT NULL,
    container_id  bytea NOT NULL,
    by            bytea NOT NULL,
    first_word    bigint NOT NULL,
    masks         numeric[] NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_destroyed_lot_id_idx ON ev_destroyed (lot_id);
CREATE INDEX ev_destroyed_container_id_idx ON ev_destroyed (container_id);
CREATE INDEX ev_destroyed_by_idx ON ev_destroyed (by);

-- Dispensed(bytes32,bytes32,address,uint32,uint256[])
CREATE TABLE ev_dispensed (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    lot_id        bytea NOT NULL,
    case_id       bytea NOT NULL,
    by            bytea NOT NULL,
    first_word    bigint NOT NULL,
    masks         numeric[] NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_dispensed_lot_id_idx ON ev_dispensed (lot_id);
CREATE INDEX ev_dispensed_case_id_idx ON ev_dispensed (case_id);
CREATE INDEX ev_dispensed_by_idx ON ev_dispensed (by);

-- ExcursionDetected(bytes32,bytes32,uint40,int16,int16,int16)
CREATE TABLE ev_excursion_detected (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    unit_id       bytea NOT NULL,
    sensor_id     bytea NOT NULL,
    time          bigint NOT NULL,
    value         smallint NOT NULL,
    min_temp      smallint NOT NULL,
    max_temp      smallint NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_excursion_detected_unit_id_idx ON ev_excursion_detected (unit_id);
CREATE INDEX ev_excursion_detected_sensor_id_idx ON ev_excursion_detected (sensor_id);

-- LotCommissioned(bytes32,uint64,address,string,uint40,uint32,bytes32)
CREATE TABLE ev_lot_commissioned (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    lot_id        bytea NOT NULL,
    gtin          numeric NOT NULL,
    manufacturer  bytea NOT NULL,
    lot_number    text NOT NULL,
    expiry        bigint NOT NULL,
    serial_count  bigint NOT NULL,
    serials_root  bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_lot_commissioned_lot_id_idx ON ev_lot_commissioned (lot_id);
CREATE INDEX ev_lot_commissioned_gtin_idx ON ev_lot_commissioned (gtin);
CREATE INDEX ev_lot_commissioned_manufacturer_idx ON ev_lot_commissioned (manufacturer);

-- LotQuarantineCleared(bytes32,address)
CREATE TABLE ev_lot_quarantine_cleared (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    lot_id        bytea NOT NULL,
    by            bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_lot_quarantine_cleared_lot_id_idx ON ev_lot_quarantine_cleared (lot_id);
CREATE INDEX ev_lot_quarantine_cleared_by_idx ON ev_lot_quarantine_cleared (by);

-- LotQuarantined(bytes32,address)
CREATE TABLE ev_lot_quarantined (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    lot_id        bytea NOT NULL,
    by            bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_lot_quarantined_lot_id_idx ON ev_lot_quarantined (lot_id);
CREATE INDEX ev_lot_quarantined_by_idx ON ev_lot_quarantined (by);

-- LotRecalled(bytes32,address)
CREATE TABLE ev_lot_recalled (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    lot_id        bytea NOT NULL,
    by            bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_lot_recalled_lot_id_idx ON ev_lot_recalled (lot_id);
CREATE INDEX ev_lot_recalled_by_idx ON ev_lot_recalled (by);

-- OrganisationRegistered(address,uint32,uint64,bytes32[])
CREATE TABLE ev_organisation_registered (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    account       bytea NOT NULL,
    index         bigint NOT NULL,
    gln           numeric NOT NULL,
    roles         bytea[] NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_organisation_registered_account_idx ON ev_organisation_registered (account);
CREATE INDEX ev_organisation_registered_index_idx ON ev_organisation_registered (index);

-- OrganisationReinstated(address,address)
CREATE TABLE ev_organisation_reinstated (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    account       bytea NOT NULL,
    by            bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_organisation_reinstated_account_idx ON ev_organisation_reinstated (account);
CREATE INDEX ev_organisation_reinstated_by_idx ON ev_organisation_reinstated (by);

-- OrganisationSuspended(address,address)
CREATE TABLE ev_organisation_suspended (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    account       bytea NOT NULL,
    by            bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_organisation_suspended_account_idx ON ev_organisation_suspended (account);
CREATE INDEX ev_organisation_suspended_by_idx ON ev_organisation_suspended (by);

-- PacksQuarantineCleared(bytes32,bytes32,address,uint32,uint256[])
CREATE TABLE ev_packs_quarantine_cleared (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    lot_id        bytea NOT NULL,
    container_id  bytea NOT NULL,
    by            bytea NOT NULL,
    first_word    bigint NOT NULL,
    masks         numeric[] NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_packs_quarantine_cleared_lot_id_idx ON ev_packs_quarantine_cleared (lot_id);
CREATE INDEX ev_packs_quarantine_cleared_container_id_idx ON ev_packs_quarantine_cleared (container_id);
CREATE INDEX ev_packs_quarantine_cleared_by_idx ON ev_packs_quarantine_cleared (by);

-- PacksQuarantined(bytes32,bytes32,address,uint32,uint256[])
CREATE TABLE ev_packs_quarantined (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    lot_id        bytea NOT NULL,
    container_id  bytea NOT NULL,
    by            bytea NOT NULL,
    first_word    bigint NOT NULL,
    masks         numeric[] NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_packs_quarantined_lot_id_idx ON ev_packs_quarantined (lot_id);
CREATE INDEX ev_packs_quarantined_container_id_idx ON ev_packs_quarantined (container_id);
CREATE INDEX ev_packs_quarantined_by_idx ON ev_packs_quarantined (by);

-- PalletPacked(bytes32,address,uint64,bytes32[])
CREATE TABLE ev_pallet_packed (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    pallet_id     bytea NOT NULL,
    packer        bytea NOT NULL,
    sscc          numeric NOT NULL,
    case_ids      bytea[] NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_pallet_packed_pallet_id_idx ON ev_pallet_packed (pallet_id);
CREATE INDEX ev_pallet_packed_packer_idx ON ev_pallet_packed (packer);

-- ProductRegistered(uint64,address,int16,int16)
CREATE TABLE ev_product_registered (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    gtin          numeric NOT NULL,
    manufacturer  bytea NOT NULL,
    min_temp      smallint NOT NULL,
    max_temp      smallint NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_product_registered_gtin_idx ON ev_product_registered (gtin);
CREATE INDEX ev_product_registered_manufacturer_idx ON ev_product_registered (manufacturer);

-- Received(bytes32,address,address)
CREATE TABLE ev_received (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    unit_id       bytea NOT NULL,
    from_org      bytea NOT NULL,
    by            bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_received_unit_id_idx ON ev_received (unit_id);
CREATE INDEX ev_received_from_org_idx ON ev_received (from_org);
CREATE INDEX ev_received_by_idx ON ev_received (by);

-- Refused(bytes32,address,address)
CREATE TABLE ev_refused (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    unit_id       bytea NOT NULL,
    sender        bytea NOT NULL,
    by            bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_refused_unit_id_idx ON ev_refused (unit_id);
CREATE INDEX ev_refused_sender_idx ON ev_refused (sender);
CREATE INDEX ev_refused_by_idx ON ev_refused (by);

-- RoleAdminChanged(bytes32,bytes32,bytes32)
CREATE TABLE ev_role_admin_changed (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    role          bytea NOT NULL,
    previous_admin_role bytea NOT NULL,
    new_admin_role bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_role_admin_changed_role_idx ON ev_role_admin_changed (role);
CREATE INDEX ev_role_admin_changed_previous_admin_role_idx ON ev_role_admin_changed (previous_admin_role);
CREATE INDEX ev_role_admin_changed_new_admin_role_idx ON ev_role_admin_changed (new_admin_role);

-- RoleGranted(bytes32,address,address)
CREATE TABLE ev_role_granted (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    role          bytea NOT NULL,
    account       bytea NOT NULL,
    sender        bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_role_granted_role_idx ON ev_role_granted (role);
CREATE INDEX ev_role_granted_account_idx ON ev_role_granted (account);
CREATE INDEX ev_role_granted_sender_idx ON ev_role_granted (sender);

-- RoleRevoked(bytes32,address,address)
CREATE TABLE ev_role_revoked (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    role          bytea NOT NULL,
    account       bytea NOT NULL,
    sender        bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_role_revoked_role_idx ON ev_role_revoked (role);
CREATE INDEX ev_role_revoked_account_idx ON ev_role_revoked (account);
CREATE INDEX ev_role_revoked_sender_idx ON ev_role_revoked (sender);

-- Shipped(bytes32,address,address)
CREATE TABLE ev_shipped (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    unit_id       bytea NOT NULL,
    from_org      bytea NOT NULL,
    to_org        bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_shipped_unit_id_idx ON ev_shipped (unit_id);
CREATE INDEX ev_shipped_from_org_idx ON ev_shipped (from_org);
CREATE INDEX ev_shipped_to_org_idx ON ev_shipped (to_org);

-- TemperatureRecorded(bytes32,bytes32,address,uint40,uint32,bytes)
CREATE TABLE ev_temperature_recorded (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    unit_id       bytea NOT NULL,
    sensor_id     bytea NOT NULL,
    by            bytea NOT NULL,
    start         bigint NOT NULL,
    interval      bigint NOT NULL,
    readings      bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_temperature_recorded_unit_id_idx ON ev_temperature_recorded (unit_id);
CREATE INDEX ev_temperature_recorded_sensor_id_idx ON ev_temperature_recorded (sensor_id);
CREATE INDEX ev_temperature_recorded_by_idx ON ev_temperature_recorded (by);

-- UnitQuarantineCleared(bytes32,address)
CREATE TABLE ev_unit_quarantine_cleared (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    unit_id       bytea NOT NULL,
    by            bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_unit_quarantine_cleared_unit_id_idx ON ev_unit_quarantine_cleared (unit_id);
CREATE INDEX ev_unit_quarantine_cleared_by_idx ON ev_unit_quarantine_cleared (by);

-- UnitQuarantined(bytes32,address)
CREATE TABLE ev_unit_quarantined (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    unit_id       bytea NOT NULL,
    by            bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_unit_quarantined_unit_id_idx ON ev_unit_quarantined (unit_id);
CREATE INDEX ev_unit_quarantined_by_idx ON ev_unit_quarantined (by);

-- Unpacked(bytes32,address)
CREATE TABLE ev_unpacked (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
    unit_id       bytea NOT NULL,
    by            bytea NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ev_unpacked_unit_id_idx ON ev_unpacked (unit_id);
CREATE INDEX ev_unpacked_by_idx ON ev_unpacked (by);

-- Pallets are found by the cases they hold; organisations by their GLN.
CREATE INDEX ev_pallet_packed_case_ids_idx ON ev_pallet_packed USING gin (case_ids);
CREATE INDEX ev_organisation_registered_gln_idx ON ev_organisation_registered (gln);
