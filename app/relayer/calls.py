"""Outbox operations as contract calls: one call per operation, or one call for many where the
contract takes lists (ship, receive, refuse, unpack take unit arrays; a pharmacy's dispenses of a
round are one dispenseDay). The payloads were resolved when the scan was accepted; what is read
here is what must be current when the call is built: a tree case's children (for the multiproof),
and the listing of every listed unit (tote, consignment, roll cage) packs are taken out of
(docs/gas-redesign.md): each draw passes the unit's whole listing, read from the mirror
(app/db/listings.py) and, within one transaction, as the calls before it leave it (`Listings`).
The relayer sends no draw while an earlier move out of the same holder's units is unmirrored
(app/db/operations.PENDING_GROUPS), so the mirror's listing is the chain's."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from eth_utils import to_checksum_address

from app.db import listings as listings_db
from app.ids import pack_set
from app.listings import Group, clear, decode_cage, decode_listing, listing_hash, taken_sets
from app.merkle import CaseTree
from app.services import prechecks

ZERO32 = bytes(32)


@dataclass
class Call:
    fn: str
    args: list
    op_ids: list[str] = field(default_factory=list)


def _b(hex_value: str) -> bytes:
    return bytes.fromhex(hex_value[2:])


def _units_call(fn: str, ops: list[dict], extra: tuple = ()) -> Call:
    units = [_b(u) for op in ops for u in op["payload"]["units"]]
    return Call(fn, [units, *extra], [str(op["id"]) for op in ops])


def _one(op: dict) -> Call:  # noqa: PLR0911 - one return per action
    p = op["payload"]
    oid = [str(op["id"])]
    match op["action"]:
        case "register_product":
            return Call("registerProduct", [int(p["gtin"]), p["min_temp"], p["max_temp"]], oid)
        case "commission_lot":
            return Call("commissionLot", [int(p["gtin"]), p["lot"], p["expiry"], p["count"], _b(p["root"])], oid)
        case "open_lot":
            return Call("openLot", [int(p["gtin"]), p["lot"], p["expiry"], p["capacity"]], oid)
        case "commission_batch":
            return Call("commissionBatch", [_b(p["lot_id"]), p["first_index"], p["count"], _b(p["root"])], oid)
        case "pack_case" if "indexes" in p:
            return Call("packCaseTree", [int(p["sscc"]), _b(p["lot_id"]), pack_set(p["indexes"])], oid)
        case "pack_case":
            return Call("packCase", [int(p["sscc"]), _b(p["lot_id"]), p["first_index"], p["count"]], oid)
        case "pack_pallet":
            return Call("packPallet", [int(p["sscc"]), [_b(c) for c in p["cases"]]], oid)
        case "recall":
            return Call("recallLot", [_b(p["lot_id"])], oid)
        case "quarantine" | "clear_quarantine":
            clear = op["action"] == "clear_quarantine"
            if p["target"] == "unit":
                return Call("clearUnitQuarantine" if clear else "quarantineUnit", [_b(p["unit_id"])], oid)
            return Call("clearLotQuarantine" if clear else "quarantineLot", [_b(p["lot_id"])], oid)
        case "record_readings":
            args = [_b(p["unit_id"]), _b(p["sensor_id"]), p["start"], p["interval"], _b(p["readings"])]
            return Call("recordReadings", args, oid)
    raise ValueError(f"no single call for action {op['action']!r}")


class Listings:
    """The current listings of listed units for the calls of one transaction: the mirror's, then as each call
    built before leaves them (a move out of a unit leaves its rest; a detached tote has its own word)."""

    def __init__(self, conn):
        self.conn = conn
        self.units: dict[bytes, dict] = {}

    def of(self, unit_id: bytes) -> dict | None:
        """{kind, groups (listed), cage_id (a caged tote), tote_ids, hashes (cage)}; None: not a listed unit."""
        if unit_id not in self.units:
            row = listings_db.current(self.conn, [unit_id]).get(unit_id)
            self.units[unit_id] = None if row is None else _unpack(row)
        return self.units[unit_id]

    def draw(self, unit_id: bytes, by_lot: dict[bytes, list[int]]) -> tuple:
        """ToteDraw(unitId, listing, taken): one taken set per listing group."""
        groups = self.of(unit_id)["groups"]
        return (unit_id, [g.as_abi() for g in groups], _taken(groups, by_lot))

    def cage_draw(self, cage_id: bytes, totes: list[tuple[bytes, dict[bytes, list[int]]]]) -> tuple:
        """CageDraw(cageId, toteIds, hashes, totes, draws) of these caged totes' packs."""
        cage = self.of(cage_id)
        tote_ids = list(cage["tote_ids"])
        return (cage_id, tote_ids, list(cage["hashes"]), [tote_ids.index(t) for t, _ in totes],
                [self.draw(t, by_lot) for t, by_lot in totes])  # fmt: skip

    def take(self, unit_id: bytes, by_lot: dict[bytes, list[int]]) -> None:
        """The packs left the unit for another: its listing is the rest (and its cage's hash of it)."""
        unit = self.of(unit_id)
        for lot_id, indexes in by_lot.items():
            first, masks = pack_set(indexes)
            unit["groups"] = clear(unit["groups"], lot_id, first, masks)
        if unit["cage_id"] is not None:
            self._rehash(unit["cage_id"], unit_id, listing_hash(unit["groups"]))

    def detach(self, tote_id: bytes) -> None:
        unit = self.of(tote_id)
        cage_id, unit["cage_id"] = unit["cage_id"], None
        self._rehash(cage_id, tote_id, ZERO32)

    def _rehash(self, cage_id: bytes, tote_id: bytes, new: bytes) -> None:
        cage = self.of(cage_id)
        hashes = list(cage["hashes"])
        hashes[list(cage["tote_ids"]).index(tote_id)] = new
        cage["hashes"] = tuple(hashes)


def _unpack(row: listings_db.UnitListing) -> dict:
    if row.kind == "cage":
        tote_ids, hashes = decode_cage(row.listing)
        return {"kind": "cage", "groups": (), "cage_id": None, "tote_ids": tote_ids, "hashes": hashes}
    return {"kind": "listed", "groups": decode_listing(row.listing), "cage_id": row.cage_id, "tote_ids": (),
            "hashes": ()}  # fmt: skip


def _taken(groups: tuple[Group, ...], by_lot: dict[bytes, list[int]]) -> list[tuple[int, list[int]]]:
    """One PackSet per listing group. A pack the listing does not hold goes into the first group of its lot (or
    the first group): the contract then refuses the draw, naming the pack (PackNotInCase)."""
    out: list[tuple[int, list[int]]] = [(0, [])] * len(groups)
    for lot_id, indexes in by_lot.items():
        try:
            sets = taken_sets(groups, lot_id, indexes)
        except ValueError:
            j = next((k for k, g in enumerate(groups) if g.lot_id == lot_id), 0)
            sets = [(0, [])] * len(groups)
            if groups:
                sets[j] = pack_set(indexes)
        for j, packs in enumerate(sets):
            if packs[1]:
                out[j] = packs
    return out


@dataclass
class _Sources:
    """A payload's packs by where they are: run or tree cases (and loose stock, source None), listed units with a
    word of their own, and totes riding on a roll cage (by cage)."""

    cases: dict[tuple[bytes | None, bytes, bool], list[int]] = field(default_factory=dict)
    listed: dict[bytes, dict[bytes, list[int]]] = field(default_factory=dict)
    caged: dict[bytes, dict[bytes, dict[bytes, list[int]]]] = field(default_factory=dict)


def _sources(listings: Listings, packs: list[dict], key: str = "source") -> _Sources:
    out = _Sources()
    for pack in packs:
        source = _b(pack[key]) if pack[key] else None
        lot_id, index = _b(pack["lot_id"]), pack["index"]
        unit = listings.of(source) if source is not None else None
        if unit is None or unit["kind"] != "listed":
            out.cases.setdefault((source, lot_id, bool(pack["tree"])), []).append(index)
        elif unit["cage_id"] is None:
            out.listed.setdefault(source, {}).setdefault(lot_id, []).append(index)
        else:
            out.caged.setdefault(unit["cage_id"], {}).setdefault(source, {}).setdefault(lot_id, []).append(index)
    return out


def _case_draws(conn, cases: dict[tuple[bytes | None, bytes, bool], list[int]]) -> list[tuple]:
    """(container, lotId, packs, multiproof) per case and lot (zero container: loose stock)."""
    out = []
    for (case, lot_id, tree), indexes in cases.items():
        container = case or ZERO32
        if tree:
            packs, proof = CaseTree(lot_id, prechecks.tree_case_indexes(conn, container)).children_proof(indexes)
        else:
            packs, proof = pack_set(indexes), ([], [])
        out.append((container, lot_id, packs, proof))
    return out


def _detach_caged(listings: Listings, found: _Sources, oid: list[str]) -> list[Call]:
    """detachTote of each caged tote packs are taken from by a call that needs the tote's own word (re-pick,
    ship, destroy, report stolen): the tote's listing moves from its cage's word to its own."""
    calls = []
    for cage_id, totes in found.caged.items():
        for tote_id, by_lot in totes.items():
            calls.append(Call("detachTote", [listings.cage_draw(cage_id, [(tote_id, {})])], oid))
            listings.detach(tote_id)
            found.listed[tote_id] = by_lot
    found.caged = {}
    return calls


def _moving(conn, listings: Listings, fn: str, packs: list[dict], head: list, tail: list, oid: list[str]) -> list[Call]:
    """packToteListed / shipListed: picks straight from run cases, draws from listed units (caged totes detached
    first); each draw's unit is left with its rest. A tote of one tree case's packs: packToteFromCase."""
    found = _sources(listings, packs)
    calls = _detach_caged(listings, found, oid)
    if fn == "packToteListed" and any(tree for _, _, tree in found.cases):
        # a tree case's packs leave it with their multiproof, one case a tote (the pre-check sees to that)
        return [*calls, Call("packToteFromCase", [*head, _case_draws(conn, found.cases)[0]], oid)]
    picks = [(case or ZERO32, lot_id, pack_set(indexes)) for (case, lot_id, _), indexes in found.cases.items()]
    draws = [listings.draw(unit_id, by_lot) for unit_id, by_lot in found.listed.items()]
    for unit_id, by_lot in found.listed.items():
        listings.take(unit_id, by_lot)
    calls.append(Call(fn, [*head, picks, draws, *tail], oid))
    return calls


def _returns(conn, listings: Listings, packs: list[dict], to: str, oid: list[str]) -> list[Call]:
    """One return consignment per unit the packs come from: returnFromCase (a tree case with its multiproof),
    returnListed, or returnCaged for a caged tote."""
    found = _sources(listings, packs)
    calls = [Call("returnFromCase", [draw, to], oid) for draw in _case_draws(conn, found.cases)]
    for unit_id, by_lot in found.listed.items():
        calls.append(Call("returnListed", [listings.draw(unit_id, by_lot), to], oid))
        listings.take(unit_id, by_lot)
    for cage_id, totes in found.caged.items():
        for tote_id, by_lot in totes.items():
            calls.append(Call("returnCaged", [listings.cage_draw(cage_id, [(tote_id, by_lot)]), to], oid))
            listings.take(tote_id, by_lot)
    return calls


def _ended(conn, listings: Listings, action: str, packs: list[dict], oid: list[str]) -> list[Call]:
    """report_stolen / destroy: through cases (and loose stock) as before, through listed units with the
    …Listed functions (caged totes detached first). Listings are unchanged (the packs stay listed, inactive)."""
    key = "source" if action == "report_stolen" else "case"
    found = _sources(listings, packs, key)
    calls = _detach_caged(listings, found, oid)
    cases = _case_draws(conn, found.cases)
    draws = [listings.draw(unit_id, by_lot) for unit_id, by_lot in found.listed.items()]
    if action == "report_stolen":
        if cases:
            calls.append(Call("reportStolen", [cases], oid))
        if draws:
            calls.append(Call("reportStolenListed", [draws], oid))
        return calls
    calls += [Call("destroy", list(group), oid) for group in cases]
    calls += [Call("destroyListed", [draw], oid) for draw in draws]
    return calls


def _dispense_day(conn, listings: Listings, ops: list[dict]) -> list[Call]:
    """A pharmacy's dispenses of one round as one dispenseDay(cases, totes, caged): one chain link a round."""
    packs = [pack for op in ops for pack in op["payload"]["packs"]]
    found = _sources(listings, packs, "case")
    cases = _case_draws(conn, found.cases)
    totes = [listings.draw(unit_id, by_lot) for unit_id, by_lot in found.listed.items()]
    caged = [listings.cage_draw(cage_id, list(totes_of.items())) for cage_id, totes_of in found.caged.items()]
    return [Call("dispenseDay", [cases, totes, caged], [str(op["id"]) for op in ops])]


def _cage(listings: Listings, p: dict, oid: list[str]) -> Call:
    """packCageListed: each tote's picks out of run cases, the cage's cases."""
    totes = [_sources(listings, t["packs"]).cases for t in p["totes"]]
    picks = [[(case, lot_id, pack_set(ix)) for (case, lot_id, _), ix in tote.items()] for tote in totes]
    order = (int(p["sscc"]), [int(t["sscc"]) for t in p["totes"]], picks, [_b(c) for c in p["cases"]])
    return Call("packCageListed", [order], oid)


def _one_picked(conn, listings: Listings, op: dict, undo_proof=None) -> list[Call]:  # noqa: PLR0911 - one return per action
    p, oid = op["payload"], [str(op["id"])]
    match op["action"]:
        case "pack_tote":
            return _moving(conn, listings, "packToteListed", p["packs"], [int(p["sscc"])], [], oid)
        case "pack_cage":
            return [_cage(listings, p, oid)]
        case "ship_packs":
            return _moving(conn, listings, "shipListed", p["packs"], [], [to_checksum_address(p["to"])], oid)
        case "return_packs":
            return _returns(conn, listings, p["packs"], to_checksum_address(p["to"]), oid)
        case "report_stolen" | "destroy":
            return _ended(conn, listings, op["action"], p["packs"], oid)
        case "accept_return":
            return [Call("acceptReturn", [_b(c)], oid) for c in p["consignments"]]
        case "undo_dispense":
            return [_undo(undo_proof, _b(p["dispenser"]), group, oid) for group in p["undo"]]
    raise ValueError(f"no picking call for action {op['action']!r}")


def _undo(undo_proof, dispenser: bytes, group: dict, oid: list[str]) -> Call:
    """undoDispenseDay of packs of one dispenseDay call: the call and the chain links after it, from
    `undo_proof(dispenser, (block, log index) of the Dispensed event)` (the chain's DispenseChained logs and
    the data of the transaction the relayer sent). When they cannot be found, an empty proof: the contract
    refuses it (UndoProofInvalid)."""
    proof = undo_proof(dispenser, (group["block_number"], group["log_index"]))
    call, later = proof if proof is not None else ((0, 0, [], [], []), [])
    container = _b(group["container_id"])
    return Call("undoDispenseDay", [call, later, container, _b(group["lot_id"]), pack_set(group["indexes"])], oid)


PICKED = (
    "pack_tote",
    "pack_cage",
    "ship_packs",
    "return_packs",
    "report_stolen",
    "destroy",
    "accept_return",
    "undo_dispense",
)
# actions whose calls draw packs out of listed units, and those of them that move packs to another unit (which
# rewrites the unit's listing): a draw waits until the mirror has seen the moves before it (operations.py)
MOVING = ("pack_tote", "ship_packs", "return_packs")
DRAWING = (*MOVING, "dispense", "destroy", "report_stolen")


def build(conn, action: str, ops: list[dict], undo_proof=None) -> list[Call]:
    """The calls that carry out `ops` (all of one organisation and action), in order. `undo_proof(dispenser,
    dispensed_at)`: what undoDispenseDay proves a dispense by (app/chain/dispenses.undo_proof; undo_dispense
    only)."""
    if action in ("receive", "refuse", "unpack"):
        fn = {"receive": "receiveShipment", "refuse": "refuseShipment", "unpack": "unpack"}[action]
        return [_units_call(fn, ops)]
    if action == "ship":
        by_recipient: dict[str, list[dict]] = defaultdict(list)
        for op in ops:
            by_recipient[op["payload"]["to"]].append(op)
        return [_units_call("ship", group, (to_checksum_address(to),)) for to, group in by_recipient.items()]
    listings = Listings(conn)
    if action == "dispense":
        return _dispense_day(conn, listings, ops)
    if action in PICKED:  # one call (or a few) per operation, each built on the listings the ones before leave
        return [call for op in ops for call in _one_picked(conn, listings, op, undo_proof)]
    return [_one(op) for op in ops]
