"""Adaptive eth_getLogs windows (pure logic)."""

import pytest

from app.chain.window import AdaptiveWindow, is_range_error


@pytest.mark.parametrize(
    "message",
    [
        "query returned more than 10000 results",
        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range",
        "block range is too wide",
        "exceed maximum block range: 5000",
        "eth_getLogs is limited to a 10,000 range",
        "Query timeout exceeded. Consider reducing your block range",
        "too many blocks requested",
    ],
)
def test_provider_refusals_are_recognised(message):
    assert is_range_error(message)


@pytest.mark.parametrize("message", ["execution reverted", "header not found", "connection refused"])
def test_other_errors_are_not_range_errors(message):
    assert not is_range_error(message)


def test_refusal_halves_down_to_the_minimum():
    w = AdaptiveWindow(size=8, minimum=2)
    assert w.refused() and w.size == 4
    assert w.refused() and w.size == 2
    assert not w.refused() and w.size == 2


def test_sparse_full_windows_grow_up_to_the_maximum():
    w = AdaptiveWindow(size=1000, maximum=3000, target_logs=100)
    w.observe(logs=0, blocks=1000)
    assert w.size == 2000
    w.observe(logs=0, blocks=2000)
    assert w.size == 3000
    w.observe(logs=0, blocks=3000)
    assert w.size == 3000


def test_a_short_window_at_the_head_does_not_grow():
    w = AdaptiveWindow(size=1000, target_logs=100)
    w.observe(logs=0, blocks=3)
    assert w.size == 1000


def test_dense_windows_shrink():
    w = AdaptiveWindow(size=1000, target_logs=100)
    w.observe(logs=500, blocks=1000)
    assert w.size == 500
