// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice A logistic unit (case, pallet, tote or consignment) packed into one storage word, so that a handoff, whatever the unit
///         holds, is a single SSTORE. Organisations, lots and pallets are referenced by compact numbers.
/// @dev Layout, from the least significant bit:
///      holder uint32 | recipient uint32 | parent uint32 | kind uint8 | flags uint8 | minTemp int16 |
///      maxTemp int16 | ref uint32 | first uint32 | count uint32 | (16 bits unused)
///      `ref` is the lot number of a case and the own container number of a pallet, tote or consignment (a
///      unit's `parent` names a pallet by it; a consignment's id follows from it); `first` is a run case's first
///      leaf; `count` is the number of children.
///      `recipient` is where the unit is going while it is in transit, and who shipped it to its holder (the
///      sender, see {sender}) once it has arrived: a single field serves both because they never coexist.
type Unit is uint256;

using UnitRecord for Unit global;

library UnitRecord {
    uint8 internal constant CASE = 1;
    uint8 internal constant PALLET = 2;
    uint8 internal constant TOTE = 3;
    uint8 internal constant CONSIGNMENT = 4;

    uint8 internal constant IN_TRANSIT = 1;
    uint8 internal constant QUARANTINED = 2;
    uint8 internal constant EXCURSION = 4;
    uint8 internal constant UNPACKED = 8;
    /// @notice A case whose children are committed by a Merkle root rather than a run of leaves.
    uint8 internal constant BY_ROOT = 16;
    /// @notice A consignment of returned packs, in transit until its recipient accepts or refuses it.
    uint8 internal constant RETURN_PENDING = 32;
    /// @notice A case some of whose packs were taken out (to a tote or consignment): only then does acting through
    ///         it read its lot's "moved" bitmap.
    uint8 internal constant PICKED = 64;

    uint256 private constant HOLDER = 0;
    uint256 private constant RECIPIENT = 32;
    uint256 private constant PARENT = 64;
    uint256 private constant KIND = 96;
    uint256 private constant FLAGS = 104;
    uint256 private constant MIN_TEMP = 112;
    uint256 private constant MAX_TEMP = 128;
    uint256 private constant REF = 144;
    uint256 private constant FIRST = 176;
    uint256 private constant COUNT = 208;

    uint256 private constant MASK32 = 0xffffffff;

    function create(
        uint8 kind_,
        uint8 flags_,
        uint32 holder_,
        int16 minTemp_,
        int16 maxTemp_,
        uint32 ref_,
        uint32 first_,
        uint32 count_
    ) internal pure returns (Unit) {
        return Unit.wrap(
            uint256(holder_) | (uint256(kind_) << KIND) | (uint256(flags_) << FLAGS)
                | (uint256(uint16(minTemp_)) << MIN_TEMP) | (uint256(uint16(maxTemp_)) << MAX_TEMP)
                | (uint256(ref_) << REF) | (uint256(first_) << FIRST) | (uint256(count_) << COUNT)
        );
    }

    function holder(Unit u) internal pure returns (uint32) {
        return uint32(Unit.unwrap(u) >> HOLDER);
    }

    function recipient(Unit u) internal pure returns (uint32) {
        return uint32(Unit.unwrap(u) >> RECIPIENT);
    }

    /// @notice Who shipped the unit to its holder (zero when it never travelled or after a refusal); meaningful only
    ///         while it is not in transit.
    function sender(Unit u) internal pure returns (uint32) {
        return uint32(Unit.unwrap(u) >> RECIPIENT);
    }

    function parent(Unit u) internal pure returns (uint32) {
        return uint32(Unit.unwrap(u) >> PARENT);
    }

    function kind(Unit u) internal pure returns (uint8) {
        return uint8(Unit.unwrap(u) >> KIND);
    }

    function hasFlag(Unit u, uint8 flag) internal pure returns (bool) {
        return uint8(Unit.unwrap(u) >> FLAGS) & flag != 0;
    }

    function minTemp(Unit u) internal pure returns (int16) {
        return int16(uint16(Unit.unwrap(u) >> MIN_TEMP));
    }

    function maxTemp(Unit u) internal pure returns (int16) {
        return int16(uint16(Unit.unwrap(u) >> MAX_TEMP));
    }

    function ref(Unit u) internal pure returns (uint32) {
        return uint32(Unit.unwrap(u) >> REF);
    }

    function first(Unit u) internal pure returns (uint32) {
        return uint32(Unit.unwrap(u) >> FIRST);
    }

    function count(Unit u) internal pure returns (uint32) {
        return uint32(Unit.unwrap(u) >> COUNT);
    }

    /// @notice The unit held by `holder_` directly: not in any container.
    function loose(Unit u, uint32 holder_) internal pure returns (Unit) {
        return Unit.wrap((Unit.unwrap(u) & ~(MASK32 << HOLDER) & ~(MASK32 << PARENT)) | uint256(holder_));
    }

    function withHolder(Unit u, uint32 holder_) internal pure returns (Unit) {
        return Unit.wrap((Unit.unwrap(u) & ~(MASK32 << HOLDER)) | (uint256(holder_) << HOLDER));
    }

    function withRecipient(Unit u, uint32 recipient_) internal pure returns (Unit) {
        return Unit.wrap((Unit.unwrap(u) & ~(MASK32 << RECIPIENT)) | (uint256(recipient_) << RECIPIENT));
    }

    function withParent(Unit u, uint32 parent_) internal pure returns (Unit) {
        return Unit.wrap((Unit.unwrap(u) & ~(MASK32 << PARENT)) | (uint256(parent_) << PARENT));
    }

    function withFirst(Unit u, uint32 first_) internal pure returns (Unit) {
        return Unit.wrap((Unit.unwrap(u) & ~(MASK32 << FIRST)) | (uint256(first_) << FIRST));
    }

    function withFlag(Unit u, uint8 flag) internal pure returns (Unit) {
        return Unit.wrap(Unit.unwrap(u) | (uint256(flag) << FLAGS));
    }

    function withoutFlag(Unit u, uint8 flag) internal pure returns (Unit) {
        return Unit.wrap(Unit.unwrap(u) & ~(uint256(flag) << FLAGS));
    }
}
