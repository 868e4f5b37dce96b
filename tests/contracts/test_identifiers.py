"""The contract derives the same ids as app.ids, for any GS1 keys."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ids import lgtin_id, sgtin_id, sscc_id

# GS1 AI 10 / AI 21 keys: 1 to 20 characters of character set 82 (a printable-ASCII subset).
keys = st.text(alphabet=string.ascii_letters + string.digits + "!\"%&'()*+,-./:;<=>?_", min_size=1, max_size=20)
gtins = st.integers(min_value=1, max_value=10**14 - 1)
ssccs = st.integers(min_value=1, max_value=10**18 - 1)
fixture_ok = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fixture_ok
@given(gtin=gtins, lot=keys)
def test_lotIdOf_matches_python(world, gtin, lot):
    assert world.pt.functions.lotIdOf(gtin, lot).call() == lgtin_id(gtin, lot)


@fixture_ok
@given(gtin=gtins, serial=keys)
def test_sgtinIdOf_matches_python(world, gtin, serial):
    assert world.pt.functions.sgtinIdOf(gtin, serial).call() == sgtin_id(gtin, serial)


@fixture_ok
@given(sscc=ssccs)
def test_ssccIdOf_matches_python(world, sscc):
    assert world.pt.functions.ssccIdOf(sscc).call() == sscc_id(sscc)


def test_commissionLot_and_packCase_derive_the_python_ids(world):
    # The setup lot's id and a packed case's id are the contract's own derivations.
    assert world.pt.functions.lot(world.lot_id).call()[2] == 1024
    case = world.pack_case(7, 0, 1)
    assert world.unit(case)["kind"] == 1
