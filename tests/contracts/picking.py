"""Shared by the contract tests of issue 14: a distributor's opened stock, PackGroups, a pharmacy's dispense records."""

from __future__ import annotations

from app.ids import lgtin_id, pack_set, sscc_id
from app.merkle import LotTree
from tests.contracts.conftest import FROZEN_GTIN, GTIN
from tests.contracts.helpers import NO_PROOF

DAY = 86400
TOTE_SSCC = 106141417000000000


def group(source: bytes, lot_id: bytes, indexes, proof=NO_PROOF):
    return (source, lot_id, pack_set(indexes), proof)


class Stock:
    """What the distributor holds, opened: run case A (lot L1, leaves 0..99), run case B (lot L2, leaves 0..99),
    tree case C (lot L1, even leaves 200..298), and a frozen lot's run case F (leaves 0..9)."""

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

    def tote(self, n: int, groups, by=None) -> bytes:
        world = self.world
        world.send(world.pt.functions.packTote(TOTE_SSCC + n, groups), by or world.distributor)
        return sscc_id(TOTE_SSCC + n)

    def consign(self, groups, to, by=None) -> tuple[bytes, object]:
        world = self.world
        call = world.pt.functions.shipPacks(groups, to)
        consignment = call.call({"from": by or world.distributor})
        return consignment, world.send(call, by or world.distributor)


class Counter:
    """A pharmacy's dispenses as undoDispense takes them: one record per call, kept per day in chain order."""

    def __init__(self, world, pharmacy):
        self.world, self.pharmacy = world, pharmacy
        self.days: dict[int, list] = {}

    def dispense(self, container, lot_id, indexes):
        world = self.world
        packs = pack_set(indexes)
        receipt = world.send(world.pt.functions.dispense(container, lot_id, packs, NO_PROOF), self.pharmacy)
        time = world.w3.eth.get_block(receipt.blockNumber).timestamp
        record = (time, lot_id, container, packs)
        self.days.setdefault(time // DAY, []).append(record)
        return time // DAY, len(self.days[time // DAY]) - 1

    def undo_call(self, day, which, indexes, records=None):
        records = self.days.get(day, []) if records is None else records
        return self.world.pt.functions.undoDispense(day, records, which, pack_set(indexes))

    def undo(self, day, which, indexes):
        return self.world.send(self.undo_call(day, which, indexes), self.pharmacy)
