"""Unit state rebuilt from the mirror equals the contract's own `unit()` view, for every case
and pallet of the demo supply chain plus in-transit, refused and quarantined units."""

import psycopg2
import pytest

from app import demo
from app.chain.client import ChainClient
from app.db import Database, mirror
from app.ids import lgtin_id, sgtin_id, sscc_id
from app.indexer.core import Indexer
from app.merkle import LotTree
from app.services import prechecks
from app.services.custody import unit_state

ZERO = b"\0" * 32


@pytest.fixture
def supply_chain(w3, anvil, deployment, pharmatrack, settings):
    demo.seed(settings)
    maker, distributor, pharmacy_a, _, regulator = demo.parties(w3)
    # more states: a case packed onto a second pallet that is in transit, a refused case, a quarantined case
    case_ssccs = [int(demo.with_check_digit(f"10950600000001{c:03d}")) for c in range(3)]
    pallet_sscc = int(demo.with_check_digit("10950600000009001"))

    def send(call, sender):
        assert w3.eth.wait_for_transaction_receipt(call.transact({"from": sender})).status == 1

    # the demo lot is fully packed: a second lot of 30 packs for the extra cases
    tree = LotTree([sgtin_id(demo.GTIN, f"EXTRA{i:04d}") for i in range(30)])
    expiry = w3.eth.get_block("latest")["timestamp"] + 365 * 86400
    send(pharmatrack.functions.commissionLot(int(demo.GTIN), "DEMO-L2", expiry, 30, tree.root), maker.account)
    lot_id = lgtin_id(demo.GTIN, "DEMO-L2")

    for c, sscc in enumerate(case_ssccs):
        send(pharmatrack.functions.packCase(sscc, lot_id, c * 10, 10), maker.account)
    cases = [sscc_id(s) for s in case_ssccs]
    send(pharmatrack.functions.packPallet(pallet_sscc, cases[:2]), maker.account)
    send(pharmatrack.functions.ship([sscc_id(pallet_sscc)], distributor.account), maker.account)
    send(pharmatrack.functions.ship([cases[2]], pharmacy_a.account), maker.account)
    send(pharmatrack.functions.refuseShipment([cases[2]]), pharmacy_a.account)
    send(pharmatrack.functions.quarantineUnit(cases[2]), regulator.account)
    db = Database(settings.database_url, maxconn=1)
    Indexer.for_deployment(db, ChainClient(anvil.rpc_url), deployment).run_until_caught_up()
    db.close()
    return settings.database_url


def _unit_ids(url):
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT case_id FROM ev_case_packed UNION SELECT pallet_id FROM ev_pallet_packed ORDER BY 1")
        ids = [bytes(r[0]) for r in cur.fetchall()]
    conn.close()
    return ids


def test_mirror_state_matches_the_contract_for_every_unit(supply_chain, pharmatrack):
    ids = _unit_ids(supply_chain)
    assert len(ids) == 4 + 2 + 3 + 1  # demo cases and pallets, three more cases, another pallet
    conn = psycopg2.connect(supply_chain)
    seen = set()
    for unit_id in ids:
        chain = pharmatrack.functions.unit(unit_id).call()
        kind, custodian, recipient, container, in_transit, quarantined, excursion, unpacked = chain[:8]
        mine = unit_state(conn, unit_id)
        assert mine.kind == {1: "case", 2: "pallet"}[kind]
        assert "0x" + mine.custodian.hex() == custodian.lower(), unit_id.hex()
        assert (mine.container or ZERO) == container, unit_id.hex()
        assert (mine.in_transit, mine.quarantined, mine.excursion, mine.unpacked) == (
            in_transit,
            quarantined,
            excursion,
            unpacked,
        ), unit_id.hex()
        if in_transit and mine.container is None:
            assert "0x" + mine.recipient.hex() == recipient.lower()
        seen.add((in_transit, quarantined, excursion, unpacked, mine.container is not None))
    conn.close()
    # the scenario really covers the interesting states
    assert (True, False, False, False, True) in seen  # a case riding an in-transit pallet
    assert (False, True, False, False, False) in seen  # the refused, quarantined case
    assert (False, False, True, True, False) in seen  # the demo's warm pallet: excursion, unpacked
    assert (False, False, False, True, False) in seen  # its cool pallet: no excursion, unpacked


def test_an_unknown_unit_has_no_state(supply_chain):
    conn = psycopg2.connect(supply_chain)
    assert unit_state(conn, b"\x42" * 32) is None
    conn.close()


def test_one_document_answers_from_one_read_of_its_units(supply_chain, monkeypatch):
    """prechecks.one_document: the units named up front are read in one statement and folded as unit_state folds
    each alone; one not named up front (a pallet found on the way) is read when asked, once; outside, nothing is
    kept."""
    ids = _unit_ids(supply_chain)
    conn = psycopg2.connect(supply_chain)
    try:
        alone = {u: unit_state(conn, u) for u in ids}
        named, later = ids[:-1], ids[-1]
        reads = []
        for name in ("custody_events", "custody_events_of"):
            real = getattr(mirror, name)
            monkeypatch.setattr(mirror, name, lambda c, u, real=real, name=name: reads.append(name) or real(c, u))
        with prechecks.one_document(conn, [*named, named[0]]):
            assert reads == ["custody_events_of"]
            assert {u: prechecks.unit_state(conn, u) for u in named} == {u: alone[u] for u in named}
            assert reads == ["custody_events_of"]
            assert prechecks.unit_state(conn, later) == alone[later]
            assert prechecks.unit_state(conn, later) == alone[later]
            assert reads == ["custody_events_of", "custody_events"]
        assert prechecks.unit_state(conn, named[0]) == alone[named[0]]
        assert reads == ["custody_events_of", "custody_events", "custody_events"]
    finally:
        conn.close()
