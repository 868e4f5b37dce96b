"""A table has one writer: the module of app/db/ named for its family (docs/architecture.md, "The data
layer"). These tables are checked: every statement or COPY that writes one of them is in its module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from app.db.indexer import DERIVED_TABLES

APP = Path(__file__).resolve().parents[2] / "app"
ROOT = APP.parent
# Every table the migrations create, but the chain mirror's (one per contract event, and the derived ones:
# written only by app/db/indexer.py with generated identifiers, tests/db/test_write_side_writers.py)
WRITERS = {
    "alerts": "db/alerts.py",
    "api_keys": "db/organisations.py",
    "audit_trail": "db/audit.py",
    "blocks": "db/indexer.py",
    "detector_cursor": "db/detector_cursor.py",
    "epcis_captured_events": "db/captures.py",
    "epcis_captures": "db/captures.py",
    "epcis_recorded_events": "db/captures.py",
    "epcis_queries": "db/subscriptions.py",
    "epcis_subscriptions": "db/subscriptions.py",
    "epcis_deliveries": "db/subscriptions.py",
    "indexer_cursor": "db/indexer.py",
    "login_failures": "db/people.py",
    "lot_commissions": "db/serials.py",
    "lot_serials": "db/serials.py",
    "lot_trees": "db/serials.py",
    "operations": "db/operations.py",
    "organisations": "db/organisations.py",
    "people": "db/people.py",
    "product_details": "db/products.py",
    "rate_limit_counters": "db/ratelimits.py",
    "relay_attempts": "db/relay.py",
    "relay_chain": "db/relay.py",
    "relay_nonces": "db/relay.py",
    "relay_transactions": "db/relay.py",
    "verifications": "db/verifications.py",
}
# Tables no module of app/ writes: derived by triggers of the migrations from the mirror's event tables
# (lot_status's and lot_batches' rows, migrations/0021: tests/db/test_lot_state.py)
DERIVED = {"lot_state", "lot_batch_state"}
CREATE_TABLE = re.compile(r"\bcreate\s+(?:unlogged\s+)?table\s+(?:if\s+not\s+exists\s+)?(\w+)", re.IGNORECASE)


def test_every_table_has_its_writer_named():
    """A new table gets its one writer module here (mirror tables aside)."""
    tables = {
        m.group(1) for path in (ROOT / "migrations").glob("*.sql") for m in CREATE_TABLE.finditer(path.read_text())
    }
    assert tables - set(DERIVED_TABLES) - DERIVED - {t for t in tables if t.startswith("ev_")} == set(WRITERS)


@pytest.mark.parametrize("table", sorted(DERIVED))
def test_no_module_writes_a_derived_table(table):
    assert writers_of(table) == []


def _writes(table: str) -> re.Pattern:
    """A statement that writes `table`, or a COPY helper called with its name."""
    name = re.escape(table)
    return re.compile(
        rf"(?:\bINSERT\s+INTO|\bUPDATE|\bDELETE\s+FROM|\bTRUNCATE(?:\s+TABLE)?|\bCOPY)\s+{name}\b"
        rf"|copy_rows\(\s*\w+\s*,\s*['\"]{name}['\"]",
        re.IGNORECASE,
    )


def _strings(path: Path) -> list[str]:
    """The string literals of a module (SQL lives in them) and, for the COPY helpers, its source lines
    that call copy_rows."""
    source = path.read_text()
    found = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return found + [line for line in source.splitlines() if "copy_rows(" in line]


def writers_of(table: str, root: Path = APP) -> list[str]:
    pattern = _writes(table)
    return sorted(
        str(path.relative_to(root)) for path in root.rglob("*.py") if any(pattern.search(s) for s in _strings(path))
    )


@pytest.mark.parametrize(("table", "module"), sorted(WRITERS.items()))
def test_one_module_writes_the_table(table, module):
    assert writers_of(table) == [module]


def test_a_second_writer_would_be_found(tmp_path):
    """The check is not vacuous: each kind of write, in any module, is found; a read is not."""
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "verifications.py").write_text('X = "INSERT INTO verifications (a) VALUES (%s)"\n')
    (tmp_path / "reads.py").write_text('Q = "SELECT id FROM verifications WHERE NOT detected"\n')
    assert writers_of("verifications", tmp_path) == ["db/verifications.py"]
    for write in (
        'Q = """\nupdate verifications SET detected = true"""',
        "Q = 'DELETE FROM verifications WHERE id = %s'",
        'Q = "truncate table verifications"',
        'Q = "COPY verifications (at) FROM STDIN"',
        'copy_rows(conn, "verifications", COLUMNS, rows)',
    ):
        (tmp_path / "other.py").write_text(write + "\n")
        assert writers_of("verifications", tmp_path) == ["db/verifications.py", "other.py"], write
    assert writers_of("verifications_2021_03", tmp_path) == []
