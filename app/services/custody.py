"""Where a case or pallet is now, from the mirror alone: the same answer as the contract's
`unit(unitId)` view, rebuilt from events (so reads never wait on the chain).

Rules the contract applies, replayed here in chain order:
- packed: held by the packer; a case put on a pallet has that pallet as its parent;
- shipped: loose at the sender (off any pallet), in transit to the recipient;
- received: held by the recipient; refused: custody stays with the sender;
- unpacked: held loose by whoever unpacked it and marked unpacked. An unpacked pallet releases
  its cases lazily: they stay at the pallet's holder until they are shipped themselves;
- a case on a closed pallet is custodied, and in transit, with the pallet.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.db import fetch_all_prepared

UNIT_EVENTS = """
SELECT 'packed_case' AS kind, block_number, log_index, packer AS actor, NULL::bytea AS other FROM ev_case_packed WHERE case_id = $1
UNION ALL SELECT 'packed_case', block_number, log_index, packer, NULL FROM ev_case_tree_packed WHERE case_id = $1
UNION ALL SELECT 'packed_pallet', block_number, log_index, packer, NULL FROM ev_pallet_packed WHERE pallet_id = $1
UNION ALL SELECT 'palletised', block_number, log_index, packer, pallet_id FROM ev_pallet_packed WHERE case_ids @> ARRAY[$1::bytea]
UNION ALL SELECT 'shipped', block_number, log_index, from_org, to_org FROM ev_shipped WHERE unit_id = $1
UNION ALL SELECT 'received', block_number, log_index, by, from_org FROM ev_received WHERE unit_id = $1
UNION ALL SELECT 'refused', block_number, log_index, by, sender FROM ev_refused WHERE unit_id = $1
UNION ALL SELECT 'unpacked', block_number, log_index, by, NULL FROM ev_unpacked WHERE unit_id = $1
UNION ALL SELECT 'quarantined', block_number, log_index, by, NULL FROM ev_unit_quarantined WHERE unit_id = $1
UNION ALL SELECT 'cleared', block_number, log_index, by, NULL FROM ev_unit_quarantine_cleared WHERE unit_id = $1
UNION ALL SELECT 'excursion', block_number, log_index, NULL, NULL FROM ev_excursion_detected WHERE unit_id = $1
ORDER BY block_number, log_index
"""


@dataclass
class UnitState:
    unit_id: bytes
    kind: str  # "case" or "pallet"
    holder: bytes  # the unit's own holder (see custodian for who has it)
    recipient: bytes | None = None
    in_transit: bool = False
    parent: bytes | None = None
    unpacked: bool = False
    quarantined: bool = False
    excursion: bool = False
    # resolved through the pallet:
    custodian: bytes | None = None
    container: bytes | None = None


def _fold(unit_id: bytes, events: list[dict]) -> UnitState | None:
    state: UnitState | None = None
    for e in events:
        kind, actor, other = e["kind"], e["actor"] and bytes(e["actor"]), e["other"] and bytes(e["other"])
        if kind in ("packed_case", "packed_pallet"):
            state = UnitState(unit_id, "case" if kind == "packed_case" else "pallet", actor)
        elif state is None:
            continue  # events of an id that was never packed cannot happen on-chain
        elif kind == "palletised":
            state.parent = other
        elif kind == "shipped":
            state.holder, state.recipient, state.in_transit, state.parent = actor, other, True, None
        elif kind in ("received", "refused"):
            state.holder = actor if kind == "received" else other
            state.in_transit = False
        elif kind == "unpacked":
            state.holder, state.parent, state.unpacked = actor, None, True
        elif kind in ("quarantined", "cleared"):
            state.quarantined = kind == "quarantined"
        elif kind == "excursion":
            state.excursion = True
    return state


def unit_state(conn, unit_id: bytes) -> UnitState | None:
    """The unit's state now (per the mirror), custodian and container resolved; None if unknown."""
    state = _fold(unit_id, fetch_all_prepared(conn, "unit_events", UNIT_EVENTS, (unit_id,)))
    if state is None:
        return None
    state.custodian = state.holder
    if state.parent is not None:
        pallet = _fold(state.parent, fetch_all_prepared(conn, "unit_events", UNIT_EVENTS, (state.parent,)))
        state.custodian = pallet.holder
        if not pallet.unpacked:
            state.container = state.parent
            state.in_transit = state.in_transit or pallet.in_transit
    return state
