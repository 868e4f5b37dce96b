"""The outbox of accepted writes, with Idempotency-Key semantics (no Flask here).

`accept` stores an operation in the caller's transaction; the same key with the same request
returns the first operation, the same key with a different request is refused. The relayer
claims pending rows per (organisation, action) through app/db/operations.py (row locks, SKIP
LOCKED), so several relayers never take the same row, and a relayer killed mid-batch leaves its
rows to be claimed again.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from app.db import mirror, operations
from app.errors import PharmatrackError
from app.services import access

STATUSES = ("pending", "submitted", "confirmed", "failed")


class IdempotencyConflict(PharmatrackError):
    """The Idempotency-Key was used before by this organisation for a different request."""

    def __init__(self, operation_id: str):
        super().__init__(f"Idempotency-Key already used for operation {operation_id} with a different request")
        self.operation_id = operation_id


STATUS_CHANGES = ("recall", "quarantine", "clear_quarantine")


def status_change_in_flight(conn, target: bytes, actions: tuple[str, ...]) -> dict | None:
    """The latest accepted, not yet confirmed or failed, operation of `actions` (recall, quarantine,
    clear_quarantine) on the lot or unit `target`, by any organisation.

    Serialised per target for the caller's transaction (an advisory lock, released at its end), so two
    requests for the same target cannot both find nothing in flight and both be accepted."""
    if set(actions) - set(STATUS_CHANGES):
        raise ValueError(f"actions must be among {STATUS_CHANGES}")
    operations.lock_status_target(conn, target)
    return operations.latest_status_change(conn, target, list(actions))


def request_digest(action: str, payload: dict) -> bytes:
    canonical = json.dumps({"action": action, "payload": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


def accept(
    conn, organisation_id: int, action: str, payload: dict, idempotency_key: str, digest: bytes | None = None
) -> tuple[dict, bool]:
    """Store the operation unless this key was seen; returns (operation, created). `digest` binds
    the key to the request (by default, to the action and payload)."""
    digest = digest or request_digest(action, payload)
    row = operations.insert_operation(
        conn, str(uuid.uuid4()), organisation_id, action, payload, idempotency_key, digest
    )
    if row is not None:
        return row, True
    return replay(by_key(conn, organisation_id, idempotency_key), digest), False


def accept_many(
    conn, organisation_id: int, rows: list[tuple[str, dict, str, bytes]]
) -> list[str | IdempotencyConflict]:
    """`accept` for several operations in one statement: rows of (action, payload, idempotency_key, digest); per
    row, the id of its operation (stored now, or the first of its key, the same key twice among `rows`
    included), or the IdempotencyConflict of a key used before for another request (nothing stored for it)."""
    ids = [str(uuid.uuid4()) for _ in rows]
    stored = operations.insert_operations(conn, organisation_id,
                                          [(op_id, *row) for op_id, row in zip(ids, rows, strict=True)])  # fmt: skip
    out: list[str | IdempotencyConflict] = []
    for op_id, (_, _, key, digest) in zip(ids, rows, strict=True):
        if op_id in stored:
            out.append(op_id)
            continue
        try:
            out.append(str(replay(by_key(conn, organisation_id, key), digest)["id"]))
        except IdempotencyConflict as exc:
            out.append(exc)
    return out


def by_key(conn, organisation_id: int, idempotency_key: str) -> dict | None:
    return operations.by_key(conn, organisation_id, idempotency_key)


def replay(existing: dict, digest: bytes) -> dict:
    """The first answer to a repeated key, if the request is the same one."""
    if bytes(existing["request_sha256"]) != digest:
        raise IdempotencyConflict(str(existing["id"]))
    return existing


def get(conn, operation_id: str, organisation_id: int, see_all: bool = False) -> dict | None:
    """The operation, if it exists and the caller may see it (access.may_see_operation: its
    organisation, or a regulator: `see_all`)."""
    row = operations.by_id(conn, operation_id)
    viewer = access.Viewer(None, organisation_id, see_all)
    if row is None or not access.may_see_operation(viewer, row["organisation_id"]):
        return None
    return with_result(conn, row)


def rows_of(conn, operation_ids: list[str], organisation_id: int) -> dict[str, dict]:
    """id -> the operation's row (without `get`'s consignment), of those that exist and the caller's organisation
    may see (access.may_see_operation), in one statement: an EPCIS capture job lists a thousand."""
    viewer = access.Viewer(None, organisation_id, False)
    rows = operations.by_ids(conn, operation_ids)
    return {k: row for k, row in rows.items() if access.may_see_operation(viewer, row["organisation_id"])}


# Actions whose confirmed operation names what the chain made: a loose consignment (its id is the chain's
# consignment number's hash, known only once mined).
CONSIGNMENT_ACTIONS = ("ship_packs", "return_packs")


def with_result(conn, row: dict) -> dict:
    """The operation with `consignment`: for a confirmed pack shipment or return, the id of the consignment it
    made (by which the recipient may receive, refuse or accept it); else None."""
    consignment = None
    if row["action"] in CONSIGNMENT_ACTIONS and row["status"] == "confirmed" and row.get("tx_hash") is not None:
        first = (row.get("payload") or {}).get("packs") or [{}]
        if first[0].get("lot_id") is not None:
            consignment = mirror.consignment_of_move(conn, bytes(row["tx_hash"]), row["block_number"],
                                                     bytes.fromhex(first[0]["lot_id"][2:]), first[0]["index"])  # fmt: skip
    return {**row, "consignment": "0x" + consignment.hex() if consignment else None}
