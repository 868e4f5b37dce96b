"""The account -> party lookup with a per-process cache, for hot paths (verification).

The rule is app/db/mirror.parties's, the one lookup: the GLN the account registered on chain (else
the service's `organisations` row's), the name of the `organisations` row. A party is remembered
for PARTY_TTL seconds per database: a GLN never moves, a name may be edited.
"""

from __future__ import annotations

import time

from app.db import mirror
from app.db.mirror import Party

PARTY_TTL = 60.0
_CACHE: dict[tuple[str, bytes], tuple[float, Party]] = {}


def cached_parties(conn, accounts) -> dict[bytes, Party]:
    """account -> Party for every account given (None skipped), answered from the cache when fresh."""
    now, out, missing = time.monotonic(), {}, []
    for account in {bytes(a) for a in accounts if a is not None}:
        hit = _CACHE.get((conn.dsn, account))
        if hit is not None and now - hit[0] < PARTY_TTL:
            out[account] = hit[1]
        else:
            missing.append(account)
    if missing:
        for account, party in mirror.parties(conn, missing).items():
            if party.gln is not None:  # an account not (yet) indexed is asked again next time
                _CACHE[(conn.dsn, account)] = (now, party)
            out[account] = party
    return out


def forget() -> None:
    """Drop every remembered party (tests, and after an organisation is renamed here)."""
    _CACHE.clear()
