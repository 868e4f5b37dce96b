"""A PharmaTrack world on the module's anvil: deployed once a module, every test runs in a snapshot of it.

Parties (anvil dev accounts): admin 0, manufacturers 1 and 2, distributor 3, pharmacies 4 and 5, regulator 6;
accounts 7 and 8 are not registered. Manufacturer 1 makes the cold-chain product GTIN and has commissioned lot L1 of
1,024 serials; manufacturer 2 makes a frozen product.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from web3 import Web3
from web3.contract import Contract

from app.ids import lgtin_id, pack_set, sgtin_id, sscc_id
from app.merkle import CaseTree, LotTree
from tests.conftest import deploy
from tests.contracts.helpers import NO_PROOF, role, send

GTIN = 9506000134352
FROZEN_GTIN = 9506000134369
LOT = "L1"
SERIALS = 1024
MIN_TEMP, MAX_TEMP = 200, 800
FROZEN_MIN, FROZEN_MAX = -2500, -1500
CASE_SSCC = 106141410000000000
PALLET_SSCC = 106141419000000000


@dataclass
class World:
    w3: Web3
    pt: Contract
    admin: str
    maker: str
    maker2: str
    distributor: str
    pharmacy: str
    pharmacy2: str
    regulator: str
    outsider: str
    spare: str
    lot_id: bytes
    lot_tree: LotTree
    expiry: int

    def send(self, call, sender: str):
        return send(self.w3, call, sender)

    def pack_case(self, n: int, first: int, count: int, lot_id: bytes | None = None, by: str | None = None) -> bytes:
        """Run case number `n` over leaves first .. first + count - 1."""
        self.send(self.pt.functions.packCase(CASE_SSCC + n, lot_id or self.lot_id, first, count), by or self.maker)
        return sscc_id(CASE_SSCC + n)

    def pack_tree(self, n: int, indexes: list[int], by: str | None = None) -> tuple[bytes, CaseTree]:
        """Tree case number `n` over `indexes` of lot L1."""
        tree = CaseTree(self.lot_id, indexes)
        self.send(self.pt.functions.packCaseTree(CASE_SSCC + n, self.lot_id, tree.packs), by or self.maker)
        return sscc_id(CASE_SSCC + n), tree

    def pack_pallet(self, n: int, cases: list[bytes], by: str | None = None) -> bytes:
        self.send(self.pt.functions.packPallet(PALLET_SSCC + n, cases), by or self.maker)
        return sscc_id(PALLET_SSCC + n)

    def deliver(self, units: list[bytes], sender: str, recipient: str) -> None:
        self.send(self.pt.functions.ship(units, recipient), sender)
        self.send(self.pt.functions.receiveShipment(units), recipient)

    def dispense(self, case_id: bytes, indexes, by: str | None = None, multiproof=NO_PROOF, lot_id=None):
        """Dispense packs of a case: a dispenseDay call of one CaseDraw."""
        draw = (case_id, lot_id or self.lot_id, pack_set(indexes), multiproof)
        return self.send(self.pt.functions.dispenseDay([draw], [], []), by or self.pharmacy)

    def dispense_call(self, case_id: bytes, indexes, multiproof=NO_PROOF, lot_id=None):
        return self.pt.functions.dispenseDay([(case_id, lot_id or self.lot_id, pack_set(indexes), multiproof)], [], [])

    def unit(self, unit_id: bytes) -> dict:
        """`unit(id)` as a dict of the UnitInfo fields."""
        fields = next(i for i in self.pt.abi if i.get("name") == "unit")["outputs"][0]["components"]
        return dict(zip([f["name"] for f in fields], self.pt.functions.unit(unit_id).call(), strict=True))

    def pack_state(self, index: int, lot_id: bytes | None = None) -> tuple[bool, bool, bool, bool]:
        return tuple(self.pt.functions.packState(lot_id or self.lot_id, index).call())


def deploy_pharmatrack(w3: Web3, artifacts, admin: str):
    """PharmaTrack as the service deploys it: its PharmaTrackListed first, then PharmaTrack given its address."""
    listed = deploy(w3, artifacts["PharmaTrackListed"], sender=admin)
    return deploy(w3, artifacts["PharmaTrack"], admin, listed.address, sender=admin)


@pytest.fixture(scope="module")
def pharma_world(w3: Web3, artifacts) -> World:
    accounts = w3.eth.accounts
    admin, maker, maker2, distributor, pharmacy, pharmacy2, regulator, outsider, spare = accounts[:9]
    pt = deploy_pharmatrack(w3, artifacts, admin)
    parties = [
        (maker, "MANUFACTURER_ROLE"),
        (maker2, "MANUFACTURER_ROLE"),
        (distributor, "DISTRIBUTOR_ROLE"),
        (pharmacy, "DISPENSER_ROLE"),
        (pharmacy2, "DISPENSER_ROLE"),
        (regulator, "REGULATOR_ROLE"),
    ]
    for i, (account, name) in enumerate(parties):
        send(w3, pt.functions.registerOrganisation(account, 9506000000010 + i, [role(name)]), admin)
    send(w3, pt.functions.registerProduct(GTIN, MIN_TEMP, MAX_TEMP), maker)
    send(w3, pt.functions.registerProduct(FROZEN_GTIN, FROZEN_MIN, FROZEN_MAX), maker2)
    lot_tree = LotTree([sgtin_id(f"{GTIN:014d}", f"S{i:04d}") for i in range(SERIALS)])
    expiry = w3.eth.get_block("latest").timestamp + 365 * 86400
    send(w3, pt.functions.commissionLot(GTIN, LOT, expiry, SERIALS, lot_tree.root), maker)
    return World(
        w3=w3,
        pt=pt,
        admin=admin,
        maker=maker,
        maker2=maker2,
        distributor=distributor,
        pharmacy=pharmacy,
        pharmacy2=pharmacy2,
        regulator=regulator,
        outsider=outsider,
        spare=spare,
        lot_id=lgtin_id(f"{GTIN:014d}", LOT),
        lot_tree=lot_tree,
        expiry=expiry,
    )


@pytest.fixture
def world(pharma_world: World, chain_snapshot) -> Iterator[World]:
    """The world, reverted after the test."""
    yield pharma_world
