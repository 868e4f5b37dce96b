"""Shared fixtures: a real anvil node and a real Postgres for integration tests.

Postgres: TEST_DATABASE_URL (or DATABASE_URL) names a server to use; otherwise an embedded
server is started in a temporary folder. Either way every test run works in databases of its
own (created here, dropped at the end), so concurrent runs never collide.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from psycopg2 import sql
from web3 import Web3

from app.chain.anvil import AnvilNode, free_port
from app.chain.compiler import Artifact, load_artifacts
from app.chain.web3factory import make_web3
from app.db import migrate
from app.db.embedded import EmbeddedPostgres

RUN_ID = uuid.uuid4().hex[:10]

# The working copy's data folder belongs to `make run` (its keystores, their password, the demo's API
# keys): no test may write there. Settings made in tests name a temporary folder, and every process
# a test starts inherits one (PHARMATRACK_DATA_DIR below), so a default cannot reach the repository.
REPO_DATA_DIR = Path(__file__).resolve().parents[1] / ".data"
_SESSION_DATA_DIR = tempfile.mkdtemp(prefix="pharmatrack-test-data-")
os.environ["PHARMATRACK_DATA_DIR"] = _SESSION_DATA_DIR


def _repo_data_state() -> dict[str, tuple[int, int]]:
    """The secrets `make run` keeps in the repository's .data (signing keystores, their password, the demo's
    API keys): path -> (size, mtime). Not the embedded Postgres, logs or chain state a running stack rewrites."""
    paths = [
        *REPO_DATA_DIR.glob("keystores/*"),
        REPO_DATA_DIR / "keystore-password",
        REPO_DATA_DIR / "demo-api-keys.json",
        REPO_DATA_DIR / "demo-people.json",
    ]
    return {str(p.relative_to(REPO_DATA_DIR)): (p.stat().st_size, p.stat().st_mtime_ns) for p in paths if p.is_file()}


@pytest.fixture(scope="session", autouse=True)
def repo_data_untouched() -> Iterator[None]:
    """Fails the run if a test wrote keystores, passwords or keys into the working copy's .data/."""
    before = _repo_data_state()
    yield
    after = _repo_data_state()
    shutil.rmtree(_SESSION_DATA_DIR, ignore_errors=True)
    changed = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
    assert not changed, f"tests wrote into {REPO_DATA_DIR}: {changed}"


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    """One anvil node per test module (automine). Tests that need a pristine chain use ``chain_snapshot``.
    Not one per session: a chain that every module deployed onto grew to where each mined block cost tens of
    milliseconds (anvil clones or writes a block's whole state), and a 200-block anvil_mine timed out (CI stop 21)."""
    node = AnvilNode(port=free_port(), chain_id=31337, block_time=None)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def w3(anvil: AnvilNode) -> Web3:
    return make_web3(anvil.rpc_url)


@pytest.fixture
def chain_snapshot(w3: Web3) -> Iterator[Web3]:
    """Revert the chain to where it was before the test."""
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    yield w3
    w3.provider.make_request("evm_revert", [snap])


@pytest.fixture(scope="session")
def artifacts() -> dict[str, Artifact]:
    return load_artifacts()


def deploy(w3: Web3, artifact: Artifact, *args, sender: str | None = None):
    """Deploy a compiled contract from an unlocked anvil account; return the contract."""
    sender = sender or w3.eth.accounts[0]
    tx = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(*args).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt.status == 1, f"deploying {artifact.name} failed"
    return w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi)


@dataclass
class PgServer:
    admin_url: str  # a URL to the server's maintenance database

    def url_for(self, dbname: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path="/" + dbname))

    def create(self, dbname: str, template: str | None = None) -> str:
        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname))
            if template:
                query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            cur.execute(query)
        conn.close()
        return self.url_for(dbname)

    def drop(self, dbname: str) -> None:
        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        conn.close()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> Iterator[PgServer]:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        yield PgServer(url)
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    embedded.start()
    yield PgServer(embedded.url("postgres"))
    embedded.stop()


@pytest.fixture(scope="session")
def migrated_template(pg_server: PgServer) -> Iterator[str]:
    """A database with every migration applied, used as the template for fresh databases."""
    name = f"pt_{RUN_ID}_template"
    url = pg_server.create(name)
    migrate.apply(url)
    yield name
    pg_server.drop(name)


@pytest.fixture
def database_url(pg_server: PgServer, migrated_template: str) -> Iterator[str]:
    """A fresh, fully migrated database for one test."""
    name = f"pt_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = pg_server.create(name, template=migrated_template)
    yield url
    pg_server.drop(name)


@pytest.fixture
def database_factory(pg_server: PgServer, migrated_template: str) -> Iterator:
    """Make as many fresh, fully migrated databases as a test needs; all dropped after it."""
    made = []

    def make() -> str:
        name = f"pt_{RUN_ID}_{uuid.uuid4().hex[:8]}"
        made.append(name)
        return pg_server.create(name, template=migrated_template)

    yield make
    for name in made:
        pg_server.drop(name)


@pytest.fixture
def empty_database_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh database with no migrations applied."""
    name = f"pt_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = pg_server.create(name)
    yield url
    pg_server.drop(name)


@pytest.fixture
def deployment(w3: Web3, tmp_path):
    """The service contracts freshly deployed on the module's anvil, with their record file."""
    from app.chain.deploy import Signer, deploy_all

    return deploy_all(w3, Signer(w3), tmp_path / "deployment.json")


@pytest.fixture
def pharmatrack(w3: Web3, deployment):
    """The deployed PharmaTrack contract (admin: w3.eth.accounts[0])."""
    return w3.eth.contract(address=deployment.address("PharmaTrack"), abi=load_artifacts()["PharmaTrack"].abi)


def register_org(w3: Web3, pharmatrack, n: int, sender: int = 0) -> int:
    """Register a fresh organisation (random address, GLN made from n); one block, two events.
    Returns the GLN. Tests use it as the simplest way to put a recognisable event on chain."""
    from biip.checksums import gs1_standard_check_digit
    from eth_account import Account

    body = f"4{n:011d}"
    gln = int(body + str(gs1_standard_check_digit(body)))
    role = pharmatrack.functions.DISPENSER_ROLE().call()
    account = Account.create().address
    tx = pharmatrack.functions.registerOrganisation(account, gln, [role]).transact({"from": w3.eth.accounts[sender]})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt.status == 1
    return gln


@pytest.fixture
def settings(anvil: AnvilNode, database_url: str, deployment, tmp_path):
    from app.config import Settings

    return Settings.from_env(
        {
            "PHARMATRACK_DATA_DIR": str(tmp_path / "data"),  # keystores and demo keys: never the repo's .data
            "DATABASE_URL": database_url,
            "RPC_URL": anvil.rpc_url,
            "DEPLOYMENT_FILE": str(deployment.path),
            "LOG_LEVEL": "WARNING",
            "API_KEY_CACHE_SECONDS": "0",  # revocation tests expect it at once (tests/api/test_auth.py tests the cache)
        }
    )


@pytest.fixture
def app(settings):
    from app import create_app

    application = create_app(settings)
    yield application
    ext = application.extensions["pharmatrack"]
    ext.verifications.close()  # write the queued log rows while the test's database still exists
    ext.db.close()


@pytest.fixture
def client(app):
    return app.test_client()


# A registered supply chain (six parties, the app, relayer and indexer) for any test that asks: tests/world.py
from tests.world import stock, world  # noqa: E402, F401  (pytest fixtures)
