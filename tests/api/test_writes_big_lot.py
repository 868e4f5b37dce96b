"""A 100,000-serial lot, the largest a request may commission, fits every bound of a request: the
body size (MAX_BODY_BYTES), the JSON depth and the database hold (DB_REQUEST_TIMEOUT)."""

from __future__ import annotations

import time
import uuid

from tests.world import GTIN_BASE, check_digit


def test_a_100000_serial_lot_is_accepted_within_the_request_bounds(world):
    gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    world.done("maker", world.post("maker", "/v1/products", {
        "gtin": gtin, "name": "Big lot", "storage": {"min_celsius": 2, "max_celsius": 8}}))  # fmt: skip
    serials = [f"SER{n:017d}" for n in range(100_000)]
    started = time.monotonic()
    resp = world.post("maker", "/v1/lots", {"gtin": gtin, "lot": "BIG1", "expiry": "2030-12-31", "serials": serials})
    elapsed = time.monotonic() - started
    assert resp.status_code == 202, resp.get_json()
    assert elapsed < 120  # generous: no hang
    print(f"100k-serial lot accepted in {elapsed:.2f} s")
