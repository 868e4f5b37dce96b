"""A mirror rollback moves back what follows the mirror through the hooks the composition roots register
(app.stack.indexer_hooks): the relayer's confirmations, the detector's cursor and the EPCIS subscriptions' scans. The indexer itself
never writes those tables, nor imports the relayer or the detector."""

from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path

import psycopg2

from app.db import indexer as db_indexer
from app.db import subscriptions as subscriptions_db
from app.detector import hooks as detector_hooks
from app.indexer import writer
from app.indexer.core import Indexer
from app.relayer import hooks as relayer_hooks
from app.services import orgs, outbox
from app.services.epcis import subscriptions
from app.stack import indexer_hooks
from tests.world import World, check_digit

APP = Path(__file__).resolve().parents[2] / "app"
FOLLOWERS = ("relay_transactions", "relay_attempts", "relay_nonces", "relay_chain", "operations", "detector_cursor")


def _rows(conn, query: str, args=()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall()


def _mined(conn, org_id: int, key: str, block: int) -> tuple[str, int]:
    """A confirmed operation whose transaction was mined in `block`: (operation id, transaction id)."""
    op, _ = outbox.accept(conn, org_id, "ship", {"units": [key]}, key)
    (tx_id,) = _rows(
        conn,
        "INSERT INTO relay_transactions (organisation_id, action, account, nonce, to_address, calldata, gas_limit,"
        " status, mined_hash, block_number, block_hash, gas_used)"
        " VALUES (%s, 'ship', %s, %s, %s, '\\x00', 100000, 'mined', %s, %s, %s, 21000) RETURNING id",
        (org_id, b"\xab" * 20, block, b"\x01" * 20, uuid.uuid4().bytes * 2, block, uuid.uuid4().bytes * 2),
    )[0]
    _rows(
        conn,
        "UPDATE operations SET status = 'confirmed', transaction_id = %s, block_number = %s WHERE id = %s RETURNING id",
        (tx_id, block, op["id"]),
    )
    return str(op["id"]), tx_id


def test_the_hooks_reopen_what_the_removed_blocks_held_and_nothing_below(database_url):
    conn = psycopg2.connect(database_url)
    try:
        with conn:
            org_id = orgs.add_organisation(conn, "Maker", "9506000000039", "0x" + "ab" * 20, ["manufacturer"])
            kept_op, kept_tx = _mined(conn, org_id, "kept", 100)
            gone_op, gone_tx = _mined(conn, org_id, "gone", 101)
            _rows(conn, "INSERT INTO detector_cursor (name, block_number) VALUES ('main', 120) RETURNING name")
        with conn:
            for hook in indexer_hooks()["on_rollback"]:
                hook(conn, 101)  # blocks 101 and above are gone
        with conn:
            ops = dict(_rows(conn, "SELECT id::text, status FROM operations"))
            txs = dict(_rows(conn, "SELECT id, status FROM relay_transactions"))
            assert ops == {kept_op: "confirmed", gone_op: "submitted"}
            assert txs == {kept_tx: "mined", gone_tx: "sent"}
            assert _rows(conn, "SELECT block_number FROM relay_transactions WHERE id = %s", (gone_tx,)) == [(None,)]
            assert _rows(conn, "SELECT block_number FROM detector_cursor") == [(100,)]
        with conn:
            for hook in indexer_hooks()["on_reset"]:
                hook(conn)
            assert _rows(conn, "SELECT block_number FROM detector_cursor") == [(-1,)]
    finally:
        conn.close()


def test_the_composition_root_registers_the_relayers_and_the_detectors_hooks():
    hooks = indexer_hooks()
    assert hooks["on_rollback"] == [relayer_hooks.on_mirror_rollback, detector_hooks.on_mirror_rollback,
                                    subscriptions.on_mirror_rollback]  # fmt: skip
    assert hooks["on_reset"] == [detector_hooks.on_mirror_reset, subscriptions.on_mirror_reset]
    assert indexer_hooks() == hooks  # every starter gets the same lists (fresh ones: no shared mutation)
    assert indexer_hooks()["on_rollback"] is not hooks["on_rollback"]


def test_a_reorg_through_the_indexer_moves_the_relayer_and_the_detector_back(world: World, w3):
    """A confirmed write's block is replaced by a longer branch without it: the hooked indexer rolls the
    mirror back, and in the same transaction the operation is submitted again, its transaction open again,
    and the detector's cursor below the removed blocks."""
    i = world.indexer
    indexer = Indexer(i.db, i.chain, i.deployment, i.specs, **indexer_hooks())
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    fork = w3.eth.block_number
    gtin = check_digit(f"0950600{uuid.uuid4().int % 10**6:06d}")
    body = {"gtin": gtin, "name": "Ibuprofen 200 mg", "strength": "200 mg", "dosage_form": "tablet",
            "storage": {"min_celsius": 15, "max_celsius": 25}}  # fmt: skip
    op = world.done("maker", world.post("maker", "/v1/products", body))
    assert op["block_number"] > fork
    indexer.run_until_caught_up()
    with world.db.connection() as conn:
        _rows(conn, "INSERT INTO detector_cursor (name, block_number) VALUES ('main', %s) RETURNING name", (fork + 5,))
        maker = orgs.organisation_by_gln(conn, world.parties["maker"].gln)["id"]
        subscriptions_db.insert_query(conn, maker, "reorg", {})
        subscription = subscriptions_db.insert_subscription(conn, {
            "id": str(uuid.uuid4()), "org": maker, "name": "reorg", "dest": "https://client.example.com/cb",
            "token": None, "stream": True, "schedule": None, "report": False, "initial": None,
            "scanned": subscriptions_db.mirror_head(conn)[0], "next_run": None})  # fmt: skip

    head = w3.eth.block_number
    assert w3.provider.make_request("evm_revert", [snapshot]).get("error") is None
    assert w3.provider.make_request("anvil_dropAllTransactions", []).get("error") is None
    w3.provider.make_request("evm_increaseTime", [7])
    w3.provider.make_request("anvil_mine", [hex(head - w3.eth.block_number + 2)])  # longer, without the write
    step = indexer.run_once()

    assert step.rolled_back_to is not None and step.rolled_back_to < op["block_number"]
    assert world.operation("maker", op["id"])["status"] == "submitted"
    with world.db.connection() as conn:
        tx = _rows(conn, "SELECT t.status, t.block_number FROM relay_transactions t JOIN operations o "
                         "ON o.transaction_id = t.id WHERE o.id = %s", (op["id"],))  # fmt: skip
        assert tx == [("sent", None)]
        assert _rows(conn, "SELECT block_number FROM detector_cursor") == [(step.rolled_back_to,)]
        assert _rows(
            conn, "SELECT scanned_block FROM epcis_subscriptions WHERE id = %s", (str(subscription["id"]),)
        ) == [(step.rolled_back_to,)]  # the EPCIS subscription's scan too
    world.indexer = indexer
    world.pump()  # and the relayer lands it on the new branch, the same signed bytes
    again = world.operation("maker", op["id"])
    assert again["status"] == "confirmed" and again["block_number"] > head and again["tx_hash"] == op["tx_hash"]


def _string_constants_and_imports(path: Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    imports = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imports |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            imports |= {a.name for a in node.names}
    return strings, imports


def test_the_indexer_does_not_write_the_relayers_or_the_detectors_tables():
    """No string in app/indexer names their tables in a statement, and nothing there imports their
    data-layer modules, the relayer or the detector (the hooks come in from the composition root)."""
    for path in sorted((APP / "indexer").glob("*.py")):
        strings, imports = _string_constants_and_imports(path)
        for table in FOLLOWERS:
            written = re.compile(rf"\b(UPDATE|INSERT INTO|DELETE FROM|TRUNCATE)\s+{table}\b", re.IGNORECASE)
            assert not [s for s in strings if written.search(s)], (path.name, table)
        assert not [s for s in strings if "relay_transactions" in s or "detector_cursor" in s], path.name
        forbidden = {"app.db.relay", "app.db.operations", "app.db.detector_cursor", "app.relayer", "app.detector"}
        assert not {m for m in imports if any(m == f or m.startswith(f + ".") for f in forbidden)}, path.name
    # and the one writer of the mirror lists no follower either
    strings, _ = _string_constants_and_imports(APP / "db" / "indexer.py")
    assert not [s for s in strings for table in FOLLOWERS if table in s]


def test_every_indexer_a_starter_builds_follows_the_mirror():
    """In app/, every Indexer(...) or Indexer.for_deployment(...) outside the indexer package passes
    **indexer_hooks() (the audit's scratch re-index, inside the package, passes none on purpose)."""
    calls = []
    for path in sorted(APP.rglob("*.py")):
        if path.parent.name == "indexer":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name in ("Indexer", "Indexer.for_deployment"):
                hooked = any(
                    k.arg is None
                    and isinstance(k.value, ast.Call)
                    and ast.unparse(k.value.func).endswith("indexer_hooks")
                    for k in node.keywords
                )
                calls.append((path.relative_to(APP).as_posix(), hooked))
    assert calls and all(hooked for _, hooked in calls), calls
    assert ("cli.py", True) in calls


def test_the_derived_mirror_tables_are_the_ones_the_data_layer_writes():
    assert tuple(writer.DERIVED) == db_indexer.DERIVED_TABLES
