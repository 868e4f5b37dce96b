"""The one custody fold (app/services/custody.py) against the contract's own views, on random supply chains.

Each example commissions two lots and plays a random program over a few parties through the contract
(web3, as tests/contracts does): pack cases, palletise (cases and totes), ship, receive, refuse, unpack,
quarantine and clear units, quarantine and clear packs, dispense, record readings (some out of range),
each-pick packs of both lots from opened cases, totes and consignments (or the maker's loose stock) into
mixed totes, ship loose packs as consignments, return packs (to the sender, or to someone else: refused
by the contract), accept or refuse returns, report packs stolen and undo dispenses. An operation the
contract would refuse (checked with an eth_call first) is skipped, so every program is a valid chain of
events. The mirror is then indexed (app/indexer over the deployment) and every unit of the example is
folded from it and compared field by field with `unit(unitId)` (kind, custodian, recipient, container,
transit, flags, sender, returnPending), every pack with `packState(lotId, index)` and `pack(lotId, index)`
(moved, stolen; a moved pack's container, custodian, transit and pending return, from the pack fold), and
the container the pack fold says each pack is in with the contract's own check of it (a regulator's
eth_call naming the pack through that container reverts neither PackNotInCase nor PackMoved: the case of
a pack never moved, which pack() does not name).
"""

from __future__ import annotations

import itertools

import pytest
from biip.checksums import gs1_standard_check_digit
from eth_abi import decode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractCustomError, ContractLogicError

from app.chain.client import ChainClient
from app.db import Database, mirror
from app.db import listings as listings_db
from app.ids import lgtin_id, pack_readings, pack_set, sscc_id
from app.indexer.core import Indexer
from app.listings import Group, clear, decode_cage, decode_listing, listing_hash, taken_sets
from app.services import custody
from tests.contracts.helpers import error_data

GTIN = 9506000134352
MIN_TEMP, MAX_TEMP = 200, 800
SERIALS = 64
ZERO = b"\0" * 32
NO_PROOF = ([], [])
EXAMPLES = 50  # about 45 s on a loaded 2-core machine
SSCC_BASE = 309506000000000000  # + a running number (the contract checks no SSCC check digit)
RUNNING = itertools.count(1)

UNIT = st.integers(0, 7)  # which unit of the example (modulo how many there are)
MASK = st.integers(1, 2**8 - 1)  # which of a container's packs (modulo how many it has)
OPS = st.one_of(
    st.tuples(st.just("case"), st.integers(1, 6), st.integers(0, 1)),
    st.tuples(st.just("tote"), UNIT, st.one_of(st.none(), UNIT), MASK),
    st.tuples(st.just("cases"), st.integers(1, 4), st.integers(0, 1), st.integers(1, 3)),
    st.tuples(st.just("cage"), UNIT, MASK, st.integers(0, 3)),
    st.tuples(st.just("detach"), UNIT),
    st.tuples(st.just("loose"), UNIT, MASK, st.integers(0, 3)),
    st.tuples(st.just("return"), UNIT, MASK, st.booleans()),
    st.tuples(st.just("accept"), UNIT),
    st.tuples(st.just("stolen"), UNIT, MASK),
    st.tuples(st.just("undo"), st.integers(0, 7), MASK),
    st.tuples(st.just("deliver"), UNIT, st.integers(1, 3)),  # ship, receive and open: more stock moves further
    st.tuples(st.just("pallet"), st.lists(UNIT, min_size=1, max_size=3)),
    st.tuples(st.just("ship"), UNIT, st.integers(0, 3)),
    st.tuples(st.just("ship_pallet"), UNIT, st.integers(0, 3)),
    st.tuples(st.just("receive"), UNIT),
    st.tuples(st.just("refuse"), UNIT),
    st.tuples(st.just("unpack"), UNIT),
    st.tuples(st.just("quarantine"), UNIT, st.booleans()),
    st.tuples(st.just("clear"), UNIT, st.booleans()),
    st.tuples(st.just("quarantine_packs"), UNIT, st.integers(0, 2**6 - 1)),
    st.tuples(st.just("clear_packs"), UNIT, st.integers(0, 2**6 - 1)),
    st.tuples(st.just("dispense"), UNIT, st.integers(0, 2**6 - 1)),
    st.tuples(st.just("readings"), UNIT, st.booleans()),
)
# a few cases first, so that the operations have something to work on
PROGRAMS = st.builds(
    lambda cases, ops: [("case", n, k % 2) for k, n in enumerate(cases)] + ops,
    st.lists(st.integers(1, 6), min_size=1, max_size=4),
    st.lists(OPS, min_size=10, max_size=40),
)


def _gln(n: int) -> int:
    body = f"4{n:011d}"
    return int(body + str(gs1_standard_check_digit(body)))


class Chain:
    """The deployed contract, its parties and the example's lot and units."""

    def __init__(self, w3, pt):
        self.w3, self.pt = w3, pt
        accounts = w3.eth.accounts
        self.admin = accounts[0]
        self.maker, self.distributor, self.pharmacy, self.pharmacy2, self.regulator = accounts[1:6]
        self.recipients = [self.maker, self.distributor, self.pharmacy, self.pharmacy2]
        roles = [
            (self.maker, "MANUFACTURER_ROLE"),
            (self.distributor, "DISTRIBUTOR_ROLE"),
            (self.pharmacy, "DISPENSER_ROLE"),
            (self.pharmacy2, "DISPENSER_ROLE"),
            (self.regulator, "REGULATOR_ROLE"),
        ]
        for i, (account, name) in enumerate(roles):
            role = getattr(pt.functions, name)().call()
            self.send(pt.functions.registerOrganisation(account, _gln(900 + i), [role]), self.admin)
        self.send(pt.functions.registerProduct(GTIN, MIN_TEMP, MAX_TEMP), self.maker)
        self.applied = 0
        self.skipped = 0

    def send(self, call, sender):
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
        assert receipt.status == 1
        return receipt

    def attempt(self, call, sender):
        """Send `call` if the contract accepts it (an eth_call first): its receipt; None if it would revert."""
        try:
            call.call({"from": sender})
        except (ContractCustomError, ContractLogicError):
            self.skipped += 1
            return None
        receipt = self.send(call, sender)
        self.applied += 1
        return receipt

    def holder(self, made: Program, unit: bytes) -> str:
        """A unit's custodian; a caged tote's is its cage's."""
        return self.info(made.cage_of.get(unit, unit))["custodian"]

    def new_lot(self) -> bytes:
        number = f"P{next(RUNNING)}"
        expiry = self.w3.eth.get_block("latest").timestamp + 365 * 86400
        self.send(self.pt.functions.commissionLot(GTIN, number, expiry, SERIALS, b"\1" * 32), self.maker)
        return lgtin_id(f"{GTIN:014d}", number)

    def info(self, unit_id: bytes) -> dict:
        fields = next(i for i in self.pt.abi if i.get("name") == "unit")["outputs"][0]["components"]
        return dict(zip([f["name"] for f in fields], self.pt.functions.unit(unit_id).call(), strict=True))

    def pack_states(self, lot_id: bytes) -> list[tuple[bool, bool, bool, bool]]:
        """packState of every leaf of the lot, in one eth_call."""
        head = bytes.fromhex(self.pt.encode_abi("packState", args=[lot_id, 0])[2:])[:-32]
        calls = [head + i.to_bytes(32, "big") for i in range(SERIALS)]
        results = self.pt.functions.multicall(calls).call({"from": self.admin})
        return [tuple(decode(["bool"] * 4, r)) for r in results]

    def packs(self, lot_id: bytes) -> list[dict]:
        """pack() of every leaf of the lot, in one eth_call."""
        head = bytes.fromhex(self.pt.encode_abi("pack", args=[lot_id, 0])[2:])[:-32]
        calls = [head + i.to_bytes(32, "big") for i in range(SERIALS)]
        results = self.pt.functions.multicall(calls).call({"from": self.admin})
        fields = next(i for i in self.pt.abi if i.get("name") == "pack")["outputs"][0]["components"]
        types = ["(" + ",".join(f["type"] for f in fields) + ")"]
        return [dict(zip([f["name"] for f in fields], decode(types, r)[0], strict=True)) for r in results]


class Program:
    """What the test knows of the example as it plays: its units, each case's leaves, where each pack is
    (lot, index) -> container, each listed unit's listing (docs/gas-redesign.md: what every draw out of it passes),
    which totes ride on which roll cage, and each dispenser's chain of dispenseDay calls (for undoDispenseDay)."""

    def __init__(self, lots: list[bytes]):
        self.lots = lots
        self.units: list[bytes] = []
        self.pallets: list[bytes] = []
        self.leaves: dict[bytes, list[int]] = {}
        self.where: dict[tuple[bytes, int], bytes] = {}
        self.next_leaf = {lot: 0 for lot in lots}
        self.listing: dict[bytes, list[Group]] = {}  # listed units (totes, consignments, caged totes)
        self.cage_of: dict[bytes, bytes] = {}  # a tote riding on a roll cage -> the cage
        self.cage_totes: dict[bytes, list[bytes]] = {}
        self.calls: dict[str, list[dict]] = {}  # dispenser -> its dispenseDay calls {word, time, call_hash, args}
        self.records: list[tuple[str, int, bytes, bytes, list[int]]] = []  # (dispenser, call, container, lot, packs)
        self.stolen: set[tuple[bytes, int]] = set()
        self.dispensed: set[tuple[bytes, int]] = set()  # (not undone)

    def contents(self, container: bytes) -> list[tuple[bytes, int]]:
        return sorted(key for key, c in self.where.items() if c == container)

    def chosen(self, sources: list[bytes], mask: int) -> list[tuple[bytes, tuple[bytes, int]]]:
        """The packs chosen by `mask` (bits over the sources' packs, in order), with their source."""
        packs = [(s, key) for s in dict.fromkeys(sources) for key in self.contents(s)
                 if key not in self.stolen and key not in self.dispensed]  # fmt: skip
        return [p for k, p in enumerate(packs) if mask >> (k % 8) & 1] or packs[:1]

    def split(self, chosen) -> tuple[list, dict, dict]:
        """The chosen packs as picks out of cases (Listed), draws' packs per listed unit with a word of its own
        ({unit: {lot: indexes}}) and per caged tote ({cage: {tote: {lot: indexes}}})."""
        picks: dict[tuple[bytes, bytes], list[int]] = {}
        listed: dict[bytes, dict[bytes, list[int]]] = {}
        caged: dict[bytes, dict[bytes, dict[bytes, list[int]]]] = {}
        for source, (lot, index) in chosen:
            if source in self.cage_of:
                caged.setdefault(self.cage_of[source], {}).setdefault(source, {}).setdefault(lot, []).append(index)
            elif source in self.listing:
                listed.setdefault(source, {}).setdefault(lot, []).append(index)
            else:
                picks.setdefault((source, lot), []).append(index)
        return [(s, lot, pack_set(ix)) for (s, lot), ix in picks.items()], listed, caged

    def draw(self, unit: bytes, by_lot: dict[bytes, list[int]]) -> tuple:
        groups = self.listing[unit]
        taken = [(0, [])] * len(groups)
        for lot, indexes in by_lot.items():
            for j, packs in enumerate(taken_sets(groups, lot, indexes)):
                if packs[1]:
                    taken[j] = packs
        return (unit, [g.as_abi() for g in groups], taken)

    def hashes(self, cage: bytes) -> list[bytes]:
        return [listing_hash(self.listing[t]) if self.cage_of.get(t) == cage else ZERO for t in self.cage_totes[cage]]

    def cage_draw(self, cage: bytes, totes: list[tuple[bytes, dict]]) -> tuple:
        ids = self.cage_totes[cage]
        return (cage, ids, self.hashes(cage), [ids.index(t) for t, _ in totes], [self.draw(t, b) for t, b in totes])

    def take(self, unit: bytes, by_lot: dict[bytes, list[int]]) -> None:
        for lot, indexes in by_lot.items():
            self.listing[unit] = list(clear(self.listing[unit], lot, *pack_set(indexes)))

    def made_unit(self, unit: bytes, picks: list, draws: list) -> None:
        """A new listed unit: the picks as given, then each draw's non-empty taken groups (source: the drawn unit)."""
        groups = [Group(s, lot, first, tuple(masks)) for s, lot, (first, masks) in picks]
        for unit_id, listing, taken in draws:
            groups += [Group(unit_id, listing[j][1], first, tuple(masks))
                       for j, (first, masks) in enumerate(taken) if masks]  # fmt: skip
        self.listing[unit] = groups

    def moved(self, keys, container: bytes) -> None:
        for key in keys:
            self.where[key] = container


def _new_container(chain: Chain, receipt) -> bytes:
    """The tote or consignment a packTote/shipPacks/returnPacks receipt made."""
    for log in receipt.logs:
        for name in ("TotePacked", "ConsignmentCreated"):
            try:
                event = chain.pt.events[name]().process_log(log)
            except Exception:  # not this event
                continue
            return bytes(event.args["toteId" if name == "TotePacked" else "consignmentId"])
    raise AssertionError("no container made")


def _event(chain: Chain, receipt, name: str):
    for log in receipt.logs:
        try:
            return chain.pt.events[name]().process_log(log)
        except Exception:
            continue
    return None


def _made(chain: Chain, made: Program, receipt, keys, picks: list, draws: list) -> bytes:
    """After a packToteListed/shipListed/returnListed/returnCaged: the new unit, its listing, the packs moved."""
    unit = _new_container(chain, receipt)
    made.units.append(unit)
    made.made_unit(unit, picks, draws)
    made.moved(keys, unit)
    return unit


def _dispensed(chain: Chain, made: Program, receipt, dispenser: str, args: tuple, draws: list) -> None:
    """Record a dispenseDay call (its chain link) and its draws (container, lot, packs) for undoDispenseDay."""
    event = _event(chain, receipt, "DispenseChained")
    time = chain.w3.eth.get_block(receipt.blockNumber).timestamp
    calls = made.calls.setdefault(dispenser, [])
    calls.append({"word": event.args["word"], "time": time, "call_hash": bytes(event.args["callHash"]),
                  "args": args})  # fmt: skip
    for container, lot, indexes in draws:
        made.records.append((dispenser, len(calls) - 1, container, lot, indexes))
        made.dispensed |= {(lot, i) for i in indexes}


def _undo(chain: Chain, made: Program, op) -> None:
    dispenser, k, container, lot, indexes = made.records[op[1] % len(made.records)]
    chosen = [i for n, i in enumerate(indexes) if op[2] >> (n % 8) & 1] or indexes[:1]
    calls = made.calls[dispenser]
    before = calls[k - 1]["word"] if k else 0
    call = (before, calls[k]["time"], *calls[k]["args"])
    later = [(c["time"], c["call_hash"]) for c in calls[k + 1 :]]
    if chain.attempt(chain.pt.functions.undoDispenseDay(call, later, container, lot, pack_set(chosen)), dispenser):
        made.dispensed -= {(lot, i) for i in chosen}


def _loose_at(info: dict, custodian: str) -> bool:
    """A closed case held by `custodian`, at rest, on no pallet: one that can go onto a roll cage."""
    return (
        info["custodian"] == custodian
        and not info["unpacked"]
        and not info["inTransit"]
        and (bytes(info["container"]) == ZERO)
    )


def _cage(chain: Chain, made: Program, unit: bytes, op, custodian: str) -> None:
    """A roll cage: the chosen packs of a run case picked into two totes riding on it, with a loose case."""
    chosen = made.chosen([unit], op[2])
    halves = [chosen[: (len(chosen) + 1) // 2], chosen[(len(chosen) + 1) // 2 :]]
    totes = [(SSCC_BASE + next(RUNNING), half, made.split(half)[0]) for half in halves if half]
    loose = [u for u in made.units if u in made.leaves and u != unit and _loose_at(chain.info(u), custodian)]
    loose = loose[op[3] % 2 : op[3] % 2 + 1]
    sscc = SSCC_BASE + next(RUNNING)
    order = (sscc, [t[0] for t in totes], [t[2] for t in totes], loose)
    if not totes or not chain.attempt(chain.pt.functions.packCageListed(order), custodian):
        return
    cage = sscc_id(sscc)
    made.cage_totes[cage] = [sscc_id(t[0]) for t in totes]
    for tote_sscc, half, picks in totes:
        tote = sscc_id(tote_sscc)
        made.units.append(tote)
        made.made_unit(tote, picks, [])
        made.moved([k for _, k in half], tote)
        made.cage_of[tote] = cage
    made.units.append(cage)
    made.pallets.append(cage)


def _pick_calls(chain: Chain, made: Program, kind: str, chosen, to: str | None):
    """The call of a tote made, packs shipped loose or returned, with what it takes: (call, picks, draws, taken
    {unit: {lot: indexes}}, the packs moved). A caged tote is no source of a tote or loose shipment (it needs
    detachTote first); a return takes the packs of one unit."""
    pt = chain.pt
    if kind == "return":
        first = chosen[0][0]
        chosen = [(s, k) for s, k in chosen if s == first]
    else:
        chosen = [(s, k) for s, k in chosen if s not in made.cage_of]
    if not chosen:
        return None
    keys = [k for _, k in chosen]
    picks, listed, caged = made.split(chosen)
    draws = [made.draw(u, b) for u, b in listed.items()]
    if kind == "tote":
        return pt.functions.packToteListed(SSCC_BASE + next(RUNNING), picks, draws), picks, draws, listed, keys
    if kind == "loose":
        return pt.functions.shipListed(picks, draws, to), picks, draws, listed, keys
    if picks:  # a return of a case's packs: the contract takes a listed unit (refused: UnitWrongKind)
        return pt.functions.returnListed((picks[0][0], [], []), to), [], [], {}, keys
    if listed:
        return pt.functions.returnListed(draws[0], to), [], draws, listed, keys
    cage, totes = next(iter(caged.items()))
    c = made.cage_draw(cage, list(totes.items()))
    return pt.functions.returnCaged(c, to), [], c[4], totes, keys


def _per_unit(chain: Chain, made: Program, kind: str, unit: bytes, op, custodian: str) -> None:
    """Operations on the packs of one unit: dispense, quarantine or clear packs, report stolen."""
    pt = chain.pt
    lot_id = made.contents(unit)[0][0]
    here = [i for lot, i in made.contents(unit) if lot == lot_id and (lot, i) not in made.stolen]
    chosen = [i for k, i in enumerate(here) if op[2] >> k & 1] or here[:1]
    if not chosen:
        return
    by_lot = {lot_id: chosen}
    case = (unit, lot_id, pack_set(chosen), NO_PROOF)
    if kind == "dispense":
        if unit in made.cage_of:
            args = ([], [], [made.cage_draw(made.cage_of[unit], [(unit, by_lot)])])
        elif unit in made.listing:
            args = ([], [made.draw(unit, by_lot)], [])
        else:
            args = ([case], [], [])
        receipt = chain.attempt(pt.functions.dispenseDay(*args), custodian)
        if receipt is not None:
            _dispensed(chain, made, receipt, custodian, args, [(unit, lot_id, chosen)])
        return
    listed = unit in made.listing
    if kind == "stolen":
        call = (
            pt.functions.reportStolenListed([made.draw(unit, by_lot)]) if listed else pt.functions.reportStolen([case])
        )
        if chain.attempt(call, custodian):
            made.stolen |= {(lot_id, i) for i in chosen}
        return
    if listed:
        fn = pt.functions.quarantineListed if kind == "quarantine_packs" else pt.functions.clearListedQuarantine
        chain.attempt(fn(made.draw(unit, by_lot)), custodian)
    else:
        fn = pt.functions.quarantinePacks if kind == "quarantine_packs" else pt.functions.clearPacksQuarantine
        chain.attempt(fn(*case), custodian)


def play(chain: Chain, lots: list[bytes], program, made: Program | None = None) -> Program:
    """Apply the program (after what `made` already holds, when given); return what it made."""
    pt = chain.pt
    made = made or Program(lots)
    units, pallets, leaves = made.units, made.pallets, made.leaves
    for op in program:
        kind = op[0]
        if kind in ("case", "cases"):
            lot_id = lots[op[2]]
            first = made.next_leaf[lot_id]
            per, n = (min(op[1], SERIALS - first), 1) if kind == "case" else (op[1], op[3])
            n = min(n, (SERIALS - first) // per) if per > 0 else 0
            if n <= 0:
                continue
            ssccs = [SSCC_BASE + next(RUNNING) for _ in range(n)]
            call = (pt.functions.packCase(ssccs[0], lot_id, first, per) if kind == "case"
                    else pt.functions.packCases(ssccs, lot_id, first, per))  # fmt: skip
            if chain.attempt(call, chain.maker):
                for k, sscc in enumerate(ssccs):
                    units.append(sscc_id(sscc))
                    leaves[units[-1]] = list(range(first + k * per, first + (k + 1) * per))
                    made.moved([(lot_id, i) for i in leaves[units[-1]]], units[-1])
                made.next_leaf[lot_id] += n * per
            continue
        if kind == "undo":
            if made.records:
                _undo(chain, made, op)
            continue
        if not units:
            continue
        if kind == "pallet":
            cases = list(dict.fromkeys(units[i % len(units)] for i in op[1]))
            packer = chain.info(cases[0])["custodian"]
            sscc = SSCC_BASE + next(RUNNING)
            if chain.attempt(pt.functions.packPallet(sscc, cases), packer):
                units.append(sscc_id(sscc))
                pallets.append(units[-1])
            continue
        if kind == "detach":
            if made.cage_of:
                tote = sorted(made.cage_of)[op[1] % len(made.cage_of)]
                cage = made.cage_of[tote]
                custodian = chain.info(cage)["custodian"]
                if chain.attempt(pt.functions.detachTote(made.cage_draw(cage, [(tote, {})])), custodian):
                    del made.cage_of[tote]
            continue
        pool = pallets if kind == "ship_pallet" and pallets else units
        unit = pool[op[1] % len(pool)]
        if kind in ("receive", "refuse", "accept") and not int(chain.info(unit)["recipient"], 16):
            # else among the units shipped on their own and not yet received
            pool = [u for u in units if int(chain.info(u)["recipient"], 16)] or units
            unit = pool[op[1] % len(pool)]
        if kind in ("tote", "loose", "return", "stolen", "dispense", "cage") and not made.contents(unit):
            pool = [u for u in units if made.contents(u)] or units  # else among the units that hold packs
            unit = pool[op[1] % len(pool)]
        if kind == "accept":  # a pending return, when there is one
            pool = [u for u in units if chain.info(u)["returnPending"]]
            unit = pool[op[1] % len(pool)] if pool else unit
        if kind in ("return", "dispense"):  # a pharmacy's, when there is one
            pharmacies = {chain.pharmacy.lower(), chain.pharmacy2.lower()}
            pool = [u for u in units if made.contents(u) and chain.holder(made, u).lower() in pharmacies]
            unit = pool[op[1] % len(pool)] if pool else unit
        info = chain.info(made.cage_of.get(unit, unit))  # a caged tote is reached through its cage
        custodian, recipient = info["custodian"], info["recipient"]
        if kind in ("ship", "ship_pallet"):
            chain.attempt(pt.functions.ship([unit], chain.recipients[op[2]]), custodian)
        elif kind == "deliver":
            to = chain.recipients[op[2]]
            if chain.attempt(pt.functions.ship([unit], to), custodian):
                chain.attempt(pt.functions.receiveShipment([unit]), to)
                chain.attempt(pt.functions.unpack([unit]), to)
        elif kind in ("receive", "refuse", "accept") and int(recipient, 16):
            fn = {"receive": pt.functions.receiveShipment, "refuse": pt.functions.refuseShipment}.get(kind)
            chain.attempt(fn([unit]) if fn else pt.functions.acceptReturn(unit), recipient)
        elif kind == "unpack":
            chain.attempt(pt.functions.unpack([unit]), custodian)
        elif kind in ("quarantine", "clear"):
            fn = pt.functions.quarantineUnit if kind == "quarantine" else pt.functions.clearUnitQuarantine
            chain.attempt(fn(unit), chain.regulator if op[2] else custodian)
        elif kind in ("quarantine_packs", "clear_packs", "dispense", "stolen") and made.contents(unit):
            _per_unit(chain, made, kind, unit, op, custodian)
        elif kind == "cage" and made.contents(unit):
            _cage(chain, made, unit, op, custodian)
        elif kind in ("tote", "loose", "return"):
            second = units[op[2] % len(units)] if kind == "tote" and op[2] is not None else None
            mask = op[3] if kind == "tote" else op[2]
            chosen = made.chosen([unit] + ([second] if second else []), mask)
            if not chosen:
                continue
            # a return goes to the sender of the source (the contract's rule), or to the maker: refused unless
            # it is the sender
            to = None
            if kind == "loose":
                to = chain.recipients[op[3] % 4]
            elif kind == "return":
                to = info["sender"] if op[3] else chain.maker
            if to is not None and not int(to, 16):
                continue
            built = _pick_calls(chain, made, kind, chosen, to)
            if built is None:
                continue
            call, picks, draws, taken, keys = built
            receipt = chain.attempt(call, custodian)
            if receipt is not None:
                for source, by_lot in taken.items():
                    made.take(source, by_lot)
                _made(chain, made, receipt, keys, picks, draws)
        elif kind == "readings":
            value = MAX_TEMP + 500 if op[2] else (MIN_TEMP + MAX_TEMP) // 2
            readings = pack_readings([value, value])
            sensor = b"\5" * 32
            by = custodian if not info["inTransit"] or not int(recipient, 16) else recipient
            chain.attempt(pt.functions.recordReadings(unit, sensor, 1_700_000_000, 60, readings), by)
    return made


def _account(value: bytes | None) -> str:
    return "0x" + (value or b"\0" * 20).hex()


KINDS = {"case": 1, "pallet": 2, "tote": 3, "consignment": 4}


def _not_there(chain: Chain, data: str) -> bool:
    """Whether revert data is one of the errors saying a pack is not in the container named (or the listing given
    is not the unit's)."""
    return any(data.startswith(error_data(chain.pt, name, *args)[:10])
               for name, args in (("PackNotInCase", (ZERO, ZERO, 0)), ("PackMoved", (ZERO, 0, ZERO)),
                                  ("UnitWrongKind", (ZERO, 0)), ("ListingMismatch", (ZERO,)),
                                  ("ListingShape", (ZERO,))))  # fmt: skip


def _in_container(conn, chain: Chain, container: bytes, lot_id: bytes, index: int, quarantined: bool) -> bool:
    """The contract's own check that the pack is in `container` now: its holder naming it through the container
    (quarantine, or clear when it is quarantined; a listed unit with the mirror's listing of it) passes the
    contract's checks. A caged tote (no word of its own): the pack is in the mirror's listing of it."""
    row = listings_db.current(conn, [container]).get(container)
    if row is not None and row.cage_id is not None:
        return any(g.lot_id == lot_id and index in g.indexes() for g in decode_listing(row.listing))
    holder = chain.info(container)["custodian"]
    if row is None:
        fn = chain.pt.functions.clearPacksQuarantine if quarantined else chain.pt.functions.quarantinePacks
        call = fn(container, lot_id, pack_set([index]), NO_PROOF)
    else:
        groups = decode_listing(row.listing)
        draw = (container, [g.as_abi() for g in groups], taken_sets(groups, lot_id, [index]))
        fn = chain.pt.functions.clearListedQuarantine if quarantined else chain.pt.functions.quarantineListed
        call = fn(draw)
    try:
        call.call({"from": holder})
    except ContractCustomError as e:
        return not _not_there(chain, e.data)
    return True


def _listings_match(conn, chain: Chain, made: Program) -> None:
    """The mirror's listing of every listed unit and roll cage hashes to the contract's listingOf (a caged tote has
    no word of its own: its hash is in its cage's), and is the listing the example's calls passed."""
    ids = [*made.listing, *made.cage_totes]
    mirrored = listings_db.current(conn, ids)
    for unit in ids:
        onchain = bytes(chain.pt.functions.listingOf(unit).call())
        row = mirrored[unit]
        if unit in made.cage_of:
            assert row.cage_id == made.cage_of[unit] and onchain == ZERO, unit.hex()
        else:
            assert row.cage_id is None and row.listing_hash == onchain, unit.hex()
        if unit in made.listing:
            assert decode_listing(row.listing) == tuple(made.listing[unit]), unit.hex()
        else:
            assert decode_cage(row.listing) == (tuple(made.cage_totes[unit]), tuple(made.hashes(unit))), unit.hex()


def compare(conn, chain: Chain, made: Program) -> set[tuple]:
    """Assert the fold equals the contract for every unit and pack; return the unit states seen."""
    seen = set()
    units = made.units
    _listings_match(conn, chain, made)
    for unit_id in units:
        mine = custody.unit_state(conn, unit_id)
        assert mine is not None, unit_id.hex()
        if unit_id in made.cage_of:  # a caged tote: no word of its own, custodied and opened with its cage
            cage = chain.info(made.cage_of[unit_id])
            assert (mine.kind, _account(mine.custodian), mine.in_transit, mine.unpacked) == (
                "tote", cage["custodian"].lower(), cage["inTransit"], cage["unpacked"]), unit_id.hex()  # fmt: skip
            assert mine.container == (None if cage["unpacked"] else made.cage_of[unit_id])
            seen.add(("caged", mine.in_transit, mine.quarantined, mine.unpacked, mine.container is not None, False))
            continue
        onchain = chain.info(unit_id)
        got = {
            "kind": KINDS[mine.kind],
            "custodian": _account(mine.custodian),
            "recipient": _account(mine.recipient),
            "container": mine.container or ZERO,
            "inTransit": mine.in_transit,
            "quarantined": mine.quarantined,
            "excursion": mine.excursion,
            "unpacked": mine.unpacked,
            "lotId": mine.lot_id or ZERO,
            "returnPending": mine.return_pending,
        }
        if not mine.in_transit:  # the contract's sender slot means "who shipped it here" only at rest
            got["sender"] = _account(mine.sender)
        want = {k: v.lower() if isinstance(v, str) else v for k, v in onchain.items() if k in got}
        assert got == want, f"unit {unit_id.hex()}: fold {got} != contract {want}"
        # what the contract cannot show, checked against what it does show
        assert mine.custodian in mine.holders
        if mine.in_transit:
            moving = chain.info(mine.container) if mine.container else onchain
            assert _account(mine.destination) == moving["recipient"].lower()
        else:
            assert mine.destination is None
        assert mine.container_quarantined == bool(mine.container and chain.info(mine.container)["quarantined"])
        seen.add((mine.kind, mine.in_transit, mine.quarantined, mine.unpacked, mine.container is not None,
                  mine.excursion))  # fmt: skip
    # the batch fold (provenance) gives each unit the same state as the fold of that unit alone
    assert custody.fold_many(units, mirror.custody_events_of(conn, units)) == {
        u: custody.unit_state(conn, u) for u in units
    }
    for lot_id in made.lots:
        states, views = chain.pack_states(lot_id), chain.packs(lot_id)
        for index, (allocated, dispensed, destroyed, quarantined) in enumerate(states):
            rows = mirror.pack_events(conn, lot_id, index)
            mine = custody.pack_state(rows)
            assert (mine.allocated, mine.dispensed, mine.destroyed, mine.quarantined) == (
                allocated,
                dispensed,
                destroyed,
                quarantined,
            ), f"pack {index}"
            view = views[index]
            assert (mine.moved, mine.stolen, mine.dispensed) == (view["moved"], view["stolen"], view["dispensed"])
            assert mine.stolen == ((lot_id, index) in made.stolen), f"pack {index}"
            assert mine.container == made.where.get((lot_id, index)), f"pack {index}"
            if mine.container is None:
                assert custody.pack_custody(conn, rows) is None
                continue
            assert _in_container(conn, chain, mine.container, lot_id, index, quarantined), f"pack {index}"
            # the pack's custody is its container's (a caged tote's: its cage's), with the path of every container
            # that carried it
            followed = custody.pack_custody(conn, rows)
            held = custody.unit_state(conn, mine.container)
            assert (followed.custodian, followed.in_transit, followed.return_pending, followed.unit_id) == (
                held.custodian, held.in_transit, held.return_pending, mine.container)  # fmt: skip
            assert _account(followed.custodian) == chain.holder(made, mine.container).lower(), f"pack {index}"
            route = custody.legs(rows)
            assert [leg.container for leg in route][-1] == mine.container
            assert {s.unit for s in followed.path} >= {leg.container for leg in route}
            assert followed.custodian in followed.holders
    return seen


@pytest.fixture
def rig(w3, anvil, chain_snapshot, deployment, pharmatrack, database_url):
    chain = Chain(w3, pharmatrack)
    db = Database(database_url, maxconn=1)
    indexer = Indexer.for_deployment(db, ChainClient(anvil.rpc_url), deployment)
    yield chain, db, indexer
    db.close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=PROGRAMS)
def test_the_fold_equals_the_contract_on_random_supply_chains(rig, program):
    chain, db, indexer = rig
    made = play(chain, [chain.new_lot(), chain.new_lot()], program)
    indexer.run_until_caught_up()
    with db.connection() as conn:
        compare(conn, chain, made)


def test_the_random_chains_reach_the_interesting_states(rig):
    """The generator is not vacuous: a fixed program through the same code reaches every state the
    property relies on (a case on a closed pallet in transit, unpacked pallets, quarantines, excursions)."""
    chain, db, indexer = rig
    program = [
        ("case", 4, 0), ("case", 4, 0), ("case", 4, 0), ("pallet", [0, 1]), ("ship", 3, 1),  # pallet to the distributor
        ("ship", 2, 2), ("refuse", 2), ("quarantine", 2, True), ("readings", 3, True),
        ("receive", 3), ("unpack", 3), ("ship", 0, 2), ("quarantine_packs", 1, 3), ("case", 2, 0),
        ("pallet", [4]), ("ship", 5, 3), ("quarantine", 5, True),
    ]  # fmt: skip
    made = play(chain, [chain.new_lot()], program)
    units = made.units
    indexer.run_until_caught_up()
    with db.connection() as conn:
        seen = compare(conn, chain, made)
        states = {(k, t, q, u, c) for k, t, q, u, c, _ in seen}
        assert ("case", True, False, False, True) in states  # a case on a closed pallet in transit
        assert ("case", True, False, False, False) in states  # a case in transit on its own
        assert ("pallet", False, False, True, False) in states  # an unpacked pallet
        assert ("case", False, True, False, False) in states  # a refused, quarantined case
        assert ("pallet", True, True, False, False) in states  # a quarantined pallet in transit
        assert any(e for *_, e in seen)  # an excursion
        case_on_pallet = custody.unit_state(conn, units[4])  # the case on the quarantined pallet in transit
        assert case_on_pallet.container_quarantined and case_on_pallet.held_quarantined
        assert not case_on_pallet.quarantined
    assert chain.skipped == 0, "every step of the fixed program is valid on chain"


def test_the_random_chains_reach_the_distribution_states(rig):
    """The same for issue 14's moves (docs/gas-redesign.md): a mixed tote of two lots from opened cases, on to a
    pharmacy; a dispense (dispenseDay) undone (undoDispenseDay); a return accepted; loose packs shipped; a return
    refused; a pack reported stolen; run cases packed in one call (packCases), one opened and picked into two totes
    riding on a roll cage with the other (packCageListed), the cage at a pharmacy, a dispense and a return out of a
    caged tote (returnCaged), a tote detached; a return left pending. One return to a party that never shipped
    the packs is refused by the contract (skipped)."""
    chain, db, indexer = rig
    program = [
        ("case", 4, 0), ("case", 4, 1), ("pallet", [0, 1]), ("ship", 2, 1), ("receive", 2),  # 0 A, 1 B, 2 pallet
        ("unpack", 2), ("unpack", 0), ("unpack", 1),
        ("tote", 0, 1, 0b01010101),  # 3: A0 A2 B0 B2, by the distributor
        ("ship", 3, 2), ("receive", 3), ("unpack", 3),  # at the pharmacy
        ("dispense", 3, 1), ("undo", 0, 1),
        ("return", 3, 0b10, True), ("accept", 4),  # 4: a return accepted by the distributor
        ("loose", 1, 0b1, 3), ("receive", 5),  # 5: loose packs of B to pharmacy2
        ("return", 5, 0b1, False),  # to the maker, who never shipped them: refused by the contract
        ("return", 5, 0b1, True), ("refuse", 6),  # 6: a return refused by the distributor
        ("stolen", 3, 0b1),
        ("cases", 4, 0, 2), ("unpack", 7),  # 7, 8: the maker's run cases of lot A in one call; 7 opened
        ("cage", 7, 0b1111, 0),  # 9, 10: totes of case 7's packs on 11, a roll cage with case 8
        ("ship", 11, 2), ("receive", 11), ("unpack", 11),  # the cage at the pharmacy, its totes opened
        ("dispense", 9, 0b1),  # out of a caged tote
        ("return", 9, 0b1, True),  # 12: out of a caged tote, to the maker (returnCaged)
        ("detach", 1),  # a tote gets its own word
        ("return", 3, 0b1, True),  # 13: a return left pending
    ]  # fmt: skip
    made = play(chain, [chain.new_lot(), chain.new_lot()], program)
    indexer.run_until_caught_up()
    with db.connection() as conn:
        seen = compare(conn, chain, made)
        states = {(k, t, q, u, c) for k, t, q, u, c, _ in seen}
        assert ("tote", False, False, True, False) in states  # an opened tote at the pharmacy
        assert ("caged", False, False, True, False) in states  # a caged tote opened with its cage
        assert ("consignment", False, False, True, False) in states  # a received or accepted consignment
        assert ("consignment", True, False, False, False) in states  # a return in transit
        units = made.units
        assert [custody.unit_state(conn, u).kind for u in units] == [
            "case", "case", "pallet", "tote", "consignment", "consignment", "consignment", "case", "case", "tote",
            "tote", "pallet", "consignment", "consignment"]  # fmt: skip
        assert custody.unit_state(conn, units[13]).return_pending
        assert made.stolen and chain.skipped == 1
        undone = [i for lot in made.lots for i in range(SERIALS)
                  if custody.pack_state(mirror.pack_events(conn, lot, i)).undone]  # fmt: skip
        assert undone
        accepted = custody.unit_state(conn, units[4])
        assert accepted.custodian == bytes.fromhex(chain.distributor[2:].lower()) and not accepted.return_pending
        assert len(made.cage_of) == 1 and made.calls  # one tote detached; dispenseDay calls chained


def test_a_tote_detached_from_its_closed_cage_stays_closed_when_the_cage_is_unpacked(rig):
    """Found by the property test: a tote detached (its own word) while its roll cage is closed is, like a case on a
    pallet, released closed when the cage is unpacked; the one still riding on the cage is opened with it."""
    chain, db, indexer = rig
    program = [
        ("cases", 4, 0, 2), ("unpack", 0),  # 0, 1: the maker's run cases; 0 opened
        ("cage", 0, 0b1111, 0),  # 2, 3: totes of case 0's packs on 4, a roll cage with case 1
        ("detach", 0),  # one tote gets its own word while the cage is closed
        ("ship", 4, 2), ("receive", 4), ("unpack", 4),  # the cage at the pharmacy, unpacked
    ]  # fmt: skip
    made = play(chain, [chain.new_lot()], program)
    indexer.run_until_caught_up()
    units = made.units
    detached = [u for u in units[2:4] if u not in made.cage_of]
    caged = [u for u in units[2:4] if u in made.cage_of]
    assert len(detached) == 1 and len(caged) == 1 and chain.skipped == 0
    assert not chain.info(detached[0])["unpacked"]  # the contract: released closed
    with db.connection() as conn:
        compare(conn, chain, made)
        assert not custody.unit_state(conn, detached[0]).unpacked
        assert custody.unit_state(conn, caged[0]).unpacked
