"""The indexer killed with SIGKILL in the middle of a backfill, then restarted: its tables are
identical to an uninterrupted run (rows and cursor move in one transaction)."""

import os
import signal
import subprocess
import sys
import time

import psycopg2
import pytest
from eth_account import Account

from tests.indexer.helpers import glns, index_all, mirror, tables_for


def _cursor(url, conn=None):
    own = conn is None
    conn = conn or psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT block_number FROM indexer_cursor")
        row = cur.fetchone()
    if own:
        conn.close()
    return row[0] if row else None


@pytest.fixture
def busy_chain(w3, deployment, pharmatrack):
    """150 blocks of 3 organisation registrations each (6 events a block)."""
    role = pharmatrack.functions.DISPENSER_ROLE().call()
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        for block in range(150):
            for j in range(3):
                call = pharmatrack.functions.registerOrganisation(
                    Account.create().address, 10**12 + block * 3 + j, [role]
                )
                call.transact({"from": w3.eth.accounts[0], "gas": 300_000})
            w3.provider.make_request("evm_mine", [])
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    return deployment


def test_sigkill_mid_backfill_then_restart_matches_an_uninterrupted_run(anvil, busy_chain, database_factory):
    deployment = busy_chain
    live = database_factory()
    env = {
        **os.environ,
        "DATABASE_URL": live,
        "RPC_URL": anvil.rpc_url,
        "DEPLOYMENT_FILE": str(deployment.path),
        "INDEXER_WINDOW": "1",
        "LOG_LEVEL": "WARNING",
    }
    head = int(anvil_block(anvil))
    kills = 0
    # One connection for the polls (autocommit: each poll sees the latest cursor): a new connection a poll was
    # slow enough on a loaded machine that the indexer ran far past each mark, and once to the head (the test
    # then tested nothing). The marks leave most of the 150 blocks for the later trials.
    poll = psycopg2.connect(live)
    poll.autocommit = True
    try:
        for trial in range(5):
            proc = subprocess.Popen([sys.executable, "-m", "app.cli", "index"], env=env)
            started_at = _cursor(live, poll) or 0
            deadline = time.monotonic() + 60
            # Let it make progress, then kill it wherever it is (mid-window most of the time).
            while time.monotonic() < deadline and (_cursor(live, poll) or 0) < started_at + 3 + trial * 2:
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            kills += 1
            assert (_cursor(live, poll) or 0) < head, "the indexer finished before it was killed; nothing was tested"
    finally:
        poll.close()
    resumed = subprocess.run(
        [sys.executable, "-m", "app.cli", "index", "--once"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert kills == 5
    assert mirror(live, tables_for(deployment)) == index_all(database_factory(), anvil.rpc_url, deployment)
    assert glns(live) == [10**12 + i for i in range(450)]


def anvil_block(anvil):
    from app.chain.web3factory import make_web3

    return make_web3(anvil.rpc_url).eth.block_number


def test_sigterm_stops_the_indexer_cleanly(anvil, deployment, database_url):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RPC_URL": anvil.rpc_url,
        "DEPLOYMENT_FILE": str(deployment.path),
        "LOG_LEVEL": "INFO",
        "INDEXER_POLL_SECONDS": "0.2",
    }
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "index"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _cursor(database_url) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _cursor(database_url) is not None, "the indexer never stored a block"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert '"msg": "indexer stopped"' in err
