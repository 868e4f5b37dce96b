"""Regulator queries over the mirror: lots, a trading partner's activity, recalls (no Flask here).

Every list is keyset-paginated on a unique, stable sort key (an event's ``(block_number, log_index)``),
so a page never repeats or skips a row however the tables grow between requests. The key travels to
the client as an opaque cursor (:func:`encode_cursor`).

Who sees what: a regulator sees everything (``viewer=None``). Any other organisation passes its chain
account as ``viewer`` and sees only lots that passed through its hands: lots it manufactured, and
lots of which it packed, shipped, was shipped, received, refused, unpacked, quarantined or recorded
readings for a case (or a pallet holding such a case), or dispensed, destroyed or quarantined packs.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from app.db import mirror
from app.errors import PharmatrackError

MAX_KEY = 2**62  # above every block number and log index; keeps cursor values inside bigint


class CursorError(PharmatrackError):
    """A cursor this list did not hand out."""


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    next_key: tuple[int, ...] | None  # the sort key to continue after; None on the last page


def encode_cursor(kind: str, key: tuple[int, ...]) -> str:
    """An opaque cursor: urlsafe base64 of ``[kind, *key]`` (the kind stops a cursor of one list
    being replayed against another)."""
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(kind: str, size: int, text: str) -> tuple[int, ...]:
    """The sort key inside a cursor of `kind` holding `size` integers; CursorError otherwise."""
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CursorError("not a cursor returned in `next`") from None
    if not isinstance(value, list) or len(value) != size + 1 or value[0] != kind:
        raise CursorError(f"not a cursor returned in `next` by this list ({kind})")
    key = value[1:]
    if not all(type(k) is int and 0 <= k < MAX_KEY for k in key):
        raise CursorError("not a cursor returned in `next`: its key is out of range")
    return tuple(key)


def _page(rows: list[dict], limit: int, key: tuple[str, ...]) -> Page:
    page = rows[:limit]
    more = len(rows) > limit
    return Page(page, tuple(int(page[-1][k]) for k in key) if more else None)


# --------------------------------------------------------------------------- visibility


def _scope(viewer: bytes | None) -> bytes | None:
    """Whose lots a list is limited to: none for a regulator (viewer None), else the viewer's
    (app/db/mirror.MY_LOTS: the lots that passed through its hands)."""
    return viewer


def can_see_lot(conn, viewer: bytes | None, lot_id: bytes) -> bool:
    scope = _scope(viewer)
    if scope is None:
        return True
    return mirror.lot_in_scope(conn, scope, lot_id)


# --------------------------------------------------------------------------- names


def parties(conn, accounts) -> dict[bytes, dict]:
    """account -> {account (bytes), gln, name}, by the one account -> party rule of
    app/db/mirror.parties (the on-chain GLN, else the service's; the service's name)."""
    return {a: p.as_dict(account_hex=False) for a, p in mirror.parties(conn, accounts).items()}


def units(conn, unit_ids) -> dict[bytes, dict]:
    """unit id -> {sscc (18 digits), kind (case or pallet)}."""
    return mirror.units(conn, unit_ids)


def lot_names(conn, lot_ids) -> dict[bytes, dict]:
    """lot id -> {gtin (14 digits), lot (number)}."""
    return mirror.lot_names(conn, lot_ids)


def expiry_date(seconds: int) -> date:
    """The chain's expiry (the last valid second, UTC) as the GS1 expiry date."""
    return datetime.fromtimestamp(int(seconds), UTC).date()


# --------------------------------------------------------------------------- lots


def lots(
    conn,
    viewer: bytes | None,
    *,
    gtin: str | None = None,
    manufacturer: bytes | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 50,
) -> Page:
    """Commissioned lots, oldest first, by product (GTIN-14) and/or manufacturer (account)."""
    rows = mirror.lots(
        conn,
        _scope(viewer),
        gtin=int(gtin) if gtin is not None else None,
        manufacturer=manufacturer,
        after=after or (-1, -1),
        n=limit + 1,
    )
    return _page(rows, limit, ("block_number", "log_index"))


# --------------------------------------------------------------------------- recalls


def recalls(conn, viewer: bytes | None, *, before: tuple[int, int] | None = None, limit: int = 50) -> Page:
    """Recalled lots, newest recall first, with who recalled and when."""
    rows = mirror.recalls(conn, _scope(viewer), before=before or (MAX_KEY, MAX_KEY), n=limit + 1)
    return _page(rows, limit, ("block_number", "log_index"))


# --------------------------------------------------------------------------- partner activity


def _popcount(masks) -> int:
    return sum(int(m).bit_count() for m in masks)


def activity(
    conn,
    account: bytes,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 50,
) -> Page:
    """Every event in which `account` acted or was the counterparty, with block time in
    [start, end), oldest first. Rows carry `role`: actor or counterparty."""
    blocks = (0, MAX_KEY)
    if start is not None or end is not None:
        blocks = mirror.block_range(conn, start, end)
        if blocks is None:
            return Page([], None)
    rows = mirror.activity(conn, account, blocks=blocks, after=after or (-1, -1), n=limit + 1)
    for row in rows:
        for column in ("tx_hash", "actor", "counterparty", "unit_id", "lot_id"):
            row[column] = bytes(row[column]) if row[column] is not None else None
        masks = row.pop("masks")
        if masks is not None:
            row["packs"] = _popcount(masks)
        row["role"] = "actor" if row["actor"] == account else "counterparty"
    return _page(rows, limit, ("block_number", "log_index"))
