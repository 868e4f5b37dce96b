"""bench/verify.py's merge of alternating wrk rounds (pure logic)."""

from bench.verify import WrkResult, merge_rounds, p99_of_rounds


def _round(requests: int, tail: list[float]) -> WrkResult:
    return WrkResult(requests, 10.0, 1.0, 2.0, tail[90], tail[-1] + 1, {"timeout": 0}, {200: requests}, "", tail)


LINEAR = [float(i) for i in range(100)]  # the latency at 90.0 + i/10 % is i ms


def test_one_round_gives_its_own_p99():
    assert p99_of_rounds([_round(1000, LINEAR)]) == 90.0


def test_a_slow_round_raises_the_p99_of_all_requests_but_less_than_its_own():
    slow = [3 * x for x in LINEAR]  # its own p99: 270 ms
    p99 = p99_of_rounds([_round(1000, LINEAR), _round(1000, LINEAR), _round(1000, slow)])
    assert 90.0 < p99 < 270.0
    # at most 1% of the 3,000 requests above it; the next lower point of the tails lets more through
    assert p99 == 216.0


def test_merged_rounds_add_up_counts_and_cpu():
    rounds = [(_round(1000, LINEAR), ({"api": 1.0}, 1.5, 10.0)), (_round(500, LINEAR), ({"api": 2.0}, 1.0, 10.0))]
    merged, (used, busy, span) = merge_rounds(rounds)
    assert merged.requests == 1500 and merged.seconds == 20.0 and merged.statuses == {200: 1500}
    assert used == {"api": 3.0} and (busy, span) == (2.5, 20.0)
