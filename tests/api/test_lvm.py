"""The GS1 Lightweight Verification Messaging responder, answers checked field by field."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from app.db import fetch_all
from tests.world import World, check_digit

CORR = "6f1d0c3e-8a55-4e0b-9d6c-2b1e4d3c2a10"


def lvm(world: World, who: str, gtin: str, serial: str, status: int = 200, key: str | None = None, **params) -> dict:
    query = {"linkType": "verificationService", "reqGLN": world.parties[who].gln, "corrUUID": CORR,
             "context": "dscsaSaleableReturn", **params}  # fmt: skip
    headers = {"Authorization": f"Bearer {key or world.parties[who].key}"}
    resp = world.client.get(f"/01/{gtin}/21/{serial}", query_string=query, headers=headers)
    assert resp.status_code == status, resp.get_json()
    world.flush_log()
    return resp.get_json()


def assert_envelope(answer: dict, responder: str) -> None:
    assert answer["corrUUID"] == CORR and answer["responderGLN"] == responder
    stamp = datetime.fromisoformat(answer["verificationTimestamp"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", answer["verificationTimestamp"])


def test_answers_field_by_field(world: World, stock):
    gtin, lot, maker = stock["gtin"], stock["lot"], world.parties["maker"].gln
    ok = lvm(world, "distributor", gtin, "S0000000001", **{"10": lot, "17": "301231"})
    assert_envelope(ok, maker)
    assert ok["data"] == {"verified": True, "additionalInfo": "not_received_by_requester"}
    assert set(ok) == {"verificationTimestamp", "responderGLN", "corrUUID", "data"}

    assert lvm(world, "maker", gtin, "S0000000001", **{"10": lot, "17": "301231"})["data"] == {"verified": True}
    cases = {
        ("S0000000001", "WRONG", "301231"): "No_match_GTIN_Serial_Lot",
        ("S0000000001", lot, "301130"): "No_match_GTIN_Serial_Expiry",
        ("S0000000001", "WRONG", "301130"): "No_match_GTIN_Serial_Lot_Expiry",
        ("NOSUCH1", lot, "301231"): "No_match_GTIN_Serial",
    }
    for (serial, lot_number, expiry), reason in cases.items():
        answer = lvm(world, "maker", gtin, serial, **{"10": lot_number, "17": expiry})
        assert answer["data"]["verified"] is False, (serial, lot_number, expiry)
        assert answer["data"]["verificationFailureReason"] == reason
    unknown_gtin = check_digit("0950600" + str(uuid.uuid4().int % 10**6).zfill(6))
    answer = lvm(world, "maker", unknown_gtin, "S1", **{"10": lot, "17": "301231"})
    assert answer["data"] == {"verified": False, "verificationFailureReason": "No_match_GTIN_Serial"}

    # A recalled lot: the identifier matches (verified) and the recall is reported beside it.
    world.done("maker", world.post("maker", "/v1/lots/recalls", {"gtin": gtin, "lot": lot}))
    recalled = lvm(world, "maker", gtin, "S0000000002", **{"10": lot, "17": "301231"})
    assert recalled["data"] == {"verified": True, "additionalInfo": "recalled"}

    with world.db.connection() as conn:
        logged = fetch_all(conn, "SELECT channel, corr_uuid, context, requester_gln FROM verifications")
    assert len(logged) == 8 and {r["channel"] for r in logged} == {"lvm"}
    assert {r["corr_uuid"] for r in logged} == {CORR} and {r["context"] for r in logged} == {"dscsaSaleableReturn"}


def test_requesters_connectivity_and_bad_requests(world: World, stock):
    gtin = stock["gtin"]
    stranger = check_digit("950000000123")
    assert lvm(world, "maker", gtin, "S1", status=401, reqGLN=stranger)["errors"]["query"]["reqGLN"][0].startswith(
        "unknown_requester"
    )
    other = lvm(world, "pharmacy", gtin, "S1", status=403, reqGLN=world.parties["pharmacy2"].gln)
    assert other["errors"]["query"]["reqGLN"][0].startswith("not_permitted")
    resp = world.client.get(f"/01/{gtin}/21/S1", query_string={"reqGLN": world.parties["maker"].gln, "corrUUID": CORR})
    assert resp.status_code == 401  # no API key

    ping = lvm(world, "pharmacy", gtin, "S0000000001", linkType="checkConnectivity")
    assert set(ping) == {"verificationTimestamp", "responderGLN", "corrUUID"} and ping["corrUUID"] == CORR
    resp = world.client.get("/checkConnectivity", query_string={"reqGLN": world.parties["pharmacy"].gln,
                            "corrUUID": CORR}, headers={"Authorization": f"Bearer {world.parties['pharmacy'].key}"})  # fmt: skip
    assert resp.status_code == 200 and resp.get_json()["corrUUID"] == CORR

    assert "corrUUID" in lvm(world, "maker", gtin, "S1", status=422, corrUUID="nope")["errors"]["query"]
    assert "17" in lvm(world, "maker", gtin, "S1", status=422, **{"17": "301332"})["errors"]["query"]
    assert "context" in lvm(world, "maker", gtin, "S1", status=422, context="resale")["errors"]["query"]
    bad_gtin = gtin[:-1] + str((int(gtin[-1]) + 1) % 10)
    assert "gtin" in lvm(world, "maker", bad_gtin, "S1", status=422)["errors"]["path"]  # where the GTIN is
    with world.db.connection() as conn:
        assert fetch_all(conn, "SELECT count(*) AS n FROM verifications")[0]["n"] == 0  # none of these verified
