"""Issue 14's writes through the API on anvil + Postgres: lots in batches, totes and loose consignments,
returns, stolen packs and undone dispenses. Each action reaches the chain (operation confirmed, the contract's
view agrees), each pre-check refuses with its reason, and a rescan replays."""

from __future__ import annotations

import uuid

import pytest

from app.ids import lgtin_id, sgtin_id
from app.merkle import LOT_LEAF
from app.merkle import verify as merkle_verify
from tests.world import GTIN_BASE, World, check_digit

SERIALS = "S"


def new_product(world: World, who: str = "maker") -> str:
    gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    world.done(who, world.post(who, "/v1/products", {"gtin": gtin, "name": "Metformin 500 mg",
                                                     "storage": {"min_celsius": 2, "max_celsius": 25}}))  # fmt: skip
    return gtin


def refused(resp, status: int, field: str, rule: str) -> dict:
    """A pre-check's refusal: the status, the field and the rule (the problem's `code`)."""
    body = resp.get_json()
    assert resp.status_code == status, body
    assert body["code"] == rule and body["errors"]["json"][field][0].startswith(f"{rule}: "), body
    return body


def ask(world: World, who: str, text: str) -> dict:
    resp = world.client.get("/v1/verify", query_string={"code": text},
                            headers={"Authorization": f"Bearer {world.parties[who].key}"})  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    world.flush_log()
    return resp.get_json()


# --------------------------------------------------------------------------- lots in batches


@pytest.fixture
def opened(world: World) -> dict:
    """A product and a lot opened with room for 50 serials, not commissioned yet."""
    gtin = new_product(world)
    lot = f"B{uuid.uuid4().hex[:6].upper()}"
    op = world.done("maker", world.post("maker", "/v1/lots/openings",
                                        {"gtin": gtin, "lot": lot, "expiry": "2031-06-30", "capacity": 50}))  # fmt: skip
    return {"gtin": gtin, "lot": lot, "lot_id": lgtin_id(gtin, lot), "op": op}


def batch(world: World, opened: dict, first: int, count: int, prefix: str = "S", **extra):
    body = {"gtin": opened["gtin"], "lot": opened["lot"],
            "serial_range": {"prefix": prefix, "first": first, "count": count, "digits": 6}}  # fmt: skip
    return world.post("maker", "/v1/lots/batches", body, **extra)


def test_open_lot_reaches_the_chain(world: World, opened):
    info = world.pt.functions.lot(opened["lot_id"]).call()
    # (gtin, manufacturer, serialCount, expiry, min, max, recalled, quarantined, qPacks, capacity, batches, root)
    assert info[1] == world.parties["maker"].account
    assert (info[2], info[9], info[10]) == (0, 50, 0)


def test_batches_commit_their_own_roots_and_verify_with_a_proof_of_their_batch(world: World, opened):
    world.done("maker", batch(world, opened, 0, 20))
    world.done("maker", batch(world, opened, 20, 12))
    lot_id = opened["lot_id"]
    info = world.pt.functions.lot(lot_id).call()
    assert (info[2], info[10]) == (32, 2)
    assert world.pt.functions.batch(lot_id, 1).call()[:2] == [20, 12]
    for serial, index, b in (("S000003", 3, 0), ("S000025", 25, 1)):
        answer = ask(world, "maker", f"(01){opened['gtin']}(21){serial}(10){opened['lot']}(17)310630")
        assert answer["verdict"] == "verified", answer
        proof = answer["proof"]
        first, count, root = world.pt.functions.batch(lot_id, b).call()
        assert (proof["batch"], proof["batch_first_index"], proof["batch_count"]) == (b, first, count)
        assert proof["root"] == "0x" + root.hex() and proof["leaf_index"] == index
        siblings = [bytes.fromhex(h[2:]) for h in proof["proof"]]
        assert merkle_verify(root, LOT_LEAF, [index, sgtin_id(opened["gtin"], serial)], siblings)
        other = world.pt.functions.batch(lot_id, 1 - b).call()[2]
        assert not merkle_verify(other, LOT_LEAF, [index, sgtin_id(opened["gtin"], serial)], siblings)
        assert world.w3.eth.get_transaction_receipt(proof["tx_hash"])["blockNumber"] == proof["block_number"]


def test_two_batches_accepted_before_either_is_mined_take_consecutive_ranges(world: World, opened):
    first, second = batch(world, opened, 0, 5), batch(world, opened, 5, 5)
    assert first.status_code == second.status_code == 202
    world.pump()
    for resp in (first, second):
        assert world.operation("maker", resp.get_json()["operation"]["id"])["status"] == "confirmed"
    assert world.pt.functions.lot(opened["lot_id"]).call()[2] == 10
    assert world.pt.functions.batch(opened["lot_id"], 1).call()[0] == 5


def test_a_serial_already_commissioned_in_another_batch_or_lot_is_refused_by_name(world: World, opened):
    world.done("maker", batch(world, opened, 0, 5))
    body = refused(batch(world, opened, 3, 4), 409, "serial_range", "already_commissioned")
    assert "S000003" in body["detail"] or "S000003" in str(body)
    listed = {"gtin": opened["gtin"], "lot": opened["lot"], "serials": ["NEW1", "S000004"]}
    body = refused(world.post("maker", "/v1/lots/batches", listed), 409, "serials[1]", "already_commissioned")
    assert "S000004" in str(body)
    # a serial of the GTIN in a lot commissioned in one go is refused too
    lot2 = f"C{uuid.uuid4().hex[:6].upper()}"
    world.done("maker", world.post("maker", "/v1/lots", {"gtin": opened["gtin"], "lot": lot2, "expiry": "2031-01-31",
                                                         "serials": ["ONEGO1"]}))  # fmt: skip
    again = {"gtin": opened["gtin"], "lot": opened["lot"], "serials": ["ONEGO1"]}
    refused(world.post("maker", "/v1/lots/batches", again), 409, "serials[0]", "already_commissioned")


def test_batch_prechecks(world: World, opened):
    refused(batch(world, opened, 0, 51), 409, "serials", "capacity_exceeded")
    unknown = {"gtin": opened["gtin"], "lot": "NOPE", "serials": ["X1"]}
    refused(world.post("maker", "/v1/lots/batches", unknown), 422, "lot", "unknown_lot")
    other = {"gtin": opened["gtin"], "lot": opened["lot"], "serials": ["X1"]}
    refused(world.post("maker2", "/v1/lots/batches", other), 409, "lot", "not_manufacturer")
    dup = {"gtin": opened["gtin"], "lot": opened["lot"], "serials": ["X1", "X1"]}
    refused(world.post("maker", "/v1/lots/batches", dup), 422, "serials", "duplicate")
    again = {"gtin": opened["gtin"], "lot": opened["lot"], "expiry": "2031-06-30", "capacity": 5}
    refused(world.post("maker", "/v1/lots/openings", again), 409, "lot", "already_commissioned")
    past = {"gtin": opened["gtin"], "lot": "P1", "expiry": "2020-01-01", "capacity": 5}
    refused(world.post("maker", "/v1/lots/openings", past), 422, "expiry", "in_past")
    stranger = {"gtin": opened["gtin"], "lot": "P2", "expiry": "2031-01-01", "capacity": 5}
    refused(world.post("maker2", "/v1/lots/openings", stranger), 409, "gtin", "not_manufacturer")


def test_batch_idempotent_replay(world: World, opened):
    first = batch(world, opened, 0, 3, key="batch-key-1")
    world.done("maker", first)
    again = batch(world, opened, 0, 3, key="batch-key-1")
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["operation"]["id"] == first.get_json()["operation"]["id"]
    assert world.pt.functions.lot(opened["lot_id"]).call()[10] == 1


def test_a_lot_commissioned_in_one_go_has_no_room_for_a_batch(world: World, stock):
    body = {"gtin": stock["gtin"], "lot": stock["lot"], "serials": ["MORE1"]}
    refused(world.post("maker", "/v1/lots/batches", body), 409, "serials", "capacity_exceeded")
