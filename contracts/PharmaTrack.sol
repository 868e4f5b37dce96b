// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

import {IPharmaTrack} from "./IPharmaTrack.sol";
import {PharmaTrackPacks} from "./PharmaTrackPacks.sol";
import {PharmaTrackStorage} from "./PharmaTrackStorage.sol";
import {CaseTree} from "./libraries/CaseTree.sol";
import {PackSets} from "./libraries/PackSets.sol";
import {Unit, UnitRecord} from "./libraries/UnitRecord.sol";

/// @title PharmaTrack — custody of serialized drug packs at a small fraction of naive gas
/// @notice See {IPharmaTrack}. What is stored is only what is enforced:
///         - a lot is two words whatever its size; its serials live off-chain under the committed Merkle root;
///         - a case or pallet is one word (a tree case adds the root of its children), so a handoff of a pallet is
///           one write whatever it holds, and a pack's custodian is its outermost container's;
///         - a pack has no record at all, only bits (by leaf index) in per-lot bitmaps: allocated (packed into a
///           case), inactive (dispensed, destroyed or stolen), destroyed, stolen, quarantined, moved (picked out of
///           its case);
///         - a tote or consignment is one word more, the hash of its listing (docs/gas-redesign.md);
///         - a dispenser has one word, the hash chain of its {dispenseDay} calls ({undoDispenseDay} proves against it).
///         Relayers batch calls with {multicall}.
///         The pack-level and administrative functions (totes, consignments, returns, theft, undoing a dispense,
///         lots in batches, organisations, recall and quarantine) run in {PharmaTrackPacks}, which the constructor
///         deploys and the stubs below reach by DELEGATECALL on this contract's storage ({PharmaTrackStorage}): one
///         address, one ABI, and each contract under the 24 KiB code limit (EIP-170).
contract PharmaTrack is IPharmaTrack, PharmaTrackStorage, Multicall {
    using BitMaps for BitMaps.BitMap;

    /// @notice Where the pack-level functions run (by DELEGATECALL, on this contract's storage).
    address private immutable _packs;
    /// @notice Where the listed-unit functions run ({PharmaTrackListed}, by DELEGATECALL, on this contract's storage).
    address private immutable _listed;

    /// @param admin the consortium operator, holder of DEFAULT_ADMIN_ROLE
    /// @param listed a deployed {PharmaTrackListed} (too big to be deployed from this constructor, EIP-3860)
    constructor(address admin, address listed) {
        if (listed.code.length == 0) revert OrganisationInvalidAccount(listed);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _packs = address(new PharmaTrackPacks());
        _listed = listed;
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
    function commissionLot(uint64, string calldata, uint40, uint32, bytes32) external returns (bytes32 lotId) {
        lotId = _delegateTo(_listed);
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
        _requireRunAboveWatermark(lotId, firstIndex);
        uint256 conflict = PackSets.setRun(_allocated[lotId], firstIndex, count);
        if (conflict != PackSets.NONE) revert PackAlreadyAllocated(lotId, conflict);
        _units[caseId] =
            UnitRecord.create(UnitRecord.CASE, 0, me, l.minTemp, l.maxTemp, l.number, firstIndex, count);
        emit CasePacked(caseId, lotId, msg.sender, sscc, firstIndex, count);
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
    function packCases(uint64[] calldata, bytes32, uint32, uint32) external {
        _delegateTo(_listed);
    }

    /// @inheritdoc IPharmaTrack
    function packToteListed(uint64, Listed[] calldata, ToteDraw[] calldata) external returns (bytes32 toteId) {
        toteId = _delegateTo(_listed);
    }

    /// @inheritdoc IPharmaTrack
    function packToteFromCase(uint64, CaseDraw calldata) external returns (bytes32 toteId) {
        toteId = _delegateTo(_listed);
    }

    /// @inheritdoc IPharmaTrack
    function returnFromCase(CaseDraw calldata, address) external returns (bytes32 consignmentId) {
        consignmentId = _delegateTo(_listed);
    }

    /// @inheritdoc IPharmaTrack
    function packCageListed(Cage calldata) external returns (bytes32 cageId) {
        cageId = _delegateTo(_listed);
    }

    /// @inheritdoc IPharmaTrack
    function shipListed(Listed[] calldata, ToteDraw[] calldata, address) external returns (bytes32 consignmentId) {
        consignmentId = _delegateTo(_listed);
    }

    /// @inheritdoc IPharmaTrack
    function returnListed(ToteDraw calldata, address) external returns (bytes32 consignmentId) {
        consignmentId = _delegateTo(_listed);
    }

    /// @inheritdoc IPharmaTrack
    function returnCaged(CageDraw calldata, address) external returns (bytes32 consignmentId) {
        consignmentId = _delegateTo(_listed);
    }

    /// @inheritdoc IPharmaTrack
    function undoDispenseDay(DispenseCall calldata, ChainLink[] calldata, bytes32, bytes32, PackSet calldata)
        external
    {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function detachTote(CageDraw calldata) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function destroyListed(ToteDraw calldata) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function reportStolenListed(ToteDraw[] calldata) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function quarantineListed(ToteDraw calldata) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function clearListedQuarantine(ToteDraw calldata) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function listingOf(bytes32 unitId) external view returns (bytes32) {
        return _listings[unitId];
    }

    /// @inheritdoc IPharmaTrack
    function dispenseChain(address dispenser) external view returns (uint256 word) {
        return _dispenseChain[_organisations[dispenser].index];
    }

    /// @inheritdoc IPharmaTrack
    function packCaseTree(uint64, bytes32, PackSet calldata) external returns (bytes32 caseId) {
        caseId = _delegateTo(_listed);
    }

    /// @inheritdoc IPharmaTrack
    function refuseShipment(bytes32[] calldata) external {
        _delegateTo(_listed);
    }

    /// @inheritdoc IPharmaTrack
    function quarantineUnit(bytes32) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function clearUnitQuarantine(bytes32) external {
        _delegate();
    }

    /// @inheritdoc IPharmaTrack
    function acceptReturn(bytes32) external {
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

    // ------------------------------------------------------------------ packs

    /// @inheritdoc IPharmaTrack
    function dispenseDay(CaseDraw[] calldata cases, ToteDraw[] calldata totes, CageDraw[] calldata caged) external {
        (uint32 me, uint8 roles) = _caller();
        _requireRole(roles, DISPENSER);
        if (cases.length + totes.length + caged.length == 0) revert PackSetEmpty(bytes32(0));
        for (uint256 i; i < cases.length; ++i) {
            CaseDraw calldata c = cases[i];
            Lot storage l = _sellableLot(c.lotId);
            Unit u = _containerAtRest(c.caseId, true);
            if (_custodian(u) != me) revert UnitNotHeld(c.caseId, msg.sender);
            _requirePacksIn(c.caseId, u, l, c.lotId, c.packs, c.proof);
            _deactivate(c.lotId, l, c.packs);
            emit Dispensed(c.lotId, c.caseId, msg.sender, c.packs.firstWord, c.packs.masks);
        }
        for (uint256 i; i < totes.length; ++i) {
            ToteDraw calldata d = totes[i];
            Unit u = _containerAtRest(d.unitId, true);
            if (_custodian(u) != me) revert UnitNotHeld(d.unitId, msg.sender);
            _requireListing(d, u);
            _dispenseListed(d);
        }
        for (uint256 i; i < caged.length; ++i) {
            CageDraw calldata c = caged[i];
            _requireCage(c, me, true);
            for (uint256 t; t < c.draws.length; ++t) {
                _dispenseListed(c.draws[t]);
            }
        }
        bytes32 callHash = keccak256(msg.data);
        uint256 word = _chained(_dispenseChain[me], block.timestamp, callHash);
        _dispenseChain[me] = word;
        emit DispenseChained(msg.sender, word, callHash);
    }

    /// @inheritdoc IPharmaTrack
    function destroy(bytes32, bytes32, PackSet calldata, Multiproof calldata) external {
        _delegateTo(_listed);
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
        allocated = _isAllocated(lotId, index);
        destroyed = _destroyed[lotId].get(index);
        dispensed = _inactive[lotId].get(index) && !destroyed && !_stolen[lotId].get(index);
        quarantined = _quarantined[lotId].get(index);
    }

    /// @inheritdoc IPharmaTrack
    function pack(bytes32 lotId, uint256 index) external view returns (PackInfo memory info) {
        Lot storage l = _lots[lotId];
        if (l.manufacturer == 0 || index >= l.serialCount) return info;
        info.allocated = _isAllocated(lotId, index);
        info.moved = _moved[lotId].get(index);
        info.destroyed = _destroyed[lotId].get(index);
        info.stolen = _stolen[lotId].get(index);
        info.dispensed = _inactive[lotId].get(index) && !info.destroyed && !info.stolen;
        info.quarantined = _quarantined[lotId].get(index);
        if (!info.allocated) {
            info.custodian = _accounts[l.manufacturer];
        }
    }

    // ------------------------------------------------------------------ status

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
        return _delegateTo(_packs);
    }

    /// @dev {_delegate} to `target`.
    function _delegateTo(address target) private returns (bytes32) {
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
