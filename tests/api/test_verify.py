"""Verification through the API, every scenario built through the real write path on anvil."""

from __future__ import annotations

import uuid

from web3 import Web3

from app.db import fetch_all
from app.ids import lgtin_id, pack_readings, sgtin_id, sscc_id
from app.merkle import LOT_LEAF
from app.merkle import verify as merkle_verify
from tests.world import World, check_digit


def code(stock, n: int, lot: str | None = None, expiry: str = "301231") -> str:
    return f"(01){stock['gtin']}(21)S{n:010d}(10){lot or stock['lot']}(17){expiry}"


def ask(world: World, who: str, text: str, status: int = 200) -> dict:
    resp = world.client.get("/v1/verify", query_string={"code": text},
                            headers={"Authorization": f"Bearer {world.parties[who].key}"})  # fmt: skip
    assert resp.status_code == status, resp.get_json()
    world.flush_log()
    return resp.get_json()


def reasons(answer: dict) -> list[str]:
    return [r["code"] for r in answer["reasons"]]


def test_verdicts_along_a_supply_chain(world: World, stock):
    p = world.parties
    first = ask(world, "maker", code(stock, 1))
    assert first["verdict"] == "verified" and reasons(first) == []
    assert first["custody"]["case"] is not None and first["custody"]["holder"]["gln"] == p["maker"].gln
    # The proof checks against the root the contract holds, without trusting the service.
    proof = first["proof"]
    lot_id = lgtin_id(stock["gtin"], stock["lot"])
    on_chain_root = world.pt.functions.lot(lot_id).call()[-1]  # serialsRoot, the last field
    assert proof["root"] == "0x" + on_chain_root.hex() and proof["lot_id"] == "0x" + lot_id.hex()
    assert proof["leaf_index"] == 1
    siblings = [bytes.fromhex(h[2:]) for h in proof["proof"]]
    assert merkle_verify(on_chain_root, LOT_LEAF, [1, sgtin_id(stock["gtin"], "S0000000001")], siblings)
    assert not merkle_verify(on_chain_root, LOT_LEAF, [2, sgtin_id(stock["gtin"], "S0000000001")], siblings)
    block = world.w3.eth.get_transaction_receipt(proof["tx_hash"])
    assert block["blockNumber"] == proof["block_number"]

    # A pharmacy that never received it: suspect, and it learns nothing of who holds it. A
    # regulator may verify anything.
    stranger = ask(world, "pharmacy", code(stock, 1))
    assert reasons(stranger) == ["not_received_by_requester"]
    assert "custody" not in stranger and "excursions" not in stranger and stranger["proof"] == first["proof"]
    assert ask(world, "pharmacy", code(stock, 1))["verdict"] == "suspect"
    assert ask(world, "regulator", code(stock, 1))["verdict"] == "verified"

    pallet, cases = stock["pallet"], stock["cases"]
    world.done("maker", world.post("maker", "/v1/shipments", {"units": [pallet], "to": p["distributor"].gln}))
    # In transit on the pallet: the path shows the pallet's shipment, the holder is still the sender.
    moving = ask(world, "maker", code(stock, 1))["custody"]
    assert moving["in_transit"] is True and moving["recipient"]["gln"] == p["distributor"].gln
    world.done("distributor", world.post("distributor", "/v1/receipts", {"units": [pallet]}))
    world.done("distributor", world.post("distributor", "/v1/unpackings", {"units": [pallet]}))
    world.done(
        "distributor", world.post("distributor", "/v1/shipments", {"units": [cases[0]], "to": p["pharmacy"].gln})
    )
    goods_in = ask(world, "pharmacy", code(stock, 1))  # checked at goods-in, before the receive scan
    assert goods_in["verdict"] == "verified" and goods_in["custody"]["in_transit"] is True
    world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"units": [cases[0]]}))
    received = ask(world, "pharmacy", code(stock, 1))
    assert received["verdict"] == "verified", received["reasons"]
    custody = received["custody"]
    assert custody["holder"]["gln"] == p["pharmacy"].gln and custody["in_transit"] is False
    assert custody["holder"]["name"] == "Riverside Pharmacy"
    events = [(s["event"], s["from"]["gln"] if s["from"] else None, s["to"]["gln"] if s["to"] else None)
              for s in custody["path"]]  # fmt: skip
    assert events == [
        ("packed", p["maker"].gln, None),
        ("packed", p["maker"].gln, None),  # onto the pallet
        ("shipped", p["maker"].gln, p["distributor"].gln),
        ("received", p["maker"].gln, p["distributor"].gln),  # from the shipper to the receiver
        ("unpacked", p["distributor"].gln, None),
        ("shipped", p["distributor"].gln, p["pharmacy"].gln),
        ("received", p["distributor"].gln, p["pharmacy"].gln),
    ]
    assert all(s["time"] and s["tx_hash"].startswith("0x") for s in custody["path"])
    # the other case stayed at the distributor: the pharmacy never had its packs
    assert reasons(ask(world, "pharmacy", code(stock, 50))) == ["not_received_by_requester"]
    assert ask(world, "distributor", code(stock, 50))["verdict"] == "verified"

    world.done("pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": [code(stock, 1)]}))
    again = ask(world, "pharmacy", code(stock, 1))
    assert again["verdict"] == "dispensed" and again["state"]["dispensed"] is True
    clone = ask(world, "pharmacy2", code(stock, 1))
    assert clone["verdict"] == "dispensed" and set(reasons(clone)) == {"dispensed", "not_received_by_requester"}
    assert "custody" not in clone

    world.done("pharmacy", world.post("pharmacy", "/v1/destructions", {"packs": [code(stock, 2)]}))
    destroyed = ask(world, "pharmacy", code(stock, 2))
    assert destroyed["verdict"] == "suspect" and reasons(destroyed) == ["destroyed"]

    # A logger on the pharmacy's case read 12 °C (range 2 to 8 °C): every pack of it is suspect.
    world.done("pharmacy", world.post("pharmacy", f"/v1/units/{cases[0]}/readings",
               {"sensor_id": "fridge-1", "start": 1_750_000_000, "interval": 300, "celsius": [5, 12, 6]}))  # fmt: skip
    warm = ask(world, "pharmacy", code(stock, 3))
    assert warm["verdict"] == "suspect" and reasons(warm) == ["temperature_excursion"]
    assert [(e["celsius"], e["allowed"]) for e in warm["excursions"]] == [(12.0, [2.0, 8.0])]

    with world.db.connection() as conn:
        logged = fetch_all(conn, "SELECT organisation_id, requester_gln, channel, verdict, reasons, serial "
                                 "FROM verifications ORDER BY id")  # fmt: skip
    assert len(logged) == 13  # one per question asked above
    assert logged[1]["verdict"] == "suspect" and logged[1]["reasons"] == ["not_received_by_requester"]
    assert f"{logged[1]['requester_gln']:013d}" == p["pharmacy"].gln and logged[1]["channel"] == "api"
    assert logged[0]["serial"] == "S0000000001"


def test_counterfeits_unknowns_lots_and_units(world: World, stock):
    unknown_serial = ask(world, "maker", f"(01){stock['gtin']}(21)FAKE123")
    assert unknown_serial["verdict"] == "counterfeit" and reasons(unknown_serial) == ["unknown_serial"]
    other_gtin = check_digit("0950600" + str(uuid.uuid4().int % 10**6).zfill(6))
    assert reasons(ask(world, "maker", f"(01){other_gtin}(21)S0000000001")) == ["unknown_product"]
    assert ask(world, "maker", f"(01){other_gtin}(21)S0000000001")["verdict"] == "unknown"
    assert reasons(ask(world, "maker", code(stock, 4, lot="WRONG1"))) == ["lot_mismatch"]
    assert reasons(ask(world, "maker", code(stock, 4, expiry="301130"))) == ["expiry_mismatch"]
    both = ask(world, "maker", code(stock, 4, lot="WRONG1", expiry="301130"))
    assert both["verdict"] == "counterfeit" and set(reasons(both)) == {"lot_mismatch", "expiry_mismatch"}
    # without lot and expiry printed (a bare serial): nothing to mismatch
    assert ask(world, "maker", f"https://id.gs1.org/01/{stock['gtin']}/21/S0000000004")["verdict"] == "verified"

    lot = ask(world, "maker", f"(01){stock['gtin']}(10){stock['lot']}")
    assert lot["kind"] == "lot" and lot["verdict"] == "verified" and lot["lot_record"]["serial_count"] == 100
    assert reasons(ask(world, "maker", f"(01){stock['gtin']}(10)NOSUCH")) == ["unknown_lot"]

    unit = ask(world, "maker", stock["pallet"])
    assert unit["kind"] == "logistic_unit" and unit["verdict"] == "verified" and unit["custody"]["path"]
    outsider = ask(world, "pharmacy", stock["pallet"])
    assert reasons(outsider) == ["not_received_by_requester"] and "custody" not in outsider
    assert reasons(ask(world, "maker", world.sscc())) == ["unknown_unit"]

    wrong_digit = stock["gtin"][:-1] + str((int(stock["gtin"][-1]) + 1) % 10)
    bad = ask(world, "maker", f"(01){wrong_digit}(21)X", status=422)
    assert bad["errors"]["query"]["code"][0].startswith("check_digit: ")
    assert world.client.get("/v1/verify", query_string={"code": code(stock, 1)}).status_code == 401


def test_recall_quarantine_and_expiry(world: World, stock, monkeypatch):
    lot = {"gtin": stock["gtin"], "lot": stock["lot"]}
    world.done("maker", world.post("maker", "/v1/quarantines", lot))
    assert reasons(ask(world, "maker", code(stock, 5))) == ["quarantined"]
    world.done("maker", world.post("maker", "/v1/quarantine-clearances", lot))
    assert ask(world, "maker", code(stock, 5))["verdict"] == "verified"
    world.done("maker", world.post("maker", "/v1/quarantines", {"sscc": stock["pallet"]}))
    assert reasons(ask(world, "maker", code(stock, 5))) == ["quarantined"]  # through its case's pallet
    assert ask(world, "maker", code(stock, 95))["verdict"] == "verified"  # loose: not on the pallet
    world.done("maker", world.post("maker", "/v1/lots/recalls", lot))
    recalled = ask(world, "maker", code(stock, 95))
    assert recalled["verdict"] == "recalled" and recalled["lot_record"]["recalled"] is True
    from app.services import verify

    end_of_2030 = 1_925_078_399  # the lot's expiry, 2030-12-31 23:59:59 UTC
    monkeypatch.setattr(verify, "clock", lambda: end_of_2030 + 1)
    assert reasons(ask(world, "maker", code(stock, 95))) == ["recalled", "expired"]


def test_batch_verification(world: World, stock):
    headers = {"Authorization": f"Bearer {world.parties['maker'].key}"}
    codes = [code(stock, 1), f"(01){stock['gtin']}(21)NOPE", stock["pallet"]]
    resp = world.client.post("/v1/verify", json={"codes": codes}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert [r["verdict"] for r in body["results"]] == ["verified", "counterfeit", "verified"]
    assert body["summary"] == {"verified": 2, "counterfeit": 1}

    resp = world.client.post("/v1/verify", json={"codes": [code(stock, 1), "(01)123(21)X"]}, headers=headers)
    assert resp.status_code == 422 and "codes[1]" in resp.get_json()["errors"]["json"]
    resp = world.client.post("/v1/verify", json={"codes": [code(stock, 1)] * 1001}, headers=headers)
    assert resp.status_code == 422 and "codes" in resp.get_json()["errors"]["json"]
    world.flush_log()
    with world.db.connection() as conn:
        assert fetch_all(conn, "SELECT count(*) AS n FROM verifications")[0]["n"] == 3  # refused batches: none


def test_a_lot_whose_serials_are_not_held_here_is_unknown_not_counterfeit(world: World, stock):
    """Commissioned on chain by another system: its root is there, its serial list is not."""
    maker = world.parties["maker"].account
    world.w3.provider.make_request("anvil_impersonateAccount", [maker])
    tx = world.pt.functions.commissionLot(int(stock["gtin"]), "ELSEWHERE1", 1_925_078_399, 10, b"\x11" * 32).transact(
        {"from": maker}
    )
    assert world.w3.eth.wait_for_transaction_receipt(tx).status == 1
    world.indexer.run_until_caught_up()
    answer = ask(world, "maker", f"(01){stock['gtin']}(21)OTHER1(10)ELSEWHERE1(17)301231")
    assert answer["verdict"] == "unknown" and reasons(answer) == ["serials_not_held"]
    # a serial printed with no lot, or with a lot we hold, stays a counterfeit when unknown
    assert reasons(ask(world, "maker", f"(01){stock['gtin']}(21)NOPE77")) == ["unknown_serial"]


def test_a_logger_time_no_calendar_shows_does_not_break_verification(world: World, stock):
    """The API refuses readings from the future, but the chain takes any uint40 from a partner's own node."""
    far = 2**40 - 10_000
    maker = world.parties["maker"].account
    world.w3.provider.make_request("anvil_impersonateAccount", [maker])
    tx = world.pt.functions.recordReadings(
        sscc_id(stock["cases"][1]), Web3.keccak(text="odd-clock"), far, 60, pack_readings([3000])
    ).transact({"from": maker})
    assert world.w3.eth.wait_for_transaction_receipt(tx).status == 1
    world.indexer.run_until_caught_up()
    answer = ask(world, "maker", code(stock, 45))
    assert reasons(answer) == ["temperature_excursion"] and answer["excursions"][0]["time"] == far


def test_handoffs_in_a_custody_path_read_from_the_shipper_to_the_recipient(world: World, stock):
    """`received` and `refused` are done by the recipient, yet the step reads sender → recipient, as the
    provenance timeline has it."""
    p, pallet = world.parties, stock["pallet"]
    world.done("maker", world.post("maker", "/v1/shipments", {"units": [pallet], "to": p["distributor"].gln}))
    world.done("distributor", world.post("distributor", "/v1/refusals", {"units": [pallet]}))
    world.done("maker", world.post("maker", "/v1/shipments", {"units": [pallet], "to": p["distributor"].gln}))
    world.done("distributor", world.post("distributor", "/v1/receipts", {"units": [pallet]}))
    path = ask(world, "maker", code(stock, 5))["custody"]["path"]
    handoffs = [(s["event"], s["from"]["gln"], s["to"]["gln"]) for s in path if s["event"] != "packed"]
    maker, distributor = p["maker"].gln, p["distributor"].gln
    assert handoffs == [
        ("shipped", maker, distributor),
        ("refused", maker, distributor),
        ("shipped", maker, distributor),
        ("received", maker, distributor),
    ]
    resp = world.client.get(f"/v1/units/{pallet}/provenance", headers={"Authorization": f"Bearer {p['maker'].key}"})
    assert resp.status_code == 200, resp.get_json()
    timeline = [(e["event"], e["from"]["gln"], e["to"]["gln"]) for e in resp.get_json()["timeline"]
                if e["event"] in ("shipped", "refused", "received")]  # fmt: skip
    assert timeline == handoffs
