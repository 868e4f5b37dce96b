"""Detection over issue 14's moves (made straight on the chain, tests/world.py `act`): a pack received in a
tote or a consignment is not `not_received` where it arrived; a stolen pack presented raises `stolen`; a
return scan refused because the packs never came from that party raises `return_not_from_sender`."""

from __future__ import annotations

from app.db import verifications as verifications_db
from app.detector.core import Detector, Thresholds
from app.ids import sgtin_id
from tests.api.test_verify_distribution import _at_distributor
from tests.detector.test_detect import alerts, ask, code, org_id
from tests.world import World, group


def test_moves_returns_and_stolen_packs(world: World, stock):
    detector = Detector(world.db, Thresholds(travel_seconds=0, failed_verifications=100, window_seconds=1))
    lot_id, case_a, case_b = _at_distributor(world, stock)
    _, tote = world.tote("distributor", [group(case_a, lot_id, [1, 2])])
    world.deliver([tote], "distributor", "pharmacy")
    loose = world.consign("distributor", [group(case_b, lot_id, [41, 42])], "pharmacy2")
    world.act("pharmacy2", world.pt.functions.receiveShipment([loose]))
    world.act("pharmacy", world.pt.functions.reportStolenListed([world.draw(tote, lot_id, [2])]))

    assert "not_received_by_requester" not in [r["code"] for r in ask(world, "pharmacy", code(stock, 1))["reasons"]]
    assert "not_received_by_requester" not in [r["code"] for r in ask(world, "pharmacy2", code(stock, 41))["reasons"]]
    ask(world, "pharmacy2", code(stock, 2))  # the stolen pack, presented elsewhere
    # a return scan the write path refused: the packs never came to pharmacy2 from the maker
    pharmacy2 = org_id(world, "pharmacy2")
    with world.db.connection() as conn:
        values = (code(stock, 42), int(stock["gtin"]), "S0000000042", stock["lot"],
                  sgtin_id(stock["gtin"], "S0000000042"), None)  # fmt: skip
        verifications_db.insert_refused_scan(conn, pharmacy2, int(world.parties["pharmacy2"].gln), values,
                                             ["not_from_that_party"])  # fmt: skip
        conn.commit()
    detector.run_once()
    found = alerts(world)
    # received in a tote, in a consignment: not a diversion; only the stolen pack shown at pharmacy2 is
    diverted = {a["subject"].split("@")[0] for a in found.get("not_received", [])}
    assert diverted == {"sgtin:0x" + sgtin_id(stock["gtin"], "S0000000002").hex()}
    stolen = found["stolen"]
    assert len(stolen) == 1 and stolen[0]["severity"] == "high" and pharmacy2 in stolen[0]["parties"]
    assert "stolen" in stolen[0]["evidence"][0]["reasons"]
    wrong = found["return_not_from_sender"]
    assert wrong[0]["evidence"][0]["code"] == code(stock, 42) and pharmacy2 in wrong[0]["parties"]
