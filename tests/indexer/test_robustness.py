"""Regression tests for failure modes found in review: a reorg between reading a window's logs
and its headers, a one-block reorg after a wide window, a node that drops headers, hostile
strings in events, two indexers racing on an empty mirror, and rate limits."""

import threading
import time

import pytest

from app.chain.client import ChainClient
from app.chain.window import is_range_error
from app.db import Database
from app.errors import ServiceUnavailable
from app.indexer.core import Indexer
from tests.conftest import register_org
from tests.indexer.helpers import glns, index_all, mirror, reorg, tables_for


@pytest.fixture
def indexer_on(anvil, deployment, database_factory):
    made = []

    def make(**options):
        url = database_factory()
        db = Database(url, maxconn=2)
        client = ChainClient(anvil.rpc_url)
        made.append(db)
        return url, client, Indexer.for_deployment(db, client, deployment, **options)

    yield make
    for db in made:
        db.close()


def test_reorg_between_reading_logs_and_headers_is_not_missed(
    w3, anvil, pharmatrack, deployment, database_factory, indexer_on
):
    url, client, indexer = indexer_on(reorg_limit=8)
    first = register_org(w3, pharmatrack, 1)
    indexer.run_until_caught_up()
    w3.provider.make_request("anvil_mine", [3])  # three empty blocks
    real = client.raw_logs

    def logs_then_reorg(*args, **kwargs):
        logs = real(*args, **kwargs)  # the old chain's (empty) logs
        client.raw_logs = real
        reorg(w3, pharmatrack, 2, [4_000_000_000_001])  # two of those blocks replaced, one now has an event
        return logs

    client.raw_logs = logs_then_reorg
    indexer.run_until_caught_up()
    assert glns(url) == [first, 4_000_000_000_001]
    assert mirror(url, tables_for(deployment)) == index_all(database_factory(), anvil.rpc_url, deployment)


def test_one_block_reorg_after_a_wide_window_is_repaired(
    w3, anvil, pharmatrack, deployment, database_factory, indexer_on
):
    url, _, indexer = indexer_on()  # reorg limit 64, windows of up to 2,000 blocks
    register_org(w3, pharmatrack, 2)
    w3.provider.make_request("anvil_mine", [200])
    indexer.run_until_caught_up()
    reorg(w3, pharmatrack, 1, [4_000_000_000_002])
    indexer.run_until_caught_up()
    assert glns(url)[-1] == 4_000_000_000_002
    assert mirror(url, tables_for(deployment)) == index_all(database_factory(), anvil.rpc_url, deployment)


@pytest.mark.parametrize("near_deployment", [False, True])
def test_a_node_that_drops_headers_is_a_retry_not_a_reorg(w3, pharmatrack, deployment, indexer_on, near_deployment):
    url, client, indexer = indexer_on(reorg_limit=64 if near_deployment else 8)
    for i in range(3):
        register_org(w3, pharmatrack, 10 + i)
    if not near_deployment:
        w3.provider.make_request("anvil_mine", [20])
    indexer.run_until_caught_up()
    before = mirror(url, tables_for(deployment))
    real = client.headers
    client.headers = lambda numbers: {}  # e.g. a load-balanced backend that is behind
    latest = register_org(w3, pharmatrack, 30)
    with pytest.raises(ServiceUnavailable):
        indexer.run_once()
    assert mirror(url, tables_for(deployment)) == before  # nothing rolled back, nothing lost
    client.headers = real
    indexer.run_until_caught_up()
    assert glns(url)[-1] == latest


@pytest.mark.parametrize("lot_number", ["L\x00", b"L\xff\xfe".decode("latin-1")])
def test_hostile_strings_are_stored_cleaned_and_indexing_goes_on(w3, pharmatrack, deployment, indexer_on, lot_number):
    url, _, indexer = indexer_on()
    pt, admin, maker = pharmatrack, w3.eth.accounts[0], w3.eth.accounts[9]

    def send(call, sender):
        assert w3.eth.wait_for_transaction_receipt(call.transact({"from": sender})).status == 1

    send(pt.functions.registerOrganisation(maker, 4012345000009, [pt.functions.MANUFACTURER_ROLE().call()]), admin)
    send(pt.functions.registerProduct(9506000134352, 200, 800), maker)
    raw = lot_number.encode("latin-1") if "\xff" in lot_number else lot_number.encode()
    data = pt.encode_abi("commissionLot", [9506000134352, "X", 4_000_000_000, 1, b"\x11" * 32])
    # Put the raw bytes on chain as the lot number (web3 would refuse to encode invalid UTF-8 itself).
    from eth_abi import encode

    args = encode(
        ["uint64", "bytes", "uint40", "uint32", "bytes32"], [9506000134352, raw, 4_000_000_000, 1, b"\x11" * 32]
    )
    tx = w3.eth.send_transaction({"from": maker, "to": pt.address, "data": data[:10] + args.hex()})
    assert w3.eth.wait_for_transaction_receipt(tx).status == 1
    later = register_org(w3, pharmatrack, 50)
    indexer.run_until_caught_up()
    rows = mirror(url, ["ev_lot_commissioned"])["ev_lot_commissioned"]
    assert [r[6] for r in rows] == [raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")]
    assert "\ufffd" in rows[0][6]
    assert glns(url)[-1] == later  # the indexer went past it


def test_two_indexers_racing_on_an_empty_mirror(w3, anvil, pharmatrack, deployment, database_url):
    gln = register_org(w3, pharmatrack, 77)
    a_client, b_client = ChainClient(anvil.rpc_url), ChainClient(anvil.rpc_url)
    a_db, b_db = Database(database_url, maxconn=1), Database(database_url, maxconn=1)
    a = Indexer.for_deployment(a_db, a_client, deployment)
    b = Indexer.for_deployment(b_db, b_client, deployment)
    go = threading.Event()
    real = a_client.raw_logs

    def slow(*args):
        go.wait(10)
        return real(*args)

    a_client.raw_logs = slow
    errors = []

    def run_a():
        try:
            a.run_until_caught_up()
        except Exception as exc:  # recorded and asserted on below
            errors.append(exc)

    thread = threading.Thread(target=run_a)
    thread.start()
    time.sleep(0.5)
    finished = threading.Thread(target=b.run_until_caught_up)
    finished.start()  # waits on A's lock instead of writing the same rows
    go.set()
    thread.join(30)
    finished.join(30)
    a_db.close()
    b_db.close()
    assert errors == []
    assert glns(database_url) == [gln]


@pytest.mark.parametrize("message", ["Too Many Requests", "too many requests, slow down", "rate limit"])
def test_rate_limits_are_not_range_refusals(message):
    assert not is_range_error(message)


def test_chain_errors_never_repeat_the_rpc_url(settings):
    import http.server

    class RateLimited(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(429)
            self.end_headers()
            self.wfile.write(b"rate limited")

        def log_message(self, *args):
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), RateLimited)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from app import create_app

    cases = [
        (f"http://127.0.0.1:{server.server_port}/v3/SECRETKEY123", "HTTP 429 from the node"),
        ("http://127.0.0.1:1/v3/SECRETKEY456", "cannot connect to the node"),
    ]
    try:
        for rpc, detail in cases:
            body = create_app(settings.replace(rpc_url=rpc)).test_client().get("/readyz").get_json()
            assert body["components"]["chain"]["state"] == "down"
            assert detail in body["components"]["chain"]["detail"]
            assert "SECRETKEY" not in str(body) and "/v3/" not in str(body)
    finally:
        server.shutdown()
        server.server_close()
