"""A lot opened and commissioned in batches (issue 14) is a lot like one commissioned in one go, wherever lots
are read: the lot lists and records, recalls, a partner's activity, the lot's provenance, and verification of a
printed lot on chain whose serials are not held here. Every reader takes its lots from the one source, the
`lot_status` view (migration 0014)."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from app.ids import lgtin_id
from tests.world import GTIN_BASE, World, check_digit


def _get(world: World, who: str, path: str, **params):
    resp = world.client.get(path, query_string=params, headers={"Authorization": f"Bearer {world.parties[who].key}"})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _opened_lot(world: World) -> dict:
    """A product; a lot opened for 30 serials and commissioned in two batches (B000000-B000009, B000010-B000019)."""
    gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    world.done("maker", world.post("maker", "/v1/products", {"gtin": gtin, "name": "Metformin 500 mg",
                                                              "storage": {"min_celsius": 2, "max_celsius": 25}}))  # fmt: skip
    lot = f"B{uuid.uuid4().hex[:6].upper()}"
    world.done("maker", world.post("maker", "/v1/lots/openings",
                                   {"gtin": gtin, "lot": lot, "expiry": "2031-06-30", "capacity": 30}))  # fmt: skip
    for first in (0, 10):
        body = {"gtin": gtin, "lot": lot, "serial_range": {"prefix": "B", "first": first, "count": 10, "digits": 6}}
        world.done("maker", world.post("maker", "/v1/lots/batches", body))
    return {"gtin": gtin, "lot": lot, "lot_id": lgtin_id(gtin, lot)}


def test_an_opened_lot_is_listed_recalled_and_in_its_makers_activity(world: World):
    o, p = _opened_lot(world), world.parties
    for who in ("maker", "regulator"):
        items = _get(world, who, "/v1/lots")["items"]
        assert [i["lot"] for i in items] == [o["lot"]], items
        assert items[0]["serial_count"] == 20 and items[0]["gtin"] == o["gtin"]
    assert _get(world, "maker", "/v1/lots", gtin=o["gtin"])["items"][0]["lot"] == o["lot"]
    assert _get(world, "maker2", "/v1/lots")["items"] == []

    world.done("maker", world.post("maker", "/v1/lots/recalls", {"gtin": o["gtin"], "lot": o["lot"]}))
    recalls = _get(world, "regulator", "/v1/recalls")["items"]
    assert [(r["lot"], r["serial_count"]) for r in recalls] == [(o["lot"], 20)], recalls
    assert [r["lot"] for r in _get(world, "maker", "/v1/recalls")["items"]] == [o["lot"]]

    items = _get(world, "regulator", f"/v1/partners/{p['maker'].gln}/activity", limit=500)["items"]
    events = [i["event"] for i in items]
    assert events[-4:] == ["lot_opened", "batch_commissioned", "batch_commissioned", "lot_recalled"], events
    opened, first = items[-4], items[-3]
    assert opened["packs"] == 30 and opened["lot"]["lot"] == o["lot"] and opened["gtin"] == o["gtin"]
    assert first["packs"] == 10 and first["lot"]["lot"] == o["lot"] and first["gtin"] == o["gtin"]
    assert first["actor"]["gln"] == p["maker"].gln


def test_an_opened_lots_provenance_shows_its_opening_and_each_batch(world: World):
    o = _opened_lot(world)
    url = f"/v1/lots/{o['gtin']}/{quote(o['lot'], safe='')}/provenance"
    for who in ("maker", "regulator"):
        body = _get(world, who, url)
        assert [e["event"] for e in body["timeline"]] == ["opened", "commissioned", "commissioned"], body
        assert body["subject"]["lot"] == o["lot"]
    batches = [e["tx_hash"] for e in body["timeline"] if e["event"] == "commissioned"]
    # a pack's timeline has its own batch's commissioning, not the other batch's
    for serial, batch in (("B000003", 0), ("B000015", 1)):
        text = quote(f"(01){o['gtin']}(21){serial}", safe="")
        pack = _get(world, "maker", f"/v1/units/{text}/provenance")
        lot_events = [(e["event"], e["tx_hash"]) for e in pack["timeline"] if e["subject"]["kind"] == "lot"]
        assert lot_events == [("opened", body["timeline"][0]["tx_hash"]), ("commissioned", batches[batch])], pack


def test_a_printed_lot_opened_on_chain_elsewhere_is_serials_not_held(world: World):
    """Opened and commissioned on chain by another system: the lot is there, its serial list is not."""
    gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    world.done("maker", world.post("maker", "/v1/products", {"gtin": gtin, "name": "Metformin 500 mg",
                                                              "storage": {"min_celsius": 2, "max_celsius": 25}}))  # fmt: skip
    world.act("maker", world.pt.functions.openLot(int(gtin), "ELSEWHERE2", 1_925_078_399, 10))
    world.act("maker", world.pt.functions.commissionBatch(lgtin_id(gtin, "ELSEWHERE2"), 0, 5, b"\x11" * 32))
    resp = world.client.get("/v1/verify", query_string={"code": f"(01){gtin}(21)OTHER1(10)ELSEWHERE2(17)301231"},
                            headers={"Authorization": f"Bearer {world.parties['maker'].key}"})  # fmt: skip
    answer = resp.get_json()
    assert answer["verdict"] == "unknown" and [r["code"] for r in answer["reasons"]] == ["serials_not_held"], answer
