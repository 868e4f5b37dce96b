// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

import {PharmaTrackStorage} from "./PharmaTrackStorage.sol";
import {CaseTree} from "./libraries/CaseTree.sol";
import {PackSets} from "./libraries/PackSets.sol";
import {Unit, UnitRecord} from "./libraries/UnitRecord.sol";

/// @title PharmaTrackListed — the listed units of {PharmaTrack} (docs/gas-redesign.md), run by DELEGATECALL
/// @notice A tote or consignment is committed by ONE storage word, the hash of its listing (`Listed[]`: source, lot
///         and packs of each group it was made of), and a pack picked out of its case sets one bit of its lot's
///         "moved" bitmap. Every call that takes packs out of a listed unit passes its listing in calldata; the
///         contract checks the hash, that the packs are in the listing, and (when they go to another unit) stores the
///         hash of what remains (same groups, the taken bits cleared). A dispensed, destroyed or stolen pack stays
///         listed: its inactive bit stops it. Totes made onto a roll cage ride in the cage's listing word.
///         Deployed on its own and given to {PharmaTrack}'s constructor, which forwards these functions to it (one
///         DELEGATECALL, on PharmaTrack's storage, as its caller, emitting its events). NatSpec: {IPharmaTrack}.
/// @dev Called directly, every function finds its own (empty) storage and reverts with OrganisationNotRegistered.
contract PharmaTrackListed is PharmaTrackStorage {
    using BitMaps for BitMaps.BitMap;

    // ------------------------------------------------------------------ listed units (docs/gas-redesign.md)

    /// @dev What a call that fills a listed unit gathers: its listing (built only when it draws from listed units),
    ///      the next free group, the intersection of the lots' storage ranges and the number of packs.
    struct Fill {
        Listed[] all;
        uint256 at;
        int16 minTemp;
        int16 maxTemp;
        uint32 count;
    }

    /// @notice See {IPharmaTrack-packCases}.
    function packCases(uint64[] calldata ssccs, bytes32 lotId, uint32 firstIndex, uint32 perCase) external {
        (uint32 me,) = _caller();
        Lot storage l = _lotToPack(lotId, me);
        if (ssccs.length == 0 || perCase == 0) revert UnitEmpty(bytes32(0));
        _allocateRun(lotId, l, firstIndex, ssccs.length * uint256(perCase));
        Unit proto = UnitRecord.create(UnitRecord.CASE, 0, me, l.minTemp, l.maxTemp, l.number, 0, perCase);
        uint32 first = firstIndex;
        for (uint256 i; i < ssccs.length; ++i) {
            _units[_newUnitId(ssccs[i])] = proto.withFirst(first);
            first += perCase;
        }
        emit CasesPacked(lotId, msg.sender, firstIndex, perCase, ssccs);
    }

    /// @notice See {IPharmaTrack-packToteListed}.
    function packToteListed(uint64 sscc, Listed[] calldata picks, ToteDraw[] calldata draws)
        external
        returns (bytes32 toteId)
    {
        (uint32 me,) = _caller();
        toteId = _newUnitId(sscc);
        uint32 number = ++_containerCount;
        emit TotePacked(toteId, msg.sender, sscc, number);
        (Fill memory f, bytes32 listingHash) = _fill(picks, draws, me, toteId);
        if (f.count == 0) revert UnitEmpty(toteId);
        _listings[toteId] = listingHash;
        _units[toteId] = UnitRecord.create(UnitRecord.TOTE, 0, me, f.minTemp, f.maxTemp, number, 0, f.count);
    }

    /// @notice See {IPharmaTrack-packToteFromCase}.
    function packToteFromCase(uint64 sscc, CaseDraw calldata pick) external returns (bytes32 toteId) {
        (uint32 me,) = _caller();
        toteId = _newUnitId(sscc);
        uint32 number = ++_containerCount;
        emit TotePacked(toteId, msg.sender, sscc, number);
        (Lot storage l, uint256 n) = _pickCase(pick, me, toteId);
        _units[toteId] = UnitRecord.create(UnitRecord.TOTE, 0, me, l.minTemp, l.maxTemp, number, 0, uint32(n));
    }

    /// @notice See {IPharmaTrack-returnFromCase}.
    function returnFromCase(CaseDraw calldata pick, address to) external returns (bytes32 consignmentId) {
        (uint32 me, uint8 roles) = _caller();
        _requireRole(roles, DISPENSER);
        uint32 recipient = _shipTo(to);
        uint32 number = ++_containerCount;
        consignmentId = _consignmentId(number);
        emit ConsignmentCreated(consignmentId, msg.sender, to, number, true);
        (Lot storage l, uint256 n) = _pickCase(pick, me, consignmentId);
        uint32 from = _sender(_units[pick.caseId]);
        if (from != recipient) revert ReturnNotToSender(pick.caseId, to, _accounts[from]);
        _units[consignmentId] = _returnRecord(me, l.minTemp, l.maxTemp, number, uint32(n), recipient);
        emit Shipped(consignmentId, msg.sender, to);
    }

    /// @dev Picks `pick` (any case `me` holds opened; a tree case with its multiproof) into new listed unit `into`,
    ///      whose listing word it writes (that one group); returns the lot and the number of packs.
    function _pickCase(CaseDraw calldata pick, uint32 me, bytes32 into) private returns (Lot storage l, uint256 n) {
        bytes32 lotId = pick.lotId;
        bytes32 source = pick.caseId;
        l = _movableLot(lotId);
        Unit u = _existingUnit(source);
        if (u.kind() != UnitRecord.CASE) revert UnitWrongKind(source, u.kind());
        _requireOpened(source, u, me);
        n = _requireChildren(source, u, l, lotId, pick.packs, pick.proof);
        uint256 moved = PackSets.setAll(_moved[lotId], pick.packs);
        if (moved != PackSets.NONE) revert PackMoved(lotId, moved, bytes32(0));
        if (!u.hasFlag(UnitRecord.PICKED)) _units[source] = u.withFlag(UnitRecord.PICKED);
        _requireMovable(lotId, l, pick.packs);
        emit PacksMoved(lotId, into, msg.sender, source, pick.packs.firstWord, pick.packs.masks);
        Listed[] memory listing = new Listed[](1);
        listing[0] = Listed(source, lotId, pick.packs);
        _listings[into] = keccak256(abi.encode(listing));
    }

    /// @notice See {IPharmaTrack-packCageListed}.
    function packCageListed(Cage calldata order) external returns (bytes32 cageId) {
        (uint32 me,) = _caller();
        cageId = _newUnitId(order.sscc);
        uint256 n = order.totes.length;
        if (order.toteSsccs.length != n) revert ListingShape(cageId);
        if (n + order.caseIds.length == 0) revert UnitEmpty(cageId);
        uint32 cage = ++_containerCount;
        _containerIds[cage] = cageId;
        Fill memory f = _newFill(0);
        bytes32[] memory ids = new bytes32[](n);
        bytes32[] memory hashes = new bytes32[](n);
        for (uint256 t; t < n; ++t) {
            uint64 sscc = order.toteSsccs[t];
            bytes32 toteId = _newUnitId(sscc);
            _ssccUsed.set(sscc);
            emit TotePacked(toteId, msg.sender, sscc, ++_containerCount);
            Listed[] calldata groups = order.totes[t];
            if (groups.length == 0) revert UnitEmpty(toteId);
            _pickAll(groups, me, toteId, f);
            ids[t] = toteId;
            hashes[t] = keccak256(abi.encode(groups));
        }
        _listings[cageId] = keccak256(abi.encode(ids, hashes));
        for (uint256 i; i < order.caseIds.length; ++i) {
            bytes32 caseId = order.caseIds[i];
            Unit u = _looseHeldBy(caseId, me);
            if (u.kind() != UnitRecord.CASE) revert UnitWrongKind(caseId, u.kind());
            if (u.minTemp() > f.minTemp) f.minTemp = u.minTemp();
            if (u.maxTemp() < f.maxTemp) f.maxTemp = u.maxTemp();
            _units[caseId] = u.loose(me).withParent(cage);
        }
        _units[cageId] = UnitRecord.create(
            UnitRecord.PALLET, 0, me, f.minTemp, f.maxTemp, cage, 0, uint32(n + order.caseIds.length)
        );
        emit CagePacked(cageId, msg.sender, order.sscc, ids, hashes, order.caseIds);
    }

    /// @notice See {IPharmaTrack-shipListed}.
    function shipListed(Listed[] calldata picks, ToteDraw[] calldata draws, address to)
        external
        returns (bytes32 consignmentId)
    {
        (uint32 me,) = _caller();
        uint32 recipient = _shipTo(to);
        uint32 number = ++_containerCount;
        consignmentId = _consignmentId(number);
        emit ConsignmentCreated(consignmentId, msg.sender, to, number, false);
        (Fill memory f, bytes32 listingHash) = _fill(picks, draws, me, consignmentId);
        if (f.count == 0) revert ShipmentEmpty(to);
        _listings[consignmentId] = listingHash;
        _units[consignmentId] = UnitRecord.create(
            UnitRecord.CONSIGNMENT, UnitRecord.IN_TRANSIT, me, f.minTemp, f.maxTemp, number, 0, f.count
        ).withRecipient(recipient);
        emit Shipped(consignmentId, msg.sender, to);
    }

    /// @notice See {IPharmaTrack-returnListed}.
    function returnListed(ToteDraw calldata d, address to) external returns (bytes32 consignmentId) {
        (uint32 me, uint8 roles) = _caller();
        _requireRole(roles, DISPENSER);
        uint32 recipient = _shipTo(to);
        Unit u = _existingUnit(d.unitId);
        _requireOpened(d.unitId, u, me);
        uint32 from = _sender(u);
        if (from != recipient) revert ReturnNotToSender(d.unitId, to, _accounts[from]);
        _requireListing(d, u);
        bytes32 restHash;
        (consignmentId, restHash) = _consignReturn(d, me, recipient, to);
        _listings[d.unitId] = restHash;
    }

    /// @notice See {IPharmaTrack-returnCaged}.
    function returnCaged(CageDraw calldata c, address to) external returns (bytes32 consignmentId) {
        (uint32 me, uint8 roles) = _caller();
        _requireRole(roles, DISPENSER);
        uint32 recipient = _shipTo(to);
        Unit u = _requireCage(c, me, true);
        if (!u.hasFlag(UnitRecord.UNPACKED)) revert UnitNotUnpacked(c.cageId);
        uint32 from = _sender(u);
        if (from != recipient) revert ReturnNotToSender(c.cageId, to, _accounts[from]);
        if (c.draws.length != 1) revert ListingShape(c.cageId);
        bytes32 restHash;
        (consignmentId, restHash) = _consignReturn(c.draws[0], me, recipient, to);
        bytes32[] memory hashes = c.hashes;
        hashes[c.totes[0]] = restHash;
        _listings[c.cageId] = keccak256(abi.encode(c.toteIds, hashes));
    }

    // ------------------------------------------------------------------ internal

    /// @dev Allocates the loose-stock run firstIndex .. firstIndex + total - 1 of the lot (leaves, active, unpacked).
    function _allocateRun(bytes32 lotId, Lot storage l, uint256 firstIndex, uint256 total) private {
        uint256 end = firstIndex + total;
        uint32 serialCount = l.serialCount;
        if (end > serialCount) revert PackIndexOutOfRange(lotId, end - 1, serialCount);
        _requireLooseActiveRun(lotId, l, firstIndex, total);
        uint256 packedTo = _lotBatches[lotId].packedTo;
        uint256 conflict;
        if (firstIndex == packedTo) {
            // in leaf order: the watermark moves, no bitmap word is written (none of the run may be allocated)
            conflict = PackSets.firstSetRun(_allocated[lotId], firstIndex, total);
            if (conflict == PackSets.NONE) _lotBatches[lotId].packedTo = uint32(end);
        } else {
            if (firstIndex < packedTo) revert PackAlreadyAllocated(lotId, firstIndex);
            conflict = PackSets.setRun(_allocated[lotId], firstIndex, total);
        }
        if (conflict != PackSets.NONE) revert PackAlreadyAllocated(lotId, conflict);
    }

    /// @dev A fill of `groups` listing groups (none: the caller hashes its calldata instead).
    function _newFill(uint256 groups) private pure returns (Fill memory f) {
        f.all = new Listed[](groups);
        f.minTemp = type(int16).min;
        f.maxTemp = type(int16).max;
    }

    /// @dev Picks `picks` out of run cases and takes `draws` out of listed units (their words rewritten to the rest),
    ///      for `me`, into unit `into`; returns the fill and the hash of the new unit's listing.
    function _fill(Listed[] calldata picks, ToteDraw[] calldata draws, uint32 me, bytes32 into)
        private
        returns (Fill memory f, bytes32 listingHash)
    {
        if (draws.length == 0) {
            f = _newFill(0);
            _pickAll(picks, me, into, f);
            return (f, keccak256(abi.encode(picks)));
        }
        uint256 groups = picks.length;
        for (uint256 i; i < draws.length; ++i) {
            groups += _takenGroups(draws[i]);
        }
        f = _newFill(groups);
        _pickAll(picks, me, into, f);
        for (uint256 i; i < picks.length; ++i) {
            f.all[i] = picks[i];
        }
        f.at = picks.length;
        for (uint256 i; i < draws.length; ++i) {
            ToteDraw calldata d = draws[i];
            Unit u = _existingUnit(d.unitId);
            _requireOpened(d.unitId, u, me);
            _requireListing(d, u);
            _listings[d.unitId] = _take(d, into, f);
        }
        listingHash = keccak256(abi.encode(f.all));
    }

    /// @dev The non-empty taken sets of `d`.
    function _takenGroups(ToteDraw calldata d) private pure returns (uint256 n) {
        for (uint256 j; j < d.taken.length; ++j) {
            if (d.taken[j].masks.length != 0) ++n;
        }
    }

    /// @dev Picks every group of `groups` out of its run case for `me` into `into`, counted into `f`.
    function _pickAll(Listed[] calldata groups, uint32 me, bytes32 into, Fill memory f) private {
        for (uint256 i; i < groups.length; ++i) {
            Listed calldata g = groups[i];
            Lot storage l = _pickFromCase(g, me);
            _widen(f, l, PackSets.size(g.packs));
            emit PacksMoved(g.lotId, into, msg.sender, g.source, g.packs.firstWord, g.packs.masks);
        }
    }

    function _widen(Fill memory f, Lot storage l, uint256 n) private view {
        int16 minTemp = l.minTemp;
        int16 maxTemp = l.maxTemp;
        if (minTemp > f.minTemp) f.minTemp = minTemp;
        if (maxTemp < f.maxTemp) f.maxTemp = maxTemp;
        f.count += uint32(n);
    }

    /// @dev Checks that `me` may pick the packs of `g` out of run case `g.source` and marks them moved.
    function _pickFromCase(Listed calldata g, uint32 me) private returns (Lot storage l) {
        bytes32 lotId = g.lotId;
        l = _movableLot(lotId);
        bytes32 source = g.source;
        Unit u = _existingUnit(source);
        if (u.kind() != UnitRecord.CASE) revert UnitWrongKind(source, u.kind());
        _requireOpened(source, u, me);
        _size(lotId, g.packs);
        if (u.ref() != l.number || u.hasFlag(UnitRecord.BY_ROOT)) {
            revert PackNotInCase(source, lotId, PackSets.outside(g.packs, 0, 0));
        }
        uint256 stray = PackSets.outside(g.packs, u.first(), uint256(u.first()) + u.count());
        if (stray != PackSets.NONE) revert PackNotInCase(source, lotId, stray);
        uint256 moved = PackSets.setAll(_moved[lotId], g.packs);
        if (moved != PackSets.NONE) revert PackMoved(lotId, moved, bytes32(0));
        if (!u.hasFlag(UnitRecord.PICKED)) _units[source] = u.withFlag(UnitRecord.PICKED);
        _requireMovable(lotId, l, g.packs);
    }

    /// @dev Takes `d.taken` (its listing checked) out of listed unit `d.unitId` into `into`, appending each
    ///      non-empty taken group to `f`; returns the hash of the rest (same groups, the taken bits cleared).
    function _take(ToteDraw calldata d, bytes32 into, Fill memory f) private returns (bytes32 restHash) {
        Listed[] memory rest = d.listing;
        for (uint256 j; j < d.taken.length; ++j) {
            PackSet calldata packs = d.taken[j];
            if (packs.masks.length == 0) continue;
            bytes32 lotId = d.listing[j].lotId;
            Lot storage l = _movableLot(lotId);
            _requireListed(d.unitId, lotId, packs, d.listing[j].packs);
            _requireMovable(lotId, l, packs);
            uint256[] memory masks = rest[j].packs.masks;
            uint256 offset = packs.firstWord;
            uint256 listedFirst = d.listing[j].packs.firstWord;
            for (uint256 k; k < packs.masks.length; ++k) {
                uint256 mask = packs.masks[k];
                // within the group (checked): a non-zero word lies inside the listed words
                if (mask != 0) masks[offset + k - listedFirst] &= ~mask;
            }
            f.all[f.at++] = Listed(d.unitId, lotId, packs);
            _widen(f, l, _size(lotId, packs));
            emit PacksMoved(lotId, into, msg.sender, d.unitId, packs.firstWord, packs.masks);
        }
        restHash = keccak256(abi.encode(rest));
    }

    /// @dev The return consignment of `d.taken` (its listing checked) from `me` to `recipient`; returns it and the
    ///      hash of what stays in the unit.
    function _consignReturn(ToteDraw calldata d, uint32 me, uint32 recipient, address to)
        private
        returns (bytes32 consignmentId, bytes32 restHash)
    {
        uint32 number = ++_containerCount;
        consignmentId = _consignmentId(number);
        emit ConsignmentCreated(consignmentId, msg.sender, to, number, true);
        Fill memory f = _newFill(_takenGroups(d));
        restHash = _take(d, consignmentId, f);
        if (f.count == 0) revert ShipmentEmpty(to);
        _listings[consignmentId] = keccak256(abi.encode(f.all));
        _units[consignmentId] = _returnRecord(me, f.minTemp, f.maxTemp, number, f.count, recipient);
        emit Shipped(consignmentId, msg.sender, to);
    }

    /// @dev The record of a return consignment `number` from `me` to `recipient`, in transit and pending.
    function _returnRecord(uint32 me, int16 minTemp, int16 maxTemp, uint32 number, uint32 count, uint32 recipient)
        private
        pure
        returns (Unit)
    {
        uint8 flags = UnitRecord.IN_TRANSIT | UnitRecord.RETURN_PENDING;
        return UnitRecord.create(UnitRecord.CONSIGNMENT, flags, me, minTemp, maxTemp, number, 0, count)
            .withRecipient(recipient);
    }

    /// @dev The party `to` a shipment or return goes to: active and not the caller.
    function _shipTo(address to) private view returns (uint32 recipient) {
        if (to == msg.sender) revert ShipmentToSelf(to);
        (recipient,) = _active(to);
    }

    /// @dev A source `me` may take packs out of: held, not in transit, opened, not quarantined.
    function _requireOpened(bytes32 unitId, Unit u, uint32 me) private view {
        if (_custodian(u) != me) revert UnitNotHeld(unitId, msg.sender);
        if (u.hasFlag(UnitRecord.IN_TRANSIT)) revert UnitIsInTransit(unitId);
        if (!u.hasFlag(UnitRecord.UNPACKED)) revert UnitNotUnpacked(unitId);
        if (u.hasFlag(UnitRecord.QUARANTINED)) revert UnitIsQuarantined(unitId);
    }

    /// @dev Reverts unless `packs` are active and not quarantined.
    function _requireMovable(bytes32 lotId, Lot storage l, PackSet calldata packs) private view {
        uint256 inactive = PackSets.firstSet(_inactive[lotId], packs);
        if (inactive != PackSets.NONE) revert PackIsInactive(lotId, inactive);
        if (l.quarantinedPacks != 0) {
            uint256 quarantined = PackSets.firstSet(_quarantined[lotId], packs);
            if (quarantined != PackSets.NONE) revert PackIsQuarantined(lotId, quarantined);
        }
    }

    /// @notice See {IPharmaTrack-packCaseTree}.
    function packCaseTree(uint64 sscc, bytes32 lotId, PackSet calldata packs) external returns (bytes32 caseId) {
        (uint32 me,) = _caller();
        Lot storage l = _lotToPack(lotId, me);
        caseId = _newUnitId(sscc);
        uint256 n = _requireLeaves(lotId, l, packs);
        _requireLooseActive(lotId, l, packs);
        _requireAboveWatermark(lotId, packs);
        uint256 conflict = PackSets.setAll(_allocated[lotId], packs);
        if (conflict != PackSets.NONE) revert PackAlreadyAllocated(lotId, conflict);
        bytes32 root = CaseTree.root(lotId, PackSets.indexes(packs, n));
        _units[caseId] = UnitRecord.create(
            UnitRecord.CASE, UnitRecord.BY_ROOT, me, l.minTemp, l.maxTemp, l.number, 0, uint32(n)
        );
        _childrenRoots[caseId] = root;
        emit CaseTreePacked(caseId, lotId, msg.sender, sscc, root, packs.firstWord, packs.masks);
    }

    /// @notice See {IPharmaTrack-refuseShipment}.
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

    /// @notice See {IPharmaTrack-destroy}.
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

    /// @notice See {IPharmaTrack-commissionLot}.
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
        _lotBatches[lotId] = LotBatches({capacity: serialCount, count: 1, packedTo: 0});
        _batches[lotId][0] = Batch({root: serialsRoot, first: 0, count: serialCount});
        emit LotCommissioned(lotId, gtin, msg.sender, lotNumber, expiry, serialCount, serialsRoot);
    }
}
