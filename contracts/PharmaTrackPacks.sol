// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

import {IPharmaTrack} from "./IPharmaTrack.sol";
import {PharmaTrackStorage} from "./PharmaTrackStorage.sol";
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
        _lotBatches[lotId] = LotBatches({capacity: capacity, count: 0, packedTo: 0});
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

    // ------------------------------------------------------------------ listed units: the rarer operations

    uint8 private constant DESTROY = 1;
    uint8 private constant STEAL = 2;
    uint8 private constant QUARANTINE = 3;
    uint8 private constant CLEAR = 4;

    /// @notice See {IPharmaTrack-undoDispenseDay}.
    function undoDispenseDay(
        DispenseCall calldata call,
        ChainLink[] calldata later,
        bytes32 containerId,
        bytes32 lotId,
        PackSet calldata packs
    ) external {
        (uint32 me, uint8 roles) = _caller();
        _requireRole(roles, DISPENSER);
        bytes32 key = _provenCall(me, call, later);
        uint256 deadline = uint256(call.time) + UNDO_WINDOW;
        if (block.timestamp > deadline) revert UndoWindowClosed(call.time, uint40(deadline));
        Lot storage l = _existingLot(lotId);
        if (l.flags & LOT_RECALLED != 0) revert LotIsRecalled(lotId);
        uint40 expiry = l.expiry;
        if (block.timestamp > expiry) revert LotIsExpired(lotId, expiry);
        _size(lotId, packs);
        _requireHeldAtRest(_undoSource(call, containerId, lotId, packs), me);
        uint256 bad = PackSets.firstSet(_destroyed[lotId], packs);
        if (bad != PackSets.NONE) revert PackIsDestroyed(lotId, bad);
        bad = PackSets.firstSet(_stolen[lotId], packs);
        if (bad != PackSets.NONE) revert PackIsStolen(lotId, bad);
        bad = PackSets.clearAll(_inactive[lotId], packs);
        if (bad != PackSets.NONE) revert PackNotDispensed(lotId, bad);
        bad = PackSets.setAll(_undoneBy[key], packs);
        if (bad != PackSets.NONE) revert UndoRecordUsed(lotId, bad);
        emit DispenseUndone(lotId, containerId, msg.sender, packs.firstWord, packs.masks);
    }

    /// @notice See {IPharmaTrack-detachTote}.
    function detachTote(CageDraw calldata c) external {
        (uint32 me,) = _caller();
        Unit cage = _requireCage(c, me, false);
        if (c.draws.length != 1) revert ListingShape(c.cageId);
        ToteDraw calldata d = c.draws[0];
        int16 minTemp = type(int16).min;
        int16 maxTemp = type(int16).max;
        uint256 count;
        for (uint256 j; j < d.listing.length; ++j) {
            Lot storage l = _existingLot(d.listing[j].lotId);
            if (l.minTemp > minTemp) minTemp = l.minTemp;
            if (l.maxTemp < maxTemp) maxTemp = l.maxTemp;
            count += PackSets.size(d.listing[j].packs);
        }
        uint8 flags = cage.hasFlag(UnitRecord.UNPACKED) ? UnitRecord.UNPACKED : 0;
        _units[d.unitId] = UnitRecord.create(UnitRecord.TOTE, flags, me, minTemp, maxTemp, 0, 0, uint32(count))
            .withParent(cage.ref());
        uint256 t = c.totes[0];
        bytes32 listingHash = c.hashes[t];
        _listings[d.unitId] = listingHash;
        bytes32[] memory hashes = c.hashes;
        hashes[t] = bytes32(0);
        _listings[c.cageId] = keccak256(abi.encode(c.toteIds, hashes));
        emit ToteDetached(d.unitId, c.cageId, listingHash);
    }

    /// @notice See {IPharmaTrack-destroyListed}.
    function destroyListed(ToteDraw calldata d) external {
        _markListed(d, DESTROY);
    }

    /// @notice See {IPharmaTrack-reportStolenListed}.
    function reportStolenListed(ToteDraw[] calldata draws) external {
        if (draws.length == 0) revert PackSetEmpty(bytes32(0));
        for (uint256 i; i < draws.length; ++i) {
            _markListed(draws[i], STEAL);
        }
    }

    /// @notice See {IPharmaTrack-quarantineListed}.
    function quarantineListed(ToteDraw calldata d) external {
        _markListed(d, QUARANTINE);
    }

    /// @notice See {IPharmaTrack-clearListedQuarantine}.
    function clearListedQuarantine(ToteDraw calldata d) external {
        _markListed(d, CLEAR);
    }

    // ------------------------------------------------------------------ internal: listed units

    /// @dev Destroys, steals, quarantines or clears (`action`) `d.taken` of listed unit `d.unitId`; the listing stays.
    function _markListed(ToteDraw calldata d, uint8 action) private {
        (uint32 me, uint8 roles) = _caller();
        Unit u = _existingUnit(d.unitId);
        _requireListing(d, u);
        bool regulator = action >= QUARANTINE && roles & REGULATOR != 0;
        if (!regulator && _custodian(u) != me) revert UnitNotHeld(d.unitId, msg.sender);
        if (action == DESTROY) _containerAtRest(d.unitId, false);
        for (uint256 j; j < d.taken.length; ++j) {
            PackSet calldata packs = d.taken[j];
            if (packs.masks.length == 0) continue;
            bytes32 lotId = d.listing[j].lotId;
            Lot storage l = _existingLot(lotId);
            uint256 n = _size(lotId, packs);
            _requireListed(d.unitId, lotId, packs, d.listing[j].packs);
            if (action == QUARANTINE) {
                uint256 conflict = PackSets.setAll(_quarantined[lotId], packs);
                if (conflict != PackSets.NONE) revert PackIsQuarantined(lotId, conflict);
                l.quarantinedPacks += uint32(n);
                emit PacksQuarantined(lotId, d.unitId, msg.sender, packs.firstWord, packs.masks);
            } else if (action == CLEAR) {
                uint256 missing = PackSets.clearAll(_quarantined[lotId], packs);
                if (missing != PackSets.NONE) revert PackNotQuarantined(lotId, missing);
                l.quarantinedPacks -= uint32(n);
                emit PacksQuarantineCleared(lotId, d.unitId, msg.sender, packs.firstWord, packs.masks);
            } else {
                uint256 conflict = PackSets.setAll(_inactive[lotId], packs);
                if (conflict != PackSets.NONE) revert PackIsInactive(lotId, conflict);
                if (action == DESTROY) {
                    PackSets.setAll(_destroyed[lotId], packs);
                    emit Destroyed(lotId, d.unitId, msg.sender, packs.firstWord, packs.masks);
                } else {
                    PackSets.setAll(_stolen[lotId], packs);
                    emit PacksStolen(lotId, d.unitId, msg.sender, packs.firstWord, packs.masks);
                }
            }
        }
    }

    /// @dev Reverts unless `call` and `later` fold to `me`'s chain word; returns the call's undo key.
    function _provenCall(uint32 me, DispenseCall calldata call, ChainLink[] calldata later)
        private
        view
        returns (bytes32 key)
    {
        bytes32 callHash = keccak256(abi.encodeCall(IPharmaTrack.dispenseDay, (call.cases, call.totes, call.caged)));
        uint256 word = _chained(call.before, call.time, callHash);
        key = keccak256(abi.encode(me, word));
        for (uint256 i; i < later.length; ++i) {
            word = _chained(word, later[i].time, later[i].callHash);
        }
        if (word != _dispenseChain[me]) revert UndoProofInvalid(msg.sender);
    }

    /// @dev The unit whose custody an undo of `packs` (lot `lotId`) dispensed from `containerId` by `call` rests on:
    ///      the container, or, for a tote still riding on its roll cage, the cage.
    function _undoSource(DispenseCall calldata call, bytes32 containerId, bytes32 lotId, PackSet calldata packs)
        private
        view
        returns (bytes32)
    {
        for (uint256 i; i < call.cases.length; ++i) {
            CaseDraw calldata c = call.cases[i];
            if (c.caseId == containerId && c.lotId == lotId && PackSets.notWithin(packs, c.packs) == PackSets.NONE) {
                return containerId;
            }
        }
        for (uint256 i; i < call.totes.length; ++i) {
            if (_drew(call.totes[i], containerId, lotId, packs)) return containerId;
        }
        for (uint256 i; i < call.caged.length; ++i) {
            CageDraw calldata c = call.caged[i];
            for (uint256 t; t < c.draws.length; ++t) {
                if (_drew(c.draws[t], containerId, lotId, packs)) {
                    return _units[containerId].kind() != 0 ? containerId : c.cageId;
                }
            }
        }
        revert UndoPackNotInRecord(lotId, PackSets.outside(packs, 0, 0));
    }

    /// @dev Whether `d` took all of `packs` (lot `lotId`) out of `containerId` in one group.
    function _drew(ToteDraw calldata d, bytes32 containerId, bytes32 lotId, PackSet calldata packs)
        private
        pure
        returns (bool)
    {
        if (d.unitId != containerId) return false;
        for (uint256 j; j < d.taken.length && j < d.listing.length; ++j) {
            if (d.listing[j].lotId == lotId && PackSets.notWithin(packs, d.taken[j]) == PackSets.NONE) return true;
        }
        return false;
    }

    /// @dev Reverts unless `me` holds `unitId` and neither it nor its pallet is in transit.
    function _requireHeldAtRest(bytes32 unitId, uint32 me) private view {
        Unit u = _existingUnit(unitId);
        (Unit outer, bytes32 palletId, uint32 custodian) = _outer(u);
        if (custodian != me) revert UnitNotHeld(unitId, msg.sender);
        if (u.hasFlag(UnitRecord.IN_TRANSIT)) revert UnitIsInTransit(unitId);
        if (palletId != bytes32(0) && outer.hasFlag(UnitRecord.IN_TRANSIT)) revert UnitIsInTransit(palletId);
    }

    /// @notice See {IPharmaTrack-quarantineUnit}.
    function quarantineUnit(bytes32 unitId) external {
        Unit u = _unitWithAuthority(unitId);
        if (u.hasFlag(UnitRecord.QUARANTINED)) revert UnitIsQuarantined(unitId);
        _units[unitId] = u.withFlag(UnitRecord.QUARANTINED);
        emit UnitQuarantined(unitId, msg.sender);
    }

    /// @notice See {IPharmaTrack-clearUnitQuarantine}.
    function clearUnitQuarantine(bytes32 unitId) external {
        Unit u = _unitWithAuthority(unitId);
        if (!u.hasFlag(UnitRecord.QUARANTINED)) revert UnitNotQuarantined(unitId);
        _units[unitId] = u.withoutFlag(UnitRecord.QUARANTINED);
        emit UnitQuarantineCleared(unitId, msg.sender);
    }
}
