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
