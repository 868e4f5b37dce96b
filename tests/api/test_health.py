from app import create_app
from app.chain.anvil import free_port
from app.detector.core import Detector
from app.indexer.core import Indexer


def test_healthz_is_alive(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_readyz_reports_each_component(client, app, w3, deployment):
    ext = app.extensions["pharmatrack"]
    before = client.get("/readyz").get_json()
    assert before["components"]["indexer"]["state"] == "degraded"  # nothing indexed yet
    assert before["components"]["detector"] == {**before["components"]["detector"], "state": "degraded",
                                                "detail": "the detector has not run yet"}  # fmt: skip
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()
    Detector(ext.db).run_once()
    resp = client.get("/readyz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["components"]["database"]["state"] == "ok"
    assert body["components"]["chain"] == {**body["components"]["chain"], "state": "ok", "chain_id": 31337}
    assert body["components"]["indexer"]["lag_blocks"] == 0
    assert body["components"]["relayer"] == {"state": "ok", "pending": 0, "oldest_pending_seconds": 0.0,
                                             "in_flight": 0, "stuck": 0, "nonce_gap": 0}  # fmt: skip
    assert body["components"]["detector"] == {"state": "ok", "cursor": body["components"]["indexer"]["cursor"],
                                              "lag_blocks": 0, "oldest_unseen_seconds": 0.0}  # fmt: skip


def test_readyz_reports_a_relayer_that_is_behind_or_ahead_of_the_chains_nonces(client, app, w3, deployment):
    """The wedge of issue 12: operations waiting for good, and nonces the chain never reached."""
    from eth_account import Account

    from app.services import orgs

    ext = app.extensions["pharmatrack"]
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()
    Detector(ext.db).run_once()
    account = Account.create().address
    with ext.db.connection() as conn, conn.cursor() as cur:
        org = orgs.add_organisation(conn, "Riverside Pharmacy", "9506000000039", account, ["dispenser"])
        cur.execute(
            "INSERT INTO operations (id, organisation_id, action, payload, idempotency_key, request_sha256, created_at)"
            " VALUES (gen_random_uuid(), %s, 'dispense', '{}', 'k1', %s, now() - interval '1 hour')",
            (org, b"\0" * 32),
        )
        cur.execute("INSERT INTO relay_nonces (account, next_nonce) VALUES (%s, 157)", (bytes.fromhex(account[2:]),))
    body = client.get("/readyz").get_json()
    relayer = body["components"]["relayer"]
    assert relayer["state"] == "degraded" and body["status"] == "degraded", body
    assert relayer["pending"] == 1 and relayer["oldest_pending_seconds"] >= 3600
    assert relayer["nonce_gap"] == 157
    assert "waited" in relayer["detail"] and "1 account(s) with nonces ahead of the chain's" in relayer["detail"]


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
