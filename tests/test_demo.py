"""The demo shows both sides of the cold chain: a pack that travelled within its range verifies
`verified`, one whose pallet's logger read above +8 °C verifies `suspect`, at the same pharmacy."""

from app import demo
from app.chain.client import ChainClient
from app.indexer.core import Indexer


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
    ext.verifications.flush()  # the verification log is written in batches: before the database goes
