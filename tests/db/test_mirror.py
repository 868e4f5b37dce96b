"""app/db/mirror.py: the one account -> party rule, the lot_status and unit_status views (migration 0012),
and that a status lookup by id runs on the id indexes."""

import pytest

from app.db import mirror
from app.services import parties as party_cache

ACCOUNT_A, ACCOUNT_B, ACCOUNT_C = b"\xaa" * 20, b"\xbb" * 20, b"\xcc" * 20
LOT, OTHER_LOT = b"\x01" * 32, b"\x02" * 32
CASE, PALLET = b"\x03" * 32, b"\x04" * 32


def _run(conn, sql, *params):
    with conn.cursor() as cur:
        cur.execute(sql, params)


def _lot_event(conn, table, block, lot_id=LOT):
    _run(conn, f"INSERT INTO {table} VALUES (%s, 0, '\\x00', %s, %s)", block, lot_id, ACCOUNT_A)


def _unit_event(conn, table, block, unit_id=CASE):
    _run(conn, f"INSERT INTO {table} VALUES (%s, 0, '\\x00', %s, %s)", block, unit_id, ACCOUNT_A)


def test_parties_take_the_chain_gln_else_the_services_and_the_services_name(conn):
    # A: registered on chain (GLN 1) and known here under another GLN (2) and a name: the chain's GLN wins
    _run(conn, "INSERT INTO ev_organisation_registered VALUES (1, 0, '\\x00', %s, 1, 9506000000011, '{}')", ACCOUNT_A)
    _run(conn, "INSERT INTO organisations (name, gln, account, roles) VALUES ('Alpha', '9506000000028', %s, "
               "'{distributor}')", ACCOUNT_A)  # fmt: skip
    # B: known here only; C: unknown everywhere
    _run(conn, "INSERT INTO organisations (name, gln, account, roles) VALUES ('Beta', '9506000000035', %s, "
               "'{dispenser}')", ACCOUNT_B)  # fmt: skip
    found = mirror.parties(conn, [ACCOUNT_A, ACCOUNT_B, ACCOUNT_C, None, ACCOUNT_A])
    assert found == {
        ACCOUNT_A: mirror.Party(ACCOUNT_A, "9506000000011", "Alpha"),
        ACCOUNT_B: mirror.Party(ACCOUNT_B, "9506000000035", "Beta"),
        ACCOUNT_C: mirror.Party(ACCOUNT_C, None, None),
    }
    assert found[ACCOUNT_A].as_dict() == {"account": "0x" + "aa" * 20, "gln": "9506000000011", "name": "Alpha"}
    assert mirror.parties(conn, []) == {}
    party_cache.forget()
    assert party_cache.cached_parties(conn, [ACCOUNT_A, ACCOUNT_C]) == {a: found[a] for a in (ACCOUNT_A, ACCOUNT_C)}
    _run(conn, "UPDATE organisations SET name = 'Alpha Renamed' WHERE account = %s", ACCOUNT_A)
    assert party_cache.cached_parties(conn, [ACCOUNT_A])[ACCOUNT_A].name == "Alpha"  # remembered
    assert mirror.parties(conn, [ACCOUNT_A])[ACCOUNT_A].name == "Alpha Renamed"  # the lookup itself is live
    party_cache.forget()


def test_lot_status_follows_recalls_quarantines_and_clearances(conn):
    for lot_id, block in ((LOT, 1), (OTHER_LOT, 2)):
        _run(conn, "INSERT INTO ev_lot_commissioned VALUES (%s, 0, '\\x00', %s, 9506000134352, %s, 'L', 2000000000, "
                   "10, '\\x01')", block, lot_id, ACCOUNT_A)  # fmt: skip

    def status():
        row = mirror.lot_status(conn, LOT)
        return row.recalled, row.quarantined

    assert status() == (False, False)
    _lot_event(conn, "ev_lot_quarantined", 3)
    assert status() == (False, True)
    _lot_event(conn, "ev_lot_quarantine_cleared", 4)
    assert status() == (False, False)
    _lot_event(conn, "ev_lot_quarantined", 5)
    _lot_event(conn, "ev_lot_recalled", 6)
    assert status() == (True, True)
    assert mirror.lot_status(conn, OTHER_LOT)[10:12] == (False, False)  # another lot's events do not count
    assert mirror.lot_status(conn, b"\x09" * 32) is None
    row = mirror.lot_status(conn, LOT)
    assert (row.gtin, row.manufacturer, row.lot_number, row.expiry, row.serial_count) == (
        9506000134352,
        ACCOUNT_A,
        "L",
        2000000000,
        10,
    )


def test_unit_status_has_each_units_own_flags(conn):
    _run(conn, "INSERT INTO ev_case_packed VALUES (1, 0, '\\x00', %s, %s, %s, 106141410000000001, 0, 5)",
         CASE, LOT, ACCOUNT_A)  # fmt: skip
    _run(conn, "INSERT INTO ev_pallet_packed VALUES (2, 0, '\\x00', %s, %s, 106141419000000002, %s)",
         PALLET, ACCOUNT_A, [CASE])  # fmt: skip
    _unit_event(conn, "ev_unit_quarantined", 3, PALLET)
    _unit_event(conn, "ev_unit_quarantined", 4)
    _unit_event(conn, "ev_unit_quarantine_cleared", 5)
    _unit_event(conn, "ev_unpacked", 6, PALLET)
    _run(conn, "INSERT INTO ev_excursion_detected VALUES (7, 0, '\\x00', %s, '\\x05', 1700000000, 900, 200, 800)", CASE)
    with conn.cursor() as cur:
        cur.execute("SELECT unit_id, kind, lot_id, quarantined, excursion, unpacked FROM unit_status ORDER BY kind")
        rows = [(bytes(u), k, lot and bytes(lot), q, x, p) for u, k, lot, q, x, p in cur.fetchall()]
    assert rows == [(CASE, "case", LOT, False, True, False), (PALLET, "pallet", None, True, False, True)]
    assert mirror.units(conn, [CASE, PALLET, b"\x09" * 32]) == {
        CASE: {"sscc": "106141410000000001", "kind": "case"},
        PALLET: {"sscc": "106141419000000002", "kind": "pallet"},
    }
    assert mirror.unit_exists(conn, PALLET) and not mirror.unit_exists(conn, b"\x09" * 32)


@pytest.mark.parametrize(
    ("view", "column", "tables"),
    [
        # the rule, as lot_state's triggers recompute a lot's row (tests/db/test_lot_state.py)
        ("lot_status_of_events", "lot_id", ["ev_lot_commissioned", "ev_lot_recalled", "ev_lot_quarantined"]),
        ("lot_status", "lot_id", ["lot_state"]),  # what every reader asks: one primary-key lookup
        ("unit_status", "unit_id", ["ev_case_packed", "ev_pallet_packed", "ev_unit_quarantined", "ev_unpacked"]),
    ],
)
def test_a_status_lookup_by_id_runs_on_the_id_indexes(conn, view, column, tables):
    """The view is inlined into the lookup, so the id reaches every table's index: with sequential
    scans priced out, none of the indexed tables is scanned whole (verification reads it per request)."""
    _run(conn, "SET LOCAL enable_seqscan = off")
    with conn.cursor() as cur:
        cur.execute(f"EXPLAIN SELECT * FROM {view} WHERE {column} = %s", (b"\x01" * 32,))
        plan = "\n".join(r[0] for r in cur.fetchall())
    for table in tables:
        assert f"Seq Scan on {table}" not in plan, plan
        assert f"on {table}" in plan, plan
