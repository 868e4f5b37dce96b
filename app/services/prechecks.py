"""Lookups the write path's pre-checks make against the mirror (no Flask, no SQL here: the reads are
app/db/mirror.py's and app/db/distribution.py's, a unit's custody is app/services/custody.py's fold).

Each answers from the indexed events, so an accepted scan is checked against the chain as the
indexer last saw it. Addresses and ids are bytes.

`one_document(conn, unit_ids)`: while a document of many writes (an EPCIS capture) is pre-checked, the custody
of the units it names is read in one statement and folded once (custody.fold_many), and an organisation's
suspension is read once: `unit_state` and `suspended` answer from that memo. The writes of the document do not
change the mirror (only the indexer does), so each write is checked against the chain as it was when the
document's pre-checks began, as a scan sent at that moment would be.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.db import distribution, mirror
from app.db import listings as listings_db
from app.ids import unpack_set
from app.services import custody


@dataclass(frozen=True)
class LotState:
    lot_id: bytes
    gtin: int
    manufacturer: bytes
    lot_number: str
    expiry: int
    serial_count: int
    recalled: bool
    quarantined: bool
    capacity: int = 0
    batches: int = 0

    @property
    def expired(self) -> bool:
        return self.expiry < datetime.now(UTC).timestamp()


_ACCOUNTS: dict[tuple[str, str], bytes] = {}  # (database, GLN) -> account: a registered GLN never moves


def account_of_gln(conn, gln: str) -> bytes | None:
    """The chain account registered with a GLN (the contract refuses a GLN twice, so a found
    answer is remembered; an unknown GLN is asked again next time)."""
    key = (conn.dsn, gln)
    if key in _ACCOUNTS:
        return _ACCOUNTS[key]
    account = mirror.account_of_gln(conn, gln)
    if account is not None:
        _ACCOUNTS[key] = account
    return account


@dataclass
class _Memo:
    """The mirror reads of one document's pre-checks (one_document)."""

    units: dict[bytes, custody.Custody | None]
    suspended: dict[bytes, bool] = field(default_factory=dict)


_DOCUMENT: ContextVar[_Memo | None] = ContextVar("prechecks_document", default=None)


@contextlib.contextmanager
def one_document(conn, unit_ids) -> Iterator[None]:
    """Pre-check a document's writes against one read of the units they name (module docstring)."""
    ids = list(dict.fromkeys(bytes(u) for u in unit_ids))
    memo = _Memo(custody.fold_many(ids, mirror.custody_events_of(conn, ids)) if ids else {})
    token = _DOCUMENT.set(memo)
    try:
        yield
    finally:
        _DOCUMENT.reset(token)


def suspended(conn, account: bytes) -> bool:
    """Whether the chain has the organisation suspended now (it can then neither act nor be shipped to)."""
    memo = _DOCUMENT.get()
    if memo is None:
        return mirror.suspended(conn, account)
    if account not in memo.suspended:
        memo.suspended[account] = mirror.suspended(conn, account)
    return memo.suspended[account]


def product(conn, gtin: str) -> dict | None:
    return mirror.product(conn, gtin)


def lot(conn, lot_id: bytes) -> LotState | None:
    """The lot's record and status (the `lot_status` view); None if it is not commissioned on chain."""
    row = mirror.lot_status(conn, lot_id)
    if row is None:
        return None
    return LotState(
        lot_id=row.lot_id,
        gtin=row.gtin,
        manufacturer=row.manufacturer,
        lot_number=row.lot_number,
        expiry=row.expiry,
        serial_count=row.serial_count,
        recalled=row.recalled,
        quarantined=row.quarantined,
        capacity=row.capacity,
        batches=row.batches,
    )


def unit_exists(conn, unit_id: bytes) -> bool:
    return mirror.unit_exists(conn, unit_id)


def serial(conn, sgtin_id: bytes) -> dict | None:
    """Where a commissioned serial sits: its lot id, leaf index, GTIN and lot number."""
    return mirror.serial(conn, sgtin_id)


def case_of_pack(conn, lot_id: bytes, index: int) -> tuple[bytes, bool] | None:
    """The case a pack was packed into, and whether it is a tree case; None for loose stock."""
    return mirror.case_of_pack(conn, lot_id, index)


def tree_case_indexes(conn, case_id: bytes) -> list[int]:
    return mirror.tree_case_indexes(conn, case_id)


def first_cased(conn, lot_id: bytes, indexes: list[int] | None = None, first: int = 0, count: int = 0) -> int | None:
    """The lowest of the given leaf indexes (or of the run first … first+count-1) already packed into a
    case: the contract allocates a pack to one case for good (PackAlreadyAllocated)."""
    if indexes is not None:
        first, count = min(indexes), max(indexes) - min(indexes) + 1
    return mirror.first_cased(conn, lot_id, first, first + count, indexes)


def pack_end_states(conn, lot_id: bytes) -> dict[int, str]:
    """Leaf index -> 'dispensed', 'destroyed' or 'stolen', for the packs of a lot that left the supply chain."""
    return mirror.pack_end_states(conn, lot_id)


def first_ended(conn, lot_id: bytes, indexes) -> tuple[int, str] | None:
    """(the lowest of `indexes` that left the supply chain, how: 'destroyed', 'stolen' or 'dispensed'), else None:
    the contract refuses to pack such a pack again (PackIsInactive)."""
    ends = pack_end_states(conn, lot_id)
    wanted = indexes if isinstance(indexes, range) else set(indexes)
    first = min((i for i in ends if i in wanted), default=None)
    return None if first is None else (first, ends[first])


# --------------------------------------------------------------------------- issue 14: totes, consignments, returns

DAY = 86_400
UNDO_WINDOW = 10 * DAY  # EU FMD: a dispense may be undone by its dispenser within 10 days


def unit_state(conn, unit_id: bytes) -> custody.Custody | None:
    """A logistic unit's custody now (case, pallet, tote or loose consignment): the one fold over the unit's
    events (app/services/custody.py over app/db/mirror.custody_events); None if unknown."""
    memo = _DOCUMENT.get()
    if memo is None:
        return custody.unit_state(conn, unit_id)
    unit_id = bytes(unit_id)
    if unit_id not in memo.units:
        memo.units[unit_id] = custody.unit_state(conn, unit_id)
    return memo.units[unit_id]


def consignment(conn, unit_id: bytes) -> dict | None:
    """{consignment_id, from_org, to_org, is_return} of a loose consignment (shipListed; returnListed, returnCaged,
    returnFromCase); None for any other unit."""
    return distribution.consignment(conn, unit_id)


def pack_containers(conn, lot_id: bytes) -> dict[int, bytes]:
    """Leaf index -> the tote or consignment the pack is in now, for the lot's packs that left their case (or the
    loose stock)."""
    out: dict[int, bytes] = {}
    for row in distribution.pack_moves(conn, lot_id):
        for index in unpack_set(int(row["first_word"]), [int(m) for m in row["masks"]]):
            out[index] = bytes(row["container_id"])
    return out


def pack_quarantined(conn, lot_id: bytes, index: int) -> bool:
    """Whether the pack is quarantined on its own (quarantinePacks, not cleared)."""
    return custody.pack_state(mirror.pack_events(conn, lot_id, index)).quarantined


def chain_now(conn) -> int:
    """The chain's time as the mirror last saw it (the latest block's timestamp; the wall clock when the mirror
    has no block): what the contract's `block.timestamp` windows are checked against."""
    latest = distribution.latest_block_time(conn)
    return int(datetime.now(UTC).timestamp()) if latest is None else latest


def dispense_of(conn, lot_id: bytes, index: int) -> dict | None:
    """The Dispensed row that dispensed the pack (its latest): case_id, by, first_word, masks, block_number,
    log_index, time (block time); None if it was never dispensed."""
    for row in distribution.dispenses_of_lot(conn, lot_id):
        if index in set(unpack_set(int(row["first_word"]), [int(m) for m in row["masks"]])):
            return row
    return None


def cage_of(conn, unit_id: bytes) -> bytes | None:
    """The roll cage a tote rides on (its listing in the cage's word, no word of its own on chain: docs/gas-redesign.md),
    else None."""
    row = listings_db.current(conn, [unit_id]).get(unit_id)
    return None if row is None else row.cage_id
