// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

import {IPharmaTrack} from "./IPharmaTrack.sol";
import {CaseTree} from "./libraries/CaseTree.sol";
import {PackSets} from "./libraries/PackSets.sol";
import {Unit, UnitRecord} from "./libraries/UnitRecord.sol";

/// @title PharmaTrack — custody of serialized drug packs at a small fraction of naive gas
/// @notice See {IPharmaTrack}. What is stored is only what is enforced:
///         - a lot is two words whatever its size; its serials live off-chain under the committed Merkle root;
///         - a case or pallet is one word (a tree case adds the root of its children), so a handoff of a pallet is
///           one write whatever it holds, and a pack's custodian is its outermost container's;
///         - a pack has no record at all, only bits (by leaf index) in per-lot bitmaps: allocated (packed into a
///           case), inactive (dispensed or destroyed), destroyed, quarantined.
///         Relayers batch calls with {multicall}.
contract PharmaTrack is IPharmaTrack, AccessControl, Multicall {
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

    /// @dev A lot's commissioning bookkeeping, apart from {Lot} because only commissioning touches it.
    struct LotBatches {
        uint32 capacity;
        uint32 count;
    }

    /// @dev One commissioning batch: leaves first .. first + count - 1 under `root`.
    struct Batch {
        bytes32 root;
        uint32 first;
        uint32 count;
    }

    uint8 private constant MANUFACTURER = 1;
    uint8 private constant DISTRIBUTOR = 2;
    uint8 private constant DISPENSER = 4;
    uint8 private constant REGULATOR = 8;

    uint8 private constant LOT_RECALLED = 1;
    uint8 private constant LOT_QUARANTINED = 2;

    mapping(address account => Organisation) private _organisations;
    mapping(uint32 index => address) private _accounts;
    mapping(uint64 gln => address) private _glnAccounts;
    uint32 private _organisationCount;

    mapping(uint64 gtin => Product) private _products;

    mapping(bytes32 lotId => Lot) private _lots;
    mapping(bytes32 lotId => LotBatches) private _lotBatches;
    mapping(bytes32 lotId => mapping(uint256 b => Batch)) private _batches;
    mapping(uint32 number => bytes32 lotId) private _lotIds;
    uint32 private _lotCount;

    mapping(bytes32 unitId => Unit) private _units;
    mapping(bytes32 unitId => bytes32) private _childrenRoots;
    mapping(uint32 number => bytes32 unitId) private _palletIds;
    uint32 private _palletCount;

    mapping(bytes32 lotId => BitMaps.BitMap) private _allocated;
    mapping(bytes32 lotId => BitMaps.BitMap) private _inactive;
    mapping(bytes32 lotId => BitMaps.BitMap) private _destroyed;
    mapping(bytes32 lotId => BitMaps.BitMap) private _quarantined;

    /// @param admin the consortium operator, holder of DEFAULT_ADMIN_ROLE
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------ organisations

    /// @inheritdoc IPharmaTrack
    function registerOrganisation(address account, uint64 gln, bytes32[] calldata roles)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (uint32 index)
    {
        if (account == address(0)) revert OrganisationInvalidAccount(account);
        if (_organisations[account].index != 0) revert OrganisationAlreadyRegistered(account);
        if (gln == 0 || gln >= 1e13) revert OrganisationInvalidGln(gln);
        address holder = _glnAccounts[gln];
        if (holder != address(0)) revert OrganisationDuplicateGln(gln, holder);
        index = ++_organisationCount;
        // Roles granted before registration count too.
        uint8 bits;
        if (hasRole(MANUFACTURER_ROLE, account)) bits |= MANUFACTURER;
        if (hasRole(DISTRIBUTOR_ROLE, account)) bits |= DISTRIBUTOR;
        if (hasRole(DISPENSER_ROLE, account)) bits |= DISPENSER;
        if (hasRole(REGULATOR_ROLE, account)) bits |= REGULATOR;
        _organisations[account] = Organisation({index: index, gln: gln, suspended: false, roles: bits});
        _accounts[index] = account;
        _glnAccounts[gln] = account;
        for (uint256 i; i < roles.length; ++i) {
            if (_roleBit(roles[i]) == 0) revert OrganisationInvalidRole(roles[i]);
            _grantRole(roles[i], account);
        }
        emit OrganisationRegistered(account, index, gln, roles);
    }

    /// @inheritdoc IPharmaTrack
    function suspendOrganisation(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Organisation storage org = _registered(account);
        if (org.suspended) revert OrganisationIsSuspended(account);
        org.suspended = true;
        emit OrganisationSuspended(account, msg.sender);
    }

    /// @inheritdoc IPharmaTrack
    function reinstateOrganisation(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Organisation storage org = _registered(account);
        if (!org.suspended) revert OrganisationNotSuspended(account);
        org.suspended = false;
        emit OrganisationReinstated(account, msg.sender);
    }

    /// @inheritdoc IPharmaTrack
    function organisation(address account) external view returns (uint32 index, uint64 gln, bool suspended) {
        Organisation storage org = _organisations[account];
        return (org.index, org.gln, org.suspended);
    }

    /// @inheritdoc IPharmaTrack
    function organisationAt(uint32 index) external view returns (address account) {
        return _accounts[index];
    }

    /// @inheritdoc IPharmaTrack
    function organisationByGln(uint64 gln) external view returns (address account) {
        return _glnAccounts[gln];
    }

    // ------------------------------------------------------------------ products and lots

    /// @inheritdoc IPharmaTrack
    function registerProduct(uint64 gtin, int16 minTemp, int16 maxTemp) external {
        (uint32 me, uint8 roles) = _caller();
        _requireRole(roles, MANUFACTURER);
        if (gtin == 0 || gtin >= 1e14) revert ProductInvalidGtin(gtin);
        if (_products[gtin].manufacturer != 0) revert ProductAlreadyRegistered(gtin);
        if (minTemp > maxTemp) revert ProductInvalidRange(minTemp, maxTemp);
        _products[gtin] = Product({manufacturer: me, minTemp: minTemp, maxTemp: maxTemp});
        emit ProductRegistered(gtin, msg.sender, minTemp, maxTemp);
    }

    /// @inheritdoc IPharmaTrack
    function product(uint64 gtin) external view returns (address manufacturer, int16 minTemp, int16 maxTemp) {
        Product storage p = _products[gtin];
        return (_accounts[p.manufacturer], p.minTemp, p.maxTemp);
    }

    /// @inheritdoc IPharmaTrack
    function commissionLot(
        uint64 gtin,
        string calldata lotNumber,
        uint40 expiry,
        uint32 serialCount,
        bytes32 serialsRoot
    ) external returns (bytes32 lotId) {
        lotId = _openLot(gtin, lotNumber, expiry, serialCount);
        if (serialCount == 0) revert LotInvalidSerialCount(serialCount);
        if (serialsRoot == bytes32(0)) revert LotInvalidRoot(serialsRoot);
        _lotBatches[lotId] = LotBatches({capacity: serialCount, count: 1});
        _batches[lotId][0] = Batch({root: serialsRoot, first: 0, count: serialCount});
        emit LotCommissioned(lotId, gtin, msg.sender, lotNumber, expiry, serialCount, serialsRoot);
    }

    /// @inheritdoc IPharmaTrack
    function openLot(uint64 gtin, string calldata lotNumber, uint40 expiry, uint32 capacity)
        external
        returns (bytes32 lotId)
    {
        lotId = _openLot(gtin, lotNumber, expiry, 0);
        if (capacity == 0) revert LotInvalidCapacity(capacity);
        _lotBatches[lotId] = LotBatches({capacity: capacity, count: 0});
        emit LotOpened(lotId, gtin, msg.sender, lotNumber, expiry, capacity);
    }

    /// @inheritdoc IPharmaTrack
    function commissionBatch(bytes32 lotId, uint32 firstIndex, uint32 count, bytes32 serialsRoot)
        external
        returns (uint32 b)
    {
        (uint32 me, uint8 roles) = _caller();
        _requireRole(roles, MANUFACTURER);
        Lot storage l = _existingLot(lotId);
        if (l.manufacturer != me) revert LotNotManufacturer(lotId, msg.sender);
        if (l.flags & LOT_RECALLED != 0) revert LotIsRecalled(lotId);
        uint40 expiry = l.expiry;
        if (block.timestamp > expiry) revert LotIsExpired(lotId, expiry);
        if (count == 0) revert LotInvalidSerialCount(count);
        if (serialsRoot == bytes32(0)) revert LotInvalidRoot(serialsRoot);
        uint32 next = l.serialCount;
        if (firstIndex != next) revert LotBatchOutOfOrder(lotId, firstIndex, next);
        LotBatches memory lb = _lotBatches[lotId];
        uint256 end = uint256(firstIndex) + count;
        if (end > lb.capacity) revert LotCapacityExceeded(lotId, end, lb.capacity);
        b = lb.count;
        _lotBatches[lotId].count = b + 1;
        _batches[lotId][b] = Batch({root: serialsRoot, first: firstIndex, count: count});
        l.serialCount = uint32(end);
        emit BatchCommissioned(lotId, b, firstIndex, count, serialsRoot);
    }

    /// @inheritdoc IPharmaTrack
    function batch(bytes32 lotId, uint32 b)
        external
        view
        returns (uint32 firstIndex, uint32 count, bytes32 serialsRoot)
    {
        Batch storage bt = _batches[lotId][b];
        return (bt.first, bt.count, bt.root);
    }

    /// @inheritdoc IPharmaTrack
    function lot(bytes32 lotId) external view returns (LotInfo memory info) {
        Lot memory l = _lots[lotId];
        info = LotInfo({
            gtin: l.gtin,
            manufacturer: _accounts[l.manufacturer],
            serialCount: l.serialCount,
            expiry: l.expiry,
            minTemp: l.minTemp,
            maxTemp: l.maxTemp,
            recalled: l.flags & LOT_RECALLED != 0,
            quarantined: l.flags & LOT_QUARANTINED != 0,
            quarantinedPacks: l.quarantinedPacks,
            capacity: _lotBatches[lotId].capacity,
            batches: _lotBatches[lotId].count,
            serialsRoot: _batches[lotId][0].root
        });
    }

    /// @inheritdoc IPharmaTrack
    function recallLot(bytes32 lotId) external {
        Lot storage l = _lotWithAuthority(lotId);
        if (l.flags & LOT_RECALLED != 0) revert LotIsRecalled(lotId);
        l.flags |= LOT_RECALLED;
        emit LotRecalled(lotId, msg.sender);
    }

    /// @inheritdoc IPharmaTrack
    function quarantineLot(bytes32 lotId) external {
        Lot storage l = _lotWithAuthority(lotId);
        if (l.flags & LOT_QUARANTINED != 0) revert LotIsQuarantined(lotId);
        l.flags |= LOT_QUARANTINED;
        emit LotQuarantined(lotId, msg.sender);
    }

    /// @inheritdoc IPharmaTrack
    function clearLotQuarantine(bytes32 lotId) external {
        Lot storage l = _lotWithAuthority(lotId);
        if (l.flags & LOT_QUARANTINED == 0) revert LotNotQuarantined(lotId);
        l.flags &= ~LOT_QUARANTINED;
        emit LotQuarantineCleared(lotId, msg.sender);
    }

    // ------------------------------------------------------------------ containers

    /// @inheritdoc IPharmaTrack
    function packCase(uint64 sscc, bytes32 lotId, uint32 firstIndex, uint32 count) external returns (bytes32 caseId) {
        (uint32 me,) = _caller();
        Lot storage l = _lotToPack(lotId, me);
        caseId = _newUnitId(sscc);
        if (count == 0) revert UnitEmpty(caseId);
        uint256 end = uint256(firstIndex) + count;
        if (end > l.serialCount) revert PackIndexOutOfRange(lotId, end - 1, l.serialCount);
        uint256 conflict = PackSets.setRun(_allocated[lotId], firstIndex, count);
        if (conflict != PackSets.NONE) revert PackAlreadyAllocated(lotId, conflict);
        _units[caseId] =
            UnitRecord.create(UnitRecord.CASE, 0, me, l.minTemp, l.maxTemp, l.number, firstIndex, count);
        emit CasePacked(caseId, lotId, msg.sender, sscc, firstIndex, count);
    }

    /// @inheritdoc IPharmaTrack
    function packCaseTree(uint64 sscc, bytes32 lotId, PackSet calldata packs) external returns (bytes32 caseId) {
        (uint32 me,) = _caller();
        Lot storage l = _lotToPack(lotId, me);
        caseId = _newUnitId(sscc);
        uint256 n = _requireLeaves(lotId, l, packs);
        uint256 conflict = PackSets.setAll(_allocated[lotId], packs);
        if (conflict != PackSets.NONE) revert PackAlreadyAllocated(lotId, conflict);
        bytes32 root = CaseTree.root(lotId, PackSets.indexes(packs, n));
        _units[caseId] = UnitRecord.create(
            UnitRecord.CASE, UnitRecord.BY_ROOT, me, l.minTemp, l.maxTemp, l.number, 0, uint32(n)
        );
        _childrenRoots[caseId] = root;
        emit CaseTreePacked(caseId, lotId, msg.sender, sscc, root, packs.firstWord, packs.masks);
    }

    /// @inheritdoc IPharmaTrack
    function packPallet(uint64 sscc, bytes32[] calldata caseIds) external returns (bytes32 palletId) {
        (uint32 me,) = _caller();
        palletId = _newUnitId(sscc);
        if (caseIds.length == 0) revert UnitEmpty(palletId);
        uint32 number = ++_palletCount;
        // Registered before the loop, so a case listed twice is seen inside this pallet the second time.
        _palletIds[number] = palletId;
        int16 minTemp = type(int16).min;
        int16 maxTemp = type(int16).max;
        for (uint256 i; i < caseIds.length; ++i) {
            bytes32 caseId = caseIds[i];
            Unit u = _looseHeldBy(caseId, me);
            if (u.kind() != UnitRecord.CASE) revert UnitWrongKind(caseId, u.kind());
            if (u.minTemp() > minTemp) minTemp = u.minTemp();
            if (u.maxTemp() < maxTemp) maxTemp = u.maxTemp();
            _units[caseId] = u.loose(me).withParent(number);
        }
        _units[palletId] =
            UnitRecord.create(UnitRecord.PALLET, 0, me, minTemp, maxTemp, number, 0, uint32(caseIds.length));
        emit PalletPacked(palletId, msg.sender, sscc, caseIds);
    }

    /// @inheritdoc IPharmaTrack
    function unpack(bytes32[] calldata units) external {
        (uint32 me,) = _caller();
        for (uint256 i; i < units.length; ++i) {
            bytes32 unitId = units[i];
            Unit u = _looseHeldBy(unitId, me);
            // A pallet's cases are released lazily: a case on an unpacked pallet is loose at the pallet's holder.
            _units[unitId] = u.loose(me).withFlag(UnitRecord.UNPACKED);
            emit Unpacked(unitId, msg.sender);
        }
    }

    /// @inheritdoc IPharmaTrack
    function unit(bytes32 unitId) external view returns (UnitInfo memory info) {
        Unit u = _units[unitId];
        if (u.kind() == 0) return info;
        (Unit outer, bytes32 containerId, uint32 custodian) = _outer(u);
        info.kind = u.kind();
        info.custodian = _accounts[custodian];
        info.recipient = _accounts[u.recipient()];
        info.container = containerId;
        info.inTransit = u.hasFlag(UnitRecord.IN_TRANSIT) || (containerId != 0 && outer.hasFlag(UnitRecord.IN_TRANSIT));
        info.quarantined = u.hasFlag(UnitRecord.QUARANTINED);
        info.excursion = u.hasFlag(UnitRecord.EXCURSION);
        info.unpacked = u.hasFlag(UnitRecord.UNPACKED);
        info.minTemp = u.minTemp();
        info.maxTemp = u.maxTemp();
        if (u.kind() == UnitRecord.CASE) {
            info.lotId = _lotIds[u.ref()];
            info.firstIndex = u.first();
        }
        info.children = u.count();
        info.childrenRoot = _childrenRoots[unitId];
    }

    // ------------------------------------------------------------------ handoffs

    /// @inheritdoc IPharmaTrack
    function ship(bytes32[] calldata units, address to) external {
        (uint32 me,) = _caller();
        if (units.length == 0) revert ShipmentEmpty(to);
        if (to == msg.sender) revert ShipmentToSelf(to);
        (uint32 recipient,) = _active(to);
        for (uint256 i; i < units.length; ++i) {
            bytes32 unitId = units[i];
            Unit u = _looseHeldBy(unitId, me);
            _units[unitId] = u.loose(me).withRecipient(recipient).withFlag(UnitRecord.IN_TRANSIT);
            emit Shipped(unitId, msg.sender, to);
        }
    }

    /// @inheritdoc IPharmaTrack
    function receiveShipment(bytes32[] calldata units) external {
        (uint32 me,) = _caller();
        for (uint256 i; i < units.length; ++i) {
            bytes32 unitId = units[i];
            Unit u = _inTransitTo(unitId, me);
            _units[unitId] = u.withHolder(me).withRecipient(0).withoutFlag(UnitRecord.IN_TRANSIT);
            emit Received(unitId, _accounts[u.holder()], msg.sender);
        }
    }

    /// @inheritdoc IPharmaTrack
    function refuseShipment(bytes32[] calldata units) external {
        (uint32 me,) = _caller();
        for (uint256 i; i < units.length; ++i) {
            bytes32 unitId = units[i];
            Unit u = _inTransitTo(unitId, me);
            _units[unitId] = u.withRecipient(0).withoutFlag(UnitRecord.IN_TRANSIT);
            emit Refused(unitId, _accounts[u.holder()], msg.sender);
        }
    }

    // ------------------------------------------------------------------ packs

    /// @inheritdoc IPharmaTrack
    function dispense(
        bytes32 caseId,
        bytes32 lotId,
        PackSet calldata packs,
        Multiproof calldata multiproof
    ) external {
        (uint32 me, uint8 roles) = _caller();
        _requireRole(roles, DISPENSER);
        Lot storage l = _existingLot(lotId);
        uint8 lotFlags = l.flags;
        if (lotFlags & LOT_RECALLED != 0) revert LotIsRecalled(lotId);
        if (lotFlags & LOT_QUARANTINED != 0) revert LotIsQuarantined(lotId);
        uint40 expiry = l.expiry;
        if (block.timestamp > expiry) revert LotIsExpired(lotId, expiry);
        Unit u = _caseAtRest(caseId, true);
        if (_custodian(u) != me) revert UnitNotHeld(caseId, msg.sender);
        _requireChildren(caseId, u, l, lotId, packs, multiproof);
        if (l.quarantinedPacks != 0) {
            uint256 quarantined = PackSets.firstSet(_quarantined[lotId], packs);
            if (quarantined != PackSets.NONE) revert PackIsQuarantined(lotId, quarantined);
        }
        uint256 conflict = PackSets.setAll(_inactive[lotId], packs);
        if (conflict != PackSets.NONE) revert PackIsInactive(lotId, conflict);
        emit Dispensed(lotId, caseId, msg.sender, packs.firstWord, packs.masks);
    }

    /// @inheritdoc IPharmaTrack
    function destroy(
        bytes32 containerId,
        bytes32 lotId,
        PackSet calldata packs,
        Multiproof calldata multiproof
    ) external {
        (uint32 me,) = _caller();
        Lot storage l = _existingLot(lotId);
        if (containerId == bytes32(0)) {
            if (l.manufacturer != me) revert LotNotManufacturer(lotId, msg.sender);
            _requireLooseStock(lotId, l, packs);
        } else {
            Unit u = _caseAtRest(containerId, false);
            if (_custodian(u) != me) revert UnitNotHeld(containerId, msg.sender);
            _requireChildren(containerId, u, l, lotId, packs, multiproof);
        }
        uint256 conflict = PackSets.setAll(_inactive[lotId], packs);
        if (conflict != PackSets.NONE) revert PackIsInactive(lotId, conflict);
        PackSets.setAll(_destroyed[lotId], packs);
        emit Destroyed(lotId, containerId, msg.sender, packs.firstWord, packs.masks);
    }

    /// @inheritdoc IPharmaTrack
    function quarantinePacks(
        bytes32 containerId,
        bytes32 lotId,
        PackSet calldata packs,
        Multiproof calldata multiproof
    ) external {
        (Lot storage l, uint256 n) = _packsWithAuthority(containerId, lotId, packs, multiproof);
        uint256 conflict = PackSets.setAll(_quarantined[lotId], packs);
        if (conflict != PackSets.NONE) revert PackIsQuarantined(lotId, conflict);
        l.quarantinedPacks += uint32(n);
        emit PacksQuarantined(lotId, containerId, msg.sender, packs.firstWord, packs.masks);
    }

    /// @inheritdoc IPharmaTrack
    function clearPacksQuarantine(
        bytes32 containerId,
        bytes32 lotId,
        PackSet calldata packs,
        Multiproof calldata multiproof
    ) external {
        (Lot storage l, uint256 n) = _packsWithAuthority(containerId, lotId, packs, multiproof);
        uint256 missing = PackSets.clearAll(_quarantined[lotId], packs);
        if (missing != PackSets.NONE) revert PackNotQuarantined(lotId, missing);
        l.quarantinedPacks -= uint32(n);
        emit PacksQuarantineCleared(lotId, containerId, msg.sender, packs.firstWord, packs.masks);
    }

    /// @inheritdoc IPharmaTrack
    function packState(bytes32 lotId, uint256 index)
        external
        view
        returns (bool allocated, bool dispensed, bool destroyed, bool quarantined)
    {
        allocated = _allocated[lotId].get(index);
        destroyed = _destroyed[lotId].get(index);
        dispensed = _inactive[lotId].get(index) && !destroyed;
        quarantined = _quarantined[lotId].get(index);
    }

    // ------------------------------------------------------------------ status

    /// @inheritdoc IPharmaTrack
    function quarantineUnit(bytes32 unitId) external {
        Unit u = _unitWithAuthority(unitId);
        if (u.hasFlag(UnitRecord.QUARANTINED)) revert UnitIsQuarantined(unitId);
        _units[unitId] = u.withFlag(UnitRecord.QUARANTINED);
        emit UnitQuarantined(unitId, msg.sender);
    }

    /// @inheritdoc IPharmaTrack
    function clearUnitQuarantine(bytes32 unitId) external {
        Unit u = _unitWithAuthority(unitId);
        if (!u.hasFlag(UnitRecord.QUARANTINED)) revert UnitNotQuarantined(unitId);
        _units[unitId] = u.withoutFlag(UnitRecord.QUARANTINED);
        emit UnitQuarantineCleared(unitId, msg.sender);
    }

    // ------------------------------------------------------------------ cold chain

    /// @inheritdoc IPharmaTrack
    function recordReadings(bytes32 unitId, bytes32 sensorId, uint40 start, uint32 interval, bytes calldata readings)
        external
    {
        Unit u = _unitForReadings(unitId);
        if (readings.length == 0 || readings.length & 1 != 0) revert ReadingsMalformed(readings.length);
        emit TemperatureRecorded(unitId, sensorId, msg.sender, start, interval, readings);
        (uint256 i, int16 value) = _firstOutside(readings, u.minTemp(), u.maxTemp());
        if (i != type(uint256).max) {
            if (!u.hasFlag(UnitRecord.EXCURSION)) _units[unitId] = u.withFlag(UnitRecord.EXCURSION);
            emit ExcursionDetected(unitId, sensorId, uint40(start + i * interval), value, u.minTemp(), u.maxTemp());
        }
    }

    // ------------------------------------------------------------------ identifiers

    /// @inheritdoc IPharmaTrack
    function lotIdOf(uint64 gtin, string calldata lotNumber) external pure returns (bytes32) {
        return _lotId(gtin, lotNumber);
    }

    /// @inheritdoc IPharmaTrack
    function sgtinIdOf(uint64 gtin, string calldata serial) external pure returns (bytes32) {
        return keccak256(abi.encode("sgtin", uint256(gtin), serial));
    }

    /// @inheritdoc IPharmaTrack
    function ssccIdOf(uint64 sscc) external pure returns (bytes32) {
        return _ssccId(sscc);
    }

    /// @notice ERC-165: AccessControl's interfaces and {IPharmaTrack}.
    /// @param interfaceId the interface
    /// @return whether it is supported
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IPharmaTrack).interfaceId || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------ internal: parties

    /// @dev The caller's compact index and role bits; a suspended or unknown organisation can do nothing.
    function _caller() private view returns (uint32 index, uint8 roles) {
        return _active(msg.sender);
    }

    function _active(address account) private view returns (uint32 index, uint8 roles) {
        Organisation memory org = _organisations[account];
        if (org.index == 0) revert OrganisationNotRegistered(account);
        if (org.suspended) revert OrganisationIsSuspended(account);
        return (org.index, org.roles);
    }

    function _registered(address account) private view returns (Organisation storage org) {
        org = _organisations[account];
        if (org.index == 0) revert OrganisationNotRegistered(account);
    }

    function _requireRole(uint8 roles, uint8 bit) private view {
        if (roles & bit == 0) revert OrganisationMissingRole(msg.sender, _roleOf(bit));
    }

    function _roleBit(bytes32 role) private pure returns (uint8) {
        if (role == MANUFACTURER_ROLE) return MANUFACTURER;
        if (role == DISTRIBUTOR_ROLE) return DISTRIBUTOR;
        if (role == DISPENSER_ROLE) return DISPENSER;
        if (role == REGULATOR_ROLE) return REGULATOR;
        return 0;
    }

    function _roleOf(uint8 bit) private pure returns (bytes32) {
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
        private
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

    function _existingLot(bytes32 lotId) private view returns (Lot storage l) {
        l = _lots[lotId];
        if (l.manufacturer == 0) revert LotNotFound(lotId);
    }

    /// @dev A lot the caller may recall or quarantine: its manufacturer or a regulator.
    function _lotWithAuthority(bytes32 lotId) private view returns (Lot storage l) {
        (uint32 me, uint8 roles) = _caller();
        l = _existingLot(lotId);
        if (l.manufacturer != me && roles & REGULATOR == 0) revert LotNotManufacturer(lotId, msg.sender);
    }

    /// @dev A lot whose loose stock `me` may pack: its manufacturer's, neither recalled nor quarantined.
    function _lotToPack(bytes32 lotId, uint32 me) private view returns (Lot storage l) {
        l = _existingLot(lotId);
        if (l.manufacturer != me) revert LotNotManufacturer(lotId, msg.sender);
        if (l.flags & LOT_RECALLED != 0) revert LotIsRecalled(lotId);
        if (l.flags & LOT_QUARANTINED != 0) revert LotIsQuarantined(lotId);
    }

    /// @dev Indexes of packs still in the manufacturer's loose stock: leaves of the lot, never packed.
    function _requireLooseStock(bytes32 lotId, Lot storage l, PackSet calldata packs)
        private
        view
        returns (uint256 n)
    {
        n = _requireLeaves(lotId, l, packs);
        uint256 allocated = PackSets.firstSet(_allocated[lotId], packs);
        if (allocated != PackSets.NONE) revert PackAlreadyAllocated(lotId, allocated);
    }

    /// @dev A non-empty set of leaves of the lot; returns its size.
    function _requireLeaves(bytes32 lotId, Lot storage l, PackSet calldata packs) private view returns (uint256 n) {
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
    ) private view returns (Lot storage l, uint256 n) {
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
            if (u.kind() != UnitRecord.CASE) revert UnitWrongKind(containerId, u.kind());
            if (!regulator && _custodian(u) != me) revert UnitNotHeld(containerId, msg.sender);
            n = _requireChildren(containerId, u, l, lotId, packs, multiproof);
        }
    }

    function _size(bytes32 lotId, PackSet calldata packs) private pure returns (uint256 n) {
        n = PackSets.size(packs);
        if (n == 0) revert PackSetEmpty(lotId);
    }

    function _lotId(uint64 gtin, string calldata lotNumber) private pure returns (bytes32) {
        return keccak256(abi.encode("lgtin", uint256(gtin), lotNumber));
    }

    // ------------------------------------------------------------------ internal: units

    function _ssccId(uint64 sscc) private pure returns (bytes32) {
        return keccak256(abi.encode("sscc", uint256(sscc)));
    }

    function _newUnitId(uint64 sscc) private view returns (bytes32 unitId) {
        if (sscc == 0 || sscc >= 1e18) revert UnitInvalidSscc(sscc);
        unitId = _ssccId(sscc);
        if (_units[unitId].kind() != 0) revert UnitAlreadyExists(unitId);
    }

    function _existingUnit(bytes32 unitId) private view returns (Unit u) {
        u = _units[unitId];
        if (u.kind() == 0) revert UnitNotFound(unitId);
    }

    /// @dev Where `u` sits: `outer` is its closed pallet (`containerId` non-zero), else itself. The custodian is the
    ///      outer unit's holder; a case on an unpacked pallet is loose at that pallet's (now fixed) holder.
    function _outer(Unit u) private view returns (Unit outer, bytes32 containerId, uint32 custodian) {
        outer = u;
        custodian = u.holder();
        uint32 parent = u.parent();
        if (parent != 0) {
            bytes32 palletId = _palletIds[parent];
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
    function _looseHeldBy(bytes32 unitId, uint32 me) private view returns (Unit u) {
        u = _existingUnit(unitId);
        (, bytes32 containerId, uint32 custodian) = _outer(u);
        if (containerId != bytes32(0)) revert UnitInContainer(unitId, containerId);
        if (custodian != me) revert UnitNotHeld(unitId, msg.sender);
        if (u.hasFlag(UnitRecord.IN_TRANSIT)) revert UnitIsInTransit(unitId);
        if (u.hasFlag(UnitRecord.UNPACKED)) revert UnitIsUnpacked(unitId);
        if (u.hasFlag(UnitRecord.QUARANTINED)) revert UnitIsQuarantined(unitId);
    }

    function _inTransitTo(bytes32 unitId, uint32 me) private view returns (Unit u) {
        u = _existingUnit(unitId);
        if (!u.hasFlag(UnitRecord.IN_TRANSIT)) revert UnitNotInTransit(unitId);
        if (u.recipient() != me) revert UnitNotRecipient(unitId, msg.sender);
    }

    function _custodian(Unit u) private view returns (uint32 custodian) {
        (,, custodian) = _outer(u);
    }

    /// @dev A case at rest: neither it nor its pallet in transit; with `sellable`, neither quarantined either.
    function _caseAtRest(bytes32 caseId, bool sellable) private view returns (Unit u) {
        u = _existingUnit(caseId);
        if (u.kind() != UnitRecord.CASE) revert UnitWrongKind(caseId, u.kind());
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
    function _unitWithAuthority(bytes32 unitId) private view returns (Unit u) {
        (uint32 me, uint8 roles) = _caller();
        u = _existingUnit(unitId);
        if (_custodian(u) != me && roles & REGULATOR == 0) revert UnitNotHeld(unitId, msg.sender);
    }

    /// @dev A unit the caller may record readings for: its custodian, or the recipient of it (or of its pallet)
    ///      while in transit.
    function _unitForReadings(bytes32 unitId) private view returns (Unit u) {
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
        private
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
    ) private view returns (uint256 n) {
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
}
