"""COPY text encoding, and a round trip through a real Postgres."""

import psycopg2
import pytest

from app.db.copy import copy_field, copy_rows


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (None, "\\N"),
        (b"\x01\xff", "\\\\x01ff"),
        (True, "t"),
        (12345678901234567890, "12345678901234567890"),
        ("tab\there\nnew\\line", "tab\\there\\nnew\\\\line"),
        ([1, 2], "{1,2}"),
        ([b"\xab"], '{"\\\\\\\\xab"}'),
    ],
)
def test_copy_field(value, encoded):
    assert copy_field(value) == encoded


def test_awkward_values_survive_a_copy_round_trip(empty_database_url):
    conn = psycopg2.connect(empty_database_url)
    rows = [
        (1, b"\x00\x01", 'tab\tnewline\nback\\slash "quote" ünï ✓', [b"\x01", b"\xff\xee"], [1, 2**200], True),
        (2, b"", "", [], [], False),
        (3, None, None, None, None, None),
    ]
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int, b bytea, s text, ba bytea[], n numeric[], f boolean)")
        copy_rows(conn, "t", ("id", "b", "s", "ba", "n", "f"), rows)
        cur.execute("SELECT * FROM t ORDER BY id")
        got = cur.fetchall()
    conn.close()
    normalised = [
        (r[0], None if r[1] is None else bytes(r[1]), r[2], None if r[3] is None else [bytes(x) for x in r[3]],
         None if r[4] is None else [int(x) for x in r[4]], r[5])
        for r in got
    ]  # fmt: skip
    assert normalised == rows
