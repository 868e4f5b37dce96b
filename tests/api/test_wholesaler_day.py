"""Issue 14's "wholesaler day", end to end through the HTTP API on anvil + Postgres, at small scale.

Every write is a POST of the scanner API, mined by the relayer and mirrored by the indexer (World.done); every
read is a GET of the API; the chain is read directly only to check the answers against it (web3).

The day: a lot opened and commissioned in two batches, and a second product's lot commissioned in one go; cases
of both, two of them on a pallet, shipped to the distributor and received; the cases opened; packs of the two
lots each-picked into mixed totes for two pharmacies; the first pharmacy's totes on a roll cage (a pallet),
shipped and received; the pharmacy verifies a tote pack (verified, custody through the tote, its Merkle proof
checked against the chain's batch root), dispenses, returns two packs (accepted by the distributor by the
return's id, then saleable: shipped again), undoes a dispense within 10 days (accepted) and after (refused, anvil
time travel); a loose pack shipped twice is refused; a return of a pack the pharmacy never had is refused with
its reason.
"""

from __future__ import annotations

import uuid

from app.detector.core import Detector
from app.ids import lgtin_id, sgtin_id, sscc_id
from app.merkle import LOT_LEAF
from app.merkle import verify as merkle_verify
from tests.world import GTIN_BASE, World, check_digit


def _refused(resp, status: int, field: str, rule: str) -> dict:
    body = resp.get_json()
    assert resp.status_code == status, body
    assert body["code"] == rule and body["errors"]["json"][field][0].startswith(f"{rule}: "), body
    return body


def _get(world: World, who: str, path: str, **params) -> dict:
    resp = world.client.get(path, query_string=params, headers={"Authorization": f"Bearer {world.parties[who].key}"})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _product(world: World, name: str) -> str:
    gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    world.done("maker", world.post("maker", "/v1/products", {"gtin": gtin, "name": name,
                                                              "storage": {"min_celsius": 2, "max_celsius": 25}}))  # fmt: skip
    return gtin


def test_a_wholesaler_day(world: World):
    p = world.parties
    post, done = world.post, world.done

    # -- the manufacturer: lot A opened and commissioned in 2 batches; lot B in one go; cases; a pallet
    ga, gb = _product(world, "Metformin 500 mg"), _product(world, "Ramipril 5 mg")
    la, lb = f"A{uuid.uuid4().hex[:6].upper()}", f"B{uuid.uuid4().hex[:6].upper()}"
    lot_a = lgtin_id(ga, la)
    done("maker", post("maker", "/v1/lots/openings", {"gtin": ga, "lot": la, "expiry": "2031-06-30", "capacity": 40}))
    for first in (0, 20):
        done("maker", post("maker", "/v1/lots/batches", {"gtin": ga, "lot": la, "serial_range": {
            "prefix": "A", "first": first, "count": 20, "digits": 6}}))  # fmt: skip
    done("maker", post("maker", "/v1/lots", {"gtin": gb, "lot": lb, "expiry": "2031-03-31", "serial_range": {
        "prefix": "B", "first": 0, "count": 20, "digits": 6}}))  # fmt: skip

    def a(n: int) -> str:
        return f"(01){ga}(21)A{n:06d}"

    def b(n: int) -> str:
        return f"(01){gb}(21)B{n:06d}"

    case_a1, case_a2, case_b = world.sscc(), world.sscc(), world.sscc()
    # run cases (packs are picked out of run cases: docs/gas-redesign.md), one of each of lot A's batches
    done("maker", post("maker", "/v1/cases", {"sscc": case_a1, "gtin": ga, "lot": la, "first_index": 0, "count": 10}))
    done("maker", post("maker", "/v1/cases", {"sscc": case_a2, "gtin": ga, "lot": la, "first_index": 20,
                                              "count": 10}))  # fmt: skip
    done("maker", post("maker", "/v1/cases", {"sscc": case_b, "gtin": gb, "lot": lb, "first_index": 0, "count": 10}))
    pallet = world.sscc()
    done("maker", post("maker", "/v1/pallets", {"sscc": pallet, "cases": [case_a1, case_a2]}))

    # -- to the distributor: the pallet and a loose case, shipped and received; all opened
    done("maker", post("maker", "/v1/shipments", {"units": [pallet, case_b], "to": p["distributor"].gln}))
    done("distributor", post("distributor", "/v1/receipts", {"units": [pallet, case_b]}))
    done("distributor", post("distributor", "/v1/unpackings", {"units": [pallet]}))
    done("distributor", post("distributor", "/v1/unpackings", {"units": [case_a1, case_a2, case_b]}))

    # -- each-picking: mixed totes of both lots (and both of lot A's batches), two for the pharmacy, one for
    # pharmacy2; the pharmacy's two on a roll cage
    tote1, tote2, tote3 = world.sscc(), world.sscc(), world.sscc()
    done("distributor", post("distributor", "/v1/totes", {"sscc": tote1, "packs": [a(1), a(2), a(21), b(1), b(2)]}))
    done("distributor", post("distributor", "/v1/totes", {"sscc": tote2, "packs": [a(5), a(22), b(5)]}))
    done("distributor", post("distributor", "/v1/totes", {"sscc": tote3, "packs": [a(3), a(23), b(3)]}))
    cage = world.sscc()
    done("distributor", post("distributor", "/v1/pallets", {"sscc": cage, "cases": [tote1, tote2]}))
    done("distributor", post("distributor", "/v1/shipments", {"units": [cage], "to": p["pharmacy"].gln}))
    done("distributor", post("distributor", "/v1/shipments", {"units": [tote3], "to": p["pharmacy2"].gln}))
    done("pharmacy", post("pharmacy", "/v1/receipts", {"units": [cage]}))
    done("pharmacy2", post("pharmacy2", "/v1/receipts", {"units": [tote3]}))
    done("pharmacy", post("pharmacy", "/v1/unpackings", {"units": [cage]}))
    done("pharmacy", post("pharmacy", "/v1/unpackings", {"units": [tote1, tote2]}))

    # -- the pharmacy verifies a tote pack of lot A's second batch: verified, custody through the tote and the
    # roll cage, and a proof that checks against the batch's root read from the chain
    answer = _get(world, "pharmacy", "/v1/verify", code=f"{a(21)}(10){la}(17)310630")
    world.flush_log()
    assert answer["verdict"] == "verified" and answer["reasons"] == [], answer
    custody = answer["custody"]
    assert custody["container"] == "0x" + sscc_id(tote1).hex() and custody["container_kind"] == "tote"
    assert custody["holder"]["gln"] == p["pharmacy"].gln and not custody["in_transit"]
    steps = [(s["event"], s["unit"]) for s in custody["path"]]
    for step in [("packed", "0x" + sscc_id(tote1).hex()), ("received", "0x" + sscc_id(cage).hex()),
                 ("received", "0x" + sscc_id(pallet).hex())]:  # fmt: skip
        assert step in steps, (step, steps)
    proof = answer["proof"]
    first, count, root = world.pt.functions.batch(lot_a, 1).call()
    assert (proof["batch"], proof["leaf_index"], proof["root"]) == (1, 21, "0x" + root.hex())
    assert (proof["batch_first_index"], proof["batch_count"]) == (first, count) == (20, 20)
    siblings = [bytes.fromhex(h[2:]) for h in proof["proof"]]
    assert merkle_verify(root, LOT_LEAF, [21, sgtin_id(ga, "A000021")], siblings)
    # pharmacy2 never had it
    other = _get(world, "pharmacy2", "/v1/verify", code=a(21))
    assert "not_received_by_requester" in [r["code"] for r in other["reasons"]]

    # -- dispensing
    done("pharmacy", post("pharmacy", "/v1/dispensations", {"packs": [a(1), b(1), a(22)]}))
    assert _get(world, "pharmacy", "/v1/verify", code=a(1))["verdict"] == "dispensed"

    # -- a return of two packs, accepted by the distributor by the return's id, then saleable stock again
    back = done("pharmacy", post("pharmacy", "/v1/returns", {"packs": [a(2), b(2)], "to": p["distributor"].gln}))
    assert back["consignment"] is not None
    pending = _get(world, "distributor", "/v1/verify", code=a(2))
    assert pending["state"]["return_pending"] and pending["custody"]["container"] == back["consignment"]
    done("distributor", post("distributor", "/v1/return-acceptances", {"consignments": [back["consignment"]]}))
    restocked = _get(world, "distributor", "/v1/verify", code=b(2))
    assert not restocked["state"]["return_pending"] and restocked["verdict"] == "verified", restocked
    assert restocked["custody"]["holder"]["gln"] == p["distributor"].gln
    again = done("distributor", post("distributor", "/v1/pack-shipments", {"packs": [a(2), b(2)],
                                                                            "to": p["pharmacy2"].gln}))  # fmt: skip
    done("pharmacy2", post("pharmacy2", "/v1/receipts", {"consignments": [again["consignment"]]}))
    assert _get(world, "pharmacy2", "/v1/verify", code=b(2))["custody"]["holder"]["gln"] == p["pharmacy2"].gln

    # -- a return of a pack the pharmacy never had (in pharmacy2's tote), and of one it had but from elsewhere
    _refused(post("pharmacy", "/v1/returns", {"packs": [a(3)], "to": p["distributor"].gln}), 409, "packs[0]",
             "not_holder")  # fmt: skip
    _refused(post("pharmacy", "/v1/returns", {"packs": [a(5)], "to": p["maker"].gln}), 409, "packs[0]",
             "not_from_that_party")  # fmt: skip
    _refused(post("pharmacy", "/v1/returns", {"packs": [a(1)], "to": p["distributor"].gln}), 409, "packs[0]",
             "already_dispensed")  # fmt: skip

    # … each an alert for the detector, which the lot's manufacturer (of a lot opened in batches) sees too
    Detector(world.db).run_once()
    for who in ("regulator", "maker", "pharmacy"):
        rules = {(i["rule"], i["subject"].split("@")[0]) for i in _get(world, who, "/v1/alerts")["items"]}
        assert ("return_not_from_sender", "sgtin:0x" + sgtin_id(ga, "A000005").hex()) in rules, (who, rules)
        assert ("not_received", "sgtin:0x" + sgtin_id(ga, "A000003").hex()) in rules, (who, rules)
    assert not [i for i in _get(world, "maker2", "/v1/alerts")["items"] if i["rule"] == "return_not_from_sender"]

    # -- a loose pack shipped twice: refused while in transit, and once received by its recipient
    loose = done("distributor", post("distributor", "/v1/pack-shipments", {"packs": [a(4)], "to": p["pharmacy"].gln}))
    _refused(post("distributor", "/v1/pack-shipments", {"packs": [a(4)], "to": p["pharmacy2"].gln}), 409,
             "packs[0]", "in_transit")  # fmt: skip
    done("pharmacy", post("pharmacy", "/v1/receipts", {"consignments": [loose["consignment"]]}))
    _refused(post("distributor", "/v1/pack-shipments", {"packs": [a(4)], "to": p["pharmacy2"].gln}), 409,
             "packs[0]", "not_holder")  # fmt: skip

    # -- undo a dispense within 10 days: accepted, the pack is active again
    done("pharmacy", post("pharmacy", "/v1/dispensation-undos", {"packs": [a(1)]}))
    assert _get(world, "pharmacy", "/v1/verify", code=a(1))["verdict"] == "verified"
    # … and after 10 days (anvil time travel): refused with its reason, the pack stays dispensed
    world.w3.provider.make_request("evm_increaseTime", [10 * 86_400 + 3_600])
    world.w3.provider.make_request("evm_mine", [])
    world.indexer.run_until_caught_up()
    _refused(post("pharmacy", "/v1/dispensation-undos", {"packs": [b(1)]}), 409, "packs[0]", "undo_window_closed")
    assert _get(world, "pharmacy", "/v1/verify", code=b(1))["verdict"] == "dispensed"

    # -- the regulator's view of the day: both lots listed, the pharmacy's activity has its return and undo
    lots = {i["lot"]: i for i in _get(world, "regulator", "/v1/lots")["items"]}
    assert lots[la]["serial_count"] == 40 and lots[lb]["serial_count"] == 20
    for who in ("pharmacy", "pharmacy2", "distributor"):  # each handled packs of both lots
        assert {i["lot"] for i in _get(world, who, "/v1/lots")["items"]} == {la, lb}, who
    assert _get(world, "maker2", "/v1/lots")["items"] == []
    events = [i["event"] for i in _get(world, "regulator", f"/v1/partners/{p['pharmacy'].gln}/activity",
                                       limit=500)["items"]]  # fmt: skip
    assert {"packs_returned", "dispense_undone", "dispensed", "received"} <= set(events), events
    lot_prov = _get(world, "regulator", f"/v1/lots/{ga}/{la}/provenance")
    assert [e["event"] for e in lot_prov["timeline"]][:3] == ["opened", "commissioned", "commissioned"]
    assert lot_prov["pack_counts"]["dispensed"] == 1  # a22 (a1's dispense undone)
