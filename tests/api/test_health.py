from app import create_app
from app.chain.anvil import free_port
from app.indexer.core import Indexer


def test_healthz_is_alive(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_readyz_reports_each_component(client, app, w3, deployment):
    ext = app.extensions["pharmatrack"]
    before = client.get("/readyz").get_json()
    assert before["components"]["indexer"]["state"] == "degraded"  # nothing indexed yet
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()
    resp = client.get("/readyz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["components"]["database"]["state"] == "ok"
    assert body["components"]["chain"] == {**body["components"]["chain"], "state": "ok", "chain_id": 31337}
    assert body["components"]["indexer"]["lag_blocks"] == 0


def test_readyz_is_503_when_the_chain_is_down(settings):
    down = settings.replace(rpc_url=f"http://127.0.0.1:{free_port()}")
    resp = create_app(down).test_client().get("/readyz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "down"
    assert body["components"]["chain"]["state"] == "down"
    assert body["components"]["database"]["state"] == "ok"


def test_readyz_is_503_when_the_database_is_down(settings):
    down = settings.replace(database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    resp = create_app(down).test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["components"]["database"]["state"] == "down"
    assert resp.get_json()["components"]["chain"]["state"] == "ok"
