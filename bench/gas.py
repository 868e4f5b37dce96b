"""`make bench-gas`: the reference lifecycle on a fresh anvil, gas per operation, against a naive baseline.

Scenario (issue 3): one lot of 10,000 packs, 100 packs per case, 10 cases per pallet. The manufacturer commissions
the lot, packs 100 cases and 10 pallets and ships the pallets to a distributor; the distributor receives and unpacks
them and ships 10 cases to each of 10 pharmacies; each pharmacy receives, opens its cases and dispenses every pack
in batches of 50. Every leg carries 10 temperature readings per pallet and per case: leg 1 records the 10 pallets
and the 100 cases riding on them, leg 2 the 100 cases.

Batching is what a relayer does (DESIGN.md §3: one transaction per signing organisation and action): a shipment is
one ``ship``/``receiveShipment`` call, same-action calls of one party go through ``multicall`` (10 cases packed per
transaction), and a dispense batch of 50 packs is one transaction.

N = gas of every scenario transaction / 10,000. Setup (deployment, organisations, the product) is one-off and
shown apart. M = the same scenario on ``bench/contracts/NaiveCustody.sol`` (one record per serial, one
transaction per pack per step, readings in storage), measured in the same run on a sample and scaled linearly.

R = the realistic lifecycle of issue 14 (``run_realistic``), on the same node and contract: 10,000 packs of 4 lots
commissioned in 20 batches; cases of 100 on pallets of 10 to a distributor; half the packs each-picked into mixed
totes of 20-40 packs (picked by order line: a tote holds one to three lots) for 25 pharmacies, the other half in whole cases (2 per
pharmacy); 2% (8 packs per pharmacy) returned to the distributor and accepted back into its stock; the rest
dispensed in daily batches (5 days, one multicall per pharmacy and day); 10 temperature readings per logger on every
leg, one logger per unit that travels on its own (the pallets to the distributor: the cases ride on them and verify
counts a pallet's excursion for every case on it; the roll cage of totes and cases to each pharmacy; the returns
back).
A pharmacy's delivery is a roll cage (an SSCC packed with `packPallet`) carrying its totes and cases under one logger;
it unpacks the cage and opens only the tote it returns packs from (dispensing needs no opening). Batching is the
relayer's again: one transaction per organisation and action (a pharmacy's totes are picked in one multicall).
R = its gas / 10,000 packs, setup (deployment, organisations, products) apart.

Run: ``.venv/bin/python -m bench.gas``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from eth_abi import encode as abi_encode
from web3 import Web3

from app.chain.anvil import AnvilNode, free_port
from app.chain.compiler import compile_contracts, load_artifacts
from app.chain.web3factory import make_web3
from app.ids import gln_number, lgtin_id, pack_readings, pack_set, sgtin_id, sscc_id
from app.merkle import LOT_LEAF, CaseTree, LotTree, Tree

ROOT = Path(__file__).resolve().parents[1]
NAIVE_SOURCES = ROOT / "bench" / "contracts"
NAIVE_BUILD = ROOT / "build" / "bench"

PACKS = 10_000
PER_CASE = 100
CASES_PER_PALLET = 10
PHARMACIES = 10
DISPENSE_BATCH = 50
READINGS_PER_UNIT = 10
CASES_PER_PACK_TX = 10

GTIN = "09506000134352"
LOT = "L2025-042"
MIN_TEMP, MAX_TEMP = 200, 800  # +2..+8 °C
CASE_SSCC_BASE = 106141410000000000
PALLET_SSCC_BASE = 106141419000000000
READING_INTERVAL = 600

NAIVE_SAMPLE_PACKS = 100
NAIVE_SAMPLE_READINGS = 20

MANUFACTURER_ROLE = Web3.keccak(text="MANUFACTURER_ROLE")
DISTRIBUTOR_ROLE = Web3.keccak(text="DISTRIBUTOR_ROLE")
DISPENSER_ROLE = Web3.keccak(text="DISPENSER_ROLE")


@dataclass
class Ledger:
    """Gas used per operation, in the order operations first appear; `calls` counts contract calls (a multicall
    transaction makes several)."""

    txs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    gas: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, op: str, gas_used: int, calls: int = 1) -> None:
        self.txs[op] += 1
        self.gas[op] += gas_used
        self.calls[op] += calls

    @property
    def total(self) -> int:
        return sum(self.gas.values())


def send(w3: Web3, call, sender: str, ledger: Ledger | None = None, op: str = "", calls: int = 1) -> int:
    tx = call.transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    if receipt.status != 1:
        raise RuntimeError(f"{op or 'setup'} transaction failed: {tx.hex()}")
    if ledger is not None:
        ledger.add(op, receipt.gasUsed, calls)
    return receipt.gasUsed


def deploy(w3: Web3, artifact, *args, sender: str):
    tx = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(*args).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    if receipt.status != 1:
        raise RuntimeError(f"deploying {artifact.name} failed")
    return w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi), receipt.gasUsed


def deploy_pharmatrack(w3: Web3, artifacts, admin: str):
    """PharmaTrack as the service deploys it (app/chain/deploy.py): its PharmaTrackListed, then PharmaTrack given
    that address; returns the contract and the gas of both."""
    listed, gas = deploy(w3, artifacts["PharmaTrackListed"], sender=admin)
    pt, more = deploy(w3, artifacts["PharmaTrack"], admin, listed.address, sender=admin)
    return pt, gas + more


def readings_for(seed: int) -> bytes:
    """Ten plausible in-range logger readings (centi-degrees)."""
    return pack_readings([450 + ((seed * 37 + i * 11) % 200) for i in range(READINGS_PER_UNIT)])


def run_pharmatrack(w3: Web3, artifacts) -> tuple[Ledger, dict[str, int]]:
    accounts = w3.eth.accounts
    admin, maker, distributor = accounts[0], accounts[1], accounts[2]
    pharmacies = accounts[3 : 3 + PHARMACIES]
    setup: dict[str, int] = {}
    pt, setup["deploy PharmaTrack"] = deploy_pharmatrack(w3, artifacts, admin)

    parties = [(maker, [MANUFACTURER_ROLE]), (distributor, [DISTRIBUTOR_ROLE])] + [
        (p, [DISPENSER_ROLE]) for p in pharmacies
    ]
    setup["register organisations"] = sum(
        send(w3, pt.functions.registerOrganisation(acct, gln_number(f"{9506000000000 + i}"), roles), admin)
        for i, (acct, roles) in enumerate(parties)
    )
    setup["register product"] = send(w3, pt.functions.registerProduct(int(GTIN), MIN_TEMP, MAX_TEMP), maker)

    sgtins = [sgtin_id(GTIN, f"S{i:09d}") for i in range(PACKS)]
    lot_tree = LotTree(sgtins)
    lot_id = lgtin_id(GTIN, LOT)
    cases = PACKS // PER_CASE
    case_ids = [sscc_id(CASE_SSCC_BASE + c) for c in range(cases)]
    pallets = cases // CASES_PER_PALLET
    pallet_ids = [sscc_id(PALLET_SSCC_BASE + p) for p in range(pallets)]
    pallet_cases = [case_ids[p * CASES_PER_PALLET : (p + 1) * CASES_PER_PALLET] for p in range(pallets)]
    expiry = w3.eth.get_block("latest").timestamp + 2 * 365 * 86400
    ledger = Ledger()

    def multicall(calls: list[tuple[str, list]], sender: str, op: str) -> None:
        data = [pt.encode_abi(name, args=args) for name, args in calls]
        send(w3, pt.functions.multicall(data), sender, ledger, op)

    def record(units: list[bytes], recorder: str, leg: int, op: str) -> None:
        start = w3.eth.get_block("latest").timestamp - READINGS_PER_UNIT * READING_INTERVAL
        calls = [
            ("recordReadings", [u, u[:16].rjust(32, b"\0"), start, READING_INTERVAL, readings_for(leg * 1000 + k)])
            for k, u in enumerate(units)
        ]
        multicall(calls, recorder, op)

    # Manufacturer
    send(w3, pt.functions.commissionLot(int(GTIN), LOT, expiry, PACKS, lot_tree.root), maker, ledger, "commissionLot")
    for first in range(0, cases, CASES_PER_PACK_TX):
        batch = range(first, first + CASES_PER_PACK_TX)
        calls = [("packCase", [CASE_SSCC_BASE + c, lot_id, c * PER_CASE, PER_CASE]) for c in batch]
        multicall(calls, maker, "packCase")
    multicall([("packPallet", [PALLET_SSCC_BASE + p, pallet_cases[p]]) for p in range(pallets)], maker, "packPallet")
    send(w3, pt.functions.ship(pallet_ids, distributor), maker, ledger, "ship pallets")

    # Distributor: leg-1 loggers read on arrival, then receipt
    record(pallet_ids, distributor, 1, "readings leg 1 (pallets)")
    record(case_ids, distributor, 1, "readings leg 1 (cases)")
    send(w3, pt.functions.receiveShipment(pallet_ids), distributor, ledger, "receive pallets")
    send(w3, pt.functions.unpack(pallet_ids), distributor, ledger, "unpack pallets")
    for j, pharmacy in enumerate(pharmacies):
        send(w3, pt.functions.ship(pallet_cases[j], pharmacy), distributor, ledger, "ship cases")

    # Pharmacies
    for j, pharmacy in enumerate(pharmacies):
        record(pallet_cases[j], pharmacy, 2, "readings leg 2 (cases)")
        send(w3, pt.functions.receiveShipment(pallet_cases[j]), pharmacy, ledger, "receive cases")
        send(w3, pt.functions.unpack(pallet_cases[j]), pharmacy, ledger, "open cases")
        for c in range(j * CASES_PER_PALLET, (j + 1) * CASES_PER_PALLET):
            for first in range(c * PER_CASE, (c + 1) * PER_CASE, DISPENSE_BATCH):
                packs = pack_set(range(first, first + DISPENSE_BATCH))
                call = pt.functions.dispenseDay([(case_ids[c], lot_id, packs, ([], []))], [], [])
                send(w3, call, pharmacy, ledger, "dispense (50/tx)")

    assert pt.functions.packState(lot_id, PACKS - 1).call() == [True, True, False, False]
    setup.update(tree_case_path(w3, pt, maker, pharmacies[0], expiry))
    return ledger, setup


def tree_case_path(w3: Web3, pt, maker: str, pharmacy: str, expiry: int) -> dict[str, int]:
    """The general path, for comparison (not in N): a case committed by the Merkle root of 100 scattered packs,
    and 50 of them dispensed with one OpenZeppelin multiproof."""
    sgtins = [sgtin_id(GTIN, f"T{i:09d}") for i in range(2 * PER_CASE)]
    lot_id = lgtin_id(GTIN, "TREE-1")
    send(w3, pt.functions.commissionLot(int(GTIN), "TREE-1", expiry, len(sgtins), LotTree(sgtins).root), maker)
    tree = CaseTree(lot_id, range(0, 2 * PER_CASE, 2))  # every other pack: not a run
    sscc = CASE_SSCC_BASE + 10_000
    gas = {"tree case: packCaseTree (100 packs)": send(w3, pt.functions.packCaseTree(sscc, lot_id, tree.packs), maker)}
    send(w3, pt.functions.ship([sscc_id(sscc)], pharmacy), maker)
    send(w3, pt.functions.receiveShipment([sscc_id(sscc)]), pharmacy)
    packs, multiproof = tree.children_proof(tree.indexes[:DISPENSE_BATCH])
    call = pt.functions.dispenseDay([(sscc_id(sscc), lot_id, packs, multiproof)], [], [])
    gas["tree case: dispense 50 with a multiproof"] = send(w3, call, pharmacy)
    return gas


# ---------------------------------------------------------------------------- the realistic lifecycle (issue 14)

R_GTINS = ("09506000134352", "09506000134369", "09506000134376", "09506000134383")  # one lot each
R_PER_LOT = PACKS // len(R_GTINS)  # 2,500
R_BATCHES_PER_LOT = 5  # 20 commissioning batches of 500
R_PHARMACIES = 25
R_WHOLE_PER_LOT = (12, 12, 13, 13)  # 50 whole cases (2 a pharmacy): half the packs; the other 50 are each-picked
R_TOTE_SIZES = (20, 30, 40, 25, 35, 30, 20)  # 200 packs a pharmacy, in totes of 20-40
R_RETURNED_PER_PHARMACY = 8  # 200 packs: 2%
R_DAYS = 5
R_TOTE_SSCC_BASE = 106141418000000000
R_PALLET_SSCC_BASE = 106141419500000000
R_CAGE_SSCC_BASE = 106141419600000000

Pick = tuple[bytes, bytes, int]  # (source case, lot id, leaf index)
Listing = list[list]  # a listed unit's groups, each [source, lotId, firstWord, masks]


def _listing(picks: list[Pick]) -> Listing:
    """The listing of a tote picked as `picks`: one group per source case and lot, in first-seen order."""
    by_key: dict[tuple[bytes, bytes], list[int]] = {}
    for source, lot_id, index in picks:
        by_key.setdefault((source, lot_id), []).append(index)
    return [[source, lot_id, *pack_set(indexes)] for (source, lot_id), indexes in by_key.items()]


def _as_listed(listing: Listing) -> list[tuple]:
    return [(source, lot_id, (first, list(masks))) for source, lot_id, first, masks in listing]


def listing_hash(listing: Listing) -> bytes:
    """keccak256(abi.encode(Listed[])): a listed unit's word."""
    return Web3.keccak(abi_encode(["(bytes32,bytes32,(uint32,uint256[]))[]"], [_as_listed(listing)]))


def _draw(tote: bytes, listing: Listing, picks: list[Pick]) -> tuple:
    """The ToteDraw of `picks` (source case, lot, index) out of `tote`, and the listing's rest (taken bits cleared)."""
    taken = []
    rest = [[s, lot, first, list(masks)] for s, lot, first, masks in listing]
    for group in rest:
        source, lot_id, first, masks = group
        mine = [i for s, lot, i in picks if s == source and lot == lot_id]
        ps = pack_set(mine) if mine else (0, [])
        taken.append(ps)
        for k, mask in enumerate(ps[1]):
            masks[ps[0] - first + k] &= ~mask
    return (tote, _as_listed(listing), taken), rest


def run_realistic(w3: Web3, artifacts) -> tuple[Ledger, dict[str, int]]:
    """Issue 14's lifecycle (see the module docstring) on a fresh PharmaTrack; returns its ledger and setup gas."""
    accounts = w3.eth.accounts
    admin, maker, distributor = accounts[0], accounts[1], accounts[2]
    pharmacies = accounts[3 : 3 + R_PHARMACIES]
    setup: dict[str, int] = {}
    pt, setup["deploy PharmaTrack"] = deploy_pharmatrack(w3, artifacts, admin)
    parties = [(maker, [MANUFACTURER_ROLE]), (distributor, [DISTRIBUTOR_ROLE])] + [
        (p, [DISPENSER_ROLE]) for p in pharmacies
    ]
    setup["register organisations"] = sum(
        send(w3, pt.functions.registerOrganisation(acct, gln_number(f"{9506000000000 + i}"), roles), admin)
        for i, (acct, roles) in enumerate(parties)
    )
    setup["register products"] = sum(
        send(w3, pt.functions.registerProduct(int(g), MIN_TEMP, MAX_TEMP), maker) for g in R_GTINS
    )
    ledger = Ledger()

    def multicall(calls: list[tuple[str, list]], sender: str, op: str) -> None:
        data = [pt.encode_abi(name, args=args) for name, args in calls]
        send(w3, pt.functions.multicall(data), sender, ledger, op, calls=len(calls))

    def record(units: list[bytes], recorder: str, leg: int, op: str) -> None:
        start = w3.eth.get_block("latest").timestamp - READINGS_PER_UNIT * READING_INTERVAL
        calls = [
            ("recordReadings", [u, u[:16].rjust(32, b"\0"), start, READING_INTERVAL, readings_for(leg * 1000 + k)])
            for k, u in enumerate(units)
        ]
        multicall(calls, recorder, op)

    # Manufacturer: 4 lots declared, commissioned in 20 batches over the shift, cased (a lot's run cases per call),
    # palletised, shipped
    expiry = w3.eth.get_block("latest").timestamp + 2 * 365 * 86400
    lot_ids = [lgtin_id(g, "R2025-1") for g in R_GTINS]
    multicall([("openLot", [int(g), "R2025-1", expiry, R_PER_LOT]) for g in R_GTINS], maker, "openLot (4 lots)")
    size = R_PER_LOT // R_BATCHES_PER_LOT
    for b in range(R_BATCHES_PER_LOT):
        for lot, gtin in enumerate(R_GTINS):
            first = b * size
            leaves = [(first + i, sgtin_id(gtin, f"R{lot}{first + i:08d}")) for i in range(size)]
            call = pt.functions.commissionBatch(lot_ids[lot], first, size, Tree(leaves, LOT_LEAF).root)
            send(w3, call, maker, ledger, "commissionBatch (500/tx)")
    cases = [(lot, first) for lot in range(len(R_GTINS)) for first in range(0, R_PER_LOT, PER_CASE)]
    case_ids = [sscc_id(CASE_SSCC_BASE + c) for c in range(len(cases))]
    for lot in range(len(R_GTINS)):
        mine = [c for c in range(len(cases)) if cases[c][0] == lot]
        call = pt.functions.packCases([CASE_SSCC_BASE + c for c in mine], lot_ids[lot], cases[mine[0]][1], PER_CASE)
        send(w3, call, maker, ledger, "packCases (a lot's 25/tx)")
    pallet_ids = [sscc_id(R_PALLET_SSCC_BASE + p) for p in range(len(cases) // CASES_PER_PALLET)]
    pallets = [
        ("packPallet", [R_PALLET_SSCC_BASE + p, case_ids[p * CASES_PER_PALLET : (p + 1) * CASES_PER_PALLET]])
        for p in range(len(pallet_ids))
    ]
    multicall(pallets, maker, "packPallet")
    send(w3, pt.functions.ship(pallet_ids, distributor), maker, ledger, "ship pallets")

    # Distributor: leg-1 readings (one logger per pallet: its cases ride on it), receipt, pallets unpacked; half the
    # cases opened for each-picking
    record(pallet_ids, distributor, 1, "readings leg 1 (pallets)")
    send(w3, pt.functions.receiveShipment(pallet_ids), distributor, ledger, "receive pallets")
    send(w3, pt.functions.unpack(pallet_ids), distributor, ledger, "unpack pallets")
    whole: list[int] = []
    opened: list[int] = []
    for lot in range(len(R_GTINS)):
        of_lot = [c for c in range(len(cases)) if cases[c][0] == lot]
        whole += of_lot[: R_WHOLE_PER_LOT[lot]]
        opened += of_lot[R_WHOLE_PER_LOT[lot] :]
    send(w3, pt.functions.unpack([case_ids[c] for c in opened]), distributor, ledger, "open cases to pick")
    queues: list[list[Pick]] = [[] for _ in R_GTINS]  # per lot, the packs to pick, in shelf order
    for c in opened:
        lot, first = cases[c]
        queues[lot] += [(case_ids[c], lot_ids[lot], i) for i in range(first, first + PER_CASE)]
    assert sum(len(q) for q in queues) == PACKS // 2

    # Each-picking (pick-to-tote): a pharmacy's order is 50 packs of each lot; the picker walks its order lines and
    # fills totes of 20-40 in turn, so a tote closes in the middle of a line and the next starts with its rest (a
    # tote holds one to three lots). A pharmacy's delivery, its totes and 2 whole cases on a roll cage (a pallet
    # unit, one logger), is made in one packCageListed call: the totes ride in the cage's listing.
    per_line = (PACKS // 2) // R_PHARMACIES // len(R_GTINS)
    whole_of = [[case_ids[c] for c in whole[j * 2 : j * 2 + 2]] for j in range(R_PHARMACIES)]
    cages = [sscc_id(R_CAGE_SSCC_BASE + j) for j in range(R_PHARMACIES)]
    totes_of: list[list[bytes]] = []
    in_tote: dict[bytes, list[Pick]] = {}  # what is still in each tote, by source case
    listing_of: dict[bytes, Listing] = {}
    hashes_of: list[list[bytes]] = []  # per cage, its totes' listing hashes
    sscc = R_TOTE_SSCC_BASE
    for j in range(R_PHARMACIES):
        order: list[Pick] = []
        for queue in queues:
            order += queue[:per_line]
            del queue[:per_line]
        for queue in queues:  # a line short of stock is made up from another lot's
            while len(order) < sum(R_TOTE_SIZES) and queue:
                order.append(queue.pop(0))
        ssccs, listings, mine = [], [], []
        for tote_size in R_TOTE_SIZES:
            picks, order = order[:tote_size], order[tote_size:]
            tote = sscc_id(sscc)
            ssccs.append(sscc)
            listing_of[tote] = _listing(picks)
            listings.append(_as_listed(listing_of[tote]))
            in_tote[tote] = picks
            mine.append(tote)
            sscc += 1
        call = pt.functions.packCageListed((R_CAGE_SSCC_BASE + j, ssccs, listings, whole_of[j]))
        send(w3, call, distributor, ledger, "packCageListed (7 totes+2 cases/tx)")
        totes_of.append(mine)
        hashes_of.append([listing_hash(listing_of[t]) for t in mine])
    assert pt.functions.listingOf(cages[0]).call() == Web3.keccak(
        abi_encode(["bytes32[]", "bytes32[]"], [totes_of[0], hashes_of[0]])
    )
    multicall(
        [("ship", [[cages[j]], pharmacy]) for j, pharmacy in enumerate(pharmacies)],
        distributor,
        "ship roll cages (1 multicall)",
    )

    # Pharmacies: leg-2 readings, receipt, the cage unpacked (its totes count as opened)
    for j, pharmacy in enumerate(pharmacies):
        record([cages[j]], pharmacy, 2, "readings leg 2 (roll cages)")
        send(w3, pt.functions.receiveShipment([cages[j]]), pharmacy, ledger, "receive roll cages")
        send(w3, pt.functions.unpack([cages[j]]), pharmacy, ledger, "unpack roll cage")

    # Returns: 8 packs of each pharmacy's first tote back to the distributor, accepted into its stock
    returns = []
    for j, pharmacy in enumerate(pharmacies):
        tote = totes_of[j][0]
        back, in_tote[tote] = in_tote[tote][:R_RETURNED_PER_PHARMACY], in_tote[tote][R_RETURNED_PER_PHARMACY:]
        draw, listing_of[tote] = _draw(tote, listing_of[tote], back)
        call = pt.functions.returnCaged((cages[j], totes_of[j], list(hashes_of[j]), [0], [draw]), distributor)
        hashes_of[j][0] = listing_hash(listing_of[tote])
        returns.append(call.call({"from": pharmacy}))
        send(w3, call, pharmacy, ledger, "returnCaged")
    assert pt.functions.listingOf(totes_of[0][0]).call() == b"\0" * 32  # a caged tote has no word of its own
    record(returns, distributor, 3, "readings leg 3 (returns)")
    multicall([("acceptReturn", [r]) for r in returns], distributor, "acceptReturn")

    # Dispensing: the rest, in daily batches: one dispenseDay call per pharmacy and day, over its cases (by a
    # CaseDraw) and its totes (one CageDraw: the cage's listing once, a draw per tote drawn from). Dispensed packs stay
    # listed (their inactive bit stops them), so the listings do not change.
    stock_of = []
    for j in range(R_PHARMACIES):
        stock = [(t, p) for t in totes_of[j] for p in in_tote[t]]
        for case in whole_of[j]:
            lot, first = cases[case_ids.index(case)]
            stock += [(case, (case, lot_ids[lot], i)) for i in range(first, first + PER_CASE)]
        stock_of.append(stock)
    dispensed = 0
    for day in range(R_DAYS):
        for j, pharmacy in enumerate(pharmacies):
            share = len(stock_of[j]) // R_DAYS
            today = stock_of[j][day * share : (day + 1) * share if day < R_DAYS - 1 else None]
            dispensed += len(today)
            totes = [t for t in totes_of[j] if any(at == t for at, _ in today)]
            draws = [_draw(t, listing_of[t], [p for at, p in today if at == t])[0] for t in totes]
            by_case: dict[bytes, list[int]] = {}
            for at, (_, _, i) in today:
                if at in whole_of[j]:
                    by_case.setdefault(at, []).append(i)
            case_draws = [
                (c, lot_ids[cases[case_ids.index(c)][0]], pack_set(ix), ([], [])) for c, ix in by_case.items()
            ]
            caged = [(cages[j], totes_of[j], list(hashes_of[j]), [totes_of[j].index(t) for t in totes], draws)]
            call = pt.functions.dispenseDay(case_draws, [], caged if totes else [])
            send(w3, call, pharmacy, ledger, "dispenseDay (1/pharmacy/day)")
        w3.provider.make_request("evm_increaseTime", [86400])
        w3.provider.make_request("evm_mine", [])
    assert dispensed == PACKS - R_PHARMACIES * R_RETURNED_PER_PHARMACY
    last_case, last_lot = whole_of[-1][-1], cases[case_ids.index(whole_of[-1][-1])]
    assert pt.functions.pack(lot_ids[last_lot[0]], last_lot[1]).call()[4] is True, last_case  # dispensed
    return ledger, setup


def run_naive(w3: Web3, artifact) -> tuple[Ledger, list[str]]:
    """The naive contract on a sample: NAIVE_SAMPLE_PACKS packs through every step, NAIVE_SAMPLE_READINGS readings;
    both scaled linearly to the full scenario."""
    accounts = w3.eth.accounts
    maker, distributor, pharmacy = accounts[1], accounts[2], accounts[3]
    naive, _ = deploy(w3, artifact, sender=maker)
    lot_id = lgtin_id(GTIN, LOT)
    case_id, pallet_id = sscc_id(CASE_SSCC_BASE), sscc_id(PALLET_SSCC_BASE)
    sample = Ledger()
    steps = [
        ("commission", maker, lambda s: naive.functions.commission(s, lot_id)),
        ("pack into case", maker, lambda s: naive.functions.packIntoCase(s, case_id)),
        ("pack onto pallet", maker, lambda s: naive.functions.packIntoPallet(s, pallet_id)),
        ("ship to distributor", maker, lambda s: naive.functions.ship(s, distributor)),
        ("receive at distributor", distributor, naive.functions.receivePack),
        ("unpack pallet", distributor, naive.functions.unpackPallet),
        ("ship to pharmacy", distributor, lambda s: naive.functions.ship(s, pharmacy)),
        ("receive at pharmacy", pharmacy, naive.functions.receivePack),
        ("open case", pharmacy, naive.functions.unpackCase),
        ("dispense", pharmacy, naive.functions.dispense),
    ]
    serials = [sgtin_id(GTIN, f"S{i:09d}") for i in range(NAIVE_SAMPLE_PACKS)]
    for op, sender, make in steps:
        for s in serials:
            send(w3, make(s), sender, sample, op)
    now = w3.eth.get_block("latest").timestamp
    for k in range(NAIVE_SAMPLE_READINGS):
        send(
            w3,
            naive.functions.recordReading(case_id, case_id, now + k * READING_INTERVAL, 500 + k),
            pharmacy,
            sample,
            "reading",
        )

    recorded_units = (PACKS // PER_CASE // CASES_PER_PALLET) + 2 * (
        PACKS // PER_CASE
    )  # leg 1: pallets + cases; leg 2: cases
    full_readings = recorded_units * READINGS_PER_UNIT
    scaled = Ledger()
    pack_scale = PACKS / NAIVE_SAMPLE_PACKS
    for op in sample.gas:
        scale = full_readings / NAIVE_SAMPLE_READINGS if op == "reading" else pack_scale
        scaled.txs[op] = round(sample.txs[op] * scale)
        scaled.gas[op] = round(sample.gas[op] * scale)
    notes = [
        f"naive: sampled {NAIVE_SAMPLE_PACKS} packs through all {len(steps)} steps (x{pack_scale:g} to {PACKS:,} packs) "
        f"and {NAIVE_SAMPLE_READINGS} reading txs (x{full_readings / NAIVE_SAMPLE_READINGS:g} to {full_readings:,} "
        f"readings of {recorded_units} logger uploads); scaled linearly"
    ]
    return scaled, notes


def table(title: str, ledger: Ledger) -> list[str]:
    lines = [title, f"  {'operation':<28}{'txs':>7}{'total gas':>15}{'gas/pack':>11}"]
    for op in ledger.gas:
        lines.append(f"  {op:<28}{ledger.txs[op]:>7,}{ledger.gas[op]:>15,}{ledger.gas[op] / PACKS:>11,.1f}")
    lines.append(f"  {'total':<28}{sum(ledger.txs.values()):>7,}{ledger.total:>15,}{ledger.total / PACKS:>11,.1f}")
    return lines


def step_table(title: str, ledger: Ledger) -> list[str]:
    """The realistic lifecycle per step: transactions, contract calls, gas, gas per pack (of all 10,000)."""
    lines = [title, f"  {'step':<36}{'txs':>5}{'calls':>7}{'gas':>13}{'gas/pack':>10}"]
    for op in ledger.gas:
        txs, calls, gas = ledger.txs[op], ledger.calls[op], ledger.gas[op]
        lines.append(f"  {op:<36}{txs:>5,}{calls:>7,}{gas:>13,}{gas / PACKS:>10,.1f}")
    txs, calls = sum(ledger.txs.values()), sum(ledger.calls.values())
    lines.append(f"  {'total':<36}{txs:>5,}{calls:>7,}{ledger.total:>13,}{ledger.total / PACKS:>10,.1f}")
    return lines


def main() -> None:
    started = time.monotonic()
    artifacts = load_artifacts()
    naive_artifacts = compile_contracts(src_dir=NAIVE_SOURCES, out_dir=NAIVE_BUILD)
    node = AnvilNode(port=free_port(), chain_id=31337, block_time=None, accounts=3 + R_PHARMACIES)
    with node:
        w3 = make_web3(node.rpc_url, timeout=60)
        ledger, setup = run_pharmatrack(w3, artifacts)
        naive, notes = run_naive(w3, naive_artifacts["NaiveCustody"])
        realistic, realistic_setup = run_realistic(w3, artifacts)
    print(
        f"PharmaTrack reference lifecycle: {PACKS:,} packs, {PACKS // PER_CASE} cases, "
        f"{PACKS // PER_CASE // CASES_PER_PALLET} pallets, {PHARMACIES} pharmacies"
    )
    print("\n".join(table("PharmaTrack (every scenario transaction)", ledger)))
    print("Not in N (one-off setup, and the general tree-case path for comparison)")
    for op, gas in setup.items():
        print(f"  {op:<42}{gas:>13,}")
    print("\n".join(table("NaiveCustody (scaled from a sample)", naive)))
    for note in notes:
        print(note)
    print(
        f"PharmaTrack realistic lifecycle (issue 14): {PACKS:,} packs of {len(R_GTINS)} lots in "
        f"{len(R_GTINS) * R_BATCHES_PER_LOT} batches, {R_PHARMACIES} pharmacies, half each-picked into totes, "
        f"{R_PHARMACIES * R_RETURNED_PER_PHARMACY} returned, dispensed over {R_DAYS} days"
    )
    print("\n".join(step_table("PharmaTrack realistic (every scenario transaction)", realistic)))
    print("Not in R (one-off setup): " + ", ".join(f"{op} {gas:,}" for op, gas in realistic_setup.items()))
    print(f"elapsed {time.monotonic() - started:.0f}s")
    n = ledger.total / PACKS
    m = naive.total / PACKS
    r = realistic.total / PACKS
    print(f"gas_per_pack {n:.0f} naive_gas_per_pack {m:.0f} ratio {m / n:.2f} realistic_gas_per_pack {r:.0f}")


if __name__ == "__main__":
    main()
