"""bench/soak.py's accounting (pure logic): which 5xx count, and lost / duplicated operations."""

from app.ids import pack_set
from bench.soak import (
    Accepted,
    EffectIndex,
    HttpAnswer,
    _argv_role,
    classify_5xx,
    effects_of_row,
    judge,
    last_line,
)

LOT = b"\x01" * 32
UNIT = b"\x02" * 32
A, B = b"\xaa" * 20, b"\xbb" * 20
TX1, TX2 = b"\x11" * 32, b"\x22" * 32


def _answer(status, retry_after, sent, answered=None):
    return HttpAnswer("POST", "/v1/shipments", status, retry_after, sent, answered if answered is not None else sent)


def test_only_a_503_with_retry_after_during_a_fault_is_excused():
    windows = [(10.0, 20.0)]
    excused_one = _answer(503, True, 15.0)
    overlapping = _answer(503, True, 5.0, 10.5)  # sent before the fault, answered while it was active
    counted = [
        _answer(503, False, 15.0),  # no Retry-After
        _answer(503, True, 25.0),  # no fault active
        _answer(500, True, 15.0),  # a 500 is never excused
        _answer(502, True, 15.0),
    ]
    excused, kept = classify_5xx([excused_one, overlapping, *counted], windows)
    assert excused == [excused_one, overlapping]
    assert kept == counted


def test_no_fault_no_excuse():
    excused, kept = classify_5xx([_answer(503, True, 1.0)], [])
    assert excused == [] and len(kept) == 1


def _op(op_id, effects, key=None, action="ship"):
    return Accepted(op_id, action, key or f"key-{op_id}", "gln", tuple(effects), 0.0)


def _index(*rows):
    index = EffectIndex()
    for event, row in rows:
        index.add(event, row)
    return index


def _shipped(tx):
    return ("Shipped", {"tx_hash": tx, "unit_id": UNIT, "from_org": A, "to_org": B})


SHIP = ("Shipped", UNIT, A, B)


def _confirmed(tx):
    return {"status": "confirmed", "tx_hash": "0x" + tx.hex()}


def test_an_operation_seen_once_in_its_transaction_is_confirmed():
    verdict = judge([_op("1", [SHIP])], {"1": _confirmed(TX1)}, {"mirror": _index(_shipped(TX1))}, {})
    assert (verdict.confirmed, verdict.lost, verdict.duplicated, verdict.problems) == (1, 0, 0, [])


def test_a_missing_effect_or_status_is_lost():
    ops = [_op("1", [SHIP])]
    assert judge(ops, {"1": _confirmed(TX1)}, {"mirror": _index()}, {}).lost == 1
    pending = judge(ops, {"1": {"status": "submitted", "tx_hash": None}}, {"mirror": _index(_shipped(TX1))}, {})
    assert (pending.lost, pending.confirmed) == (1, 0)
    unknown = judge(ops, {}, {"mirror": _index(_shipped(TX1))}, {})
    assert unknown.lost == 1 and "status unknown" in unknown.problems[0]


def test_an_effect_seen_twice_is_duplicated_and_each_source_counts():
    ops = [_op("1", [SHIP])]
    verdict = judge(
        ops,
        {"1": _confirmed(TX1)},
        {"mirror": _index(_shipped(TX1)), "chain": _index(_shipped(TX1), _shipped(TX2))},
        {},
    )
    assert (verdict.confirmed, verdict.lost, verdict.duplicated) == (1, 0, 1)
    assert "chain: Shipped" in verdict.problems[0]


def test_two_operations_for_one_idempotency_key_are_a_duplicate():
    ops = [_op("1", [SHIP], key="k")]
    verdict = judge(ops, {"1": _confirmed(TX1)}, {"mirror": _index(_shipped(TX1))}, {("gln", "k"): {"1", "2"}})
    assert verdict.duplicated == 1


def test_an_effect_several_operations_expect_must_appear_as_often():
    ops = [_op("1", [SHIP]), _op("2", [SHIP])]
    statuses = {"1": _confirmed(TX1), "2": _confirmed(TX2)}
    assert judge(ops, statuses, {"m": _index(_shipped(TX1), _shipped(TX2))}, {}).lost == 0
    assert judge(ops, statuses, {"m": _index(_shipped(TX1))}, {}).lost == 2


def test_a_row_in_another_transaction_than_the_status_names_is_reported():
    verdict = judge([_op("1", [SHIP])], {"1": _confirmed(TX2)}, {"mirror": _index(_shipped(TX1))}, {})
    assert verdict.lost == verdict.duplicated == 0 and "status says" in verdict.problems[0]


def test_pack_bitmaps_become_one_effect_per_pack():
    first_word, masks = pack_set([3, 300])
    row = {"tx_hash": TX1, "lot_id": LOT, "first_word": first_word, "masks": masks}
    assert effects_of_row("Dispensed", row) == [("Dispensed", LOT, 3), ("Dispensed", LOT, 300)]
    index = _index(("Dispensed", row), ("Destroyed", row | {"first_word": first_word, "masks": pack_set([4])[1]}))
    ops = [_op("1", [("Dispensed", LOT, 3)], action="dispense"), _op("2", [("Destroyed", LOT, 4)], action="destroy")]
    verdict = judge(ops, {"1": _confirmed(TX1), "2": _confirmed(TX1)}, {"mirror": index}, {})
    assert (verdict.confirmed, verdict.lost, verdict.duplicated) == (2, 0, 0)


def test_process_roles_from_argv():
    assert _argv_role(["/v/bin/python", "-m", "app.cli", "relay"]) == "relayer"
    assert _argv_role(["/v/bin/python", "-m", "app.cli", "index", "--reset-on-new-chain"]) == "indexer"
    assert _argv_role(["/v/bin/python", "-m", "app.cli", "index", "--verify"]) is None
    assert _argv_role(["/v/bin/python", "-m", "app.cli", "detect"]) == "detector"
    assert _argv_role(["/v/bin/python", "-m", "gunicorn", "--workers", "2", "app.wsgi:app"]) == "api"
    assert _argv_role(["node", "/x/node_modules/.bin/anvil", "--port", "1"]) == "anvil"
    assert _argv_role(["/x/@foundry-rs/anvil-linux-amd64/bin/anvil", "--port", "1"]) == "anvil"
    assert _argv_role(["/x/postgres", "-D", "/tmp/x"]) is None


def test_last_line_format():
    assert last_line(600.4, 31, 100, 100, 0, 0, 0) == (
        "soak_s 600 faults 31 accepted 100 confirmed 100 lost 0 duplicated 0 http_5xx 0"
    )


def test_the_fault_loop_stays_within_the_supervisors_failure_budget():
    from types import SimpleNamespace

    from bench.soak import Fault, FaultLoop

    env = {"SUPERVISOR_MAX_FAILURES": "5", "SUPERVISOR_FAILURE_WINDOW": "60"}
    loop = FaultLoop(SimpleNamespace(env=env), ["relayer", "chain"], (1, 2), (5, 20), 10.0, 15, seed=1)
    now = 1000.0
    assert loop.allowed("relayer", now) and loop.allowed("chain", now)
    loop.faults += [Fault("relayer", now - 10), Fault("relayer", now - 5)]
    assert loop.allowed("relayer", now)  # a third within the window leaves two to spare of 5
    loop.faults.append(Fault("relayer", now - 1))
    assert not loop.allowed("relayer", now)
    assert not loop.allowed("chain", now)  # a chain restart may take the relayer down too
    assert loop.allowed("api_worker", now) and loop.allowed("postgres", now)  # not supervised children
    assert loop.allowed("relayer", now + 60)  # the window has passed
