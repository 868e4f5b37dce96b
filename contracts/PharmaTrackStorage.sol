// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

import {IPharmaTrackTypes} from "./IPharmaTrack.sol";
import {CaseTree} from "./libraries/CaseTree.sol";
import {PackSets} from "./libraries/PackSets.sol";
import {Unit, UnitRecord} from "./libraries/UnitRecord.sol";

/// @title PharmaTrackStorage — the storage and the internal rules of {PharmaTrack}
/// @notice One storage layout shared by {PharmaTrack} and {PharmaTrackPacks}, the extension that runs the
///         pack-level functions by DELEGATECALL behind the same address (the two would not fit the 24 KiB code limit
///         of one contract). Both inherit exactly this contract and declare no storage of their own, so their slots
///         coincide.
abstract contract PharmaTrackStorage is IPharmaTrackTypes, AccessControl {
    using BitMaps for BitMaps.BitMap;

    // ------------------------------------------------------------------ roles

    /// @notice Registers products, commissions and packs lots.
    bytes32 public constant MANUFACTURER_ROLE = keccak256("MANUFACTURER_ROLE");
    /// @notice Wholesale distribution.
    bytes32 public constant DISTRIBUTOR_ROLE = keccak256("DISTRIBUTOR_ROLE");
    /// @notice Pharmacies and hospitals: the only ones who dispense.
    bytes32 public constant DISPENSER_ROLE = keccak256("DISPENSER_ROLE");
    /// @notice Recalls and quarantines anything.
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    // ------------------------------------------------------------------ storage

    /// @dev `roles` mirrors the organisation's AccessControl roles as bits, so that one storage read answers both
    ///      "is it active?" and "may it do this?" (AccessControl stays the source of truth and emits the events).
    struct Organisation {
        uint32 index;
        uint64 gln;
        bool suspended;
        uint8 roles;
    }

    struct Product {
        uint32 manufacturer;
        int16 minTemp;
        int16 maxTemp;
    }

    /// @dev One word; the batches' roots sit in their own mapping because no transaction needs them after
    ///      commissioning. `serialCount` is what is commissioned so far: every pack check reads it.
    struct Lot {
        uint48 gtin;
        uint32 number;
        uint32 manufacturer;
        uint32 serialCount;
        uint40 expiry;
        int16 minTemp;
        int16 maxTemp;
        uint8 flags;
        uint32 quarantinedPacks;
    }

    /// @dev A lot's commissioning bookkeeping, apart from {Lot} because only commissioning and packing touch it.
    ///      `packedTo`: every leaf below it is allocated (packed into run cases by {packCases} in leaf order), which
    ///      the `_allocated` bitmap then does not record: a lot cased in order writes no bitmap word.
    struct LotBatches {
        uint32 capacity;
        uint32 count;
        uint32 packedTo;
    }

    /// @dev One commissioning batch: leaves first .. first + count - 1 under `root`.
    struct Batch {
        bytes32 root;
        uint32 first;
        uint32 count;
    }

    uint8 internal constant MANUFACTURER = 1;
    uint8 internal constant DISTRIBUTOR = 2;
    uint8 internal constant DISPENSER = 4;
    uint8 internal constant REGULATOR = 8;

    uint8 internal constant LOT_RECALLED = 1;
    uint8 internal constant LOT_QUARANTINED = 2;
    /// @dev Some pack of the lot's loose stock was destroyed or stolen (never packed, so not allocated): only then
    ///      does packing loose stock read the inactive bitmap.
    uint8 internal constant LOT_LOOSE_ENDED = 4;

    mapping(address account => Organisation) internal _organisations;
    mapping(uint32 index => address) internal _accounts;
    mapping(uint64 gln => address) internal _glnAccounts;
    uint32 internal _organisationCount;

    mapping(uint64 gtin => Product) internal _products;

    mapping(bytes32 lotId => Lot) internal _lots;
    mapping(bytes32 lotId => LotBatches) internal _lotBatches;
    mapping(bytes32 lotId => mapping(uint256 b => Batch)) internal _batches;
    mapping(uint32 number => bytes32 lotId) internal _lotIds;
    uint32 internal _lotCount;

    mapping(bytes32 unitId => Unit) internal _units;
    mapping(bytes32 unitId => bytes32) internal _childrenRoots;
    /// @dev Pallets, totes and consignments share one numbering (a unit's `ref`); only pallets, the only parents
    ///      (a unit's `parent`), are recorded here.
    mapping(uint32 number => bytes32 unitId) internal _containerIds;
    uint32 internal _containerCount;

    mapping(bytes32 lotId => BitMaps.BitMap) internal _allocated;
    mapping(bytes32 lotId => BitMaps.BitMap) internal _inactive;
    mapping(bytes32 lotId => BitMaps.BitMap) internal _destroyed;
    mapping(bytes32 lotId => BitMaps.BitMap) internal _quarantined;
    /// @dev Reported stolen (also inactive).
    mapping(bytes32 lotId => BitMaps.BitMap) internal _stolen;
    /// @dev Per dispense call (`keccak256(dispenser, chain word after it)`), the packs an undo of it has
    ///      reactivated: a call undoes each of its packs once.
    mapping(bytes32 record => BitMaps.BitMap) internal _undoneBy;
    /// @dev A listed unit's (tote, consignment) one word, `keccak256(abi.encode(Listed[]))`, or a roll cage's,
    ///      `keccak256(abi.encode(toteIds, hashes))` (docs/gas-redesign.md).
    mapping(bytes32 unitId => bytes32) internal _listings;
    /// @dev Per lot, the packs picked out of their case (one bit a pack): a pack leaves its case once.
    mapping(bytes32 lotId => BitMaps.BitMap) internal _moved;
    /// @dev Per dispenser, one word: a hash chain over its {dispenseDay} calls, `day << 224 | accumulator`.
    mapping(uint32 dispenser => uint256) internal _dispenseChain;
    /// @dev SSCCs of totes made onto a roll cage, which have no unit record: no later unit may take them.
    BitMaps.BitMap internal _ssccUsed;

    uint256 internal constant UNDO_WINDOW = 10 days;
    uint256 internal constant ACCUMULATOR = type(uint224).max;

    // ------------------------------------------------------------------ internal: parties

    /// @dev The caller's compact index and role bits; a suspended or unknown organisation can do nothing.
    function _caller() internal view returns (uint32 index, uint8 roles) {
        return _active(msg.sender);
    }

    function _active(address account) internal view returns (uint32 index, uint8 roles) {
        Organisation memory org = _organisations[account];
        if (org.index == 0) revert OrganisationNotRegistered(account);
        if (org.suspended) revert OrganisationIsSuspended(account);
        return (org.index, org.roles);
    }

    function _registered(address account) internal view returns (Organisation storage org) {
        org = _organisations[account];
        if (org.index == 0) revert OrganisationNotRegistered(account);
    }

    function _requireRole(uint8 roles, uint8 bit) internal view {
        if (roles & bit == 0) revert OrganisationMissingRole(msg.sender, _roleOf(bit));
    }

    function _roleBit(bytes32 role) internal pure returns (uint8) {
        if (role == MANUFACTURER_ROLE) return MANUFACTURER;
        if (role == DISTRIBUTOR_ROLE) return DISTRIBUTOR;
        if (role == DISPENSER_ROLE) return DISPENSER;
        if (role == REGULATOR_ROLE) return REGULATOR;
        return 0;
    }

    function _roleOf(uint8 bit) internal pure returns (bytes32) {
        if (bit == MANUFACTURER) return MANUFACTURER_ROLE;
        if (bit == DISTRIBUTOR) return DISTRIBUTOR_ROLE;
        if (bit == DISPENSER) return DISPENSER_ROLE;
        return REGULATOR_ROLE;
    }

    /// @dev Keeps the role bits of a registered organisation in step with AccessControl.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        uint8 bit = _roleBit(role);
        if (granted && bit != 0 && _organisations[account].index != 0) _organisations[account].roles |= bit;
    }

    /// @dev Keeps the role bits of a registered organisation in step with AccessControl.
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        uint8 bit = _roleBit(role);
        if (revoked && bit != 0 && _organisations[account].index != 0) _organisations[account].roles &= ~bit;
    }

    // ------------------------------------------------------------------ internal: lots

    /// @dev Checks and stores a new lot of the caller's product with `serialCount` serials commissioned so far.
    function _openLot(uint64 gtin, string calldata lotNumber, uint40 expiry, uint32 serialCount)
        internal
        returns (bytes32 lotId)
    {
        (uint32 me, uint8 roles) = _caller();
        _requireRole(roles, MANUFACTURER);
        Product memory p = _products[gtin];
        if (p.manufacturer == 0) revert ProductNotRegistered(gtin);
        if (p.manufacturer != me) revert ProductNotManufacturer(gtin, msg.sender);
        if (bytes(lotNumber).length == 0 || bytes(lotNumber).length > 20) revert LotInvalidCode(lotNumber);
        if (expiry <= block.timestamp) revert LotInvalidExpiry(expiry);
        lotId = _lotId(gtin, lotNumber);
        if (_lots[lotId].manufacturer != 0) revert LotAlreadyCommissioned(lotId);
        uint32 number = ++_lotCount;
        _lots[lotId] = Lot({
            gtin: uint48(gtin),
            number: number,
            manufacturer: me,
            serialCount: serialCount,
            expiry: expiry,
            minTemp: p.minTemp,
            maxTemp: p.maxTemp,
            flags: 0,
            quarantinedPacks: 0
        });
        _lotIds[number] = lotId;
    }

    function _existingLot(bytes32 lotId) internal view returns (Lot storage l) {
        l = _lots[lotId];
        if (l.manufacturer == 0) revert LotNotFound(lotId);
    }

    /// @dev A lot the caller may recall or quarantine: its manufacturer or a regulator.
    function _lotWithAuthority(bytes32 lotId) internal view returns (Lot storage l) {
        (uint32 me, uint8 roles) = _caller();
        l = _existingLot(lotId);
        if (l.manufacturer != me && roles & REGULATOR == 0) revert LotNotManufacturer(lotId, msg.sender);
    }

    /// @dev A lot whose loose stock `me` may pack: its manufacturer's, neither recalled nor quarantined.
    function _lotToPack(bytes32 lotId, uint32 me) internal view returns (Lot storage l) {
        l = _existingLot(lotId);
        if (l.manufacturer != me) revert LotNotManufacturer(lotId, msg.sender);
        if (l.flags & LOT_RECALLED != 0) revert LotIsRecalled(lotId);
        if (l.flags & LOT_QUARANTINED != 0) revert LotIsQuarantined(lotId);
    }

    /// @dev Indexes of packs still in the manufacturer's loose stock: leaves of the lot, never packed.
    function _requireLooseStock(bytes32 lotId, Lot storage l, PackSet calldata packs)
        internal
        view
        returns (uint256 n)
    {
        n = _requireLeaves(lotId, l, packs);
        _requireAboveWatermark(lotId, packs);
        uint256 allocated = PackSets.firstSet(_allocated[lotId], packs);
        if (allocated != PackSets.NONE) revert PackAlreadyAllocated(lotId, allocated);
    }

    /// @dev Whether leaf `index` of the lot left the loose stock: below the packed watermark, or its bit set.
    function _isAllocated(bytes32 lotId, uint256 index) internal view returns (bool) {
        return index < _lotBatches[lotId].packedTo || _allocated[lotId].get(index);
    }

    /// @dev Reverts with {PackAlreadyAllocated} for the lowest pack of `packs` below the lot's packed watermark.
    function _requireAboveWatermark(bytes32 lotId, PackSet calldata packs) internal view {
        uint256 below = PackSets.outside(packs, _lotBatches[lotId].packedTo, type(uint256).max);
        if (below != PackSets.NONE) revert PackAlreadyAllocated(lotId, below);
    }

    /// @dev Reverts with {PackAlreadyAllocated} if a run from `first` starts below the lot's packed watermark.
    function _requireRunAboveWatermark(bytes32 lotId, uint256 first) internal view {
        if (first < _lotBatches[lotId].packedTo) revert PackAlreadyAllocated(lotId, first);
    }

    /// @dev Marks that loose-stock packs of the lot were destroyed or stolen ({LOT_LOOSE_ENDED}).
    function _looseEnded(Lot storage l) internal {
        uint8 flags = l.flags;
        if (flags & LOT_LOOSE_ENDED == 0) l.flags = flags | LOT_LOOSE_ENDED;
    }

    /// @dev Reverts with {PackIsInactive} if a pack of the run first .. first + count - 1, about to leave the loose
    ///      stock, was destroyed or stolen there; reads nothing unless the lot ever lost a loose pack.
    function _requireLooseActiveRun(bytes32 lotId, Lot storage l, uint256 first, uint256 count) internal view {
        if (l.flags & LOT_LOOSE_ENDED == 0) return;
        uint256 ended = PackSets.firstSetRun(_inactive[lotId], first, count);
        if (ended != PackSets.NONE) revert PackIsInactive(lotId, ended);
    }

    /// @dev {_requireLooseActiveRun} for a set of packs.
    function _requireLooseActive(bytes32 lotId, Lot storage l, PackSet calldata packs) internal view {
        if (l.flags & LOT_LOOSE_ENDED == 0) return;
        uint256 ended = PackSets.firstSet(_inactive[lotId], packs);
        if (ended != PackSets.NONE) revert PackIsInactive(lotId, ended);
    }

    /// @dev A non-empty set of leaves of the lot; returns its size.
    function _requireLeaves(bytes32 lotId, Lot storage l, PackSet calldata packs) internal view returns (uint256 n) {
        n = _size(lotId, packs);
        uint32 serialCount = l.serialCount;
        uint256 stray = PackSets.outside(packs, 0, serialCount);
        if (stray != PackSets.NONE) revert PackIndexOutOfRange(lotId, stray, serialCount);
    }

    /// @dev Packs the caller may quarantine: held through `containerId` (proved) or in its loose stock, or any
    ///      packs for a regulator.
    function _packsWithAuthority(
        bytes32 containerId,
        bytes32 lotId,
        PackSet calldata packs,
        Multiproof calldata multiproof
    ) internal view returns (Lot storage l, uint256 n) {
        (uint32 me, uint8 roles) = _caller();
        l = _existingLot(lotId);
        bool regulator = roles & REGULATOR != 0;
        if (containerId == bytes32(0)) {
            if (regulator) {
                n = _requireLeaves(lotId, l, packs);
            } else {
                if (l.manufacturer != me) revert LotNotManufacturer(lotId, msg.sender);
                n = _requireLooseStock(lotId, l, packs);
            }
        } else {
            Unit u = _existingUnit(containerId);
            if (u.kind() == UnitRecord.PALLET) revert UnitWrongKind(containerId, u.kind());
            if (!regulator && _custodian(u) != me) revert UnitNotHeld(containerId, msg.sender);
            n = _requirePacksIn(containerId, u, l, lotId, packs, multiproof);
        }
    }

    function _size(bytes32 lotId, PackSet calldata packs) internal pure returns (uint256 n) {
        n = PackSets.size(packs);
        if (n == 0) revert PackSetEmpty(lotId);
    }

    function _lotId(uint64 gtin, string calldata lotNumber) internal pure returns (bytes32) {
        return keccak256(abi.encode("lgtin", uint256(gtin), lotNumber));
    }

    // ------------------------------------------------------------------ internal: units

    function _ssccId(uint64 sscc) internal pure returns (bytes32) {
        return keccak256(abi.encode("sscc", uint256(sscc)));
    }

    function _consignmentId(uint32 number) internal pure returns (bytes32) {
        return keccak256(abi.encode("consignment", uint256(number)));
    }

    function _newUnitId(uint64 sscc) internal view returns (bytes32 unitId) {
        if (sscc == 0 || sscc >= 1e18) revert UnitInvalidSscc(sscc);
        unitId = _ssccId(sscc);
        if (_units[unitId].kind() != 0) revert UnitAlreadyExists(unitId);
        if (_ssccUsed.get(sscc)) revert SsccUsed(sscc);
    }

    function _existingUnit(bytes32 unitId) internal view returns (Unit u) {
        u = _units[unitId];
        if (u.kind() == 0) revert UnitNotFound(unitId);
    }

    /// @dev Where `u` sits: `outer` is its closed pallet (`containerId` non-zero), else itself. The custodian is the
    ///      outer unit's holder; a case on an unpacked pallet is loose at that pallet's (now fixed) holder.
    function _outer(Unit u) internal view returns (Unit outer, bytes32 containerId, uint32 custodian) {
        outer = u;
        custodian = u.holder();
        uint32 parent = u.parent();
        if (parent != 0) {
            bytes32 palletId = _containerIds[parent];
            Unit pallet = _units[palletId];
            custodian = pallet.holder();
            if (!pallet.hasFlag(UnitRecord.UNPACKED)) {
                outer = pallet;
                containerId = palletId;
            }
        }
    }

    /// @dev A unit `me` holds directly and that may move: not in a closed container, in transit, unpacked or
    ///      quarantined.
    function _looseHeldBy(bytes32 unitId, uint32 me) internal view returns (Unit u) {
        u = _existingUnit(unitId);
        (, bytes32 containerId, uint32 custodian) = _outer(u);
        if (containerId != bytes32(0)) revert UnitInContainer(unitId, containerId);
        if (custodian != me) revert UnitNotHeld(unitId, msg.sender);
        if (u.hasFlag(UnitRecord.IN_TRANSIT)) revert UnitIsInTransit(unitId);
        if (u.hasFlag(UnitRecord.UNPACKED)) revert UnitIsUnpacked(unitId);
        if (u.hasFlag(UnitRecord.QUARANTINED)) revert UnitIsQuarantined(unitId);
    }

    function _inTransitTo(bytes32 unitId, uint32 me) internal view returns (Unit u) {
        u = _existingUnit(unitId);
        if (!u.hasFlag(UnitRecord.IN_TRANSIT)) revert UnitNotInTransit(unitId);
        if (u.recipient() != me) revert UnitNotRecipient(unitId, msg.sender);
    }

    function _custodian(Unit u) internal view returns (uint32 custodian) {
        (,, custodian) = _outer(u);
    }

    /// @dev A container of packs (case, tote or consignment) at rest: neither it nor its pallet in transit; with
    ///      `sellable`, neither quarantined either.
    function _containerAtRest(bytes32 caseId, bool sellable) internal view returns (Unit u) {
        u = _existingUnit(caseId);
        if (u.kind() == UnitRecord.PALLET) revert UnitWrongKind(caseId, u.kind());
        (Unit outer, bytes32 containerId,) = _outer(u);
        if (u.hasFlag(UnitRecord.IN_TRANSIT)) revert UnitIsInTransit(caseId);
        if (containerId != bytes32(0) && outer.hasFlag(UnitRecord.IN_TRANSIT)) revert UnitIsInTransit(containerId);
        if (sellable) {
            if (u.hasFlag(UnitRecord.QUARANTINED)) revert UnitIsQuarantined(caseId);
            if (containerId != bytes32(0) && outer.hasFlag(UnitRecord.QUARANTINED)) {
                revert UnitIsQuarantined(containerId);
            }
        }
    }

    /// @dev A unit the caller may quarantine: its custodian or a regulator.
    function _unitWithAuthority(bytes32 unitId) internal view returns (Unit u) {
        (uint32 me, uint8 roles) = _caller();
        u = _existingUnit(unitId);
        if (_custodian(u) != me && roles & REGULATOR == 0) revert UnitNotHeld(unitId, msg.sender);
    }

    /// @dev A unit the caller may record readings for: its custodian, or the recipient of it (or of its pallet)
    ///      while in transit.
    function _unitForReadings(bytes32 unitId) internal view returns (Unit u) {
        (uint32 me,) = _caller();
        u = _existingUnit(unitId);
        (Unit outer, bytes32 containerId, uint32 custodian) = _outer(u);
        if (custodian != me) {
            Unit moving = containerId == bytes32(0) ? u : outer;
            if (!moving.hasFlag(UnitRecord.IN_TRANSIT) || moving.recipient() != me) {
                revert UnitNotHeld(unitId, msg.sender);
            }
        }
    }

    /// @dev The position and value of the first reading outside [minTemp, maxTemp]; position type(uint256).max if
    ///      none.
    function _firstOutside(bytes calldata readings, int16 minTemp, int16 maxTemp)
        internal
        pure
        returns (uint256, int16)
    {
        uint256 n = readings.length >> 1;
        for (uint256 i; i < n; ++i) {
            int16 value;
            assembly ("memory-safe") {
                value := signextend(1, shr(240, calldataload(add(readings.offset, shl(1, i)))))
            }
            if (value < minTemp || value > maxTemp) return (i, value);
        }
        return (type(uint256).max, 0);
    }

    /// @dev Reverts unless the packs are children of case `u`; returns how many there are. A run case holds leaves
    ///      first .. first + count - 1 of its lot, which one mask operation per word settles. A tree case takes one
    ///      OpenZeppelin multiproof of the packs' (lotId, index) leaves against its root, which the contract built
    ///      from a set checked against the lot. Either way a proven index is a leaf of that lot held by this case.
    function _requireChildren(
        bytes32 caseId,
        Unit u,
        Lot storage l,
        bytes32 lotId,
        PackSet calldata packs,
        Multiproof calldata multiproof
    ) internal view returns (uint256 n) {
        n = _size(lotId, packs);
        // Nothing lies in [0, 0): `outside` then names the set's lowest index.
        if (u.ref() != l.number) revert PackNotInCase(caseId, lotId, PackSets.outside(packs, 0, 0));
        if (u.hasFlag(UnitRecord.BY_ROOT)) {
            bytes32[] memory leaves = CaseTree.leaves(lotId, PackSets.indexes(packs, n));
            if (!MerkleProof.multiProofVerifyCalldata(multiproof.proof, multiproof.flags, _childrenRoots[caseId], leaves))
            {
                revert PackProofInvalid(caseId, lotId);
            }
        } else {
            if (multiproof.proof.length != 0 || multiproof.flags.length != 0) revert PackProofInvalid(caseId, lotId);
            uint256 stray = PackSets.outside(packs, u.first(), uint256(u.first()) + u.count());
            if (stray != PackSets.NONE) revert PackNotInCase(caseId, lotId, stray);
        }
    }

    /// @dev Reverts unless every pack of `packs` is in case `containerId` now; returns how many there are. A case
    ///      holds its own packs (see {_requireChildren}) that never moved out of it. A listed unit's packs are checked
    ///      against its listing by the functions that take a {ToteDraw}: here it is the wrong kind.
    function _requirePacksIn(
        bytes32 containerId,
        Unit u,
        Lot storage l,
        bytes32 lotId,
        PackSet calldata packs,
        Multiproof calldata multiproof
    ) internal view returns (uint256 n) {
        uint8 kind = u.kind();
        if (kind == UnitRecord.CASE) {
            n = _requireChildren(containerId, u, l, lotId, packs, multiproof);
            _requireNotPicked(u, lotId, packs);
        } else {
            revert UnitWrongKind(containerId, kind);
        }
    }

    /// @dev For a case: reverts if one of `packs` was taken out of it (read only once the case was picked from).
    function _requireNotPicked(Unit u, bytes32 lotId, PackSet calldata packs) internal view {
        if (!u.hasFlag(UnitRecord.PICKED)) return;
        uint256 moved = PackSets.firstSet(_moved[lotId], packs);
        if (moved != PackSets.NONE) revert PackMoved(lotId, moved, bytes32(0));
    }

    /// @dev Who shipped `u` to its holder: its own sender, or, for a unit still on an (unpacked) pallet, the pallet's
    ///      when the pallet travelled. Meaningful only for a unit not in transit.
    function _sender(Unit u) internal view returns (uint32) {
        uint32 parent = u.parent();
        if (parent != 0) {
            uint32 palletSender = _units[_containerIds[parent]].sender();
            if (palletSender != 0) return palletSender;
        }
        return u.sender();
    }

    // ------------------------------------------------------------------ internal: listed units

    /// @dev Reverts unless `d` names a listed unit with its current listing and one taken set a group.
    function _requireListing(ToteDraw calldata d, Unit u) internal view {
        uint8 kind = u.kind();
        if (kind != UnitRecord.TOTE && kind != UnitRecord.CONSIGNMENT) revert UnitWrongKind(d.unitId, kind);
        if (keccak256(abi.encode(d.listing)) != _listings[d.unitId]) revert ListingMismatch(d.unitId);
        if (d.taken.length != d.listing.length) revert ListingShape(d.unitId);
    }

    /// @dev Reverts unless `c` shows the current listing of roll cage `c.cageId` (held by `me`, not in transit;
    ///      `sellable`: not quarantined) and, for each draw, of its tote, with one taken set a group.
    function _requireCage(CageDraw calldata c, uint32 me, bool sellable) internal view returns (Unit u) {
        u = _existingUnit(c.cageId);
        if (u.kind() != UnitRecord.PALLET) revert UnitWrongKind(c.cageId, u.kind());
        if (u.holder() != me) revert UnitNotHeld(c.cageId, msg.sender);
        if (u.hasFlag(UnitRecord.IN_TRANSIT)) revert UnitIsInTransit(c.cageId);
        if (sellable && u.hasFlag(UnitRecord.QUARANTINED)) revert UnitIsQuarantined(c.cageId);
        if (keccak256(abi.encode(c.toteIds, c.hashes)) != _listings[c.cageId]) revert ListingMismatch(c.cageId);
        if (c.totes.length != c.draws.length || c.hashes.length != c.toteIds.length) revert ListingShape(c.cageId);
        for (uint256 i; i < c.draws.length; ++i) {
            ToteDraw calldata d = c.draws[i];
            uint256 t = c.totes[i];
            if (t >= c.toteIds.length || d.unitId != c.toteIds[t]) revert ListingShape(c.cageId);
            if (keccak256(abi.encode(d.listing)) != c.hashes[t]) revert ListingMismatch(d.unitId);
            if (d.taken.length != d.listing.length) revert ListingShape(d.unitId);
        }
    }

    /// @dev Reverts unless every pack of `packs` is in the listing group's `listed`.
    function _requireListed(bytes32 unitId, bytes32 lotId, PackSet calldata packs, PackSet calldata listed)
        internal
        pure
    {
        uint256 stray = PackSets.notWithin(packs, listed);
        if (stray != PackSets.NONE) revert PackNotInCase(unitId, lotId, stray);
    }

    /// @dev The chain word after a {dispenseDay} call with data hash `callHash` at `time` on `word`.
    function _chained(uint256 word, uint256 time, bytes32 callHash) internal pure returns (uint256) {
        return ((time / 1 days) << 224) | (uint256(keccak256(abi.encode(word, time, callHash))) & ACCUMULATOR);
    }

    /// @dev Dispenses `d.taken` (its listing checked).
    function _dispenseListed(ToteDraw calldata d) internal {
        for (uint256 j; j < d.taken.length; ++j) {
            PackSet calldata packs = d.taken[j];
            if (packs.masks.length == 0) continue;
            bytes32 lotId = d.listing[j].lotId;
            Lot storage l = _sellableLot(lotId);
            _size(lotId, packs);
            _requireListed(d.unitId, lotId, packs, d.listing[j].packs);
            _deactivate(lotId, l, packs);
            emit Dispensed(lotId, d.unitId, msg.sender, packs.firstWord, packs.masks);
        }
    }

    /// @dev A lot whose packs may move: neither recalled nor quarantined.
    function _movableLot(bytes32 lotId) internal view returns (Lot storage l) {
        l = _existingLot(lotId);
        uint8 lotFlags = l.flags;
        if (lotFlags & LOT_RECALLED != 0) revert LotIsRecalled(lotId);
        if (lotFlags & LOT_QUARANTINED != 0) revert LotIsQuarantined(lotId);
    }

    /// @dev A lot whose packs may be dispensed: neither recalled, quarantined nor expired.
    function _sellableLot(bytes32 lotId) internal view returns (Lot storage l) {
        l = _movableLot(lotId);
        uint40 expiry = l.expiry;
        if (block.timestamp > expiry) revert LotIsExpired(lotId, expiry);
    }

    /// @dev Marks `packs` inactive (dispensed): none quarantined, none already inactive.
    function _deactivate(bytes32 lotId, Lot storage l, PackSet calldata packs) internal {
        if (l.quarantinedPacks != 0) {
            uint256 quarantined = PackSets.firstSet(_quarantined[lotId], packs);
            if (quarantined != PackSets.NONE) revert PackIsQuarantined(lotId, quarantined);
        }
        uint256 conflict = PackSets.setAll(_inactive[lotId], packs);
        if (conflict != PackSets.NONE) revert PackIsInactive(lotId, conflict);
    }
}
