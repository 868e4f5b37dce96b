// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IPharmaTrackTypes — the types, errors and events of {IPharmaTrack}
/// @notice Apart from the functions so that the contract and its extension (which implements the pack-level
///         functions behind the same address, see {PharmaTrack}) share them.
interface IPharmaTrackTypes {
    // ------------------------------------------------------------------ types

    /// @notice A lot as stored, with the manufacturer resolved to its address.
    /// @dev serialCount: serials commissioned so far (leaves 0 .. serialCount - 1, over all batches); capacity: the
    ///      most the lot may ever hold (declared by {openLot}); batches: how many commissioning batches it has
    ///      (see {batch}); serialsRoot: the root of its first batch (zero before any), which for a lot commissioned
    ///      in one go by {commissionLot} is the root of all its serials.
    struct LotInfo {
        uint64 gtin;
        address manufacturer;
        uint32 serialCount;
        uint40 expiry;
        int16 minTemp;
        int16 maxTemp;
        bool recalled;
        bool quarantined;
        uint32 quarantinedPacks;
        uint32 capacity;
        uint32 batches;
        bytes32 serialsRoot;
    }

    /// @notice Packs of one lot, in the shape of the lot's bitmaps: bit `b` of `masks[k]` is the pack at leaf index
    ///         `(firstWord + k) * 256 + b`. A batch costs one storage read and write per 256-index word, and is
    ///         ascending and duplicate-free by construction.
    struct PackSet {
        uint32 firstWord;
        uint256[] masks;
    }

    /// @notice An OpenZeppelin multiproof (`MerkleProof.multiProofVerify` format) of packs' leaves against a tree
    ///         case's children root; both arrays empty for a run case or loose stock.
    struct Multiproof {
        bytes32[] proof;
        bool[] flags;
    }

    /// @notice Packs of one lot taken from where they are now: `source` is the container that holds them (an
    ///         opened case), or zero for the manufacturer's loose stock of the lot.
    /// @dev `proof` is the multiproof of the packs against a tree case's children root when the source is a tree
    ///      case; empty otherwise.
    struct PackGroup {
        bytes32 source;
        bytes32 lotId;
        PackSet packs;
        Multiproof proof;
    }

    /// @notice One group of a listed unit's listing: packs of lot `lotId` that came from `source` (a run case or a
    ///         listed unit). A listed unit (tote, consignment) is committed by `keccak256(abi.encode(Listed[]))`.
    struct Listed {
        bytes32 source;
        bytes32 lotId;
        PackSet packs;
    }

    /// @notice Packs of one lot taken straight from a case; `proof` as for a tree case (empty for a run case).
    struct CaseDraw {
        bytes32 caseId;
        bytes32 lotId;
        PackSet packs;
        Multiproof proof;
    }

    /// @notice Packs taken out of listed unit `unitId`: its whole current `listing`, and per listing group the packs
    ///         taken (`taken[j]` within `listing[j].packs`; an empty set for a group nothing is taken from).
    struct ToteDraw {
        bytes32 unitId;
        Listed[] listing;
        PackSet[] taken;
    }

    /// @notice Packs taken out of totes riding on roll cage `cageId`: the cage's whole listing (`toteIds` and the
    ///         hashes of their listings, `keccak256(abi.encode(toteIds, hashes))` is the cage's word), and a draw of
    ///         each tote drawn from (`draws[i]` is tote `toteIds[totes[i]]`).
    struct CageDraw {
        bytes32 cageId;
        bytes32[] toteIds;
        bytes32[] hashes;
        uint256[] totes;
        ToteDraw[] draws;
    }

    /// @notice What {packCageListed} makes: roll cage `sscc` carrying new totes `toteSsccs` (tote `t` of the
    ///         groups `totes[t]`, picked from run cases) and whole cases `caseIds`.
    struct Cage {
        uint64 sscc;
        uint64[] toteSsccs;
        Listed[][] totes;
        bytes32[] caseIds;
    }

    /// @notice One {dispenseDay} call as {undoDispenseDay} proves it: the dispenser's chain word before it, its
    ///         block time and its arguments.
    struct DispenseCall {
        uint256 before;
        uint40 time;
        CaseDraw[] cases;
        ToteDraw[] totes;
        CageDraw[] caged;
    }

    /// @notice A later {dispenseDay} call in a dispenser's chain: its block time and `keccak256` of its call data.
    struct ChainLink {
        uint40 time;
        bytes32 callHash;
    }

    /// @notice One pack as the chain sees it now.
    /// @dev container: always zero (where a moved pack is follows from the listings, which the mirror holds; a pack
    ///      still in its case is not stored per pack either). custodian: the manufacturer for a pack still in its
    ///      loose stock, else zero. inTransit and returnPending: always false (see container).
    ///      allocated: it left the loose stock; moved: it left its case (or the loose stock) for a tote or
    ///      consignment; dispensed, destroyed, stolen: its terminal state if any; quarantined: on its own.
    struct PackInfo {
        bytes32 container;
        address custodian;
        bool allocated;
        bool moved;
        bool dispensed;
        bool destroyed;
        bool stolen;
        bool quarantined;
        bool inTransit;
        bool returnPending;
    }

    /// @notice A logistic unit as the chain sees it now.
    /// @dev kind: 1 case, 2 pallet, 3 tote, 4 consignment (0: unknown id). custodian: who holds it, resolved through
    ///      a closed pallet (a case or tote on an unpacked pallet is at that pallet's holder). recipient: where it is
    ///      going while in transit (zero otherwise). container: the closed pallet it is on, else zero. inTransit: it
    ///      or its pallet is. lotId: a case's lot. firstIndex: a run case's first leaf. children: packs of a case,
    ///      tote or consignment when it was made, cases and totes of a pallet. childrenRoot: a tree case's root (zero
    ///      for the others). sender: who shipped it (or its pallet) to its custodian, zero when it never travelled,
    ///      after a refusal, or while in transit. returnPending: a consignment of returned packs not yet accepted.
    struct UnitInfo {
        uint8 kind;
        address custodian;
        address recipient;
        bytes32 container;
        bool inTransit;
        bool quarantined;
        bool excursion;
        bool unpacked;
        int16 minTemp;
        int16 maxTemp;
        bytes32 lotId;
        uint32 firstIndex;
        uint32 children;
        bytes32 childrenRoot;
        address sender;
        bool returnPending;
    }

    // ------------------------------------------------------------------ errors: organisations

    /// @notice `account` is the zero address.
    /// @param account the rejected account
    error OrganisationInvalidAccount(address account);
    /// @notice `account` is not a registered organisation.
    /// @param account the unregistered account
    error OrganisationNotRegistered(address account);
    /// @notice `account` is already registered.
    /// @param account the registered account
    error OrganisationAlreadyRegistered(address account);
    /// @notice `gln` is not a GLN-13 (1 ≤ gln < 10^13).
    /// @param gln the rejected number
    error OrganisationInvalidGln(uint64 gln);
    /// @notice `gln` already belongs to `holder`.
    /// @param gln the duplicated GLN
    /// @param holder the organisation that registered it first
    error OrganisationDuplicateGln(uint64 gln, address holder);
    /// @notice `role` is not one of MANUFACTURER, DISTRIBUTOR, DISPENSER, REGULATOR.
    /// @param role the rejected role
    error OrganisationInvalidRole(bytes32 role);
    /// @notice `account` is suspended and can do nothing (nor be shipped to).
    /// @param account the suspended account
    error OrganisationIsSuspended(address account);
    /// @notice `account` is not suspended.
    /// @param account the active account
    error OrganisationNotSuspended(address account);
    /// @notice `account` lacks `role`.
    /// @param account the caller
    /// @param role the role the action needs
    error OrganisationMissingRole(address account, bytes32 role);

    // ------------------------------------------------------------------ errors: products

    /// @notice `gtin` is not a GTIN-14 (1 ≤ gtin < 10^14).
    /// @param gtin the rejected number
    error ProductInvalidGtin(uint64 gtin);
    /// @notice `gtin` is already registered.
    /// @param gtin the registered GTIN
    error ProductAlreadyRegistered(uint64 gtin);
    /// @notice `gtin` is not registered.
    /// @param gtin the unknown GTIN
    error ProductNotRegistered(uint64 gtin);
    /// @notice The storage range is empty (`minTemp` > `maxTemp`).
    /// @param minTemp lowest allowed temperature, centi-degrees Celsius
    /// @param maxTemp highest allowed temperature, centi-degrees Celsius
    error ProductInvalidRange(int16 minTemp, int16 maxTemp);
    /// @notice `account` is not the manufacturer of `gtin`.
    /// @param gtin the product
    /// @param account the caller
    error ProductNotManufacturer(uint64 gtin, address account);

    // ------------------------------------------------------------------ errors: lots

    /// @notice The lot number is empty or longer than 20 bytes (GS1 AI 10).
    /// @param lotNumber the rejected lot number
    error LotInvalidCode(string lotNumber);
    /// @notice A lot (or a commissioning batch) needs at least one serial.
    /// @param serialCount the rejected count
    error LotInvalidSerialCount(uint32 serialCount);
    /// @notice A lot must be declared with room for at least one serial.
    /// @param capacity the rejected capacity
    error LotInvalidCapacity(uint32 capacity);
    /// @notice A batch must start at the lot's next unused leaf index (batches are contiguous, so no index is ever
    ///         commissioned twice).
    /// @param lotId the lot
    /// @param firstIndex the batch's first leaf index as given
    /// @param expected the lot's next unused index (its serialCount)
    error LotBatchOutOfOrder(bytes32 lotId, uint32 firstIndex, uint32 expected);
    /// @notice The batch would take the lot beyond its declared capacity.
    /// @param lotId the lot
    /// @param end one past the batch's last leaf index
    /// @param capacity the lot's capacity
    error LotCapacityExceeded(bytes32 lotId, uint256 end, uint32 capacity);
    /// @notice The serial tree root is zero.
    /// @param serialsRoot the rejected root
    error LotInvalidRoot(bytes32 serialsRoot);
    /// @notice The expiry is not in the future.
    /// @param expiry the rejected expiry, unix seconds
    error LotInvalidExpiry(uint40 expiry);
    /// @notice `lotId` was commissioned before.
    /// @param lotId the lot
    error LotAlreadyCommissioned(bytes32 lotId);
    /// @notice `lotId` was never commissioned.
    /// @param lotId the unknown lot
    error LotNotFound(bytes32 lotId);
    /// @notice `account` is not the lot's manufacturer (nor, where that is allowed, a regulator).
    /// @param lotId the lot
    /// @param account the caller
    error LotNotManufacturer(bytes32 lotId, address account);
    /// @notice `lotId` is recalled.
    /// @param lotId the lot
    error LotIsRecalled(bytes32 lotId);
    /// @notice `lotId` is quarantined.
    /// @param lotId the lot
    error LotIsQuarantined(bytes32 lotId);
    /// @notice `lotId` is not quarantined.
    /// @param lotId the lot
    error LotNotQuarantined(bytes32 lotId);
    /// @notice `lotId` expired at `expiry`.
    /// @param lotId the lot
    /// @param expiry its expiry, unix seconds
    error LotIsExpired(bytes32 lotId, uint40 expiry);

    // ------------------------------------------------------------------ errors: units

    /// @notice `sscc` is not an SSCC-18 (1 ≤ sscc < 10^18).
    /// @param sscc the rejected number
    error UnitInvalidSscc(uint64 sscc);
    /// @notice `unitId` exists already (an SSCC identifies one logistic unit, once).
    /// @param unitId the unit
    error UnitAlreadyExists(bytes32 unitId);
    /// @notice `unitId` does not exist.
    /// @param unitId the unknown unit
    error UnitNotFound(bytes32 unitId);
    /// @notice `unitId` is of the wrong kind for this action (1 = case, 2 = pallet, 3 = tote, 4 = consignment).
    /// @param unitId the unit
    /// @param kind its kind
    error UnitWrongKind(bytes32 unitId, uint8 kind);
    /// @notice A container needs at least one child.
    /// @param unitId the container that would have been created
    error UnitEmpty(bytes32 unitId);
    /// @notice `account` does not hold `unitId`, directly or through its container.
    /// @param unitId the unit
    /// @param account the caller
    error UnitNotHeld(bytes32 unitId, address account);
    /// @notice `unitId` sits in the closed container `containerId`.
    /// @param unitId the unit
    /// @param containerId its container
    error UnitInContainer(bytes32 unitId, bytes32 containerId);
    /// @notice `unitId` (or its container) is in transit.
    /// @param unitId the unit that is moving
    error UnitIsInTransit(bytes32 unitId);
    /// @notice `unitId` is not in transit.
    /// @param unitId the unit
    error UnitNotInTransit(bytes32 unitId);
    /// @notice `unitId` is a return: its recipient takes it with {acceptReturn} (or refuses it), not {receiveShipment}.
    /// @param unitId the returned consignment
    error ReturnNeedsAcceptance(bytes32 unitId);
    /// @notice A return must go back to the party that shipped the packs' container to the returner.
    /// @param containerId the container the packs are returned from (zero: the returner's own loose stock, which
    ///        never travelled, so may not be returned to anyone)
    /// @param to the recipient named
    /// @param sender who shipped the container to the returner (zero when unknown or loose stock)
    error ReturnNotToSender(bytes32 containerId, address to, address sender);
    /// @notice `unitId` is not a pending return (use {receiveShipment}).
    /// @param unitId the unit
    error ReturnNotPending(bytes32 unitId);
    /// @notice `account` is not the recipient `unitId` was shipped to.
    /// @param unitId the unit
    /// @param account the caller
    error UnitNotRecipient(bytes32 unitId, address account);
    /// @notice `unitId` was unpacked and can no longer move or be packed as a unit.
    /// @param unitId the unit
    error UnitIsUnpacked(bytes32 unitId);
    /// @notice `unitId` (or its container) is quarantined.
    /// @param unitId the quarantined unit
    error UnitIsQuarantined(bytes32 unitId);
    /// @notice `unitId` is not quarantined.
    /// @param unitId the unit
    error UnitNotQuarantined(bytes32 unitId);
    /// @notice Packs are taken out of a container only once it is opened ({unpack}; a consignment is opened on
    ///         arrival).
    /// @param unitId the closed container
    error UnitNotUnpacked(bytes32 unitId);

    // ------------------------------------------------------------------ errors: shipments

    /// @notice A shipment needs at least one unit.
    /// @param to the would-be recipient
    error ShipmentEmpty(address to);
    /// @notice An organisation cannot ship to itself.
    /// @param to the recipient
    error ShipmentToSelf(address to);

    // ------------------------------------------------------------------ errors: packs

    /// @notice The set of packs is empty.
    /// @param lotId the lot named
    error PackSetEmpty(bytes32 lotId);
    /// @notice `index` is not a leaf of `lotId`.
    /// @param lotId the lot
    /// @param index the rejected leaf index
    /// @param serialCount the lot's size
    error PackIndexOutOfRange(bytes32 lotId, uint256 index, uint32 serialCount);
    /// @notice Pack `index` of `lotId` already left its manufacturer's loose stock (packed into a case).
    /// @param lotId the lot
    /// @param index the pack's leaf index
    error PackAlreadyAllocated(bytes32 lotId, uint256 index);
    /// @notice Pack `index` of `lotId` is dispensed, destroyed or stolen.
    /// @param lotId the lot
    /// @param index the pack's leaf index
    error PackIsInactive(bytes32 lotId, uint256 index);
    /// @notice Pack `index` of `lotId` was destroyed.
    /// @param lotId the lot
    /// @param index the pack's leaf index
    error PackIsDestroyed(bytes32 lotId, uint256 index);
    /// @notice Pack `index` of `lotId` was reported stolen.
    /// @param lotId the lot
    /// @param index the pack's leaf index
    error PackIsStolen(bytes32 lotId, uint256 index);
    /// @notice Pack `index` of `lotId` is not dispensed (never, or its dispense was undone already).
    /// @param lotId the lot
    /// @param index the pack's leaf index
    error PackNotDispensed(bytes32 lotId, uint256 index);
    /// @notice Pack `index` of `lotId` is quarantined.
    /// @param lotId the lot
    /// @param index the pack's leaf index
    error PackIsQuarantined(bytes32 lotId, uint256 index);
    /// @notice Pack `index` of `lotId` is not quarantined.
    /// @param lotId the lot
    /// @param index the pack's leaf index
    error PackNotQuarantined(bytes32 lotId, uint256 index);
    /// @notice Pack `index` of `lotId` is not in container `caseId`: not a leaf of a case's run or of another lot, or,
    ///         for a tote or consignment, not (or no longer) in it.
    /// @param caseId the case, tote or consignment
    /// @param lotId the pack's lot
    /// @param index the pack's leaf index
    error PackNotInCase(bytes32 caseId, bytes32 lotId, uint256 index);
    /// @notice Pack `index` of `lotId` was taken out of the case named: it is now in `containerId` (a tote or
    ///         consignment).
    /// @param lotId the pack's lot
    /// @param index the pack's leaf index
    /// @param containerId where it is now
    error PackMoved(bytes32 lotId, uint256 index, bytes32 containerId);
    /// @notice The multiproof does not show the packs to be children of `containerId` (a tree case), or a proof was
    ///         given for a case that needs none.
    /// @param containerId the case
    /// @param lotId the packs' lot
    error PackProofInvalid(bytes32 containerId, bytes32 lotId);

    // ------------------------------------------------------------------ errors: listed units

    /// @notice The listing given for `unitId` (a listed unit or a roll cage) does not hash to its stored word.
    /// @param unitId the unit
    error ListingMismatch(bytes32 unitId);
    /// @notice A draw on `unitId` is malformed: not one taken set per listing group, a tote index or id out of
    ///         place, or a cage's SSCCs and totes of different lengths.
    /// @param unitId the unit (or cage)
    error ListingShape(bytes32 unitId);
    /// @notice `sscc` already names a unit (a tote riding on a roll cage has no unit record but keeps its SSCC).
    /// @param sscc the SSCC-18
    error SsccUsed(uint64 sscc);

    // ------------------------------------------------------------------ errors: undoing a dispense

    /// @notice The call and the later links given do not chain to `dispenser`'s dispense chain word.
    /// @param dispenser the caller
    error UndoProofInvalid(address dispenser);
    /// @notice A dispense can be undone only within 10 days (EU FMD).
    /// @param dispensedAt when the packs were dispensed, unix seconds
    /// @param deadline the last second the dispense could be undone
    error UndoWindowClosed(uint40 dispensedAt, uint40 deadline);
    /// @notice Pack `index` of `lotId` is not among the packs of the record named.
    /// @param lotId the lot
    /// @param index the pack's leaf index
    error UndoPackNotInRecord(bytes32 lotId, uint256 index);
    /// @notice The record named has undone pack `index` of `lotId` already: the pack's dispense now is a later one
    ///         (perhaps by another party), which this record does not prove.
    /// @param lotId the lot
    /// @param index the pack's leaf index
    error UndoRecordUsed(bytes32 lotId, uint256 index);

    // ------------------------------------------------------------------ errors: readings

    /// @notice Readings are empty or not a whole number of int16 values.
    /// @param length their length in bytes
    error ReadingsMalformed(uint256 length);

    // ------------------------------------------------------------------ events

    /// @notice An organisation was registered.
    /// @param account its signing address
    /// @param index its compact on-chain number (from 1)
    /// @param gln its GLN-13
    /// @param roles the roles it was granted
    event OrganisationRegistered(address indexed account, uint32 indexed index, uint64 gln, bytes32[] roles);
    /// @notice An organisation was suspended.
    /// @param account the organisation
    /// @param by the admin
    event OrganisationSuspended(address indexed account, address indexed by);
    /// @notice A suspension was lifted.
    /// @param account the organisation
    /// @param by the admin
    event OrganisationReinstated(address indexed account, address indexed by);
    /// @notice A product was registered.
    /// @param gtin its GTIN-14
    /// @param manufacturer its manufacturer
    /// @param minTemp lowest storage temperature, centi-degrees Celsius
    /// @param maxTemp highest storage temperature, centi-degrees Celsius
    event ProductRegistered(uint64 indexed gtin, address indexed manufacturer, int16 minTemp, int16 maxTemp);
    /// @notice A lot was commissioned; its packs are in the manufacturer's loose stock.
    /// @param lotId keccak256(abi.encode("lgtin", gtin, lot))
    /// @param gtin the product
    /// @param manufacturer the product's manufacturer
    /// @param lotNumber the lot number
    /// @param expiry last valid second, unix time
    /// @param serialCount number of serials (leaves)
    /// @param serialsRoot Merkle root of the (index, sgtinId) leaves
    event LotCommissioned(
        bytes32 indexed lotId,
        uint64 indexed gtin,
        address indexed manufacturer,
        string lotNumber,
        uint40 expiry,
        uint32 serialCount,
        bytes32 serialsRoot
    );
    /// @notice A lot was declared, to be commissioned in batches; it has no serials yet.
    /// @param lotId keccak256(abi.encode("lgtin", gtin, lot))
    /// @param gtin the product
    /// @param manufacturer the product's manufacturer
    /// @param lotNumber the lot number
    /// @param expiry last valid second, unix time
    /// @param capacity the most serials the lot may hold
    event LotOpened(
        bytes32 indexed lotId,
        uint64 indexed gtin,
        address indexed manufacturer,
        string lotNumber,
        uint40 expiry,
        uint32 capacity
    );
    /// @notice A batch of a lot's serials was commissioned: leaves firstIndex .. firstIndex + count - 1, in the
    ///         manufacturer's loose stock.
    /// @param lotId the lot
    /// @param batch the batch's number in the lot (from 0)
    /// @param firstIndex leaf index of its first serial
    /// @param count number of serials
    /// @param serialsRoot Merkle root of the batch's (index, sgtinId) leaves (indexes are the lot's, not from 0)
    event BatchCommissioned(
        bytes32 indexed lotId, uint32 indexed batch, uint32 firstIndex, uint32 count, bytes32 serialsRoot
    );
    /// @notice A lot was recalled (permanent).
    /// @param lotId the lot
    /// @param by its manufacturer or a regulator
    event LotRecalled(bytes32 indexed lotId, address indexed by);
    /// @notice A lot was quarantined.
    /// @param lotId the lot
    /// @param by its manufacturer or a regulator
    event LotQuarantined(bytes32 indexed lotId, address indexed by);
    /// @notice A lot's quarantine was cleared.
    /// @param lotId the lot
    /// @param by its manufacturer or a regulator
    event LotQuarantineCleared(bytes32 indexed lotId, address indexed by);
    /// @notice A run of consecutive packs of a lot was packed into a new case, held by the packer.
    /// @param caseId the case's unit id
    /// @param lotId the packs' lot
    /// @param packer the lot's manufacturer
    /// @param sscc the case's SSCC-18
    /// @param firstIndex leaf index of the first pack
    /// @param count number of packs (leaves firstIndex .. firstIndex + count - 1)
    event CasePacked(
        bytes32 indexed caseId,
        bytes32 indexed lotId,
        address indexed packer,
        uint64 sscc,
        uint32 firstIndex,
        uint32 count
    );
    /// @notice Any set of packs of a lot was packed into a new case committed by its children's Merkle root.
    /// @param caseId the case's unit id
    /// @param lotId the packs' lot
    /// @param packer the lot's manufacturer
    /// @param sscc the case's SSCC-18
    /// @param childrenRoot Merkle root of the case's (lotId, index) leaves
    /// @param firstWord the packs, as a {PackSet}: its first word
    /// @param masks the packs, as a {PackSet}: its masks
    event CaseTreePacked(
        bytes32 indexed caseId,
        bytes32 indexed lotId,
        address indexed packer,
        uint64 sscc,
        bytes32 childrenRoot,
        uint32 firstWord,
        uint256[] masks
    );
    /// @notice Cases were packed onto a new pallet, held by the packer.
    /// @param palletId the pallet's unit id
    /// @param packer the holder of the cases
    /// @param sscc the pallet's SSCC-18
    /// @param caseIds the cases on it
    event PalletPacked(bytes32 indexed palletId, address indexed packer, uint64 sscc, bytes32[] caseIds);
    /// @notice A unit was unpacked. A pallet's cases become loose at its holder; a case's packs stay anchored to it.
    /// @param unitId the unit
    /// @param by its holder
    event Unpacked(bytes32 indexed unitId, address indexed by);
    /// @notice A unit left its holder for `to` (in transit).
    /// @param unitId the unit
    /// @param from its holder
    /// @param to the named recipient
    event Shipped(bytes32 indexed unitId, address indexed from, address indexed to);
    /// @notice The recipient took custody of a unit.
    /// @param unitId the unit
    /// @param from the sender
    /// @param by the recipient, now its holder
    event Received(bytes32 indexed unitId, address indexed from, address indexed by);
    /// @notice The recipient refused a unit; custody stays with the sender.
    /// @param unitId the unit
    /// @param sender the sender, still its holder
    /// @param by the recipient who refused it
    event Refused(bytes32 indexed unitId, address indexed sender, address indexed by);
    /// @notice Packs picked from their containers were put in a new tote, held by the packer; {PacksMoved} events
    ///         follow, one per {PackGroup}.
    /// @param toteId the tote's unit id
    /// @param packer who packed it
    /// @param sscc the tote's SSCC-18
    /// @param number its compact container number
    event TotePacked(bytes32 indexed toteId, address indexed packer, uint64 sscc, uint32 number);
    /// @notice Loose packs were put in transit as a consignment; {PacksMoved} events (one per {PackGroup}) and a
    ///         {Shipped} event follow.
    /// @param consignmentId keccak256(abi.encode("consignment", uint256 number))
    /// @param from the sender
    /// @param to the recipient
    /// @param number its compact container number
    /// @param isReturn a return of saleable packs ({returnPacks}), to be accepted with {acceptReturn}
    event ConsignmentCreated(
        bytes32 indexed consignmentId, address indexed from, address indexed to, uint32 number, bool isReturn
    );
    /// @notice Packs of a lot left `source` for the new container `containerId`; their custodian is now its.
    /// @param lotId the packs' lot
    /// @param containerId the tote or consignment they are in now
    /// @param by who moved them
    /// @param source where they were: a case, tote or consignment, or zero for the manufacturer's loose stock
    /// @param firstWord the packs, as a {PackSet}: its first word
    /// @param masks the packs, as a {PackSet}: its masks
    event PacksMoved(
        bytes32 indexed lotId,
        bytes32 indexed containerId,
        address indexed by,
        bytes32 source,
        uint32 firstWord,
        uint256[] masks
    );
    /// @notice The recipient of a return accepted it after verifying the packs: it holds the consignment, opened, and
    ///         its packs are saleable stock again.
    /// @param consignmentId the returned consignment
    /// @param from the returner
    /// @param by the recipient, now its holder
    event ReturnAccepted(bytes32 indexed consignmentId, address indexed from, address indexed by);
    /// @notice Packs were dispensed.
    /// @param lotId the packs' lot
    /// @param caseId the case they were held through
    /// @param by the dispenser
    /// @param firstWord the packs, as a {PackSet}: its first word
    /// @param masks the packs, as a {PackSet}: its masks
    event Dispensed(bytes32 indexed lotId, bytes32 indexed caseId, address indexed by, uint32 firstWord, uint256[] masks);
    /// @notice Run cases of one lot were packed by {packCases}: case `i` is SSCC `ssccs[i]`, leaves
    ///         `firstIndex + i * perCase` .. `firstIndex + (i + 1) * perCase - 1`.
    /// @param lotId the lot
    /// @param packer the manufacturer
    /// @param firstIndex the first case's first leaf
    /// @param perCase packs per case
    /// @param ssccs the cases' SSCC-18s
    event CasesPacked(bytes32 indexed lotId, address indexed packer, uint32 firstIndex, uint32 perCase, uint64[] ssccs);
    /// @notice A roll cage (a pallet) made by {packCageListed}: totes `toteIds` (listing hashes `hashes`; no unit
    ///         record of their own while they ride on it) and cases `caseIds`.
    /// @param cageId the cage's unit id
    /// @param packer who packed it
    /// @param sscc the cage's SSCC-18
    /// @param toteIds its totes
    /// @param hashes their listings' hashes
    /// @param caseIds its whole cases
    event CagePacked(
        bytes32 indexed cageId,
        address indexed packer,
        uint64 sscc,
        bytes32[] toteIds,
        bytes32[] hashes,
        bytes32[] caseIds
    );
    /// @notice A tote riding on roll cage `cageId` got its own unit record and listing word ({detachTote}); its hash
    ///         in the cage's listing is zero from now on.
    /// @param toteId the tote
    /// @param cageId its cage (still its parent)
    /// @param listingHash the tote's listing word
    event ToteDetached(bytes32 indexed toteId, bytes32 indexed cageId, bytes32 listingHash);
    /// @notice A {dispenseDay} call was folded into its dispenser's chain word.
    /// @param dispenser the dispenser
    /// @param word the chain word after the call
    /// @param callHash keccak256 of the call's data
    event DispenseChained(address indexed dispenser, uint256 word, bytes32 callHash);
    /// @notice A dispense of packs was undone by the dispenser (EU FMD, within 10 days): they are active again, in the
    ///         container they were dispensed from.
    /// @param lotId the packs' lot
    /// @param containerId the container they were dispensed from, where they are again
    /// @param by the dispenser
    /// @param firstWord the packs, as a {PackSet}: its first word
    /// @param masks the packs, as a {PackSet}: its masks
    event DispenseUndone(
        bytes32 indexed lotId, bytes32 indexed containerId, address indexed by, uint32 firstWord, uint256[] masks
    );
    /// @notice Packs were reported stolen by their holder: they are inactive for good.
    /// @param lotId the packs' lot
    /// @param containerId the container they were held through, or zero for the manufacturer's loose stock
    /// @param by their holder
    /// @param firstWord the packs, as a {PackSet}: its first word
    /// @param masks the packs, as a {PackSet}: its masks
    event PacksStolen(
        bytes32 indexed lotId, bytes32 indexed containerId, address indexed by, uint32 firstWord, uint256[] masks
    );
    /// @notice Packs were destroyed.
    /// @param lotId the packs' lot
    /// @param containerId the case they were held through, or zero for the manufacturer's loose stock
    /// @param by their holder
    /// @param firstWord the packs, as a {PackSet}: its first word
    /// @param masks the packs, as a {PackSet}: its masks
    event Destroyed(bytes32 indexed lotId, bytes32 indexed containerId, address indexed by, uint32 firstWord, uint256[] masks);
    /// @notice Packs were quarantined.
    /// @param lotId the packs' lot
    /// @param containerId the case named by the caller, or zero
    /// @param by their holder or a regulator
    /// @param firstWord the packs, as a {PackSet}: its first word
    /// @param masks the packs, as a {PackSet}: its masks
    event PacksQuarantined(
        bytes32 indexed lotId, bytes32 indexed containerId, address indexed by, uint32 firstWord, uint256[] masks
    );
    /// @notice Packs' quarantine was cleared.
    /// @param lotId the packs' lot
    /// @param containerId the case named by the caller, or zero
    /// @param by their holder or a regulator
    /// @param firstWord the packs, as a {PackSet}: its first word
    /// @param masks the packs, as a {PackSet}: its masks
    event PacksQuarantineCleared(
        bytes32 indexed lotId, bytes32 indexed containerId, address indexed by, uint32 firstWord, uint256[] masks
    );
    /// @notice A unit was quarantined.
    /// @param unitId the unit
    /// @param by its holder or a regulator
    event UnitQuarantined(bytes32 indexed unitId, address indexed by);
    /// @notice A unit's quarantine was cleared.
    /// @param unitId the unit
    /// @param by its holder or a regulator
    event UnitQuarantineCleared(bytes32 indexed unitId, address indexed by);
    /// @notice Temperature readings for a unit.
    /// @param unitId the unit
    /// @param sensorId the logger's id
    /// @param by who recorded them (holder or recipient)
    /// @param start time of the first reading, unix seconds
    /// @param interval seconds between readings
    /// @param readings packed big-endian int16 centi-degrees Celsius
    event TemperatureRecorded(
        bytes32 indexed unitId,
        bytes32 indexed sensorId,
        address indexed by,
        uint40 start,
        uint32 interval,
        bytes readings
    );
    /// @notice A reading fell outside the storage range of what the unit holds; the unit's excursion flag is set.
    /// @param unitId the unit
    /// @param sensorId the logger's id
    /// @param time when the first out-of-range reading was taken, unix seconds
    /// @param value that reading, centi-degrees Celsius
    /// @param minTemp the unit's lowest allowed temperature
    /// @param maxTemp the unit's highest allowed temperature
    event ExcursionDetected(
        bytes32 indexed unitId, bytes32 indexed sensorId, uint40 time, int16 value, int16 minTemp, int16 maxTemp
    );
}

/// @title IPharmaTrack — custody of serialized drug packs, cases and pallets
/// @notice The on-chain model of DESIGN.md §1–2: trading partners, products, lots committed by the Merkle root of
///         their serials, logistic units committing their children, two-step handoffs, per-serial terminal states in
///         bitmaps, status flags and cold-chain readings kept in calldata and events.
/// @dev Identifiers (all keccak256 over `abi.encode`, which is injective for these argument types):
///      lot  `lotId   = keccak256(abi.encode("lgtin", uint256 gtin, string lot))`
///      pack `sgtinId = keccak256(abi.encode("sgtin", uint256 gtin, string serial))`
///      unit `unitId  = keccak256(abi.encode("sscc",  uint256 sscc))`
///      A lot's serial tree is an OpenZeppelin standard Merkle tree (leaves not sorted) over
///      `(uint256 index, bytes32 sgtinId)` in leaf-index order, so a pack is named on-chain by (lotId, index) and
///      its index is bound to its serial by the lot's root.
///      A case holds packs of one lot, listed one of two ways: a run of consecutive leaves (`packCase`, what a
///      packaging line produces: no proof is ever needed), or any set committed by the Merkle root of its
///      `(bytes32 lotId, uint256 index)` leaves (`packCaseTree`: dispensing from it takes an OpenZeppelin multiproof).
///      A batch of packs is a {PackSet}: per-word bitmasks in the shape of the on-chain bitmaps.
///      Packs leave their case one by one (each-picking) into listed units: a tote (an SSCC, kind 3) or a
///      consignment (kind 4) is committed by ONE word, the hash of its listing ({Listed}[]: source, lot and packs of
///      each group). Every call that takes packs out of a listed unit passes its current listing ({ToteDraw}); the
///      contract checks the hash, that the packs are listed, and, when they go to another unit, stores the hash of
///      the rest (the same groups, the taken bits cleared). A pack picked out of its case sets one bit of its lot's
///      "moved" bitmap, so it leaves its case once. Totes made onto a roll cage ({packCageListed}) ride in the
///      cage's listing and have no word of their own until {detachTote}. See docs/gas-redesign.md.
interface IPharmaTrack is IPharmaTrackTypes {
    // ------------------------------------------------------------------ organisations

    /// @notice Register a trading partner (admin only).
    /// @param account its signing address
    /// @param gln its GLN-13
    /// @param roles any of MANUFACTURER_ROLE, DISTRIBUTOR_ROLE, DISPENSER_ROLE, REGULATOR_ROLE
    /// @return index its compact on-chain number
    function registerOrganisation(address account, uint64 gln, bytes32[] calldata roles)
        external
        returns (uint32 index);

    /// @notice Suspend an organisation: it can do nothing and nothing can be shipped to it (admin only).
    /// @param account the organisation
    function suspendOrganisation(address account) external;

    /// @notice Lift a suspension (admin only).
    /// @param account the organisation
    function reinstateOrganisation(address account) external;

    /// @notice An organisation's registration.
    /// @param account the organisation
    /// @return index its compact number (0 when not registered)
    /// @return gln its GLN-13
    /// @return suspended whether it is suspended
    function organisation(address account) external view returns (uint32 index, uint64 gln, bool suspended);

    /// @notice The account of an organisation's compact number.
    /// @param index the number
    /// @return account the organisation (zero when unknown)
    function organisationAt(uint32 index) external view returns (address account);

    /// @notice The organisation that registered a GLN.
    /// @param gln the GLN-13
    /// @return account the organisation (zero when unknown)
    function organisationByGln(uint64 gln) external view returns (address account);

    // ------------------------------------------------------------------ products and lots

    /// @notice Register a product; the caller (a manufacturer) becomes its manufacturer.
    /// @param gtin its GTIN-14
    /// @param minTemp lowest storage temperature, centi-degrees Celsius
    /// @param maxTemp highest storage temperature, centi-degrees Celsius
    function registerProduct(uint64 gtin, int16 minTemp, int16 maxTemp) external;

    /// @notice A product's registration.
    /// @param gtin its GTIN-14
    /// @return manufacturer its manufacturer (zero when not registered)
    /// @return minTemp lowest storage temperature
    /// @return maxTemp highest storage temperature
    function product(uint64 gtin) external view returns (address manufacturer, int16 minTemp, int16 maxTemp);

    /// @notice Commission a lot in one transaction whatever its size (the product's manufacturer only). The same as
    ///         {openLot} with capacity `serialCount` followed by {commissionBatch}(lotId, 0, serialCount, serialsRoot),
    ///         but emits only {LotCommissioned} (which the mirror reads as both).
    /// @param gtin the product
    /// @param lotNumber the lot number (1–20 bytes)
    /// @param expiry last valid second, unix time, in the future
    /// @param serialCount number of serials
    /// @param serialsRoot Merkle root of the (index, sgtinId) leaves
    /// @return lotId keccak256(abi.encode("lgtin", gtin, lot))
    function commissionLot(
        uint64 gtin,
        string calldata lotNumber,
        uint40 expiry,
        uint32 serialCount,
        bytes32 serialsRoot
    )
        external
        returns (bytes32 lotId);

    /// @notice Declare a lot whose serials a packaging line commissions in batches over a shift (the product's
    ///         manufacturer only). It has no serials until the first {commissionBatch}.
    /// @param gtin the product
    /// @param lotNumber the lot number (1–20 bytes)
    /// @param expiry last valid second, unix time, in the future
    /// @param capacity the most serials the lot may ever hold
    /// @return lotId keccak256(abi.encode("lgtin", gtin, lot))
    function openLot(uint64 gtin, string calldata lotNumber, uint40 expiry, uint32 capacity)
        external
        returns (bytes32 lotId);

    /// @notice Commission the next batch of a lot's serials (its manufacturer): leaves firstIndex .. firstIndex +
    ///         count - 1, which must be the lot's next unused indexes, committed by the root of an OpenZeppelin standard
    ///         Merkle tree over their `(uint256 index, bytes32 sgtinId)` leaves. A serial proves membership against
    ///         the root of the batch whose range holds its index.
    /// @dev Indexes are never commissioned twice (batches are contiguous). The same serial number committed again
    ///      under another index in a later batch cannot be seen on-chain without a per-serial write; the API refuses
    ///      it off-chain, from the lot's serial list, before it submits a batch.
    /// @param lotId the lot, opened by {openLot}, not recalled nor expired
    /// @param firstIndex the lot's current serialCount
    /// @param count number of serials, at least one, within the capacity
    /// @param serialsRoot Merkle root of the batch's leaves
    /// @return batch the batch's number in the lot (from 0)
    function commissionBatch(bytes32 lotId, uint32 firstIndex, uint32 count, bytes32 serialsRoot)
        external
        returns (uint32 batch);

    /// @notice One commissioning batch of a lot.
    /// @param lotId the lot
    /// @param b the batch's number (from 0)
    /// @return firstIndex leaf index of its first serial
    /// @return count number of serials (zero when there is no such batch)
    /// @return serialsRoot Merkle root of its (index, sgtinId) leaves
    function batch(bytes32 lotId, uint32 b)
        external
        view
        returns (uint32 firstIndex, uint32 count, bytes32 serialsRoot);

    /// @notice A lot's record.
    /// @param lotId the lot
    /// @return info its record (manufacturer zero when unknown)
    function lot(bytes32 lotId) external view returns (LotInfo memory info);

    /// @notice Recall a lot, permanently (its manufacturer or a regulator).
    /// @param lotId the lot
    function recallLot(bytes32 lotId) external;

    /// @notice Quarantine a lot (its manufacturer or a regulator).
    /// @param lotId the lot
    function quarantineLot(bytes32 lotId) external;

    /// @notice Clear a lot's quarantine (its manufacturer or a regulator).
    /// @param lotId the lot
    function clearLotQuarantine(bytes32 lotId) external;

    // ------------------------------------------------------------------ containers

    /// @notice Pack a run of consecutive loose packs of a lot into a new case, as a packaging line does (the lot's
    ///         manufacturer, who holds its loose stock). A run holding a pack destroyed or reported stolen from the
    ///         loose stock (a line reject) is refused ({PackIsInactive}): pack around it with {packCaseTree}. One
    ///         storage word, whatever the case holds.
    /// @param sscc the case's SSCC-18
    /// @param lotId the packs' lot
    /// @param firstIndex leaf index of the first pack
    /// @param count number of packs
    /// @return caseId keccak256(abi.encode("sscc", sscc))
    function packCase(uint64 sscc, bytes32 lotId, uint32 firstIndex, uint32 count) external returns (bytes32 caseId);

    /// @notice Pack any set of loose packs of a lot into a new case (the lot's manufacturer). The case commits to
    ///         its children by the Merkle root the contract computes from `packs`. A pack destroyed or reported
    ///         stolen from the loose stock is refused ({PackIsInactive}).
    /// @param sscc the case's SSCC-18
    /// @param lotId the packs' lot
    /// @param packs the packs
    /// @return caseId keccak256(abi.encode("sscc", sscc))
    function packCaseTree(uint64 sscc, bytes32 lotId, PackSet calldata packs) external returns (bytes32 caseId);

    /// @notice Pack loose cases and totes the caller holds onto a new pallet. The pallet's storage range is the
    ///         intersection of theirs.
    /// @param sscc the pallet's SSCC-18
    /// @param caseIds the cases and totes
    /// @return palletId keccak256(abi.encode("sscc", sscc))
    function packPallet(uint64 sscc, bytes32[] calldata caseIds) external returns (bytes32 palletId);

    /// @notice Unpack units the caller holds: a pallet's cases and totes become loose at the caller (no per-case
    ///         write); a case or tote is opened and its packs stay anchored to it (no per-pack write) until picked.
    /// @param units the units
    function unpack(bytes32[] calldata units) external;

    /// @notice A unit's record, with its custodian resolved through its container.
    /// @param unitId the unit
    /// @return info its record (kind 0 when unknown)
    function unit(bytes32 unitId) external view returns (UnitInfo memory info);

    // ------------------------------------------------------------------ handoffs

    /// @notice Ship loose units the caller holds to `to`; they are in transit until received or refused.
    /// @param units the units
    /// @param to the recipient, a registered, active organisation
    function ship(bytes32[] calldata units, address to) external;

    /// @notice Take custody of units shipped to the caller.
    /// @dev Not named `receive`, which Solidity reserves for the plain-ether receive function.
    /// @param units the units
    function receiveShipment(bytes32[] calldata units) external;

    /// @notice Refuse units shipped to the caller; custody stays with the sender.
    /// @param units the units
    function refuseShipment(bytes32[] calldata units) external;

    /// @notice Accept a return shipped to the caller, instead of {receiveShipment}: the caller holds the consignment,
    ///         opened, and its packs are its saleable stock again.
    /// @param consignmentId the return consignment
    function acceptReturn(bytes32 consignmentId) external;

    // ------------------------------------------------------------------ packs

    /// @notice Report packs stolen (their holder, through the case they are in, or a manufacturer from its loose
    ///         stock with `source` zero; packs of a listed unit: {reportStolenListed}): they become inactive and flagged stolen, for good.
    /// @param groups the packs, per container and lot (a tree case's packs with their multiproof)
    function reportStolen(PackGroup[] calldata groups) external;

    /// @notice Destroy packs the caller holds: through a case (a listed unit's: {destroyListed}), or, with `containerId` zero,
    ///         from the manufacturer's loose stock.
    /// @param containerId the case, or zero
    /// @param lotId the packs' lot
    /// @param packs the packs
    /// @param multiproof against a tree case's children root (else empty)
    function destroy(
        bytes32 containerId,
        bytes32 lotId,
        PackSet calldata packs,
        Multiproof calldata multiproof
    ) external;

    /// @notice Quarantine packs: their holder (through a case — a listed unit's: {quarantineListed} — or loose stock with
    ///         `containerId` zero), or a regulator (any packs of the lot, with `containerId` zero).
    /// @param containerId the case, or zero
    /// @param lotId the packs' lot
    /// @param packs the packs
    /// @param multiproof against a tree case's children root (else empty)
    function quarantinePacks(
        bytes32 containerId,
        bytes32 lotId,
        PackSet calldata packs,
        Multiproof calldata multiproof
    ) external;

    /// @notice Clear packs' quarantine; same parties and arguments as {quarantinePacks}.
    /// @param containerId the case, or zero
    /// @param lotId the packs' lot
    /// @param packs the packs
    /// @param multiproof against a tree case's children root (else empty)
    function clearPacksQuarantine(
        bytes32 containerId,
        bytes32 lotId,
        PackSet calldata packs,
        Multiproof calldata multiproof
    ) external;

    /// @notice The on-chain state of one pack.
    /// @param lotId the lot
    /// @param index the pack's leaf index
    /// @return allocated it was packed into a case or tote (it left the manufacturer's loose stock)
    /// @return dispensed it was dispensed (and that was not undone)
    /// @return destroyed it was destroyed
    /// @return quarantined it is quarantined on its own
    function packState(bytes32 lotId, uint256 index)
        external
        view
        returns (bool allocated, bool dispensed, bool destroyed, bool quarantined);

    /// @notice One pack's state, its container if it moved, and its custodian where the chain knows it.
    /// @param lotId the lot
    /// @param index the pack's leaf index
    /// @return info its state (all zero for an unknown lot or an index never commissioned)
    function pack(bytes32 lotId, uint256 index) external view returns (PackInfo memory info);

    // ------------------------------------------------------------------ listed units (docs/gas-redesign.md)

    /// @notice Pack run cases of one lot in one call (the lot's manufacturer): case `i` is SSCC `ssccs[i]` with
    ///         leaves `firstIndex + i * perCase` onwards; one {CasesPacked} event.
    /// @param ssccs the cases' SSCC-18s
    /// @param lotId the lot
    /// @param firstIndex the first case's first leaf
    /// @param perCase packs per case
    function packCases(uint64[] calldata ssccs, bytes32 lotId, uint32 firstIndex, uint32 perCase) external;

    /// @notice Pick packs into a new listed tote: `picks` out of opened run cases the caller holds (each pack once:
    ///         its "moved" bit), `draws` out of opened listed units the caller holds (a re-pick: their listings
    ///         become the rest). The tote's listing is `picks`, then each draw's non-empty taken groups (source: the
    ///         drawn unit). Lots neither recalled nor quarantined; packs active and not quarantined.
    /// @param sscc the tote's SSCC-18
    /// @param picks the packs picked from run cases, per case and lot
    /// @param draws the packs taken from listed units
    /// @return toteId keccak256(abi.encode("sscc", sscc))
    function packToteListed(uint64 sscc, Listed[] calldata picks, ToteDraw[] calldata draws)
        external
        returns (bytes32 toteId);

    /// @notice Pick packs of one case, a tree case with its multiproof (or a run case, proof empty), into a new
    ///         listed tote whose listing is that one group: how a tree case's packs leave it (the other picking
    ///         functions take run cases only). The tote may then be re-picked with {packToteListed}.
    /// @param sscc the tote's SSCC-18
    /// @param pick the case, lot, packs and multiproof
    /// @return toteId keccak256(abi.encode("sscc", sscc))
    function packToteFromCase(uint64 sscc, CaseDraw calldata pick) external returns (bytes32 toteId);

    /// @notice A delivery in one call: new totes (picked from run cases, as {packToteListed}) made straight onto a
    ///         new roll cage (a pallet) with whole cases the caller holds loose. The cage stores its unit word and
    ///         one listing word over its totes' listing hashes; the totes have no word of their own.
    /// @param order the cage, its totes and cases
    /// @return cageId keccak256(abi.encode("sscc", order.sscc))
    function packCageListed(Cage calldata order) external returns (bytes32 cageId);

    /// @notice Ship packs to `to` as a new listed consignment in transit, picked as for {packToteListed}.
    /// @param picks the packs picked from run cases
    /// @param draws the packs taken from listed units
    /// @param to the recipient, a registered, active organisation
    /// @return consignmentId keccak256(abi.encode("consignment", uint256 number))
    function shipListed(Listed[] calldata picks, ToteDraw[] calldata draws, address to)
        external
        returns (bytes32 consignmentId);

    /// @notice Return saleable packs of one opened listed unit the caller (a dispenser) holds to `to`, who shipped it
    ///         to the caller: a return consignment (listing: the taken groups) in transit, accepted with
    ///         {acceptReturn} or refused; the unit's listing becomes the rest.
    /// @param d the unit, its listing and the packs taken
    /// @param to the party that shipped the unit to the caller
    /// @return consignmentId the return consignment
    function returnListed(ToteDraw calldata d, address to) external returns (bytes32 consignmentId);

    /// @notice Return saleable packs of one case the caller (a dispenser) holds opened (a tree case with its
    ///         multiproof) to `to`, who shipped the case (or its pallet) to the caller: a return consignment whose
    ///         listing is that one group, in transit until accepted ({acceptReturn}) or refused; the packs leave the
    ///         case for good.
    /// @param pick the case, lot, packs and multiproof
    /// @param to the party that shipped the case to the caller
    /// @return consignmentId the return consignment
    function returnFromCase(CaseDraw calldata pick, address to) external returns (bytes32 consignmentId);

    /// @notice {returnListed} for one tote riding on a roll cage the caller holds, opened and shipped by `to`.
    /// @param c the cage's listing and one tote's draw
    /// @param to the party that shipped the cage to the caller
    /// @return consignmentId the return consignment
    function returnCaged(CageDraw calldata c, address to) external returns (bytes32 consignmentId);

    /// @notice A dispenser's dispenses, over all its sources, in one call: packs of cases, listed units and totes on
    ///         roll cages it holds at rest (not quarantined); lots neither recalled, quarantined nor expired; packs
    ///         active and not quarantined. Listings are not rewritten (a dispensed pack's inactive bit stops it). The
    ///         call is folded into the dispenser's chain word ({DispenseChained}).
    /// @param cases draws straight from cases
    /// @param totes draws from listed units
    /// @param caged draws from totes on roll cages
    function dispenseDay(CaseDraw[] calldata cases, ToteDraw[] calldata totes, CageDraw[] calldata caged) external;

    /// @notice Undo a dispense (EU FMD): the same dispenser, within 10 days of it, for packs not expired, recalled,
    ///         destroyed or stolen since, still in the container they were dispensed from, which the caller holds at
    ///         rest; each pack once per call. The call is proved by the chain: `call` (the word before it, its time
    ///         and arguments) and every later call's link fold to the caller's chain word.
    /// @param call the {dispenseDay} call
    /// @param later the dispenser's later calls, in order
    /// @param containerId the case or tote the packs were dispensed from
    /// @param lotId the packs' lot
    /// @param packs the packs to reactivate
    function undoDispenseDay(
        DispenseCall calldata call,
        ChainLink[] calldata later,
        bytes32 containerId,
        bytes32 lotId,
        PackSet calldata packs
    ) external;

    /// @notice Give one tote riding on a roll cage the caller holds its own unit record (parent: the cage) and
    ///         listing word; its hash in the cage's listing becomes zero.
    /// @param c the cage's listing and the tote's draw (its taken sets ignored)
    function detachTote(CageDraw calldata c) external;

    /// @notice Destroy packs of a listed unit the caller holds at rest (they stay listed, inactive).
    /// @param d the unit, its listing and the packs
    function destroyListed(ToteDraw calldata d) external;

    /// @notice Report packs of listed units the caller holds stolen (they stay listed, inactive).
    /// @param draws the units, their listings and the packs
    function reportStolenListed(ToteDraw[] calldata draws) external;

    /// @notice Quarantine packs of a listed unit: its custodian or a regulator.
    /// @param d the unit, its listing and the packs
    function quarantineListed(ToteDraw calldata d) external;

    /// @notice Clear the quarantine of packs of a listed unit: its custodian or a regulator.
    /// @param d the unit, its listing and the packs
    function clearListedQuarantine(ToteDraw calldata d) external;

    /// @notice A listed unit's or roll cage's listing word.
    /// @param unitId the unit
    /// @return the word (zero if none)
    function listingOf(bytes32 unitId) external view returns (bytes32);

    /// @notice A dispenser's dispense chain word (`day << 224 | accumulator`, see {dispenseDay}).
    /// @param dispenser the dispenser
    /// @return word the word (zero before its first call)
    function dispenseChain(address dispenser) external view returns (uint256 word);

    /// @notice Quarantine a unit (its holder or a regulator); nothing it holds can move or be dispensed.
    /// @param unitId the unit
    function quarantineUnit(bytes32 unitId) external;

    /// @notice Clear a unit's quarantine (its holder or a regulator).
    /// @param unitId the unit
    function clearUnitQuarantine(bytes32 unitId) external;

    // ------------------------------------------------------------------ cold chain

    /// @notice Record a logger's readings for a unit (its holder, or its recipient while in transit). Readings stay
    ///         in calldata and the event; one outside the unit's range sets its excursion flag.
    /// @param unitId the unit
    /// @param sensorId the logger's id
    /// @param start time of the first reading, unix seconds
    /// @param interval seconds between readings
    /// @param readings packed big-endian int16 centi-degrees Celsius
    function recordReadings(bytes32 unitId, bytes32 sensorId, uint40 start, uint32 interval, bytes calldata readings)
        external;

    // ------------------------------------------------------------------ identifiers

    /// @notice keccak256(abi.encode("lgtin", gtin, lotNumber)).
    /// @param gtin the GTIN-14
    /// @param lotNumber the lot number
    /// @return the lot id
    function lotIdOf(uint64 gtin, string calldata lotNumber) external pure returns (bytes32);

    /// @notice keccak256(abi.encode("sgtin", gtin, serial)).
    /// @param gtin the GTIN-14
    /// @param serial the serial number
    /// @return the pack id
    function sgtinIdOf(uint64 gtin, string calldata serial) external pure returns (bytes32);

    /// @notice keccak256(abi.encode("consignment", uint256(number))).
    /// @param number a consignment's compact container number
    /// @return the unit id
    function consignmentIdOf(uint32 number) external pure returns (bytes32);

    /// @notice keccak256(abi.encode("sscc", sscc)).
    /// @param sscc the SSCC-18
    /// @return the unit id
    function ssccIdOf(uint64 sscc) external pure returns (bytes32);
}
