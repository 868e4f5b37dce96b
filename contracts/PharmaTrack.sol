// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

import {IPharmaTrack} from "./IPharmaTrack.sol";
import {PharmaTrackPacks} from "./PharmaTrackPacks.sol";
import {PharmaTrackStorage} from "./PharmaTrackStorage.sol";
import {CaseTree} from "./libraries/CaseTree.sol";
import {PackPointers} from "./libraries/PackPointers.sol";
import {PackSets} from "./libraries/PackSets.sol";
import {Unit, UnitRecord} from "./libraries/UnitRecord.sol";

/// @title PharmaTrack — custody of serialized drug packs at a small fraction of naive gas
/// @notice See {IPharmaTrack}. What is stored is only what is enforced:
///         - a lot is two words whatever its size; its serials live off-chain under the committed Merkle root;
///         - a case or pallet is one word (a tree case adds the root of its children), so a handoff of a pallet is
///           one write whatever it holds, and a pack's custodian is its outermost container's;
///         - a pack has no record at all, only bits (by leaf index) in per-lot bitmaps: allocated (packed into a
///           case), inactive (dispensed, destroyed or stolen), destroyed, stolen, quarantined; a pack picked out of
///           its case adds a 32-bit container number, eight to a word;
///         - a dispense adds one word per dispenser and day (the accumulator {undoDispense} checks records against).
///         Relayers batch calls with {multicall}.
///         The pack-level and administrative functions (totes, consignments, returns, theft, undoing a dispense,
///         lots in batches, organisations, recall and quarantine) run in {PharmaTrackPacks}, which the constructor
///         deploys and the stubs below reach by DELEGATECALL on this contract's storage ({PharmaTrackStorage}): one
///         address, one ABI, and each contract under the 24 KiB code limit (EIP-170).
contract PharmaTrack is IPharmaTrack, PharmaTrackStorage, Multicall {
    using BitMaps for BitMaps.BitMap;

    /// @notice Where the pack-level functions run (by DELEGATECALL, on this contract's storage).
    address private immutable _packs;

    /// @param admin the consortium operator, holder of DEFAULT_ADMIN_ROLE
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _packs = address(new PharmaTrackPacks());
    }

    // ------------------------------------------------------------------ organisations

    /// @inheritdoc IPharmaTrack
    function registerOrganisation(address, uint64, bytes32[] calldata) external returns (uint32 index) {
        index = uint32(uint256(_delegate()));
    }

    /// @inheritdoc IPharmaTrack
    function suspendOrganisation(address) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function reinstateOrganisation(address) external {
        _delegate();
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
    function openLot(uint64, string calldata, uint40, uint32) external returns (bytes32 lotId) {
        lotId = _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function commissionBatch(bytes32, uint32, uint32, bytes32) external returns (uint32 b) {
        b = uint32(uint256(_delegate()));
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
    function recallLot(bytes32) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function quarantineLot(bytes32) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function clearLotQuarantine(bytes32) external {
        _delegate();
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
        _requireLooseActiveRun(lotId, l, firstIndex, count);
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
        _requireLooseActive(lotId, l, packs);
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
        uint32 number = ++_containerCount;
        // Registered before the loop, so a unit listed twice is seen inside this pallet the second time.
        _containerIds[number] = palletId;
        int16 minTemp = type(int16).min;
        int16 maxTemp = type(int16).max;
        for (uint256 i; i < caseIds.length; ++i) {
            bytes32 caseId = caseIds[i];
            Unit u = _looseHeldBy(caseId, me);
            uint8 kind = u.kind();
            if (kind != UnitRecord.CASE && kind != UnitRecord.TOTE) revert UnitWrongKind(caseId, kind);
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
            // Leaving the pallet for good, a unit keeps who shipped it here (its pallet's sender, if that travelled).
            _units[unitId] = u.loose(me).withRecipient(_sender(u)).withFlag(UnitRecord.UNPACKED);
            emit Unpacked(unitId, msg.sender);
        }
    }

    /// @inheritdoc IPharmaTrack
    function packTote(uint64, PackGroup[] calldata) external returns (bytes32 toteId) {
        toteId = _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function shipPacks(PackGroup[] calldata, address) external returns (bytes32 consignmentId) {
        consignmentId = _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function returnPacks(PackGroup[] calldata, address) external returns (bytes32 consignmentId) {
        consignmentId = _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function acceptReturn(bytes32) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function undoDispense(uint32, DispenseRecord[] calldata, uint256, PackSet calldata) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function reportStolen(PackGroup[] calldata) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function unit(bytes32 unitId) external view returns (UnitInfo memory info) {
        Unit u = _units[unitId];
        if (u.kind() == 0) return info;
        (Unit outer, bytes32 containerId, uint32 custodian) = _outer(u);
        info.kind = u.kind();
        info.custodian = _accounts[custodian];
        bool moving = u.hasFlag(UnitRecord.IN_TRANSIT);
        if (moving) info.recipient = _accounts[u.recipient()];
        else info.sender = _accounts[_sender(u)];
        info.container = containerId;
        info.inTransit = moving || (containerId != 0 && outer.hasFlag(UnitRecord.IN_TRANSIT));
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
        info.returnPending = u.hasFlag(UnitRecord.RETURN_PENDING);
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
            if (u.hasFlag(UnitRecord.RETURN_PENDING)) revert ReturnNeedsAcceptance(unitId);
            // The sender is kept where the recipient was: it is where a return of these packs may go.
            Unit received = u.withHolder(me).withRecipient(u.holder()).withoutFlag(UnitRecord.IN_TRANSIT);
            bool consignment = u.kind() == UnitRecord.CONSIGNMENT;
            if (consignment) received = received.withFlag(UnitRecord.UNPACKED);
            _units[unitId] = received;
            emit Received(unitId, _accounts[u.holder()], msg.sender);
            if (consignment) emit Unpacked(unitId, msg.sender);
        }
    }

    /// @inheritdoc IPharmaTrack
    function refuseShipment(bytes32[] calldata units) external {
        (uint32 me,) = _caller();
        for (uint256 i; i < units.length; ++i) {
            bytes32 unitId = units[i];
            Unit u = _inTransitTo(unitId, me);
            // Who shipped the unit to its holder before is not kept, except for a refused return: its packs came
            // from the refuser, so a new return of them may go there again.
            Unit back = u.withRecipient(u.hasFlag(UnitRecord.RETURN_PENDING) ? me : 0).withoutFlag(
                UnitRecord.IN_TRANSIT | UnitRecord.RETURN_PENDING
            );
            bool consignment = u.kind() == UnitRecord.CONSIGNMENT;
            if (consignment) back = back.withFlag(UnitRecord.UNPACKED);
            _units[unitId] = back;
            emit Refused(unitId, _accounts[u.holder()], msg.sender);
            if (consignment) emit Unpacked(unitId, _accounts[u.holder()]);
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
        Unit u = _containerAtRest(caseId, true);
        if (_custodian(u) != me) revert UnitNotHeld(caseId, msg.sender);
        _requirePacksIn(caseId, u, l, lotId, packs, multiproof);
        if (l.quarantinedPacks != 0) {
            uint256 quarantined = PackSets.firstSet(_quarantined[lotId], packs);
            if (quarantined != PackSets.NONE) revert PackIsQuarantined(lotId, quarantined);
        }
        uint256 conflict = PackSets.setAll(_inactive[lotId], packs);
        if (conflict != PackSets.NONE) revert PackIsInactive(lotId, conflict);
        _foldDispense(me, lotId, caseId, packs);
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
            _looseEnded(l);
        } else {
            Unit u = _containerAtRest(containerId, false);
            if (_custodian(u) != me) revert UnitNotHeld(containerId, msg.sender);
            _requirePacksIn(containerId, u, l, lotId, packs, multiproof);
        }
        uint256 conflict = PackSets.setAll(_inactive[lotId], packs);
        if (conflict != PackSets.NONE) revert PackIsInactive(lotId, conflict);
        PackSets.setAll(_destroyed[lotId], packs);
        emit Destroyed(lotId, containerId, msg.sender, packs.firstWord, packs.masks);
    }

    /// @inheritdoc IPharmaTrack
    function quarantinePacks(bytes32, bytes32, PackSet calldata, Multiproof calldata) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function clearPacksQuarantine(bytes32, bytes32, PackSet calldata, Multiproof calldata) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function packState(bytes32 lotId, uint256 index)
        external
        view
        returns (bool allocated, bool dispensed, bool destroyed, bool quarantined)
    {
        allocated = _allocated[lotId].get(index);
        destroyed = _destroyed[lotId].get(index);
        dispensed = _inactive[lotId].get(index) && !destroyed && !_stolen[lotId].get(index);
        quarantined = _quarantined[lotId].get(index);
    }

    /// @inheritdoc IPharmaTrack
    function pack(bytes32 lotId, uint256 index) external view returns (PackInfo memory info) {
        Lot storage l = _lots[lotId];
        if (l.manufacturer == 0 || index >= l.serialCount) return info;
        info.allocated = _allocated[lotId].get(index);
        info.moved = PackPointers.moved(_packContainers[lotId], index);
        info.destroyed = _destroyed[lotId].get(index);
        info.stolen = _stolen[lotId].get(index);
        info.dispensed = _inactive[lotId].get(index) && !info.destroyed && !info.stolen;
        info.quarantined = _quarantined[lotId].get(index);
        if (info.moved) {
            info.container = _containerOf(lotId, index);
            Unit u = _units[info.container];
            (Unit outer, bytes32 palletId, uint32 custodian) = _outer(u);
            info.custodian = _accounts[custodian];
            info.inTransit = u.hasFlag(UnitRecord.IN_TRANSIT) || (palletId != 0 && outer.hasFlag(UnitRecord.IN_TRANSIT));
            info.returnPending = u.hasFlag(UnitRecord.RETURN_PENDING);
        } else if (!info.allocated) {
            info.custodian = _accounts[l.manufacturer];
        }
    }

    /// @inheritdoc IPharmaTrack
    function dispenseAccumulator(address dispenser, uint32 day) external view returns (uint256 accumulator) {
        uint256 word = _dispenseDays[_organisations[dispenser].index][day % DAY_RING];
        return word >> 224 == day ? word & ACCUMULATOR : 0;
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
    function consignmentIdOf(uint32 number) external pure returns (bytes32) {
        return _consignmentId(number);
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

    // ------------------------------------------------------------------ internal

    /// @dev Runs the current call in {PharmaTrackPacks} on this contract's storage and returns (or reverts with)
    ///      what it returned; never returns to the stub. Declared to return a word only to keep the stubs' return
    ///      variables assigned.
    function _delegate() private returns (bytes32) {
        address target = _packs;
        assembly ("memory-safe") {
            let free := mload(0x40)
            calldatacopy(free, 0, calldatasize())
            let ok := delegatecall(gas(), target, free, calldatasize(), 0, 0)
            returndatacopy(free, 0, returndatasize())
            if iszero(ok) { revert(free, returndatasize()) }
            return(free, returndatasize())
        }
    }
}
