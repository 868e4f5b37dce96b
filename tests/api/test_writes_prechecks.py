"""Pre-checks of status changes against what is already accepted: a recall, quarantine or clearance of a
lot or unit that is pending (in the outbox, not yet confirmed) or done (in the mirror) is a 409 naming the
field, whoever sent the first. Without it both were accepted and the second failed on chain."""

from __future__ import annotations

import threading
import uuid

from tests.world import World

PROBLEM = "application/problem+json"


def conflict(resp, field: str, code: str) -> dict:
    body = resp.get_json()
    assert resp.status_code == 409, body
    assert resp.mimetype == PROBLEM
    assert body["code"] == code, body
    assert body["errors"]["json"][field][0].startswith(f"{code}: "), body
    return body


def in_outbox(world: World, action: str) -> list[str]:
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM operations WHERE action = %s ORDER BY created_at", (action,))
        return [r[0] for r in cur.fetchall()]


def test_a_recall_pending_by_the_manufacturer_is_a_409_for_the_regulator(world: World, stock):
    lot = {"gtin": stock["gtin"], "lot": stock["lot"]}
    key = uuid.uuid4().hex
    first = world.post("maker", "/v1/lots/recalls", lot, key=key)
    assert first.status_code == 202, first.get_json()
    body = conflict(world.post("regulator", "/v1/lots/recalls", lot), "lot", "recall_pending")
    assert first.get_json()["operation"]["id"] in body["detail"]
    conflict(world.post("maker", "/v1/lots/recalls", lot), "lot", "recall_pending")  # a new scan by the maker too
    again = world.post("maker", "/v1/lots/recalls", lot, key=key)  # the same scan again: its first answer
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true", again.get_json()
    world.pump()
    assert in_outbox(world, "recall") == ["confirmed"]
    conflict(world.post("regulator", "/v1/lots/recalls", lot), "lot", "recalled")  # done: in the mirror


def test_a_lot_quarantine_pending_blocks_another_and_a_clearance_of_it(world: World, stock):
    lot = {"gtin": stock["gtin"], "lot": stock["lot"]}
    assert world.post("regulator", "/v1/quarantines", lot).status_code == 202
    conflict(world.post("maker", "/v1/quarantines", lot), "lot", "quarantine_pending")
    world.pump()
    conflict(world.post("maker", "/v1/quarantines", lot), "lot", "quarantined")
    assert world.post("maker", "/v1/quarantine-clearances", lot).status_code == 202
    conflict(world.post("regulator", "/v1/quarantine-clearances", lot), "lot", "clear_quarantine_pending")
    world.pump()
    conflict(world.post("regulator", "/v1/quarantine-clearances", lot), "lot", "not_quarantined")
    assert in_outbox(world, "quarantine") == ["confirmed"]
    assert in_outbox(world, "clear_quarantine") == ["confirmed"]


def test_a_unit_quarantine_pending_by_its_holder_is_a_409_for_the_regulator(world: World, stock):
    pallet = {"sscc": stock["pallet"]}
    assert world.post("maker", "/v1/quarantines", pallet).status_code == 202
    conflict(world.post("regulator", "/v1/quarantines", pallet), "sscc", "quarantine_pending")
    # another unit is not affected
    assert world.post("regulator", "/v1/quarantines", {"sscc": stock["cases"][0]}).status_code == 202
    world.pump()
    assert in_outbox(world, "quarantine") == ["confirmed", "confirmed"]


def test_a_failed_recall_no_longer_blocks_one(world: World, stock):
    lot = {"gtin": stock["gtin"], "lot": stock["lot"]}
    first = world.post("maker", "/v1/lots/recalls", lot)
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("UPDATE operations SET status = 'failed' WHERE id = %s", (first.get_json()["operation"]["id"],))
    assert world.post("regulator", "/v1/lots/recalls", lot).status_code == 202


def test_concurrent_recalls_of_one_lot_accept_exactly_one(world: World, stock):
    lot = {"gtin": stock["gtin"], "lot": stock["lot"]}
    start, statuses = threading.Barrier(6), []

    def recall(who: str):
        start.wait()
        statuses.append(world.post(who, "/v1/lots/recalls", lot).status_code)

    threads = [threading.Thread(target=recall, args=(who,)) for who in ("maker", "regulator") * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [202, 409, 409, 409, 409, 409]
    assert in_outbox(world, "recall") == ["pending"]
