"""Shared by the contract tests of issue 14: a distributor's opened stock, listed units and the listings the tests
keep for them (as the mirror does), a pharmacy's dispense calls for undoDispenseDay."""

from __future__ import annotations

from eth_abi import encode
from web3 import Web3

from app.ids import lgtin_id, pack_set, sscc_id
from app.merkle import LotTree
from tests.contracts.conftest import FROZEN_GTIN, GTIN
from tests.contracts.helpers import NO_PROOF

DAY = 86400
TOTE_SSCC = 106141417000000000
CAGE_SSCC = 106141416000000000


def group(source: bytes, lot_id: bytes, indexes, proof=NO_PROOF):
    """A group of packs of one lot from one source (a case or a listed unit), in the old PackGroup shape."""
    return (source, lot_id, pack_set(indexes), proof)


def listed(source: bytes, lot_id: bytes, indexes):
    """One group of a listing (Listed)."""
    return (source, lot_id, pack_set(indexes))


def listing_hash(listing) -> bytes:
    """keccak256(abi.encode(Listed[])): a listed unit's word."""
    return Web3.keccak(encode(["(bytes32,bytes32,(uint32,uint256[]))[]"], [_canonical(listing)]))


def cage_hash(tote_ids, hashes) -> bytes:
    return Web3.keccak(encode(["bytes32[]", "bytes32[]"], [list(tote_ids), list(hashes)]))


def _canonical(listing):
    return [(s, lot, (first, list(masks))) for s, lot, (first, masks) in listing]


def _contains(packs, index: int) -> bool:
    first, masks = packs
    k = (index >> 8) - first
    return 0 <= k < len(masks) and masks[k] >> (index & 255) & 1 == 1


def taken(listing, wanted) -> list:
    """Per listing group, the packs of `wanted` [(lot, indexes)] it holds ((0, []) for none). A pack no group of its
    lot lists goes to the lot's first group (or the first group), for the contract to refuse."""
    per_group: list[list[int]] = [[] for _ in listing]
    for lot_id, indexes in wanted:
        for i in indexes:
            hits = [g for g, (_, lot, packs) in enumerate(listing) if lot == lot_id and _contains(packs, i)]
            same_lot = [g for g, (_, lot, _) in enumerate(listing) if lot == lot_id]
            per_group[(hits or same_lot or [0])[0]].append(i)
    return [pack_set(ix) if ix else (0, []) for ix in per_group]


def rest(listing, taken_sets) -> list:
    """The listing after `taken_sets` left it: same groups, the taken bits cleared."""
    out = []
    for (source, lot, (first, listed_masks)), (t_first, t_masks) in zip(listing, taken_sets, strict=True):
        masks = list(listed_masks)
        for k, mask in enumerate(t_masks):
            if mask:
                masks[t_first - first + k] &= ~mask
        out.append((source, lot, (first, masks)))
    return out


class Stock:
    """What the distributor holds, opened: run case A (lot L1, leaves 0..99), run case B (lot L2, leaves 0..99),
    tree case C (lot L1, even leaves 200..298), and a frozen lot's run case F (leaves 0..9). `listings` keeps each
    listed unit's current listing, as the mirror does."""

    def __init__(self, world):
        self.world = world
        pt = world.pt
        self.l1 = world.lot_id
        world.send(pt.functions.commissionLot(GTIN, "L2", world.expiry, 256, b"\x01" * 32), world.maker)
        self.l2 = lgtin_id(f"{GTIN:014d}", "L2")
        tree = LotTree([bytes([i]) * 32 for i in range(1, 17)])
        world.send(pt.functions.commissionLot(FROZEN_GTIN, "F1", world.expiry, 16, tree.root), world.maker2)
        self.frozen = lgtin_id(f"{FROZEN_GTIN:014d}", "F1")
        self.a = world.pack_case(1, 0, 100)
        self.b = world.pack_case(2, 0, 100, lot_id=self.l2)
        self.c, self.tree = world.pack_tree(3, list(range(200, 300, 2)))
        self.f = world.pack_case(4, 0, 10, lot_id=self.frozen, by=world.maker2)
        world.deliver([self.a, self.b, self.c], world.maker, world.distributor)
        world.deliver([self.f], world.maker2, world.distributor)
        world.send(pt.functions.unpack([self.a, self.b, self.c, self.f]), world.distributor)
        self.listings: dict[bytes, list] = {}

    # ---------------------------------------------------------------- building calls

    def split(self, groups):
        """Old-style groups (source, lot, packs, proof) as (picks out of cases, draws out of listed units, the new
        unit's listing, the drawn units' rests)."""
        picks, wanted = [], {}
        for source, lot_id, packs, _ in groups:
            if source in self.listings:
                indexes = [(packs[0] + k) * 256 + b for k, m in enumerate(packs[1]) for b in range(256) if m >> b & 1]
                wanted.setdefault(source, []).append((lot_id, indexes))
            else:
                picks.append((source, lot_id, packs))
        draws, rests, listing = [], {}, list(picks)
        for unit, want in wanted.items():
            d = self.draw(unit, want)
            draws.append(d)
            rests[unit] = rest(self.listings[unit], d[2])
            listing += [(unit, lot, t) for (_, lot, _), t in zip(self.listings[unit], d[2], strict=True) if t[1]]
        return picks, draws, listing, rests

    def draw(self, unit: bytes, wanted) -> tuple:
        """The ToteDraw of `wanted` [(lot, indexes)] out of listed unit `unit`, with its current listing."""
        listing = self.listings[unit]
        return (unit, _canonical(listing), taken(listing, wanted))

    def tote_call(self, n: int, groups):
        picks, draws, _, _ = self.split(groups)
        return self.world.pt.functions.packToteListed(TOTE_SSCC + n, picks, draws)

    def consign_call(self, groups, to):
        picks, draws, _, _ = self.split(groups)
        return self.world.pt.functions.shipListed(picks, draws, to)

    def dispense_call(self, unit: bytes, lot_id: bytes, indexes, multiproof=NO_PROOF):
        if unit in self.listings:
            return self.world.pt.functions.dispenseDay([], [self.draw(unit, [(lot_id, indexes)])], [])
        return self.world.pt.functions.dispenseDay([(unit, lot_id, pack_set(indexes), multiproof)], [], [])

    # ---------------------------------------------------------------- sending, keeping the listings

    def tote(self, n: int, groups, by=None) -> bytes:
        world = self.world
        _, _, listing, rests = self.split(groups)
        world.send(self.tote_call(n, groups), by or world.distributor)
        self.listings.update(rests)
        self.listings[sscc_id(TOTE_SSCC + n)] = listing
        return sscc_id(TOTE_SSCC + n)

    def consign(self, groups, to, by=None) -> tuple[bytes, object]:
        world = self.world
        _, _, listing, rests = self.split(groups)
        call = self.consign_call(groups, to)
        consignment = call.call({"from": by or world.distributor})
        receipt = world.send(call, by or world.distributor)
        self.listings.update(rests)
        self.listings[consignment] = listing
        return consignment, receipt

    def dispense(self, unit: bytes, lot_id: bytes, indexes, by=None):
        return self.world.send(self.dispense_call(unit, lot_id, indexes), by or self.world.pharmacy)

    def give_back(self, unit: bytes, wanted, to, by=None) -> tuple[bytes, object]:
        """returnListed of `wanted` [(lot, indexes)] of listed unit `unit`; returns the consignment and receipt."""
        world = self.world
        d = self.draw(unit, wanted)
        call = world.pt.functions.returnListed(d, to)
        consignment = call.call({"from": by or world.pharmacy})
        receipt = world.send(call, by or world.pharmacy)
        groups = zip(self.listings[unit], d[2], strict=True)
        self.listings[consignment] = [(unit, lot, t) for (_, lot, _), t in groups if t[1]]
        self.listings[unit] = rest(self.listings[unit], d[2])
        return consignment, receipt


class Counter:
    """A pharmacy's dispenseDay calls as undoDispenseDay proves them: per call the chain word before it, its block
    time, its arguments and its data hash, in chain order."""

    def __init__(self, world, pharmacy, stock: Stock | None = None):
        self.world, self.pharmacy, self.stock = world, pharmacy, stock
        self.calls: list[dict] = []

    def send(self, cases, totes, caged):
        world = self.world
        before = world.pt.functions.dispenseChain(self.pharmacy).call()
        call = world.pt.functions.dispenseDay(cases, totes, caged)
        receipt = world.send(call, self.pharmacy)
        time = world.w3.eth.get_block(receipt.blockNumber).timestamp
        data = world.pt.encode_abi("dispenseDay", args=[cases, totes, caged])
        self.calls.append(
            {"before": before, "time": time, "args": (cases, totes, caged), "hash": Web3.keccak(hexstr=data)}
        )
        return len(self.calls) - 1

    def dispense(self, container, lot_id, indexes):
        """One dispenseDay of `indexes` out of a case or (with a stock) a listed unit; returns the call's position."""
        if self.stock is not None and container in self.stock.listings:
            return self.send([], [self.stock.draw(container, [(lot_id, indexes)])], [])
        return self.send([(container, lot_id, pack_set(indexes), NO_PROOF)], [], [])

    def proof(self, which: int):
        c = self.calls[which]
        call = (c["before"], c["time"], *c["args"])
        later = [(d["time"], d["hash"]) for d in self.calls[which + 1 :]]
        return call, later

    def undo_call(self, which: int, container, lot_id, indexes, proof=None):
        call, later = proof or self.proof(which)
        return self.world.pt.functions.undoDispenseDay(call, later, container, lot_id, pack_set(indexes))

    def undo(self, which: int, container, lot_id, indexes):
        return self.world.send(self.undo_call(which, container, lot_id, indexes), self.pharmacy)
