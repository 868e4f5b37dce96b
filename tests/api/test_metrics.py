from app.indexer.core import Indexer


def _value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_metrics_report_head_cursor_and_lag(app, client, w3, deployment):
    ext = app.extensions["pharmatrack"]
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()
    w3.provider.make_request("anvil_mine", [4])
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain")
    text = resp.get_data(as_text=True)
    head = _value(text, "pharmatrack_chain_head_block")
    cursor = _value(text, "pharmatrack_indexer_cursor_block")
    assert head == w3.eth.block_number
    assert _value(text, "pharmatrack_indexer_lag_blocks") == head - cursor >= 4
    assert 'pharmatrack_dependency_up{dependency="database"} 1.0' in text
    assert 'pharmatrack_mirror_rows{table="ev_product_registered"}' in text


def test_content_type_names_its_charset_once(client):
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].count("charset") == 1, resp.headers["Content-Type"]
    assert resp.headers["Content-Type"].startswith("text/plain; version=")


def test_mirror_rows_count_the_rows_of_a_fresh_small_mirror(app, client, w3, pharmatrack, deployment):
    """A mirror Postgres never analyzed (small tables never are) must not show 0 rows for every table."""
    import time

    from app.db import fetch_all
    from tests.conftest import register_org

    ext = app.extensions["pharmatrack"]
    for n in range(3):
        register_org(w3, pharmatrack, 900 + n)
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()
    with ext.db.connection() as conn:
        real = {
            table: fetch_all(conn, f"SELECT count(*) AS n FROM {table}")[0]["n"]
            for table in ("ev_organisation_registered", "ev_role_granted", "blocks", "pack_events")
        }
    assert real["ev_organisation_registered"] == 3 and real["blocks"] >= 3 and real["pack_events"] == 0
    # the statistics trail the indexer's commit by about a second: poll with a deadline
    deadline = time.monotonic() + 20
    while True:
        text = client.get("/metrics").get_data(as_text=True)
        shown = {table: _value(text, f'pharmatrack_mirror_rows{{table="{table}"}}') for table in real}
        if shown == real or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert shown == real
