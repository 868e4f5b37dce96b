"""The demo shows both sides of the cold chain: a pack that travelled within its range verifies
`verified`, one whose pallet's logger read above +8 °C verifies `suspect`, at the same pharmacy."""

import json

from app import demo
from app.chain.client import ChainClient
from app.indexer.core import Indexer
from tests.web.helpers import sign_in, token


def test_the_demo_has_a_verified_pack_beside_a_suspect_one(app, w3, anvil, deployment, settings):
    summary = demo.seed(settings)
    assert summary["already_seeded"] is False
    ext = app.extensions["pharmatrack"]
    Indexer.for_deployment(ext.db, ChainClient(anvil.rpc_url), deployment).run_until_caught_up()
    riverside = summary["api_keys"][demo.with_check_digit("950600000003")]
    client = app.test_client()

    def verify(serial: str) -> dict:
        resp = client.get("/v1/verify", query_string={"code": f"(01){demo.GTIN}(21){serial}"},
                          headers={"Authorization": f"Bearer {riverside}"})  # fmt: skip
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    cool, warm = verify(demo.COOL_PACK), verify(demo.WARM_PACK)
    assert cool["verdict"] == "verified" and cool["reasons"] == [], cool
    assert warm["verdict"] == "suspect" and [r["code"] for r in warm["reasons"]] == ["temperature_excursion"]
    assert [e["celsius"] for e in warm["excursions"]] == [9.3] and cool["excursions"] == []
    # both at Riverside Pharmacy, which received and opened their cases
    assert cool["custody"]["holder"]["gln"] == warm["custody"]["holder"]["gln"] == demo.with_check_digit("950600000003")
    assert verify("DEMO000000")["verdict"] == "dispensed"  # and a few packs were dispensed
    assert (settings.data_dir / "demo-api-keys.json").exists()
    # the demo's people sign in to the pages: Riverside's pharmacist sees the same verdict there
    passwords = json.loads((settings.data_dir / "demo-people.json").read_text())
    pharmacist = f"pharmacist@{demo.with_check_digit('950600000003')}.demo.example"
    assert len(passwords) == 10 and oct((settings.data_dir / "demo-people.json").stat().st_mode)[-3:] == "600"
    page, https = app.test_client(), {"base_url": "https://localhost"}
    assert sign_in(page, pharmacist, passwords[pharmacist], **https).status_code == 303
    answer = page.post("/pharmacy/check", data={"code": f"(01){demo.GTIN}(21){demo.WARM_PACK}",
                                                "csrf_token": token(page, "/pharmacy", **https)}, **https)  # fmt: skip
    assert answer.status_code == 200 and 'data-verdict="suspect"' in answer.get_data(as_text=True)
    ext.verifications.flush()  # the verification log is written in batches: before the database goes
