"""`pharmatrack index --verify`: a full re-index into a scratch schema equals the live mirror;
a tampered mirror is caught and the command exits non-zero naming the difference."""

import os
import subprocess
import sys

import psycopg2
import pytest

from tests.conftest import register_org


@pytest.fixture
def indexed(w3, anvil, deployment, pharmatrack, database_url):
    for i in range(4):
        register_org(w3, pharmatrack, 500 + i)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RPC_URL": anvil.rpc_url,
        "DEPLOYMENT_FILE": str(deployment.path),
        "INDEXER_WINDOW": "2",
        "LOG_LEVEL": "WARNING",
    }
    done = _cli(env, "index", "--once")
    assert done.returncode == 0, done.stderr
    return env


def _cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], check=False, env=env, capture_output=True, text=True, timeout=120
    )


def _schemas(url):
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'verify_%'")
        names = [r[0] for r in cur.fetchall()]
    conn.close()
    return names


def test_verify_passes_on_an_honest_mirror(indexed):
    proc = _cli(indexed, "index", "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "verify: OK" in proc.stdout
    assert "identical" in proc.stdout
    assert _schemas(indexed["DATABASE_URL"]) == []  # the scratch schema is dropped


def test_verify_fails_on_a_tampered_mirror(indexed):
    conn = psycopg2.connect(indexed["DATABASE_URL"])
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE ev_organisation_registered SET gln = 9999999999994 WHERE gln = 4000000005025")
        cur.execute(
            "DELETE FROM ev_organisation_registered WHERE gln = (SELECT min(gln) FROM ev_organisation_registered)"
        )
    conn.close()
    proc = _cli(indexed, "index", "--verify")
    assert proc.returncode == 1
    assert "verify: FAILED" in proc.stderr
    assert "only in the live mirror" in proc.stdout and "9999999999994" in proc.stdout
    assert "only in the re-index" in proc.stdout
    assert _schemas(indexed["DATABASE_URL"]) == []


# Never emitted: PharmaTrack changes no role's admin (AccessControl's _setRoleAdmin is not called).
NEVER_EMITTED = {"ev_role_admin_changed"}


@pytest.fixture
def every_event(w3, anvil, deployment, pharmatrack, settings):
    """The demo supply chain, then every other kind of event the contract emits, mined and indexed."""
    from web3.logs import DISCARD

    from app import demo
    from app.chain import dispenses
    from app.ids import lgtin_id, pack_readings, pack_set, sscc_id
    from app.listings import Group, clear, listing_hash, taken_sets

    demo.seed(settings)
    maker, distributor, pharmacy, _, regulator = demo.parties(w3)
    admin = w3.eth.accounts[0]

    def send(call, sender):
        receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
        assert receipt.status == 1
        return receipt

    expiry = w3.eth.get_block("latest")["timestamp"] + 365 * 86400
    send(pharmatrack.functions.commissionLot(int(demo.GTIN), "VERIFY-L2", expiry, 20, b"\x01" * 32), maker.account)
    lot, loose = lgtin_id(demo.GTIN, "VERIFY-L2"), b"\0" * 32
    send(pharmatrack.functions.packCaseTree(int(demo.with_check_digit("10950600000002000")), lot,
                                            pack_set([0, 1, 2, 3])), maker.account)  # fmt: skip
    case_sscc = int(demo.with_check_digit("10950600000002001"))
    send(pharmatrack.functions.packCase(case_sscc, lot, 13, 5), maker.account)
    case = sscc_id(case_sscc)
    send(pharmatrack.functions.ship([case], pharmacy.account), maker.account)
    send(pharmatrack.functions.refuseShipment([case]), pharmacy.account)
    send(pharmatrack.functions.quarantineUnit(case), regulator.account)
    send(pharmatrack.functions.clearUnitQuarantine(case), regulator.account)
    send(pharmatrack.functions.recordReadings(case, b"\x09" * 32, 1_800_000_000, 60, pack_readings([500])),
         maker.account)  # fmt: skip
    send(pharmatrack.functions.destroy(loose, lot, pack_set([10]), ([], [])), maker.account)
    send(pharmatrack.functions.quarantinePacks(loose, lot, pack_set([11, 12]), ([], [])), maker.account)
    send(pharmatrack.functions.clearPacksQuarantine(loose, lot, pack_set([11]), ([], [])), maker.account)
    for step in ("quarantineLot", "clearLotQuarantine", "recallLot"):
        send(getattr(pharmatrack.functions, step)(lot), regulator.account)
    # issue 14: a lot in batches, a tote, a loose consignment, a return, a theft, an undone dispense
    f = pharmatrack.functions
    send(f.openLot(int(demo.GTIN), "VERIFY-L3", expiry, 20), maker.account)
    send(f.commissionBatch(lgtin_id(demo.GTIN, "VERIFY-L3"), 0, 20, b"\x02" * 32), maker.account)
    lot3 = lgtin_id(demo.GTIN, "VERIFY-L3")
    case3 = sscc_id(int(demo.with_check_digit("10950600000002002")))
    send(f.packCase(int(demo.with_check_digit("10950600000002002")), lot3, 0, 10), maker.account)
    send(f.ship([case3], distributor.account), maker.account)
    send(f.receiveShipment([case3]), distributor.account)
    send(f.unpack([case3]), distributor.account)
    tote_sscc = int(demo.with_check_digit("10950600000002003"))
    send(f.packToteListed(tote_sscc, [(case3, lot3, pack_set([0, 1, 2]))], []), distributor.account)
    tote = sscc_id(tote_sscc)
    listing = [Group(case3, lot3, *pack_set([0, 1, 2]))]
    send(f.ship([tote], pharmacy.account), distributor.account)
    send(f.receiveShipment([tote]), pharmacy.account)
    send(f.unpack([tote]), pharmacy.account)
    loose = f.shipListed([(case3, lot3, pack_set([3]))], [], pharmacy.account)
    consignment = loose.call({"from": distributor.account})
    send(loose, distributor.account)
    send(f.receiveShipment([consignment]), pharmacy.account)

    def draw(indexes):
        return (tote, [g.as_abi() for g in listing], taken_sets(listing, lot3, indexes))

    back = f.returnListed(draw([0]), distributor.account)
    consignment = back.call({"from": pharmacy.account})
    send(back, pharmacy.account)
    listing = list(clear(listing, lot3, *pack_set([0])))
    send(f.acceptReturn(consignment), distributor.account)
    send(f.reportStolenListed([draw([1])]), pharmacy.account)
    dispensed = send(f.dispenseDay([], [draw([2])], []), pharmacy.account)
    links = dispenses.chain_links(w3, pharmatrack, bytes.fromhex(pharmacy.account[2:]))
    event = pharmatrack.events.Dispensed().process_receipt(dispensed, errors=DISCARD)[0]
    proof = dispenses.undo_proof(links, (event.blockNumber, event.logIndex),
                                 lambda h: bytes(w3.eth.get_transaction(h)["input"]), pharmatrack)  # fmt: skip
    send(f.undoDispenseDay(*proof, tote, lot3, pack_set([2])), pharmacy.account)
    # the gas redesign: run cases in one call, two of them opened and picked onto a roll cage, a tote detached
    runs = [int(demo.with_check_digit(f"1095060000000201{k}")) for k in range(3)]
    send(f.packCases(runs, lot3, 10, 3), maker.account)
    send(f.unpack([sscc_id(runs[0])]), maker.account)
    cage_sscc, totes = int(demo.with_check_digit("10950600000002020")), [
        int(demo.with_check_digit("10950600000002021")), int(demo.with_check_digit("10950600000002022"))]  # fmt: skip
    picks = [[(sscc_id(runs[0]), lot3, pack_set([10]))], [(sscc_id(runs[0]), lot3, pack_set([11, 12]))]]
    send(f.packCageListed((cage_sscc, totes, picks, [sscc_id(runs[1])])), maker.account)
    caged = [[Group(*p[0][:2], *p[0][2])] for p in picks]
    hashes = [listing_hash(g) for g in caged]
    detach = (sscc_id(cage_sscc), [sscc_id(t) for t in totes], hashes, [1],
              [(sscc_id(totes[1]), [g.as_abi() for g in caged[1]], [(0, [])])])  # fmt: skip
    send(f.detachTote(detach), maker.account)
    send(pharmatrack.functions.suspendOrganisation(distributor.account), admin)
    send(pharmatrack.functions.reinstateOrganisation(distributor.account), admin)
    send(pharmatrack.functions.revokeRole(pharmatrack.functions.REGULATOR_ROLE().call(), regulator.account), admin)
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "RPC_URL": anvil.rpc_url,
        "DEPLOYMENT_FILE": str(deployment.path),
        "INDEXER_WINDOW": "7",
        "LOG_LEVEL": "WARNING",
    }
    done = _cli(env, "index", "--once")
    assert done.returncode == 0, done.stderr
    return env


def _counts(url, tables):
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        counts = {}
        for table in tables:
            cur.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cur.fetchone()[0]
    conn.close()
    return counts


def test_verify_compares_every_table_of_a_mirror_holding_every_kind_of_event(every_event, deployment):
    from app.indexer.registry import specs_for
    from app.indexer.writer import mirror_tables

    tables = mirror_tables(specs_for(deployment))
    assert "pack_events" in tables
    counts = _counts(every_event["DATABASE_URL"], tables)
    assert {t for t, n in counts.items() if n == 0} == NEVER_EMITTED  # every other kind of event is there

    proc = _cli(every_event, "index", "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verify: OK" in proc.stdout
    rows = (
        sum(n for t, n in counts.items())
        + _counts(every_event["DATABASE_URL"], ["blocks WHERE has_events"])["blocks WHERE has_events"]
    )
    assert f"{rows} row(s) in {len(tables) + 1} table(s) identical" in proc.stdout

    # A pack the mirror says was dispensed by someone else: caught in pack_events, nowhere else.
    conn = psycopg2.connect(every_event["DATABASE_URL"])
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE pack_events SET actor = %s WHERE ctid = (SELECT ctid FROM pack_events "
                    "WHERE kind = 'dispensed' LIMIT 1)", (b"\xee" * 20,))  # fmt: skip
        assert cur.rowcount == 1
    conn.close()
    proc = _cli(every_event, "index", "--verify")
    assert proc.returncode == 1, proc.stdout
    differences = [line for line in proc.stdout.splitlines() if "only in" in line]
    assert differences and all(line.lstrip().startswith("pack_events: ") for line in differences), proc.stdout
    assert any("0x" + "ee" * 20 in line and "only in the live mirror" in line for line in differences)
    assert any("only in the re-index" in line for line in differences)
    assert _schemas(every_event["DATABASE_URL"]) == []
