"""A supply chain driven only through the API: every write confirmed on chain and in the mirror."""

from __future__ import annotations

from app.ids import sscc_id
from app.services import custody

from .conftest import World


def pack(stock, n: int) -> str:
    return f"(01){stock['gtin']}(21)S{n:010d}"


def test_supply_chain_through_the_api(world: World, stock):
    pallet, cases = stock["pallet"], stock["cases"]
    op = world.done(
        "maker", world.post("maker", "/v1/shipments", {"units": [pallet], "to": world.parties["distributor"].gln})
    )
    assert op["tx_hash"].startswith("0x") and op["block_number"] > 0
    world.done("distributor", world.post("distributor", "/v1/receipts", {"units": [pallet]}))
    world.done("distributor", world.post("distributor", "/v1/unpackings", {"units": [pallet]}))
    world.done(
        "distributor",
        world.post("distributor", "/v1/shipments", {"units": [cases[0]], "to": world.parties["pharmacy"].gln}),
    )
    world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"units": [cases[0]]}))
    world.done("pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": [pack(stock, 1), pack(stock, 2)]}))
    with world.db.connection() as conn:
        state = custody.unit_state(conn, sscc_id(cases[0]))
    assert state.custodian.hex() == world.parties["pharmacy"].account[2:].lower()
    info = world.pt.functions.unit(sscc_id(cases[0])).call()
    assert info[1] == world.parties["pharmacy"].account
    lot_id = info[10]
    assert world.pt.functions.packState(lot_id, 1).call()[1] is True
    assert world.pt.functions.packState(lot_id, 3).call()[1] is False
