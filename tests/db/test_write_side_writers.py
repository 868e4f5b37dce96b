"""The write side's tables each have one writer in app/db/ (docs/architecture.md, "The data layer"):
every statement or COPY in app/ that writes one of them is in its module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
WRITERS = {
    "operations": "db/operations.py",
    "relay_transactions": "db/relay.py",
    "relay_attempts": "db/relay.py",
    "relay_nonces": "db/relay.py",
    "relay_chain": "db/relay.py",
    "indexer_cursor": "db/indexer.py",
    "blocks": "db/indexer.py",
    "rate_limit_counters": "db/ratelimits.py",
}  # detector_cursor -> db/detector_cursor.py once the detector's own writes move there (H2)
# the mirror's tables have generated names (one per ABI event, and DERIVED_TABLES): the COPY, deletes and
# TRUNCATE that write them format identifiers, so the check is that nothing else calls the COPY helpers
MIRROR_COPY = "copy_mirror_rows"


def _writes(table: str) -> re.Pattern:
    return re.compile(
        rf"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|COPY)\s+{re.escape(table)}\b", re.IGNORECASE
    )


def _strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def writers_of(table: str, root: Path = APP) -> list[str]:
    pattern = _writes(table)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if any(pattern.search(s) for s in _strings(p)))


@pytest.mark.parametrize(("table", "module"), sorted(WRITERS.items()))
def test_one_module_writes_the_table(table, module):
    assert writers_of(table) == [module]


def test_only_the_indexer_writes_mirror_rows():
    """copy_mirror_rows (app/db/indexer.py) is called by the indexer's writer only; no module but
    app/db/indexer.py names `pack_events` in a write."""
    callers = sorted(
        str(p.relative_to(APP))
        for p in APP.rglob("*.py")
        if any(
            isinstance(n, ast.Call) and ast.unparse(n.func).endswith(MIRROR_COPY)
            for n in ast.walk(ast.parse(p.read_text()))
        )
    )
    assert callers == ["indexer/writer.py"]
    assert writers_of("pack_events") == []  # written by COPY with a generated identifier, in db/indexer.py


def test_a_second_writer_would_be_found(tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "relay.py").write_text('X = "INSERT INTO relay_nonces (a) VALUES (%s)"\n')
    (tmp_path / "reads.py").write_text('Q = "SELECT next_nonce FROM relay_nonces"\n')
    assert writers_of("relay_nonces", tmp_path) == ["db/relay.py"]
    for write in ("Q = 'update relay_nonces SET next_nonce = 1'", 'Q = """\nDELETE FROM relay_nonces"""'):
        (tmp_path / "other.py").write_text(write + "\n")
        assert writers_of("relay_nonces", tmp_path) == ["db/relay.py", "other.py"], write
