"""A supply chain driven only through the API: every write confirmed on chain and in the mirror."""

from __future__ import annotations

from app.ids import sscc_id
from app.services import custody
from tests.world import World


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


def test_a_write_the_chain_refuses_fails_with_the_decoded_custom_error(world: World, stock):
    """Two scanners ship the same pallet before either is mirrored: both pass the pre-check, both
    ride in one batch; the first is confirmed, the second fails with the contract's reason."""
    body = {"units": [stock["pallet"]], "to": world.parties["distributor"].gln}
    first = world.post("maker", "/v1/shipments", body)
    second = world.post("maker", "/v1/shipments", {**body, "to": world.parties["pharmacy"].gln})
    assert first.status_code == second.status_code == 202
    world.pump()
    ok = world.operation("maker", first.get_json()["operation"]["id"])
    failed = world.operation("maker", second.get_json()["operation"]["id"])
    assert ok["status"] == "confirmed"
    assert failed["status"] == "failed" and failed["tx_hash"] is None
    assert failed["error"]["error"] == "UnitIsInTransit"
    assert failed["error"]["args"]["unitId"] == "0x" + sscc_id(stock["pallet"]).hex()


def test_many_scans_share_few_transactions(world: World, stock):
    """30 separate uploads (30 operations) accepted in one relayer round cost one transaction."""
    before = world.w3.eth.get_transaction_count(world.parties["maker"].account)
    for i in range(30):
        body = {"sensor_id": f"logger-{i}", "start": 1_750_000_000, "interval": 60, "celsius": [5]}
        assert world.post("maker", f"/v1/units/{stock['pallet']}/readings", body).status_code == 202
    world.pump()
    assert world.w3.eth.get_transaction_count(world.parties["maker"].account) - before == 1


def test_wait_confirmed_answers_with_the_final_state(world: World, stock):
    """?wait=confirmed holds the answer until the relayer and indexer (here in a thread) are done."""
    import threading

    stop = threading.Event()

    def background():
        while not stop.is_set():
            world.relayer.run_once()
            world.indexer.run_until_caught_up()
            stop.wait(0.05)

    thread = threading.Thread(target=background)
    thread.start()
    try:
        body = {"units": [stock["pallet"]], "to": world.parties["distributor"].gln}
        resp = world.post("maker", "/v1/shipments?wait=confirmed&timeout=30", body)
    finally:
        stop.set()
        thread.join()
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["operation"]["status"] == "confirmed"
    assert resp.get_json()["status_url"] == f"/v1/operations/{resp.get_json()['operation']['id']}"
