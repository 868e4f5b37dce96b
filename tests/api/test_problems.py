"""Bad input gets a problem document naming the field and the rule; never a 500."""

import os


def test_validation_error_names_the_field_and_rule(client):
    resp = client.get("/v1/products?limit=0")
    assert resp.status_code == 422
    assert resp.content_type == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == 422
    assert body["instance"] == "/v1/products"
    assert "limit" in body["errors"]["query"]
    assert "greater than or equal to 1" in body["errors"]["query"]["limit"][0]


def test_malformed_cursor_is_rejected_with_its_rule(client):
    for bad in ("abc", "0950600013435", "095060001343520", "0950600013435x"):
        resp = client.get(f"/v1/products?after={bad}")
        assert resp.status_code == 422, bad
        assert resp.get_json()["errors"]["query"]["after"] == ["must be a GTIN-14 (14 digits), as returned in `next`"]


def test_unknown_route_is_a_404_problem(client):
    resp = client.get("/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.get_json()["title"] == "Not Found"


def test_wrong_method_is_a_405_problem_with_allow(client):
    resp = client.delete("/healthz")
    assert resp.status_code == 405
    assert resp.content_type == "application/problem+json"
    assert "GET" in resp.headers["Allow"]


def test_database_outage_is_a_503_not_a_500(anvil, deployment, tmp_path):
    from app import create_app
    from app.chain.anvil import free_port
    from app.config import Settings

    settings = Settings.from_env(
        {
            "PHARMATRACK_DATA_DIR": os.environ["PHARMATRACK_DATA_DIR"],  # a temporary folder (tests/conftest.py)
            "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/nothing",
            "RPC_URL": anvil.rpc_url,
            "LOG_LEVEL": "ERROR",
        }
    )
    client = create_app(settings).test_client()
    resp = client.get("/v1/products")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5"
    assert "database" in resp.get_json()["detail"]


def test_an_unmigrated_database_is_a_503_not_a_500(settings, empty_database_url):
    from app import create_app

    client = create_app(settings.replace(database_url=empty_database_url)).test_client()
    resp = client.get("/v1/products")
    assert resp.status_code == 503
    assert "schema" in resp.get_json()["detail"]
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'pharmatrack_dependency_up{dependency="database"} 0.0' in metrics.get_data(as_text=True)
