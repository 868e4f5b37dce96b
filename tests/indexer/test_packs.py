"""The per-pack rows derived from pack-set events (pure)."""

from app.ids import pack_set
from app.indexer.events import specs_from_abi
from app.indexer.packs import KINDS, SET_EVENTS, pack_rows

LOT, CASE, CASE2, WHO = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 20


def _specs(artifacts):
    return {s.name: s for s in specs_from_abi(artifacts["PharmaTrack"].abi).values()}


def test_a_run_case_names_each_of_its_packs(artifacts):
    spec = _specs(artifacts)["CasePacked"]
    rows = list(pack_rows({spec: [(7, 2, b"tx", CASE, LOT, WHO, 123, 40, 3)]}))
    assert rows == [(7, 2, LOT, i, "cased", CASE, WHO) for i in (40, 41, 42)]


def test_bitmap_events_explode_to_their_packs(artifacts):
    specs = _specs(artifacts)
    first, masks = pack_set([5, 300, 301, 1000])
    rows = list(
        pack_rows(
            {
                specs["Dispensed"]: [(9, 0, b"tx", LOT, CASE, WHO, first, masks)],
                specs["CaseTreePacked"]: [(8, 1, b"tx", CASE2, LOT, WHO, 99, b"r" * 32, first, masks)],
                specs["Shipped"]: [(9, 1, b"tx", CASE, WHO, WHO)],
            }
        )
    )
    assert sorted(rows) == sorted(
        [(9, 0, LOT, i, "dispensed", CASE, WHO) for i in (5, 300, 301, 1000)]
        + [(8, 1, LOT, i, "cased", CASE2, WHO) for i in (5, 300, 301, 1000)]
    )


def test_packs_moved_into_a_tote_or_a_return(artifacts):
    """PacksMoved names the packs' new container; into a return consignment (flagged by its
    ConsignmentCreated, in the same transaction) the rows are 'returned'."""
    specs = _specs(artifacts)
    first, masks = pack_set([3, 4])
    tote, loose, back = b"\x05" * 32, b"\x06" * 32, b"\x07" * 32
    rows = list(
        pack_rows(
            {
                specs["PacksMoved"]: [(5, 1, b"tx", LOT, tote, WHO, CASE, first, masks),
                                      (6, 1, b"tx", LOT, loose, WHO, tote, first, [masks[0] & ~(1 << 4)]),
                                      (7, 1, b"tx", LOT, back, WHO, loose, first, [1 << 3])],
                specs["ConsignmentCreated"]: [(6, 0, b"tx", loose, WHO, WHO, 2, False),
                                              (7, 0, b"tx", back, WHO, WHO, 3, True)],
            }
        )
    )  # fmt: skip
    assert rows == [(5, 1, LOT, 3, "moved", tote, WHO), (5, 1, LOT, 4, "moved", tote, WHO),
                    (6, 1, LOT, 3, "moved", loose, WHO), (7, 1, LOT, 3, "returned", back, WHO)]  # fmt: skip


def test_every_pack_set_event_of_the_contract_is_derived(artifacts):
    """A new pack-set event in the ABI must not be silently left out of pack_events."""
    with_sets = {name for name, s in _specs(artifacts).items() if "masks" in s.columns or "first_index" in s.columns}
    with_sets -= {"BatchCommissioned"}  # a range of a lot's leaves commissioned, lot-level like LotCommissioned
    assert with_sets <= {"CasePacked", "CasesPacked", *SET_EVENTS}
    assert {"CasePacked", "CaseTreePacked", "PacksMoved", "Dispensed", "Destroyed", "PacksStolen",
            "DispenseUndone"} <= with_sets  # fmt: skip


def test_every_kind_is_allowed_by_the_table(database_url):
    """Each kind pack_rows can write passes pack_events' CHECK (migration 0015)."""
    import psycopg2

    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pack_events_kind_check'")
        (check,) = cur.fetchone()
    conn.close()
    assert all(f"'{kind}'" in check for kind in KINDS), check
    assert {kind for kind, *_ in SET_EVENTS.values()} | {"returned"} <= set(KINDS)
