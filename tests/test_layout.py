"""The architecture's rules that a grep or the import graph can check (README "Architecture").

import-linter (`make lint`, contracts in setup.cfg) checks the direction of imports between layers;
these tests check what it does not: SQL text only in app/db/, no import cycles (not even through
function-level imports), and tests/ laid out like app/.
"""

from __future__ import annotations

import re
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
# The acceptance check of the data layer, as the issue states it (case-sensitive, like the grep)
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b")


def test_sql_lives_only_in_app_db():
    outside = sorted(
        str(path.relative_to(ROOT))
        for path in APP.rglob("*.py")
        if path.parent != APP / "db" and APP / "db" not in path.parents and SQL.search(path.read_text())
    )
    assert outside == [], f"SQL outside app/db/: {outside}"


def test_the_sql_grep_would_catch_a_statement(tmp_path):
    """The pattern is not vacuous: a statement in a service module is found."""
    assert SQL.search('ROWS = "SELECT id FROM operations WHERE status = %s"')
    assert not SQL.search('"""Select the rows to update (lower case prose is fine)."""')


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_in_app():
    """grimp sees function-level imports too: a cycle hidden inside a function still counts."""
    assert _cycles(grimp.build_graph("app")) == []


def test_cycle_finder_finds_a_cycle():
    class Graph:
        modules = {"a", "b", "c"}

        @staticmethod
        def find_modules_directly_imported_by(module):
            return {"a": {"b"}, "b": {"a"}, "c": {"a"}}[module]

    assert _cycles(Graph()) == [["a", "b"]]


def test_tests_mirror_app():
    """Every package of app/ has its tests/ folder of the same name."""
    packages = sorted(p.name for p in APP.iterdir() if (p / "__init__.py").exists())
    missing = [name for name in packages if not (ROOT / "tests" / name / "__init__.py").exists()]
    assert missing == [], f"app packages without a tests/ folder: {missing}"
