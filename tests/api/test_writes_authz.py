"""The authorisation matrix of the write API: every write endpoint by every party, own or other's object.

Each *target* is one request that is valid for the organisation(s) owning its object (a lot, a held
case, a unit in transit to someone …). It is posted as each of the six parties, one test case per cell:

- a party whose role is not in ``ACTIONS[action].roles`` → 403 (before any pre-check);
- a party with an allowed role that does not own the object → 409 naming the field and the rule
  (``not_holder``, ``not_recipient``, ``not_manufacturer`` …);
- an owner → 202 (a pending operation).

Multi-role actions have one target per owning role, so every allowed role has an "own" cell that
succeeds and "other" cells that are refused. The chain state is built once per module and never
pumped afterwards: the accepted cells only add pending outbox rows, which the pre-checks (reading
the mirror) do not see, so the cells are independent of their order. (A recall, quarantine or
clearance in flight does refuse another for its target, test_prechecks.py: such a cell's operation
is marked failed once checked.)

Also here: no ``Authorization`` → 401 and a revoked key → 401, for every write endpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account

from app.services import orgs
from app.services.outbox import STATUS_CHANGES
from app.services.writes import ACTIONS
from tests.world import GTIN_BASE, ROLES, World, check_digit, module_world

PROBLEM = "application/problem+json"
PARTIES = tuple(ROLES)  # maker, maker2, distributor, pharmacy, pharmacy2, regulator

ENDPOINTS = {
    "register_product": "/v1/products",
    "commission_lot": "/v1/lots",
    "recall": "/v1/lots/recalls",
    "pack_case": "/v1/cases",
    "pack_pallet": "/v1/pallets",
    "unpack": "/v1/unpackings",
    "ship": "/v1/shipments",
    "receive": "/v1/receipts",
    "refuse": "/v1/refusals",
    "dispense": "/v1/dispensations",
    "destroy": "/v1/destructions",
    "quarantine": "/v1/quarantines",
    "clear_quarantine": "/v1/quarantine-clearances",
    "record_readings": "/v1/units/{sscc}/readings",
    "open_lot": "/v1/lots/openings",
    "commission_batch": "/v1/lots/batches",
    "pack_tote": "/v1/totes",
    "pack_cage": "/v1/roll-cages",
    "ship_packs": "/v1/pack-shipments",
    "return_packs": "/v1/returns",
    "accept_return": "/v1/return-acceptances",
    "report_stolen": "/v1/thefts",
    "undo_dispense": "/v1/dispensation-undos",
}
READINGS = {"sensor_id": "logger-7", "start": "2025-05-01T08:00:00Z", "interval": 300, "celsius": [4.5, 5.25, 6]}


# --------------------------------------------------------------------------- a world for the whole module


def new_gtin() -> str:
    return check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")


def settle(world: World, *posts: tuple[str, object]) -> None:
    """Every (who, response) accepted; pump; every operation confirmed."""
    for who, resp in posts:
        assert resp.status_code == 202, (who, resp.get_json())
    world.pump()
    for who, resp in posts:
        op = world.operation(who, resp.get_json()["operation"]["id"])
        assert op["status"] == "confirmed", op


def register_chain_only_org(world: World, role: str = "DISPENSER_ROLE") -> str:
    """A trading partner on chain with no API key: a ship target no poster is (so never `to: self`)."""
    gln = check_digit(f"96{uuid.uuid4().int % 10**10:010d}")
    role_id = getattr(world.pt.functions, role)().call()
    tx = world.pt.functions.registerOrganisation(Account.create().address, int(gln), [role_id]).transact(
        {"from": world.w3.eth.accounts[0]}
    )
    assert world.w3.eth.wait_for_transaction_receipt(tx).status == 1
    world.indexer.run_until_caught_up()
    return gln


CASES = ("M1", "QM", "D1", "QD", "P1", "QP", "TD", "TP", "TM")  # run cases of 10 packs of lot L, in this order
LOOSE_PACK = 97  # packs 90..99 of lot L stay loose at the maker


def build_state(world: World) -> dict:
    """The chain state every target needs, built once:

    - products G (maker) and G2 (maker2); lots L (100 packs) and QL (quarantined) of G, L2 of G2;
    - cases of L: M1 (maker, loose), QM (maker, quarantined), D1 / QD (distributor, loose / quarantined),
      P1 / QP (pharmacy, loose / quarantined), TD (in transit maker → distributor),
      TP (in transit distributor → pharmacy), TM (in transit distributor → maker);
    - east: a trading partner registered on chain only, the recipient of every ship target.
    """
    p = world.parties
    s = {"gtin": new_gtin(), "gtin2": new_gtin(), "lot": "L" + uuid.uuid4().hex[:6].upper()}
    s["qlot"], s["lot2"] = s["lot"] + "Q", s["lot"] + "B"
    s["east"] = register_chain_only_org(world)
    s["distributor_gln"] = p["distributor"].gln
    storage = {"min_celsius": 2, "max_celsius": 8}
    settle(
        world,
        ("maker", world.post("maker", "/v1/products", {"gtin": s["gtin"], "name": "Amoxicillin", "storage": storage})),
        ("maker2", world.post("maker2", "/v1/products", {"gtin": s["gtin2"], "name": "Ibuprofen", "storage": storage})),
    )

    def lot(gtin, number, prefix, count):
        serials = {"prefix": prefix, "first": 0, "count": count, "digits": 10}
        return {"gtin": gtin, "lot": number, "expiry": "2030-12-31", "serial_range": serials}

    settle(
        world,
        ("maker", world.post("maker", "/v1/lots", lot(s["gtin"], s["lot"], "S", 100))),
        ("maker", world.post("maker", "/v1/lots", lot(s["gtin"], s["qlot"], "Q", 4))),
        ("maker2", world.post("maker2", "/v1/lots", lot(s["gtin2"], s["lot2"], "S", 20))),
    )
    s.update({name: world.sscc() for name in CASES})
    run = {"gtin": s["gtin"], "lot": s["lot"], "count": 10}
    settle(
        world,
        *[("maker", world.post("maker", "/v1/cases", {"sscc": s[n], "first_index": 10 * i} | run)) for i, n in
          enumerate(CASES)],
        ("maker", world.post("maker", "/v1/quarantines", {"gtin": s["gtin"], "lot": s["qlot"]})),
    )  # fmt: skip
    to_distributor = [s[n] for n in ("D1", "QD", "P1", "QP", "TD", "TP", "TM")]
    settle(
        world,
        ("maker", world.post("maker", "/v1/shipments", {"units": to_distributor, "to": p["distributor"].gln})),
        ("maker", world.post("maker", "/v1/quarantines", {"sscc": s["QM"]})),
    )
    received = [s[n] for n in ("D1", "QD", "P1", "QP", "TP", "TM")]
    settle(world, ("distributor", world.post("distributor", "/v1/receipts", {"units": received})))
    to_pharmacy = [s[n] for n in ("P1", "QP", "TP")]
    settle(
        world,
        ("distributor", world.post("distributor", "/v1/shipments", {"units": to_pharmacy, "to": p["pharmacy"].gln})),
        ("distributor", world.post("distributor", "/v1/shipments", {"units": [s["TM"]], "to": p["maker"].gln})),
        ("distributor", world.post("distributor", "/v1/quarantines", {"sscc": s["QD"]})),
    )
    settle(world, ("pharmacy", world.post("pharmacy", "/v1/receipts", {"units": [s["P1"], s["QP"]]})))
    settle(world, ("pharmacy", world.post("pharmacy", "/v1/quarantines", {"sscc": s["QP"]})))
    build_distribution(world, s)
    return s


DIST_CASES = ("OD", "OP", "OM", "OK")  # run cases of 10 packs of lot L3, in this order


def build_distribution(world: World, s: dict) -> None:
    """Issue 14's state: lot L3 of G (40 packs) commissioned in a batch of an opened lot (and lot O of G opened,
    with no serials); opened run cases OD and OP at the distributor and OK at the maker; packs 11-19 of OP shipped
    loose by the distributor to the pharmacy and 21-29 of OM by the maker (consignments, opened on arrival: returns
    and picks come out of a tote or consignment, docs/gas-redesign.md); pack 15 shipped loose by the pharmacy to
    pharmacy2; returns in transit: pack 11 to the distributor, 21 to the maker, 15 to the pharmacy; pack 14
    dispensed by the pharmacy."""
    p = world.parties
    s["lot3"], s["olot"] = s["lot"] + "3", s["lot"] + "O"
    opening = {"gtin": s["gtin"], "expiry": "2030-12-31", "capacity": 40}
    settle(world, ("maker", world.post("maker", "/v1/lots/openings", {"lot": s["lot3"]} | opening)),
           ("maker", world.post("maker", "/v1/lots/openings", {"lot": s["olot"]} | opening)))  # fmt: skip
    batch = {"gtin": s["gtin"], "lot": s["lot3"], "serial_range": {"prefix": "T", "first": 0, "count": 40}}
    settle(world, ("maker", world.post("maker", "/v1/lots/batches", batch)))
    s.update({name: world.sscc() for name in DIST_CASES})
    run = {"gtin": s["gtin"], "lot": s["lot3"], "count": 10}
    settle(world, *[("maker", world.post("maker", "/v1/cases", {"sscc": s[n], "first_index": 10 * i} | run))
                    for i, n in enumerate(DIST_CASES)])  # fmt: skip
    settle(world, ("maker", world.post("maker", "/v1/shipments", {"units": [s["OD"], s["OP"]], "to": p["distributor"].gln})),
           ("maker", world.post("maker", "/v1/unpackings", {"units": [s["OM"], s["OK"]]})))  # fmt: skip
    settle(world, ("distributor", world.post("distributor", "/v1/receipts", {"units": [s["OD"], s["OP"]]})))
    settle(world, ("distributor", world.post("distributor", "/v1/unpackings", {"units": [s["OD"], s["OP"]]})))
    settle(world, ("distributor", world.post("distributor", "/v1/pack-shipments", {
                       "packs": [pack3(s, i) for i in range(11, 20)], "to": p["pharmacy"].gln})),
           ("maker", world.post("maker", "/v1/pack-shipments", {
               "packs": [pack3(s, i) for i in range(21, 30)], "to": p["pharmacy"].gln})))  # fmt: skip
    settle(world, ("pharmacy", world.post("pharmacy", "/v1/receipts", {"packs": [pack3(s, 11), pack3(s, 21)]})))
    settle(world, ("pharmacy", world.post("pharmacy", "/v1/pack-shipments", {"packs": [pack3(s, 15)], "to": p["pharmacy2"].gln})),
           ("pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": [pack3(s, 14)]})))  # fmt: skip
    settle(world, ("pharmacy2", world.post("pharmacy2", "/v1/receipts", {"packs": [pack3(s, 15)]})))
    settle(world, ("pharmacy", world.post("pharmacy", "/v1/returns", {"packs": [pack3(s, 11)], "to": p["distributor"].gln})),
           ("pharmacy", world.post("pharmacy", "/v1/returns", {"packs": [pack3(s, 21)], "to": p["maker"].gln})),
           ("pharmacy2", world.post("pharmacy2", "/v1/returns", {"packs": [pack3(s, 15)], "to": p["pharmacy"].gln})))  # fmt: skip


@pytest.fixture(scope="module")
def mworld(w3, anvil, pg_server, migrated_template, tmp_path_factory) -> Iterator[World]:
    with module_world(w3, anvil, pg_server, migrated_template, tmp_path_factory.mktemp("authz")) as world:
        yield world


@pytest.fixture(scope="module")
def state(mworld: World) -> dict:
    return build_state(mworld)


# --------------------------------------------------------------------------- the targets


def pack(s: dict, index: int) -> str:
    return f"(01){s['gtin']}(21)S{index:010d}"


def pack3(s: dict, index: int) -> str:
    """A pack of lot L3 (serials T0000000000 …)."""
    return f"(01){s['gtin']}(21)T{index:010d}"


def first_pack(name: str) -> int:
    return 10 * CASES.index(name) + 1


@dataclass(frozen=True)
class Target:
    """One request, valid for `owners`; any other party with an allowed role gets 409 `field`: `rule`."""

    action: str
    name: str
    body: Callable[[dict], dict]
    owners: frozenset[str]
    field: str
    rule: str
    unit: str | None = None  # record_readings: the case in the path

    def path(self, s: dict) -> str:
        return ENDPOINTS[self.action].format(sscc=s[self.unit] if self.unit else "")


def T(action, name, body, owners, field_, rule, **kw) -> Target:
    return Target(action, name, body, frozenset(owners), field_, rule, **kw)


STORAGE = {"min_celsius": 2, "max_celsius": 8}


def _range(prefix: str) -> dict:
    return {"prefix": prefix, "first": 0, "count": 3, "digits": 10}


TARGETS = [
    # any manufacturer may register a new GTIN; nobody may register a registered one
    T("register_product", "new-gtin", lambda s: {"gtin": new_gtin(), "name": "X", "storage": STORAGE},
      {"maker", "maker2"}, "gtin", "already_registered"),
    T("register_product", "makers-gtin", lambda s: {"gtin": s["gtin"], "name": "X", "storage": STORAGE},
      set(), "gtin", "already_registered"),
    T("commission_lot", "makers-product",
      lambda s: {"gtin": s["gtin"], "lot": s["lot"] + "N", "expiry": "2030-06-30", "serial_range": _range("N")},
      {"maker"}, "gtin", "not_manufacturer"),
    T("commission_lot", "maker2s-product",
      lambda s: {"gtin": s["gtin2"], "lot": s["lot"] + "N", "expiry": "2030-06-30", "serial_range": _range("N")},
      {"maker2"}, "gtin", "not_manufacturer"),
    T("recall", "makers-lot", lambda s: {"gtin": s["gtin"], "lot": s["lot"]},
      {"maker", "regulator"}, "lot", "not_manufacturer"),
    T("recall", "maker2s-lot", lambda s: {"gtin": s["gtin2"], "lot": s["lot2"]},
      {"maker2", "regulator"}, "lot", "not_manufacturer"),
    T("pack_case", "makers-lot", lambda s: {"sscc": s["new_case"], "gtin": s["gtin"], "lot": s["lot"],
                                            "first_index": 90, "count": 5},
      {"maker"}, "lot", "not_manufacturer"),
    T("pack_case", "maker2s-lot", lambda s: {"sscc": s["new_case"], "gtin": s["gtin2"], "lot": s["lot2"],
                                             "first_index": 0, "count": 5},
      {"maker2"}, "lot", "not_manufacturer"),
    T("pack_pallet", "makers-case", lambda s: {"sscc": s["new_pallet"], "cases": [s["M1"]]},
      {"maker"}, "cases[0]", "not_holder"),
    T("pack_pallet", "distributors-case", lambda s: {"sscc": s["new_pallet"], "cases": [s["D1"]]},
      {"distributor"}, "cases[0]", "not_holder"),
    *[T("unpack", f"{o}s-case", lambda s, c=c: {"units": [s[c]]}, {o}, "units[0]", "not_holder")
      for o, c in (("maker", "M1"), ("distributor", "D1"), ("pharmacy", "P1"))],
    *[T("ship", f"{o}s-case", lambda s, c=c: {"units": [s[c]], "to": s["east"]}, {o}, "units[0]", "not_holder")
      for o, c in (("maker", "M1"), ("distributor", "D1"), ("pharmacy", "P1"))],
    *[T(action, f"to-{o}", lambda s, c=c: {"units": [s[c]]}, {o}, "units[0]", "not_recipient")
      for action in ("receive", "refuse")
      for o, c in (("maker", "TM"), ("distributor", "TD"), ("pharmacy", "TP"))],
    T("dispense", "pharmacys-case", lambda s: {"packs": [pack(s, first_pack("P1"))]},
      {"pharmacy"}, "packs[0]", "not_holder"),
    T("dispense", "distributors-case", lambda s: {"packs": [pack(s, first_pack("D1"))]},
      set(), "packs[0]", "not_holder"),
    T("destroy", "pharmacys-case", lambda s: {"packs": [pack(s, first_pack("P1") + 1)]},
      {"pharmacy"}, "packs[0]", "not_holder"),
    T("destroy", "makers-loose-stock", lambda s: {"packs": [pack(s, LOOSE_PACK)]},
      {"maker"}, "packs[0]", "not_holder"),
    T("destroy", "distributors-case", lambda s: {"packs": [pack(s, first_pack("D1") + 1)]},
      set(), "packs[0]", "not_holder"),
    *[T("quarantine", f"{o}s-case", lambda s, c=c: {"sscc": s[c]}, {o, "regulator"}, "sscc", "not_holder")
      for o, c in (("maker", "M1"), ("distributor", "D1"), ("pharmacy", "P1"))],
    T("quarantine", "makers-lot", lambda s: {"gtin": s["gtin"], "lot": s["lot"]},
      {"maker", "regulator"}, "lot", "not_manufacturer"),
    T("quarantine", "maker2s-lot", lambda s: {"gtin": s["gtin2"], "lot": s["lot2"]},
      {"maker2", "regulator"}, "lot", "not_manufacturer"),
    *[T("clear_quarantine", f"{o}s-case", lambda s, c=c: {"sscc": s[c]}, {o, "regulator"}, "sscc", "not_holder")
      for o, c in (("maker", "QM"), ("distributor", "QD"), ("pharmacy", "QP"))],
    T("clear_quarantine", "makers-lot", lambda s: {"gtin": s["gtin"], "lot": s["qlot"]},
      {"maker", "regulator"}, "lot", "not_manufacturer"),
    *[T("record_readings", f"{o}s-case", lambda s: READINGS, {o}, "sscc", "not_holder", unit=c)
      for o, c in (("maker", "M1"), ("distributor", "D1"), ("pharmacy", "P1"))],
    # in transit: the sender still holds it, the recipient may record too
    T("record_readings", "in-transit-to-pharmacy", lambda s: READINGS, {"distributor", "pharmacy"}, "sscc",
      "not_holder", unit="TP"),
    # issue 14: lots in batches, packs picked out of opened containers, returns, thefts, undone dispenses
    T("open_lot", "makers-product", lambda s: {"gtin": s["gtin"], "lot": s["lot"] + "P", "expiry": "2030-06-30",
                                               "capacity": 10},
      {"maker"}, "gtin", "not_manufacturer"),
    T("open_lot", "maker2s-product", lambda s: {"gtin": s["gtin2"], "lot": s["lot"] + "P", "expiry": "2030-06-30",
                                                "capacity": 10},
      {"maker2"}, "gtin", "not_manufacturer"),
    T("commission_batch", "makers-lot", lambda s: {"gtin": s["gtin"], "lot": s["olot"], "serial_range": _range("O")},
      {"maker"}, "lot", "not_manufacturer"),
    *[T("pack_tote", f"{o}s-packs", lambda s, i=i: {"sscc": s["new_case"], "packs": [pack3(s, i)]}, {o},
        "packs[0]", "not_holder")
      for o, i in (("maker", 32), ("distributor", 3), ("pharmacy", 16))],
    *[T("pack_cage", f"{o}s-packs", lambda s, i=i: {"sscc": s["new_case"], "totes": [{"sscc": s["new_pallet"],
                                                                                     "packs": [pack3(s, i)]}]},
        {o}, "totes[0].packs[0]", "not_holder")
      for o, i in (("maker", 35), ("distributor", 6))],
    *[T("ship_packs", f"{o}s-packs", lambda s, i=i: {"packs": [pack3(s, i)], "to": s["east"]}, {o},
        "packs[0]", "not_holder")
      for o, i in (("maker", 33), ("distributor", 4), ("pharmacy", 17))],
    T("return_packs", "pharmacys-packs", lambda s: {"packs": [pack3(s, 12)], "to": s["distributor_gln"]},
      {"pharmacy"}, "packs[0]", "not_holder"),
    *[T("accept_return", f"to-{o}", lambda s, i=i: {"packs": [pack3(s, i)]}, {o}, "packs[0]", "not_recipient")
      for o, i in (("maker", 21), ("distributor", 11), ("pharmacy", 15))],
    *[T("report_stolen", f"{o}s-packs", lambda s, i=i: {"packs": [pack3(s, i)]}, {o}, "packs[0]", "not_holder")
      for o, i in (("maker", 31), ("distributor", 2), ("pharmacy", 13))],
    T("undo_dispense", "pharmacys-dispense", lambda s: {"packs": [pack3(s, 14)]},
      {"pharmacy"}, "packs[0]", "not_dispenser"),
]  # fmt: skip
BY_ID = {f"{t.action}:{t.name}": t for t in TARGETS}


def expected(target: Target, who: str) -> int:
    if ROLES[who][1] not in ACTIONS[target.action].roles:
        return 403
    return 202 if who in target.owners else 409


def _cells():
    for key, target in BY_ID.items():
        for who in PARTIES:
            yield pytest.param(key, who, id=f"{key}:as-{who}:{expected(target, who)}")


def operations(world: World) -> int:
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM operations")
        return cur.fetchone()[0]


def test_every_action_and_role_has_targets():
    """The table covers every write action, and every allowed role owns an accepted target."""
    assert set(ENDPOINTS) == set(ACTIONS)
    for action, spec in ACTIONS.items():
        owners = {ROLES[who][1] for t in TARGETS if t.action == action for who in t.owners}
        assert owners == set(spec.roles), action


@pytest.mark.parametrize(("key", "who"), list(_cells()))
def test_matrix(mworld: World, state: dict, key: str, who: str):
    target = BY_ID[key]
    s = state | {"new_case": state.setdefault(f"new_case:{key}", mworld.sscc()),
                 "new_pallet": state.setdefault(f"new_pallet:{key}", mworld.sscc())}  # fmt: skip
    before = operations(mworld)
    resp = mworld.post(who, target.path(s), target.body(s))
    body = resp.get_json()
    want = expected(target, who)
    assert resp.status_code == want, body
    if want == 202:
        assert body["operation"]["status"] == "pending" and body["operation"]["action"] == target.action, body
        assert resp.headers["Location"] == body["status_url"]
        assert operations(mworld) == before + 1
        if target.action in STATUS_CHANGES:  # one in flight refuses the next for its target: keep cells independent
            with mworld.db.connection() as conn, conn.cursor() as cur:
                cur.execute("UPDATE operations SET status = 'failed' WHERE id = %s", (body["operation"]["id"],))
        return
    assert resp.mimetype == PROBLEM
    assert body["status"] == want
    assert operations(mworld) == before, "a refused write must not create an operation"
    if want == 403:
        assert body["title"] == "Forbidden"
        assert target.action in body["detail"] and " or ".join(ACTIONS[target.action].roles) in body["detail"]
        return
    assert body["code"] == target.rule, body
    messages = body["errors"]["json"][target.field]
    assert messages and messages[0].startswith(f"{target.rule}: "), body


def test_regulator_may_recall_and_quarantine_only(mworld: World, state: dict):
    """Summary of the regulator's row: accepted on recall / quarantine / clearance, forbidden elsewhere."""
    allowed = {a for a, spec in ACTIONS.items() if "regulator" in spec.roles}
    assert allowed == {"recall", "quarantine", "clear_quarantine"}
    accepted = {t.action for t in TARGETS if "regulator" in t.owners}
    assert accepted == allowed


# --------------------------------------------------------------------------- authentication


def _any_body(action: str) -> dict:
    return READINGS if action == "record_readings" else {}


@pytest.mark.parametrize("action", list(ENDPOINTS))
def test_no_authorization_is_401(mworld: World, state: dict, action: str):
    before = operations(mworld)
    target = next(t for t in TARGETS if t.action == action)
    resp = mworld.client.post(
        target.path(state), json=target.body(state | {"new_case": mworld.sscc(), "new_pallet": mworld.sscc()}),
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    body = resp.get_json()
    assert resp.status_code == 401, body
    assert resp.mimetype == PROBLEM
    assert body["errors"]["headers"]["Authorization"] == ["required"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert operations(mworld) == before


@pytest.mark.parametrize(
    ("header", "rule"),
    [
        ("Basic bWFrZXI6cGFzcw==", "must be 'Bearer <API key>'"),
        ("Bearer ", "must be 'Bearer <API key>'"),
        ("Bearer pt_nosuchkey0_" + "A" * 43, "unknown, revoked or suspended API key"),
        ("Bearer not-a-key", "unknown, revoked or suspended API key"),
    ],
)
def test_bad_authorization_is_401(mworld: World, state: dict, header: str, rule: str):
    resp = mworld.client.post(
        "/v1/quarantines", json={"sscc": state["M1"]}, headers={"Authorization": header, "Idempotency-Key": "k-1"}
    )
    assert resp.status_code == 401, resp.get_json()
    assert resp.get_json()["errors"]["headers"]["Authorization"] == [rule]


@pytest.fixture(scope="module")
def revoked(mworld: World, state: dict) -> str:
    """A second key of the maker's: it works, then it is revoked."""
    with mworld.db.connection() as conn:
        key = orgs.create_key(conn, mworld.parties["maker"].gln, "scanner 2")
    resp = mworld.client.post(
        "/v1/quarantines", json={"sscc": state["D1"]},  # refused by the pre-check: no operation
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert resp.status_code == 409, resp.get_json()
    with mworld.db.connection() as conn:
        assert orgs.revoke_key(conn, key.split("_")[1])
    return key


@pytest.mark.parametrize("action", list(ENDPOINTS))
def test_revoked_key_is_401(mworld: World, state: dict, revoked: str, action: str):
    before = operations(mworld)
    target = next(t for t in TARGETS if t.action == action)
    resp = mworld.client.post(
        target.path(state),
        json=target.body(state | {"new_case": mworld.sscc(), "new_pallet": mworld.sscc()}),
        headers={"Authorization": f"Bearer {revoked}", "Idempotency-Key": uuid.uuid4().hex},
        environ_base={"REMOTE_ADDR": f"10.14.{list(ENDPOINTS).index(action)}.1"},  # one client per action: each
    )  # fmt: skip  (address may fail RATE_LIMIT_AUTH_FAILURES times, and there are more actions than that)
    body = resp.get_json()
    assert resp.status_code == 401, body
    assert body["errors"]["headers"]["Authorization"] == ["unknown, revoked or suspended API key"]
    assert operations(mworld) == before


def test_revoking_one_key_leaves_the_others(mworld: World, state: dict, revoked: str):
    resp = mworld.post("maker", "/v1/quarantines", {"sscc": state["D1"]})
    assert resp.status_code == 409, resp.get_json()  # authenticated: refused by the pre-check, not 401
