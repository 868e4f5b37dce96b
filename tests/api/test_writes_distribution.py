"""Issue 14's writes through the API on anvil + Postgres: lots in batches, totes and loose consignments,
returns, stolen packs and undone dispenses. Each action reaches the chain (operation confirmed, the contract's
view agrees), each pre-check refuses with its reason, and a rescan replays."""

from __future__ import annotations

import uuid

import pytest

from app.db import listings as listings_db
from app.db import mirror
from app.ids import lgtin_id, sgtin_id, sscc_id
from app.listings import decode_listing
from app.merkle import LOT_LEAF
from app.merkle import verify as merkle_verify
from app.services import custody
from app.services import serials as lot_serials
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
        with world.db.connection() as conn:  # the service's own proof lookup finds the batch too
            assert lot_serials.proof(conn, lot_id, index) == siblings


def test_two_batches_accepted_before_either_is_mined_take_consecutive_ranges(world: World, opened):
    first, second = batch(world, opened, 0, 5), batch(world, opened, 5, 5)
    assert first.status_code == second.status_code == 202
    world.pump()
    for resp in (first, second):
        assert world.operation("maker", resp.get_json()["operation"]["id"])["status"] == "confirmed"
    assert world.pt.functions.lot(opened["lot_id"]).call()[2] == 10
    assert world.pt.functions.batch(opened["lot_id"], 1).call()[0] == 5


def test_a_batch_while_an_earlier_one_failed_and_later_ones_are_pending_is_refused_not_a_500(world: World, opened):
    """B0 and B1 accepted; B0 fails (the relayer forgets its tree) while B1 is still held: B2 is refused with 409
    batch_pending_failed (review 14-15 #6: was a 500 on the (lot, batch) key; B1 fails on chain anyway). Once B1 has
    failed too, the next batch starts again where the chain is (batch 0, index 0)."""
    b0, b1 = batch(world, opened, 0, 10), batch(world, opened, 10, 2)
    assert b0.status_code == b1.status_code == 202
    with world.db.connection() as conn:
        world.relayer._fail(conn, {"id": b0.get_json()["operation"]["id"], "action": "commission_batch"},
                            {"error": "test", "args": {}})  # fmt: skip
    refused(batch(world, opened, 12, 3), 409, "lot", "batch_pending_failed")  # leaves 2..4 free, batch 1 is not
    world.pump()  # B1 does not follow on from the chain's count (0): it fails
    assert world.operation("maker", b1.get_json()["operation"]["id"])["status"] == "failed"
    world.done("maker", batch(world, opened, 20, 5))
    assert world.pt.functions.batch(opened["lot_id"], 0).call()[:2] == [0, 5]
    world.done("maker", batch(world, opened, 30, 5))
    assert world.pt.functions.batch(opened["lot_id"], 1).call()[:2] == [5, 5]


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


# --------------------------------------------------------------------------- totes and loose consignments


def code(gtin: str, serial: str) -> str:
    return f"(01){gtin}(21){serial}"


def a(stock: dict, n: int) -> str:
    """Pack n of the `stock` lot (run cases of 40: case 0 holds 0-39, case 1 holds 40-79)."""
    return code(stock["gtin"], f"S{n:010d}")


@pytest.fixture
def wholesale(world: World, stock) -> dict:
    """The distributor holds, opened: run case 0 of `stock` (off its unpacked pallet) and a run case of a second
    product's lot commissioned in a batch (packs B000000 … B000019; B000020 … B000023 stay in the maker's loose
    stock); case 1 is loose and closed. (Packs are picked out of run cases only: a case committed by its children's
    root moves whole, docs/gas-redesign.md.)"""
    p = world.parties
    gtin = new_product(world)
    lot = f"B{uuid.uuid4().hex[:6].upper()}"
    world.done("maker", world.post("maker", "/v1/lots/openings",
                                   {"gtin": gtin, "lot": lot, "expiry": "2031-06-30", "capacity": 100}))  # fmt: skip
    world.done("maker", world.post("maker", "/v1/lots/batches", {"gtin": gtin, "lot": lot, "serial_range": {
        "prefix": "B", "first": 0, "count": 24, "digits": 6}}))  # fmt: skip
    tree = world.sscc()
    world.done("maker", world.post("maker", "/v1/cases", {"sscc": tree, "gtin": gtin, "lot": lot, "first_index": 0,
                                                          "count": 20}))  # fmt: skip
    world.done(
        "maker", world.post("maker", "/v1/shipments", {"units": [stock["pallet"], tree], "to": p["distributor"].gln})
    )
    world.done("distributor", world.post("distributor", "/v1/receipts", {"units": [stock["pallet"], tree]}))
    world.done("distributor", world.post("distributor", "/v1/unpackings", {"units": [stock["pallet"]]}))
    world.done("distributor", world.post("distributor", "/v1/unpackings", {"units": [stock["cases"][0], tree]}))
    return {**stock, "b_gtin": gtin, "b_lot": lot, "b_lot_id": lgtin_id(gtin, lot), "tree": tree,
            "a_lot_id": lgtin_id(stock["gtin"], stock["lot"])}  # fmt: skip


def b(w: dict, n: int) -> str:
    return code(w["b_gtin"], f"B{n:06d}")


def pack_view(world: World, lot_id: bytes, index: int) -> dict:
    """The contract's pack(); a moved pack's container is no longer stored on chain (docs/gas-redesign.md): it is
    the mirror's (the container of the pack's last PacksMoved), and its custodian, transit and pending return are
    the chain's unit() of that container (a caged tote's: of its cage)."""
    fields = next(i for i in world.pt.abi if i.get("name") == "pack")["outputs"][0]["components"]
    view = dict(zip([f["name"] for f in fields], world.pt.functions.pack(lot_id, index).call(), strict=True))
    if view["moved"]:
        with world.db.connection() as conn:
            container = custody.pack_state(mirror.pack_events(conn, lot_id, index)).container
            row = listings_db.current(conn, [container]).get(container)
        unit = unit_view(world, row.cage_id if row is not None and row.cage_id else container)
        view |= {"container": container, "custodian": unit["custodian"], "inTransit": unit["inTransit"],
                 "returnPending": unit["returnPending"]}  # fmt: skip
    return view


def unit_view(world: World, unit_id: bytes) -> dict:
    fields = next(i for i in world.pt.abi if i.get("name") == "unit")["outputs"][0]["components"]
    return dict(zip([f["name"] for f in fields], world.pt.functions.unit(unit_id).call(), strict=True))


def test_pack_tote_of_two_products_ships_and_dispenses_at_the_pharmacy(world: World, wholesale):
    w, p = wholesale, world.parties
    tote = world.sscc()
    world.done("distributor", world.post("distributor", "/v1/totes",
                                         {"sscc": tote, "packs": [a(w, 1), a(w, 2), b(w, 4), b(w, 6)]}))  # fmt: skip
    tote_id = sscc_id(tote)
    assert unit_view(world, tote_id)["kind"] == 3
    assert unit_view(world, tote_id)["custodian"] == p["distributor"].account
    for lot_id, index in ((w["a_lot_id"], 1), (w["a_lot_id"], 2), (w["b_lot_id"], 4), (w["b_lot_id"], 6)):
        view = pack_view(world, lot_id, index)
        assert view["moved"] and view["container"] == tote_id and view["custodian"] == p["distributor"].account
    # the tote travels like a case: shipped, received, opened, its packs dispensed at the pharmacy
    world.done("distributor", world.post("distributor", "/v1/shipments", {"units": [tote], "to": p["pharmacy"].gln}))
    world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"units": [tote]}))
    world.done("pharmacy", world.post("pharmacy", "/v1/unpackings", {"units": [tote]}))
    # at the pharmacy, a tote pack of the lot commissioned in batches verifies with a proof against its batch's root
    proof = ask(world, "pharmacy", b(w, 6) + f"(10){w['b_lot']}(17)310630")["proof"]
    first, count, root = world.pt.functions.batch(w["b_lot_id"], proof["batch"]).call()
    assert (proof["batch"], proof["root"]) == (0, "0x" + root.hex()) and first <= 6 < first + count
    siblings = [bytes.fromhex(h[2:]) for h in proof["proof"]]
    assert merkle_verify(root, LOT_LEAF, [6, sgtin_id(w["b_gtin"], "B000006")], siblings)
    world.done("pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": [a(w, 1), b(w, 4)]}))
    assert pack_view(world, w["a_lot_id"], 1)["dispensed"] and pack_view(world, w["b_lot_id"], 4)["dispensed"]
    assert not pack_view(world, w["a_lot_id"], 2)["dispensed"]


def test_a_roll_cage_of_totes_and_a_case_through_the_api(world: World, wholesale):
    """POST /v1/roll-cages: totes picked out of opened run cases onto a new roll cage with a closed case (one
    packCageListed); the cage goes to the pharmacy as a pallet and its totes are opened with it; a pack of a tote
    is dispensed and another returned through the cage (dispenseDay, returnCaged)."""
    w, p = wholesale, world.parties
    cage, t1, t2 = world.sscc(), world.sscc(), world.sscc()
    body = {"sscc": cage, "totes": [{"sscc": t1, "packs": [a(w, 21), b(w, 11)]}, {"sscc": t2, "packs": [a(w, 22)]}],
            "cases": [w["cases"][1]]}  # fmt: skip
    world.done("distributor", world.post("distributor", "/v1/roll-cages", body))
    assert unit_view(world, sscc_id(cage))["kind"] == 2 and unit_view(world, sscc_id(t1))["kind"] == 0  # no word
    assert pack_view(world, w["a_lot_id"], 21)["container"] == sscc_id(t1)
    assert unit_view(world, sscc_id(w["cases"][1]))["container"] == sscc_id(cage)
    # a caged tote has no word of its own: unit-level writes name the cage instead
    refused(world.post("distributor", "/v1/quarantines", {"sscc": t1}), 409, "sscc", "on_roll_cage")
    refused(world.post("distributor", "/v1/shipments", {"units": [t2], "to": p["pharmacy"].gln}), 409, "units[0]",
            "on_roll_cage")  # fmt: skip
    world.done("distributor", world.post("distributor", "/v1/shipments", {"units": [cage], "to": p["pharmacy"].gln}))
    world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"units": [cage]}))
    world.done("pharmacy", world.post("pharmacy", "/v1/unpackings", {"units": [cage]}))
    world.done("pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": [a(w, 21), a(w, 22)]}))
    assert pack_view(world, w["a_lot_id"], 21)["dispensed"] and pack_view(world, w["a_lot_id"], 22)["dispensed"]
    world.done("pharmacy", world.post("pharmacy", "/v1/returns", {"packs": [b(w, 11)], "to": p["distributor"].gln}))
    assert pack_view(world, w["b_lot_id"], 11)["returnPending"]


def test_roll_cage_prechecks(world: World, wholesale):
    w = wholesale
    post = lambda body: world.post("distributor", "/v1/roll-cages", body)  # noqa: E731
    tote = lambda *packs: {"sscc": world.sscc(), "packs": list(packs)}  # noqa: E731
    refused(post({"sscc": world.sscc(), "totes": [tote(a(w, 41))]}), 409, "totes[0].packs[0]", "not_unpacked")
    refused(post({"sscc": world.sscc(), "totes": [tote(a(w, 23)), tote(a(w, 23))]}), 422, "totes[1].packs[0]",
            "duplicate")  # fmt: skip
    refused(
        post({"sscc": world.sscc(), "totes": [tote(a(w, 23))], "cases": [w["cases"][0]]}), 409, "cases[0]", "unpacked"
    )  # fmt: skip  (opened)
    refused(post({"sscc": world.sscc(), "totes": [{"sscc": w["cases"][0], "packs": [a(w, 23)]}]}), 409,
            "totes[0].sscc", "already_used")  # fmt: skip
    moved = world.sscc()
    world.done("distributor", world.post("distributor", "/v1/totes", {"sscc": moved, "packs": [a(w, 24)]}))
    world.done("distributor", world.post("distributor", "/v1/unpackings", {"units": [moved]}))
    refused(post({"sscc": world.sscc(), "totes": [tote(a(w, 24))]}), 409, "totes[0].packs[0]", "not_in_case")


def test_pack_tote_prechecks(world: World, wholesale):
    w = wholesale
    tote = world.sscc()
    post = lambda who, packs, sscc=tote: world.post(who, "/v1/totes", {"sscc": sscc, "packs": packs})  # noqa: E731
    refused(post("distributor", [a(w, 41)]), 409, "packs[0]", "not_unpacked")  # case 1: closed
    refused(post("pharmacy", [a(w, 3)]), 409, "packs[0]", "not_holder")
    refused(post("distributor", [a(w, 3), a(w, 3)]), 422, "packs", "duplicate")
    refused(post("distributor", [a(w, 3), code(w["gtin"], "NOSUCH")]), 422, "packs[1]", "unknown_serial")
    refused(post("distributor", [a(w, 3)], sscc=w["cases"][0]), 409, "sscc", "already_used")
    refused(post("distributor", [b(w, 21)]), 409, "packs[0]", "not_holder")  # in the maker's loose stock
    world.done("distributor", world.post("distributor", "/v1/totes", {"sscc": tote, "packs": [a(w, 3)]}))
    other = world.sscc()
    refused(post("distributor", [a(w, 3)], sscc=other), 409, "packs[0]", "not_unpacked")  # now in the closed tote
    world.done("distributor", world.post("distributor", "/v1/unpackings", {"units": [tote]}))
    world.done("distributor", world.post("distributor", "/v1/totes", {"sscc": other, "packs": [a(w, 3)]}))
    assert pack_view(world, w["a_lot_id"], 3)["container"] == sscc_id(other)


def test_pack_tote_idempotent_replay(world: World, wholesale):
    body = {"sscc": world.sscc(), "packs": [a(wholesale, 8)]}
    first = world.post("distributor", "/v1/totes", body, key="tote-key")
    world.done("distributor", first)
    again = world.post("distributor", "/v1/totes", body, key="tote-key")
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["operation"]["id"] == first.get_json()["operation"]["id"]


def test_ship_packs_as_a_consignment_and_a_loose_pack_shipped_twice_is_refused(world: World, wholesale):
    w, p = wholesale, world.parties
    body = {"packs": [a(w, 5), b(w, 8)], "to": p["pharmacy"].gln}
    op = world.done("distributor", world.post("distributor", "/v1/pack-shipments", body))
    view = pack_view(world, w["a_lot_id"], 5)
    assert view["moved"] and view["inTransit"]
    consignment = unit_view(world, view["container"])
    assert consignment["kind"] == 4 and consignment["recipient"] == p["pharmacy"].account
    assert world.w3.eth.get_transaction_receipt(op["tx_hash"])["status"] == 1
    # shipped twice while in transit: refused before it reaches the chain
    refused(world.post("distributor", "/v1/pack-shipments", {"packs": [a(w, 5)], "to": p["pharmacy2"].gln}),
            409, "packs[0]", "in_transit")  # fmt: skip
    # the pharmacy receives the consignment by scanning a pack of it; it is opened on arrival
    world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"packs": [b(w, 8)]}))
    assert unit_view(world, view["container"])["custodian"] == p["pharmacy"].account
    assert pack_view(world, w["a_lot_id"], 5)["custodian"] == p["pharmacy"].account
    # shipped again by the distributor, who no longer holds it
    refused(world.post("distributor", "/v1/pack-shipments", {"packs": [a(w, 5)], "to": p["pharmacy2"].gln}),
            409, "packs[0]", "not_holder")  # fmt: skip
    # the pharmacy dispenses it from the consignment
    world.done("pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": [a(w, 5)]}))
    assert pack_view(world, w["a_lot_id"], 5)["dispensed"]


def test_ship_packs_prechecks(world: World, wholesale):
    w, p = wholesale, world.parties
    post = lambda who, body: world.post(who, "/v1/pack-shipments", body)  # noqa: E731
    refused(post("distributor", {"packs": [a(w, 5)], "to": p["distributor"].gln}), 422, "to", "self")
    refused(post("distributor", {"packs": [a(w, 45)], "to": p["pharmacy"].gln}), 409, "packs[0]", "not_unpacked")
    refused(post("pharmacy", {"packs": [a(w, 5)], "to": p["pharmacy2"].gln}), 409, "packs[0]", "not_holder")
    world.done("distributor", world.post("distributor", "/v1/quarantines", {"sscc": w["cases"][0]}))
    refused(post("distributor", {"packs": [a(w, 5)], "to": p["pharmacy"].gln}), 409, "packs[0]", "quarantined")
    # a receipt of packs that travel in no consignment names the reason
    refused(world.post("pharmacy", "/v1/receipts", {"packs": [a(w, 6)]}), 409, "packs[0]", "not_in_consignment")


# --------------------------------------------------------------------------- returns


@pytest.fixture
def at_pharmacy(world: World, wholesale) -> dict:
    """Packs a5, a6, a7 and b8 shipped loose by the distributor to the pharmacy, received (and so opened) there."""
    body = {"packs": [a(wholesale, 5), a(wholesale, 6), a(wholesale, 7), b(wholesale, 8)],
            "to": world.parties["pharmacy"].gln}  # fmt: skip
    world.done("distributor", world.post("distributor", "/v1/pack-shipments", body))
    world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"packs": [a(wholesale, 5)]}))
    return {**wholesale, "consignment": pack_view(world, wholesale["a_lot_id"], 5)["container"]}


def test_a_return_accepted_is_saleable_stock_of_the_distributor_again(world: World, at_pharmacy):
    w, p = at_pharmacy, world.parties
    world.done(
        "pharmacy", world.post("pharmacy", "/v1/returns", {"packs": [a(w, 6), b(w, 8)], "to": p["distributor"].gln})
    )
    view = pack_view(world, w["a_lot_id"], 6)
    assert view["returnPending"] and view["inTransit"] and view["container"] != w["consignment"]
    returned = view["container"]
    assert (
        unit_view(world, returned)["returnPending"]
        and unit_view(world, returned)["recipient"] == p["distributor"].account
    )
    # a return is accepted, not received
    refused(world.post("distributor", "/v1/receipts", {"packs": [a(w, 6)]}), 409, "packs[0]", "return_needs_acceptance")
    refused(world.post("pharmacy2", "/v1/return-acceptances", {"packs": [a(w, 6)]}), 409, "packs[0]", "not_recipient")
    world.done("distributor", world.post("distributor", "/v1/return-acceptances", {"packs": [b(w, 8)]}))
    after = unit_view(world, returned)
    assert after["custodian"] == p["distributor"].account and not after["returnPending"] and not after["inTransit"]
    assert pack_view(world, w["a_lot_id"], 6)["custodian"] == p["distributor"].account
    # saleable again: the distributor picks it into a tote for another pharmacy
    tote = world.sscc()
    world.done("distributor", world.post("distributor", "/v1/totes", {"sscc": tote, "packs": [a(w, 6)]}))
    assert pack_view(world, w["a_lot_id"], 6)["container"] == sscc_id(tote)


def test_draws_from_one_unit_queued_together_use_the_rest_the_first_leaves(world: World, at_pharmacy):
    """Two returns and a dispense out of one consignment, all queued before the relayer runs: the two returns go in
    one transaction, the second built on the rest the first leaves; the dispense waits until the mirror has that
    rest (docs/gas-redesign.md: draws from one listed unit are serialised). All three reach the chain, and the
    mirror's listing of the consignment is the chain's."""
    w, p = at_pharmacy, world.parties
    first = world.post("pharmacy", "/v1/returns", {"packs": [a(w, 6)], "to": p["distributor"].gln})
    second = world.post("pharmacy", "/v1/returns", {"packs": [b(w, 8)], "to": p["distributor"].gln})
    dispense = world.post("pharmacy", "/v1/dispensations", {"packs": [a(w, 7)]})
    assert {r.status_code for r in (first, second, dispense)} == {202}
    world.relayer.run_once()  # one round: the returns are sent together, the dispense is not built yet
    ops = [world.operation("pharmacy", r.get_json()["operation"]["id"]) for r in (first, second, dispense)]
    assert [o["status"] for o in ops] == ["submitted", "submitted", "pending"]
    assert ops[0]["tx_hash"] == ops[1]["tx_hash"]
    world.pump()
    assert all(world.operation("pharmacy", r.get_json()["operation"]["id"])["status"] == "confirmed"
               for r in (first, second, dispense))  # fmt: skip
    assert pack_view(world, w["a_lot_id"], 7)["dispensed"]
    with world.db.connection() as conn:
        row = listings_db.current(conn, [w["consignment"]])[w["consignment"]]
    assert row.listing_hash == world.pt.functions.listingOf(w["consignment"]).call()
    assert {i for g in decode_listing(row.listing) for i in g.indexes()} == {5, 7}  # a6 and b8 left it


def test_a_consignment_is_named_by_its_id_once_mined_and_received_by_it(world: World, wholesale):
    w, p = wholesale, world.parties
    body = {"packs": [a(w, 11), b(w, 10)], "to": p["pharmacy"].gln}
    first = world.post("distributor", "/v1/pack-shipments", body, key="consign-by-id")
    assert first.status_code == 202 and first.get_json()["operation"]["consignment"] is None  # not mined yet
    op = world.done("distributor", first)
    made = pack_view(world, w["a_lot_id"], 11)["container"]
    assert op["consignment"] == "0x" + made.hex()
    again = world.post("distributor", "/v1/pack-shipments", body, key="consign-by-id")  # the rescan's answer too
    assert (
        again.headers["Idempotent-Replayed"] == "true"
        and again.get_json()["operation"]["consignment"] == op["consignment"]
    )
    # received by its id; only by its recipient, only while in transit
    refused(world.post("pharmacy2", "/v1/receipts", {"consignments": [op["consignment"]]}), 409, "consignments[0]",
            "not_recipient")  # fmt: skip
    unknown = "0x" + "ab" * 32
    refused(world.post("pharmacy", "/v1/receipts", {"consignments": [unknown]}), 409, "consignments[0]",
            "unknown_consignment")  # fmt: skip
    world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"consignments": [op["consignment"]]}))
    assert unit_view(world, made)["custodian"] == p["pharmacy"].account and not unit_view(world, made)["inTransit"]
    refused(world.post("pharmacy", "/v1/receipts", {"consignments": [op["consignment"]]}), 409, "consignments[0]",
            "not_in_transit")  # fmt: skip

    # a return is named by its id too: accepted (not received) by it, or refused by it
    back = world.done(
        "pharmacy", world.post("pharmacy", "/v1/returns", {"packs": [a(w, 11)], "to": p["distributor"].gln})
    )
    assert back["consignment"] == "0x" + pack_view(world, w["a_lot_id"], 11)["container"].hex()
    refused(world.post("distributor", "/v1/receipts", {"consignments": [back["consignment"]]}), 409,
            "consignments[0]", "return_needs_acceptance")  # fmt: skip
    world.done("distributor", world.post("distributor", "/v1/return-acceptances",
                                         {"consignments": [back["consignment"]]}))  # fmt: skip
    assert pack_view(world, w["a_lot_id"], 11)["custodian"] == p["distributor"].account
    other = world.done(
        "pharmacy", world.post("pharmacy", "/v1/returns", {"packs": [b(w, 10)], "to": p["distributor"].gln})
    )
    refused(world.post("distributor", "/v1/return-acceptances", {"consignments": [op["consignment"]]}), 409,
            "consignments[0]", "not_in_transit")  # fmt: skip
    world.done("distributor", world.post("distributor", "/v1/refusals", {"consignments": [other["consignment"]]}))
    assert pack_view(world, w["b_lot_id"], 10)["custodian"] == p["pharmacy"].account


def test_a_pack_shipment_waited_for_answers_with_its_consignment(world: World, wholesale):
    """?wait=confirmed: the answer itself names the consignment (relayer and indexer in a thread)."""
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
        body = {"packs": [a(wholesale, 12)], "to": world.parties["pharmacy"].gln}
        resp = world.post("distributor", "/v1/pack-shipments?wait=confirmed&timeout=30", body)
    finally:
        stop.set()
        thread.join()
    assert resp.status_code == 200, resp.get_json()
    operation = resp.get_json()["operation"]
    assert operation["status"] == "confirmed"
    assert operation["consignment"] == "0x" + pack_view(world, wholesale["a_lot_id"], 12)["container"].hex()


def test_return_prechecks_name_the_reason(world: World, at_pharmacy):
    w, p = at_pharmacy, world.parties
    post = lambda who, packs, to="distributor": world.post(who, "/v1/returns", {"packs": packs, "to": p[to].gln})  # noqa: E731
    world.done("pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": [a(w, 5)]}))
    refused(post("pharmacy", [a(w, 5)]), 409, "packs[0]", "already_dispensed")
    refused(post("pharmacy2", [a(w, 6)]), 409, "packs[0]", "not_holder")
    refused(post("pharmacy", [a(w, 6)], to="maker"), 409, "packs[0]", "not_from_that_party")
    refused(post("pharmacy", [a(w, 6)], to="pharmacy"), 422, "to", "self")
    assert post("distributor", [a(w, 9)], to="maker").status_code == 403
    # accepting what is not a return
    world.done("distributor", world.post("distributor", "/v1/pack-shipments",
                                         {"packs": [a(w, 10)], "to": p["pharmacy"].gln}))  # fmt: skip
    refused(world.post("pharmacy", "/v1/return-acceptances", {"packs": [a(w, 10)]}), 409, "packs[0]", "not_a_return")


def _returned_after_a_refused_pallet(world: World, w: dict, unit: bytes, packs: tuple[int, int]) -> None:
    """The pharmacy palletises `unit` (sent to it by the distributor) and ships the pallet to pharmacy2, who refuses
    it; back, unpacked, the first pack returns to the distributor, the second not to pharmacy2."""
    pt = world.pt
    world.deliver([unit], "distributor", "pharmacy", unpack=False)
    pallet = world.sscc()
    world.act("pharmacy", pt.functions.packPallet(int(pallet), [unit]))
    world.act("pharmacy", pt.functions.ship([sscc_id(pallet)], world.account("pharmacy2")))
    world.act("pharmacy2", pt.functions.refuseShipment([sscc_id(pallet)]))
    world.act("pharmacy", pt.functions.unpack([sscc_id(pallet), unit]))
    assert unit_view(world, unit)["sender"] == world.account("distributor")  # the contract's _sender
    body = {"packs": [a(w, packs[0])], "to": world.parties["distributor"].gln}
    world.done("pharmacy", world.post("pharmacy", "/v1/returns", body))
    assert pack_view(world, w["a_lot_id"], packs[0])["returnPending"]
    refused(world.post("pharmacy", "/v1/returns", {"packs": [a(w, packs[1])], "to": world.parties["pharmacy2"].gln}),
            409, "packs[0]", "not_from_that_party")  # fmt: skip


def test_a_return_after_the_case_came_back_on_a_refused_pallet_goes_to_the_cases_sender(world: World, wholesale):
    """Issue 14 review #12: the return-sender rule is the custody fold's (the contract's _sender), not a second
    walk of the path. The pharmacy palletises a case the distributor sent it and ships the pallet on; refused, the
    pallet comes back with no sender of its own, so the case's own sender (the distributor) is where its packs
    may return (returnFromCase). The second walk forgot it at the pallet's refusal and refused the return
    (not_from_that_party)."""
    _returned_after_a_refused_pallet(world, wholesale, sscc_id(wholesale["cases"][1]), (41, 42))  # packs 40-79


def test_a_return_after_the_tote_came_back_on_a_refused_pallet_goes_to_the_totes_sender(world: World, wholesale):
    """The same for a tote the distributor picked (returnListed)."""
    tote = world.sscc()
    body = {"sscc": tote, "packs": [a(wholesale, 13), a(wholesale, 14)]}
    world.done("distributor", world.post("distributor", "/v1/totes", body))
    _returned_after_a_refused_pallet(world, wholesale, sscc_id(tote), (13, 14))


def test_a_tree_cases_packs_go_into_a_tote_of_their_own(world: World, wholesale):
    """A case committed by its children's root is no pick source among others (the contract takes its packs with
    their multiproof, one case a tote: packToteFromCase); the tote is then drawn from like any listed unit."""
    w, p = wholesale, world.parties
    tree = world.sscc()
    world.done("maker", world.post("maker", "/v1/cases", {"sscc": tree, "gtin": w["b_gtin"], "lot": w["b_lot"],
                                                          "packs": [b(w, 20), b(w, 22)]}))  # fmt: skip
    world.done("maker", world.post("maker", "/v1/unpackings", {"units": [tree]}))
    mixed = {"sscc": world.sscc(), "packs": [b(w, 20), b(w, 23)]}  # with a pack of the loose stock
    refused(world.post("maker", "/v1/totes", mixed), 409, "packs[0]", "tree_case")
    refused(world.post("maker", "/v1/pack-shipments", {"packs": [b(w, 22)], "to": p["distributor"].gln}),
            409, "packs[0]", "tree_case")  # fmt: skip
    tote = world.sscc()
    world.done("maker", world.post("maker", "/v1/totes", {"sscc": tote, "packs": [b(w, 20), b(w, 22)]}))
    assert pack_view(world, w["b_lot_id"], 22)["container"] == sscc_id(tote)
    world.done("maker", world.post("maker", "/v1/unpackings", {"units": [tote]}))
    world.done("maker", world.post("maker", "/v1/pack-shipments", {"packs": [b(w, 22)], "to": p["distributor"].gln}))
    view = pack_view(world, w["b_lot_id"], 22)
    assert view["inTransit"] and view["container"] != sscc_id(tote)
    assert pack_view(world, w["b_lot_id"], 20)["container"] == sscc_id(tote)


def test_a_return_of_own_loose_stock_is_refused_not_a_500(world: World, stock):
    """A manufacturer that also dispenses cannot return its never-shipped loose stock (review 14-15 #3)."""
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("UPDATE organisations SET roles = ARRAY['dispenser', 'manufacturer'] WHERE gln = %s",
                    (world.parties["maker"].gln,))  # fmt: skip
    loose = code(stock["gtin"], "S0000000090")  # the lot's leaves 80..99 are in no case
    body = {"packs": [loose], "to": world.parties["distributor"].gln}
    refused(world.post("maker", "/v1/returns", body), 409, "packs[0]", "not_from_that_party")


def test_a_refused_return_is_back_at_the_pharmacy_and_may_be_returned_again(world: World, at_pharmacy):
    w, p = at_pharmacy, world.parties
    body = {"packs": [a(w, 7)], "to": p["distributor"].gln}
    world.done("pharmacy", world.post("pharmacy", "/v1/returns", body))
    world.done("distributor", world.post("distributor", "/v1/refusals", {"packs": [a(w, 7)]}))
    view = pack_view(world, w["a_lot_id"], 7)
    assert view["custodian"] == p["pharmacy"].account and not view["returnPending"]
    # back at the pharmacy, it may be returned to the distributor again
    world.done("pharmacy", world.post("pharmacy", "/v1/returns", body))
    assert pack_view(world, w["a_lot_id"], 7)["returnPending"]


def test_return_idempotent_replay(world: World, at_pharmacy):
    body = {"packs": [a(at_pharmacy, 6)], "to": world.parties["distributor"].gln}
    first = world.post("pharmacy", "/v1/returns", body, key="return-key")
    world.done("pharmacy", first)
    again = world.post("pharmacy", "/v1/returns", body, key="return-key")
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["operation"]["id"] == first.get_json()["operation"]["id"]


# --------------------------------------------------------------------------- stolen packs and undone dispenses


def test_report_stolen_by_the_holder_ends_the_packs(world: World, wholesale):
    w = wholesale
    world.done("distributor", world.post("distributor", "/v1/thefts", {"packs": [a(w, 11), a(w, 45)]}))
    assert pack_view(world, w["a_lot_id"], 11)["stolen"] and pack_view(world, w["a_lot_id"], 45)["stolen"]
    world.done("maker", world.post("maker", "/v1/thefts", {"packs": [b(w, 21)]}))  # its loose stock
    assert pack_view(world, w["b_lot_id"], 21)["stolen"]
    refused(world.post("distributor", "/v1/thefts", {"packs": [a(w, 11)]}), 409, "packs[0]", "already_stolen")
    refused(world.post("distributor", "/v1/totes", {"sscc": world.sscc(), "packs": [a(w, 11)]}),
            409, "packs[0]", "already_stolen")  # fmt: skip
    refused(world.post("pharmacy", "/v1/thefts", {"packs": [a(w, 12)]}), 409, "packs[0]", "not_holder")
    refused(world.post("distributor", "/v1/thefts", {"packs": [b(w, 22)]}), 409, "packs[0]", "not_holder")


def test_a_pack_stolen_or_destroyed_from_loose_stock_cannot_be_packed_into_a_case(world: World, wholesale):
    """Issue 14 review #10: the pre-check names the pack and why, before the contract's PackIsInactive would."""
    w = wholesale
    world.done("maker", world.post("maker", "/v1/thefts", {"packs": [b(w, 21)]}))
    world.done("maker", world.post("maker", "/v1/destructions", {"packs": [a(w, 85)]}))
    tree = {"sscc": world.sscc(), "gtin": w["b_gtin"], "lot": w["b_lot"], "packs": [b(w, 22), b(w, 21)]}
    refused(world.post("maker", "/v1/cases", tree), 409, "packs[1]", "already_stolen")
    run = {"sscc": world.sscc(), "gtin": w["gtin"], "lot": w["lot"], "first_index": 80, "count": 20}
    refused(world.post("maker", "/v1/cases", run), 409, "first_index", "already_destroyed")
    refused(world.post("maker", "/v1/totes", {"sscc": world.sscc(), "packs": [b(w, 21)]}),
            409, "packs[0]", "already_stolen")  # fmt: skip
    world.done("maker", world.post("maker", "/v1/cases", run | {"sscc": world.sscc(), "count": 5}))  # 80-84
    assert pack_view(world, w["a_lot_id"], 84)["allocated"] and not pack_view(world, w["a_lot_id"], 85)["allocated"]


def dispense(world: World, packs: list[str]) -> dict:
    return world.done("pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": packs}))


def test_undo_dispense_within_10_days_is_accepted(world: World, at_pharmacy):
    w = at_pharmacy
    dispense(world, [a(w, 5)])
    dispense(world, [a(w, 7), b(w, 8)])
    refused(world.post("pharmacy2", "/v1/dispensation-undos", {"packs": [a(w, 7)]}), 409, "packs[0]", "not_dispenser")
    refused(world.post("pharmacy", "/v1/dispensation-undos", {"packs": [a(w, 6)]}), 409, "packs[0]", "not_dispensed")
    op = world.done("pharmacy", world.post("pharmacy", "/v1/dispensation-undos", {"packs": [a(w, 7)]}))
    assert world.w3.eth.get_transaction_receipt(op["tx_hash"])["status"] == 1
    assert not pack_view(world, w["a_lot_id"], 7)["dispensed"] and pack_view(world, w["a_lot_id"], 5)["dispensed"]
    assert pack_view(world, w["b_lot_id"], 8)["dispensed"]
    # the first dispense of the day too, after the undo (its records are read from the chain's logs)
    world.done("pharmacy", world.post("pharmacy", "/v1/dispensation-undos", {"packs": [a(w, 5), b(w, 8)]}))
    assert not pack_view(world, w["a_lot_id"], 5)["dispensed"] and not pack_view(world, w["b_lot_id"], 8)["dispensed"]
    refused(world.post("pharmacy", "/v1/dispensation-undos", {"packs": [a(w, 7)]}), 409, "packs[0]", "not_dispensed")
    # saleable again: dispensed anew
    dispense(world, [a(w, 7)])
    assert pack_view(world, w["a_lot_id"], 7)["dispensed"]


def test_undo_dispense_is_sent_although_a_later_dispense_of_that_day_is_mined_but_not_mirrored(
    world: World, at_pharmacy
):
    """The day's DispenseRecord list comes from the chain's logs, not the mirror (review 14-15 #2), and an undo
    waits out the dispenser's dispense still in flight (CI stop 21: built from the mined logs while a later
    dispense sat in the pool, it reverted with UndoRecordsInvalid)."""
    w = at_pharmacy
    dispense(world, [a(w, 5), a(w, 7)])
    later = world.post("pharmacy", "/v1/dispensations", {"packs": [a(w, 6)]})
    assert later.status_code == 202, later.get_json()
    undo = world.post("pharmacy", "/v1/dispensation-undos", {"packs": [a(w, 7)]})
    assert undo.status_code == 202, undo.get_json()
    world.w3.provider.make_request("evm_setAutomine", [False])
    try:
        world.relayer.run_once()  # the dispense is sent, not mined; the undo must not go with it
        world.relayer.run_once()
        assert world.operation("pharmacy", later.get_json()["operation"]["id"])["status"] == "submitted"
        assert world.operation("pharmacy", undo.get_json()["operation"]["id"])["status"] == "pending"
    finally:
        world.w3.provider.make_request("evm_setAutomine", [True])
    world.w3.provider.make_request("evm_mine", [])
    world.relayer.run_once()  # the dispense settles (mined, not indexed); the undo goes now
    assert world.relayer.counts().get("pending", 0) == 0
    op = world.done("pharmacy", undo)
    assert world.w3.eth.get_transaction_receipt(op["tx_hash"])["status"] == 1
    assert not pack_view(world, w["a_lot_id"], 7)["dispensed"] and pack_view(world, w["a_lot_id"], 6)["dispensed"]


def test_undo_dispense_after_10_days_is_refused(world: World, at_pharmacy):
    w = at_pharmacy
    dispense(world, [a(w, 6), a(w, 7)])
    late = world.post("pharmacy", "/v1/dispensation-undos", {"packs": [a(w, 7)]})  # accepted on day 0 …
    assert late.status_code == 202, late.get_json()
    world.w3.provider.make_request("evm_increaseTime", [10 * 86_400 + 3_600])
    world.w3.provider.make_request("evm_mine", [])
    world.indexer.run_until_caught_up()
    # … sent after 10 days: the chain refuses it, and the failed operation names the contract's error
    world.pump()
    failed = world.operation("pharmacy", late.get_json()["operation"]["id"])
    assert failed["status"] == "failed" and failed["error"]["error"] == "UndoWindowClosed", failed
    assert failed["error"]["args"]["deadline"] - failed["error"]["args"]["dispensedAt"] == 10 * 86_400
    refused(world.post("pharmacy", "/v1/dispensation-undos", {"packs": [a(w, 6)]}), 409, "packs[0]",
            "undo_window_closed")  # fmt: skip
    assert pack_view(world, w["a_lot_id"], 6)["dispensed"]


def test_undo_dispense_of_a_stolen_pack_is_refused_and_replays(world: World, at_pharmacy):
    w = at_pharmacy
    dispense(world, [a(w, 5), a(w, 6)])
    world.done("pharmacy", world.post("pharmacy", "/v1/thefts", {"packs": [a(w, 7)]}))
    refused(world.post("pharmacy", "/v1/dispensation-undos", {"packs": [a(w, 7)]}), 409, "packs[0]", "stolen")
    first = world.post("pharmacy", "/v1/dispensation-undos", {"packs": [a(w, 6)]}, key="undo-key")
    world.done("pharmacy", first)
    again = world.post("pharmacy", "/v1/dispensation-undos", {"packs": [a(w, 6)]}, key="undo-key")
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["operation"]["id"] == first.get_json()["operation"]["id"]


def replays(world: World, who: str, path: str, body: dict) -> None:
    """Posted, confirmed, posted again with the same key: the first answer, replayed."""
    key = uuid.uuid4().hex
    first = world.post(who, path, body, key=key)
    world.done(who, first)
    again = world.post(who, path, body, key=key)
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true", again.get_json()
    assert again.get_json()["operation"]["id"] == first.get_json()["operation"]["id"]


def test_every_new_action_replays_its_first_answer(world: World, at_pharmacy):
    w, p = at_pharmacy, world.parties
    replays(world, "maker", "/v1/lots/openings", {"gtin": w["b_gtin"], "lot": "R1", "expiry": "2031-01-31",
                                                  "capacity": 3})  # fmt: skip
    replays(world, "distributor", "/v1/pack-shipments", {"packs": [a(w, 20)], "to": p["pharmacy"].gln})
    replays(world, "pharmacy", "/v1/returns", {"packs": [a(w, 6)], "to": p["distributor"].gln})
    replays(world, "distributor", "/v1/return-acceptances", {"packs": [a(w, 6)]})
    replays(world, "pharmacy", "/v1/receipts", {"packs": [a(w, 20)]})
    replays(world, "pharmacy", "/v1/thefts", {"packs": [a(w, 7)]})
    assert pack_view(world, w["a_lot_id"], 7)["stolen"] and pack_view(world, w["a_lot_id"], 20)["custodian"] == (
        p["pharmacy"].account
    )


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/v1/lots/openings", {"gtin": "09506000134352", "lot": "L1", "expiry": "2031-01-31", "capacity": 0},
         "capacity"),
        ("/v1/lots/openings", {"gtin": "09506000134352", "lot": "L1", "expiry": "2031-01-31"}, "capacity"),
        ("/v1/lots/batches", {"gtin": "09506000134352", "lot": "L1", "serials": ["A"],
                              "serial_range": {"first": 0, "count": 1}}, "serials"),
        ("/v1/lots/batches", {"gtin": "09506000134350", "lot": "L1", "serials": ["A"]}, "gtin"),
        ("/v1/totes", {"sscc": "106141411234567890", "packs": ["(01)09506000134352(21)A"]}, "sscc"),
        ("/v1/totes", {"sscc": "106141411234567897", "packs": []}, "packs"),
        ("/v1/pack-shipments", {"packs": ["(01)09506000134352(21)A"]}, "to"),
        ("/v1/returns", {"packs": ["(01)09506000134353(21)A"], "to": "9520123456788"}, "packs"),
        ("/v1/return-acceptances", {"packs": "x"}, "packs"),
        ("/v1/thefts", {}, "packs"),
        ("/v1/dispensation-undos", {"packs": ["(01)09506000134352(21)A"], "extra": 1}, "extra"),
        ("/v1/receipts", {}, "units"),
        ("/v1/receipts", {"consignments": ["0x12"]}, "consignments"),
        ("/v1/return-acceptances", {}, "packs"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(world: World, path: str, body: dict, where: str):
    who = {"/v1/lots/openings": "maker", "/v1/lots/batches": "maker", "/v1/returns": "pharmacy",
           "/v1/dispensation-undos": "pharmacy"}.get(path, "distributor")  # fmt: skip
    resp = world.post(who, path, body)
    problem = resp.get_json()
    assert resp.status_code == 422, problem
    assert where in str(problem["errors"]["json"]), problem
