// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

import {PharmaTrackStorage} from "./PharmaTrackStorage.sol";
import {PackPointers} from "./libraries/PackPointers.sol";
import {PackSets} from "./libraries/PackSets.sol";
import {Unit, UnitRecord} from "./libraries/UnitRecord.sol";

/// @title PharmaTrackPacks — the pack-level and administrative functions of {PharmaTrack}, run by DELEGATECALL
/// @notice {PharmaTrack} deploys this contract in its constructor and forwards these functions to it, so they run
///         on PharmaTrack's storage, as its caller, and emit PharmaTrack's events: callers see one contract and one
///         ABI ({IPharmaTrack}). The NatSpec of each function is in {IPharmaTrack}.
/// @dev Called directly, every function finds its own (empty) storage: no organisation is registered here, so each
///      reverts with OrganisationNotRegistered.
contract PharmaTrackPacks is PharmaTrackStorage {
    using BitMaps for BitMaps.BitMap;

    // ------------------------------------------------------------------ administration, lots, quarantine
    // Moved here from PharmaTrack to keep it under the code size limit; none is on the hot path of a pack.

    /// @notice See {IPharmaTrack-registerOrganisation}.
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

    /// @notice See {IPharmaTrack-suspendOrganisation}.
    function suspendOrganisation(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Organisation storage org = _registered(account);
        if (org.suspended) revert OrganisationIsSuspended(account);
        org.suspended = true;
        emit OrganisationSuspended(account, msg.sender);
    }

    /// @notice See {IPharmaTrack-reinstateOrganisation}.
    function reinstateOrganisation(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Organisation storage org = _registered(account);
        if (!org.suspended) revert OrganisationNotSuspended(account);
        org.suspended = false;
        emit OrganisationReinstated(account, msg.sender);
    }

    /// @notice See {IPharmaTrack-openLot}.
    function openLot(uint64 gtin, string calldata lotNumber, uint40 expiry, uint32 capacity)
        external
        returns (bytes32 lotId)
    {
        lotId = _openLot(gtin, lotNumber, expiry, 0);
        if (capacity == 0) revert LotInvalidCapacity(capacity);
        _lotBatches[lotId] = LotBatches({capacity: capacity, count: 0});
        emit LotOpened(lotId, gtin, msg.sender, lotNumber, expiry, capacity);
    }

    /// @notice See {IPharmaTrack-commissionBatch}.
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

    /// @notice See {IPharmaTrack-recallLot}.
    function recallLot(bytes32 lotId) external {
        Lot storage l = _lotWithAuthority(lotId);
        if (l.flags & LOT_RECALLED != 0) revert LotIsRecalled(lotId);
        l.flags |= LOT_RECALLED;
        emit LotRecalled(lotId, msg.sender);
    }

    /// @notice See {IPharmaTrack-quarantineLot}.
    function quarantineLot(bytes32 lotId) external {
        Lot storage l = _lotWithAuthority(lotId);
        if (l.flags & LOT_QUARANTINED != 0) revert LotIsQuarantined(lotId);
        l.flags |= LOT_QUARANTINED;
        emit LotQuarantined(lotId, msg.sender);
    }

    /// @notice See {IPharmaTrack-clearLotQuarantine}.
    function clearLotQuarantine(bytes32 lotId) external {
        Lot storage l = _lotWithAuthority(lotId);
        if (l.flags & LOT_QUARANTINED == 0) revert LotNotQuarantined(lotId);
        l.flags &= ~LOT_QUARANTINED;
        emit LotQuarantineCleared(lotId, msg.sender);
    }

    /// @notice See {IPharmaTrack-quarantinePacks}.
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

    /// @notice See {IPharmaTrack-clearPacksQuarantine}.
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

    // ------------------------------------------------------------------ totes and consignments

    /// @notice See {IPharmaTrack-packTote}.
    /// @param sscc the tote's SSCC-18
    /// @param groups the packs, per source and lot
    /// @return toteId keccak256(abi.encode("sscc", sscc))
    function packTote(uint64 sscc, PackGroup[] calldata groups) external returns (bytes32 toteId) {
        (uint32 me,) = _caller();
        toteId = _newUnitId(sscc);
        if (groups.length == 0) revert UnitEmpty(toteId);
        uint32 number = ++_containerCount;
        emit TotePacked(toteId, msg.sender, sscc, number);
        (int16 minTemp, int16 maxTemp, uint32 count) = _movePacks(groups, me, sscc, toteId, 0);
        _units[toteId] = UnitRecord.create(UnitRecord.TOTE, 0, me, minTemp, maxTemp, number, 0, count);
    }

    /// @notice See {IPharmaTrack-shipPacks}.
    /// @param groups the packs, per source and lot
    /// @param to the recipient
    /// @return consignmentId the new consignment
    function shipPacks(PackGroup[] calldata groups, address to) external returns (bytes32 consignmentId) {
        (uint32 me,) = _caller();
        return _consign(groups, me, to, false);
    }

    // ------------------------------------------------------------------ returns

    /// @notice See {IPharmaTrack-returnPacks}.
    /// @param groups the packs, per source and lot
    /// @param to the party that shipped them to the caller
    /// @return consignmentId the return consignment
    function returnPacks(PackGroup[] calldata groups, address to) external returns (bytes32 consignmentId) {
        (uint32 me, uint8 roles) = _caller();
        _requireRole(roles, DISPENSER);
        return _consign(groups, me, to, true);
    }

    /// @notice See {IPharmaTrack-acceptReturn}.
    /// @param consignmentId the return consignment
    function acceptReturn(bytes32 consignmentId) external {
        (uint32 me,) = _caller();
        Unit u = _inTransitTo(consignmentId, me);
        if (!u.hasFlag(UnitRecord.RETURN_PENDING)) revert ReturnNotPending(consignmentId);
        _units[consignmentId] = u.withHolder(me).withRecipient(u.holder()).withoutFlag(
            UnitRecord.IN_TRANSIT | UnitRecord.RETURN_PENDING
        ).withFlag(UnitRecord.UNPACKED);
        emit ReturnAccepted(consignmentId, _accounts[u.holder()], msg.sender);
        emit Unpacked(consignmentId, msg.sender);
    }

    // ------------------------------------------------------------------ stolen packs, undone dispenses

    /// @notice See {IPharmaTrack-reportStolen}.
    /// @param groups the packs, per container and lot
    function reportStolen(PackGroup[] calldata groups) external {
        (uint32 me,) = _caller();
        if (groups.length == 0) revert PackSetEmpty(bytes32(0));
        for (uint256 i; i < groups.length; ++i) {
            PackGroup calldata g = groups[i];
            bytes32 lotId = g.lotId;
            Lot storage l = _existingLot(lotId);
            if (g.source == bytes32(0)) {
                if (l.manufacturer != me) revert LotNotManufacturer(lotId, msg.sender);
                if (g.proof.proof.length != 0 || g.proof.flags.length != 0) revert PackProofInvalid(g.source, lotId);
                _requireLooseStock(lotId, l, g.packs);
                _looseEnded(l);
            } else {
                Unit u = _existingUnit(g.source);
                if (_custodian(u) != me) revert UnitNotHeld(g.source, msg.sender);
                _requirePacksIn(g.source, u, l, lotId, g.packs, g.proof);
            }
            uint256 conflict = PackSets.setAll(_inactive[lotId], g.packs);
            if (conflict != PackSets.NONE) revert PackIsInactive(lotId, conflict);
            PackSets.setAll(_stolen[lotId], g.packs);
            emit PacksStolen(lotId, g.source, msg.sender, g.packs.firstWord, g.packs.masks);
        }
    }

    /// @notice See {IPharmaTrack-undoDispense}.
    /// @param day the day of the dispense, unix time / 86400
    /// @param records every dispense by the caller that day, in chain order
    /// @param which the record the packs were dispensed by
    /// @param packs the packs to reactivate
    function undoDispense(uint32 day, DispenseRecord[] calldata records, uint256 which, PackSet calldata packs)
        external
    {
        (uint32 me, uint8 roles) = _caller();
        _requireRole(roles, DISPENSER);
        _requireRecords(me, day, records, which);
        _reactivate(me, records[which], packs, keccak256(abi.encode(me, day, which)));
    }

    // ------------------------------------------------------------------ internal

    /// @dev Makes `packs` of a proven dispense `record` (key `recordKey`) by `me` active again, if the rules of
    ///      {undoDispense} allow; each pack once per record.
    function _reactivate(uint32 me, DispenseRecord calldata record, PackSet calldata packs, bytes32 recordKey)
        private
    {
        uint256 deadline = uint256(record.time) + UNDO_WINDOW;
        if (block.timestamp > deadline) revert UndoWindowClosed(record.time, uint40(deadline));
        bytes32 lotId = record.lotId;
        Lot storage l = _existingLot(lotId);
        if (l.flags & LOT_RECALLED != 0) revert LotIsRecalled(lotId);
        uint40 expiry = l.expiry;
        if (block.timestamp > expiry) revert LotIsExpired(lotId, expiry);
        _size(lotId, packs);
        uint256 stray = PackSets.notWithin(packs, record.packs);
        if (stray != PackSets.NONE) revert UndoPackNotInRecord(lotId, stray);
        bytes32 containerId = record.containerId;
        Unit u = _containerAtRest(containerId, false);
        if (_custodian(u) != me) revert UnitNotHeld(containerId, msg.sender);
        _requireStillIn(containerId, u, l, lotId, packs);
        uint256 bad = PackSets.firstSet(_destroyed[lotId], packs);
        if (bad != PackSets.NONE) revert PackIsDestroyed(lotId, bad);
        bad = PackSets.firstSet(_stolen[lotId], packs);
        if (bad != PackSets.NONE) revert PackIsStolen(lotId, bad);
        bad = PackSets.clearAll(_inactive[lotId], packs);
        if (bad != PackSets.NONE) revert PackNotDispensed(lotId, bad);
        bad = PackSets.setAll(_undoneBy[recordKey], packs);
        if (bad != PackSets.NONE) revert UndoRecordUsed(lotId, bad);
        emit DispenseUndone(lotId, containerId, msg.sender, packs.firstWord, packs.masks);
    }

    /// @dev Reverts unless `records` are exactly `me`'s dispenses of `day` (all of them, in order) and `which` is one.
    function _requireRecords(uint32 me, uint32 day, DispenseRecord[] calldata records, uint256 which) private view {
        uint256 word = _dispenseDays[me][day % DAY_RING];
        if (which >= records.length || word >> 224 != day) revert UndoRecordsInvalid(msg.sender, day);
        uint256 acc;
        for (uint256 i; i < records.length; ++i) {
            DispenseRecord calldata r = records[i];
            if (r.time / 1 days != day) revert UndoRecordsInvalid(msg.sender, day);
            acc = _dispenseHash(acc, r.time, r.lotId, r.containerId, r.packs);
        }
        if (acc != word & ACCUMULATOR) revert UndoRecordsInvalid(msg.sender, day);
    }

    /// @dev A new consignment of the groups' packs from `me` to `to`, in transit; a return when `isReturn`.
    function _consign(PackGroup[] calldata groups, uint32 me, address to, bool isReturn)
        private
        returns (bytes32 consignmentId)
    {
        if (groups.length == 0) revert ShipmentEmpty(to);
        if (to == msg.sender) revert ShipmentToSelf(to);
        (uint32 recipient,) = _active(to);
        uint32 number = ++_containerCount;
        consignmentId = _consignmentId(number);
        emit ConsignmentCreated(consignmentId, msg.sender, to, number, isReturn);
        (int16 minTemp, int16 maxTemp, uint32 count) =
            _movePacks(groups, me, PackPointers.CONSIGNMENT | number, consignmentId, isReturn ? recipient : 0);
        uint8 flags = isReturn ? UnitRecord.IN_TRANSIT | UnitRecord.RETURN_PENDING : UnitRecord.IN_TRANSIT;
        _units[consignmentId] = UnitRecord.create(UnitRecord.CONSIGNMENT, flags, me, minTemp, maxTemp, number, 0, count)
            .withRecipient(recipient);
        emit Shipped(consignmentId, msg.sender, to);
    }
}
