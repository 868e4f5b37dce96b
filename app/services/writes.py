"""Accepting a scan: role, pre-check against the mirror, outbox row (no Flask here).

Every write action turns a validated request (GS1 codes already parsed by the API schemas) into an
outbox payload the relayer can encode without further lookups. The pre-check names the reason a
write would fail on chain: not the holder, in transit to someone else, recalled, already
dispensed … A replayed Idempotency-Key returns the first answer before any pre-check runs, so
a rescan after the handoff confirmed still gets its original operation back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from web3 import Web3

from app.db import products as products_db
from app.db import serials as serials_db
from app.db import verifications as verifications_db
from app.errors import PharmatrackError
from app.gs1 import Pack, to_element_string
from app.ids import lgtin_id, sgtin_id, sscc_id
from app.services import custody, outbox, prechecks
from app.services import serials as lot_serials
from app.services.orgs import Principal

MAX_UNITS = 1000  # units or packs per request
MAX_SERIALS = 100_000  # serials per commissioned lot per request


class Rejected(PharmatrackError):
    """A write the chain would refuse, or that names something unknown: status 409 or 422."""

    def __init__(self, status: int, field: str, rule: str, message: str):
        super().__init__(f"{field}: {message}")
        self.status, self.field, self.rule, self.message = status, field, rule, message


def _conflict(field: str, rule: str, message: str) -> Rejected:
    return Rejected(409, field, rule, message)


def _invalid(field: str, rule: str, message: str) -> Rejected:
    return Rejected(422, field, rule, message)


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _me(principal: Principal) -> bytes:
    return bytes.fromhex(principal.account[2:])


def expiry_seconds(day: date) -> int:
    """A GS1 expiry date as the contract's last valid second (end of that day, UTC)."""
    return int(datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC).timestamp()) - 1


# --------------------------------------------------------------------------- products and lots


def prepare_register_product(conn, principal: Principal, body: dict) -> dict:
    gtin, storage = body["gtin"], body["storage"]
    low, high = int(storage["min_celsius"] * 100), int(storage["max_celsius"] * 100)
    if low > high:
        raise _invalid("storage.min_celsius", "range", "must not be above storage.max_celsius")
    existing = prechecks.product(conn, gtin)
    if existing is not None:
        raise _conflict("gtin", "already_registered", f"GTIN {gtin} is already registered")
    return {"gtin": gtin, "min_temp": low, "max_temp": high}


def after_register_product(conn, principal: Principal, body: dict, operation_id: str) -> None:
    stored = products_db.insert_product_details(conn, int(body["gtin"]), principal.organisation_id, operation_id,
                                               body["name"], body.get("strength"), body.get("dosage_form"))  # fmt: skip
    if not stored:
        raise _conflict("gtin", "already_registered", f"GTIN {body['gtin']} has a registration pending")


def serial_list(body: dict) -> list[str]:
    """The lot's serials in leaf order: given, or generated from a range."""
    if body.get("serials"):
        return body["serials"]
    spec = body["serial_range"]
    width = spec["digits"]
    last = spec["first"] + spec["count"] - 1
    if len(str(last)) > width:
        raise _invalid("serial_range.digits", "too_small", f"{last} does not fit in {width} digits")
    serials = [f"{spec['prefix']}{n:0{width}d}" for n in range(spec["first"], last + 1)]
    if len(serials[-1]) > 20:
        raise _invalid("serial_range", "length", "generated serials would be longer than 20 characters (AI 21)")
    return serials


def prepare_commission_lot(conn, principal: Principal, body: dict) -> dict:
    gtin, lot_number, expiry = body["gtin"], body["lot"], body["expiry"]
    product = prechecks.product(conn, gtin)
    if product is None:
        raise _invalid("gtin", "unknown_product", f"GTIN {gtin} is not registered")
    if product["manufacturer"] != _me(principal):
        raise _conflict("gtin", "not_manufacturer", f"GTIN {gtin} belongs to another manufacturer")
    if expiry <= datetime.now(UTC).date():
        raise _invalid("expiry", "in_past", "must be a date after today")
    serials = serial_list(body)
    if len(serials) > MAX_SERIALS:
        raise _invalid("serials", "too_many", f"at most {MAX_SERIALS} serials per lot")
    if len(set(serials)) != len(serials):
        raise _invalid("serials", "duplicate", "serials must be unique within the lot")
    lot_id = lgtin_id(gtin, lot_number)
    if prechecks.lot(conn, lot_id) is not None:
        raise _conflict("lot", "already_commissioned", f"lot {lot_number} of {gtin} is already commissioned")
    ids = lot_serials.sgtin_ids(gtin, serials)
    nodes = lot_serials.tree_nodes(ids)  # the tree LotTree(ids) builds, without eth-abi: 100k serials in ~1 s
    return {
        "gtin": gtin,
        "lot": lot_number,
        "lot_id": _hex(lot_id),
        "expiry_date": expiry.isoformat(),
        "expiry": expiry_seconds(expiry),
        **_committed(serials, ids, nodes),
    }


def _committed(serials: list[str], ids: list[bytes], nodes) -> dict:
    """What a commissioning payload carries of its serials: their count and tree root (what the chain commits), and
    the serials with their ids and the tree's nodes (kept off the outbox payload: stored by the after-hook)."""
    return {
        "count": len(serials),
        "root": _hex(lot_serials.root_of(nodes)),
        "_serials": list(zip(serials, ids, strict=True)),
        "_nodes": nodes,
    }


def after_commission_lot(conn, principal: Principal, payload: dict, operation_id: str) -> None:
    lot_id = bytes.fromhex(payload["lot_id"][2:])
    stored = serials_db.insert_lot_commission(conn, lot_id, int(payload["gtin"]), payload["lot"],
                                              payload["expiry_date"], payload["count"],
                                              bytes.fromhex(payload["root"][2:]), principal.organisation_id,
                                              operation_id)  # fmt: skip
    if not stored:
        raise _conflict("lot", "already_commissioned", f"lot {payload['lot']} has a commissioning pending")
    taken = serials_db.insert_lot_serials(conn, lot_id, payload["_serials"])
    if taken is not None:
        raise _conflict("serials", "already_commissioned", f"serial {taken} of this GTIN is already in a lot")
    lot_serials.store_tree(conn, lot_id, [sid for _, sid in payload["_serials"]], payload.get("_nodes"))


MAX_CAPACITY = 2**32 - 1  # uint32 on chain


def _own_product(conn, principal: Principal, gtin: str) -> None:
    product = prechecks.product(conn, gtin)
    if product is None:
        raise _invalid("gtin", "unknown_product", f"GTIN {gtin} is not registered")
    if product["manufacturer"] != _me(principal):
        raise _conflict("gtin", "not_manufacturer", f"GTIN {gtin} belongs to another manufacturer")


def prepare_open_lot(conn, principal: Principal, body: dict) -> dict:
    """Declare a lot to be commissioned in batches (openLot): no serials yet, at most `capacity`."""
    gtin, lot_number, expiry = body["gtin"], body["lot"], body["expiry"]
    _own_product(conn, principal, gtin)
    if expiry <= datetime.now(UTC).date():
        raise _invalid("expiry", "in_past", "must be a date after today")
    lot_id = lgtin_id(gtin, lot_number)
    if prechecks.lot(conn, lot_id) is not None:
        raise _conflict("lot", "already_commissioned", f"lot {lot_number} of {gtin} is already on chain")
    return {
        "gtin": gtin,
        "lot": lot_number,
        "lot_id": _hex(lot_id),
        "expiry_date": expiry.isoformat(),
        "expiry": expiry_seconds(expiry),
        "capacity": body["capacity"],
    }


def after_open_lot(conn, principal: Principal, payload: dict, operation_id: str) -> None:
    stored = serials_db.insert_opened_lot(conn, bytes.fromhex(payload["lot_id"][2:]), int(payload["gtin"]),
                                          payload["lot"], payload["expiry_date"], payload["capacity"],
                                          principal.organisation_id, operation_id)  # fmt: skip
    if not stored:
        raise _conflict("lot", "already_commissioned", f"lot {payload['lot']} has a commissioning pending")


def prepare_commission_batch(conn, principal: Principal, body: dict) -> dict:
    """The lot's next serials (commissionBatch): leaf indexes from the lot's count so far (batches accepted and
    not yet mined included: the lot's row is locked until this request's transaction ends), committed by the
    root of the batch's own tree over (lot index, sgtin id). A serial of the GTIN already commissioned, in any
    lot or batch, is refused by name (the chain cannot see it)."""
    gtin, lot_number = body["gtin"], body["lot"]
    lot_id = lgtin_id(gtin, lot_number)
    state = prechecks.lot(conn, lot_id)
    if state is None:
        raise _invalid("lot", "unknown_lot", f"lot {lot_number} of GTIN {gtin} is not opened on chain")
    if state.manufacturer != _me(principal):
        raise _conflict("lot", "not_manufacturer", "only the lot's manufacturer commissions its serials")
    if state.recalled:
        raise _conflict("lot", "recalled", "the lot is recalled")
    if state.expired:
        raise _conflict("lot", "expired", "the lot has expired")
    row = serials_db.lock_commission(conn, lot_id)
    if row is None:
        raise _invalid("lot", "not_listed", f"lot {lot_number} was not opened through this service")
    if int(row["next_batch"]) != int(row["batches"]):  # an earlier batch failed, later ones (which fail too) are held
        raise _conflict("lot", "batch_pending_failed", "an earlier batch of the lot failed and later batches are "
                        "still pending (they will fail too); retry once they have settled")  # fmt: skip
    serials = serial_list(body)
    if len(set(serials)) != len(serials):
        raise _invalid("serials", "duplicate", "serials must be unique within the batch")
    first, capacity = int(row["serial_count"]), row["capacity"] or state.capacity
    if first + len(serials) > capacity:
        raise _conflict("serials", "capacity_exceeded", f"the lot has room for {capacity - first} more serials "
                        f"(capacity {capacity}, {first} commissioned or accepted)")  # fmt: skip
    ids = lot_serials.sgtin_ids(gtin, serials)
    taken = serials_db.first_taken(conn, ids)
    if taken is not None:
        field = f"serials[{taken}]" if body.get("serials") else "serial_range"
        message = f"serial {serials[taken]} of GTIN {gtin} is already commissioned"
        raise _conflict(field, "already_commissioned", message)
    nodes = lot_serials.tree_nodes(ids, first)
    return {
        "gtin": gtin,
        "lot": lot_number,
        "lot_id": _hex(lot_id),
        "batch": int(row["next_batch"]),
        "first_index": first,
        **_committed(serials, ids, nodes),
    }


def after_commission_batch(conn, principal: Principal, payload: dict, operation_id: str) -> None:
    lot_id = bytes.fromhex(payload["lot_id"][2:])
    try:
        taken = serials_db.insert_batch(conn, lot_id, payload["batch"], payload["first_index"], payload["_serials"],
                                        payload["_nodes"], operation_id)  # fmt: skip
    except serials_db.BatchTaken as exc:
        raise _conflict("lot", "batch_taken", f"{exc}; retry the request") from exc
    if taken is not None:
        raise _conflict("serials", "already_commissioned", f"serial {taken} of this GTIN is already in a lot")


def _lot_for(conn, gtin: str, lot_number: str, field: str) -> prechecks.LotState:
    state = prechecks.lot(conn, lgtin_id(gtin, lot_number))
    if state is None:
        raise _invalid(field, "unknown_lot", f"lot {lot_number} of GTIN {gtin} is not commissioned")
    return state


def prepare_recall(conn, principal: Principal, body: dict) -> dict:
    state = _lot_for(conn, body["gtin"], body["lot"], "lot")
    if not principal.has_role("regulator") and state.manufacturer != _me(principal):
        raise _conflict("lot", "not_manufacturer", "only the lot's manufacturer or a regulator can recall it")
    if state.recalled:
        raise _conflict("lot", "recalled", "the lot is already recalled")
    _not_in_flight(conn, state.lot_id, ("recall",), "lot", "the lot")
    return {"lot_id": _hex(state.lot_id), "gtin": body["gtin"], "lot": body["lot"]}


def _not_in_flight(conn, target: bytes, actions: tuple[str, ...], field: str, what: str) -> None:
    """Refuse a status change while one for the same lot or unit is accepted but not yet on chain: the second
    would fail there (already recalled, already quarantined…), whoever sent the first."""
    found = outbox.status_change_in_flight(conn, target, actions)
    if found is not None:
        done = {"recall": "recall", "quarantine": "quarantine", "clear_quarantine": "quarantine clearance"}
        raise _conflict(
            field,
            f"{found['action']}_pending",
            f"a {done[found['action']]} of {what} is already accepted and {found['status']} (operation "
            f"{found['id']}); it is not confirmed yet",
        )


# --------------------------------------------------------------------------- logistic units


def _unit(conn, sscc: str, field: str) -> custody.UnitState:
    state = prechecks.unit_state(conn, sscc_id(sscc))
    if state is None:
        raise _invalid(field, "unknown_unit", f"SSCC {sscc} is not a packed case, tote or pallet")
    cage = prechecks.cage_of(conn, state.unit_id) if state.kind == "tote" else None
    if cage is not None:
        raise _conflict(
            field, "on_roll_cage", f"SSCC {sscc} is a tote riding on roll cage 0x{cage.hex()}: act on the cage"
        )
    return state


def _held_loose(conn, principal: Principal, sscc: str, field: str) -> custody.UnitState:
    """A unit the caller holds, not in transit, not on a closed pallet, not quarantined."""
    state = _unit(conn, sscc, field)
    if state.custodian != _me(principal):
        raise _conflict(field, "not_holder", f"SSCC {sscc} is not held by your organisation")
    if state.in_transit:
        raise _conflict(field, "in_transit", f"SSCC {sscc} is in transit")
    if state.container is not None:
        raise _conflict(field, "in_container", f"SSCC {sscc} is on a closed pallet: ship or unpack the pallet")
    if state.quarantined:
        raise _conflict(field, "quarantined", f"SSCC {sscc} is quarantined")
    if state.unpacked:
        raise _conflict(field, "unpacked", f"SSCC {sscc} is unpacked")
    return state


def _distinct(units: list[str], field: str) -> None:
    if len(set(units)) != len(units):
        raise _invalid(field, "duplicate", "lists a unit twice")


def prepare_ship(conn, principal: Principal, body: dict) -> dict:
    units = body["units"]
    _distinct(units, "units")
    to = prechecks.account_of_gln(conn, body["to"])
    if to is None:
        raise _invalid("to", "unknown_gln", f"GLN {body['to']} is not a registered trading partner")
    if to == _me(principal):
        raise _invalid("to", "self", "cannot ship to your own organisation")
    if prechecks.suspended(conn, to):
        raise _conflict("to", "recipient_suspended", f"GLN {body['to']} is suspended: nothing can be shipped to it")
    for i, sscc in enumerate(units):
        _held_loose(conn, principal, sscc, f"units[{i}]")
    return {"units": [_hex(sscc_id(s)) for s in units], "to": _hex(to), "to_gln": body["to"]}


def _incoming(conn, principal: Principal, units: list[str]) -> dict:
    _distinct(units, "units")
    for i, sscc in enumerate(units):
        field = f"units[{i}]"
        state = _unit(conn, sscc, field)
        if not state.in_transit:
            raise _conflict(field, "not_in_transit", f"SSCC {sscc} is not in transit")
        if state.container is not None:
            raise _conflict(field, "in_container", f"SSCC {sscc} travels on a pallet: scan the pallet")
        if state.recipient != _me(principal):
            raise _conflict(field, "not_recipient", f"SSCC {sscc} is in transit to another organisation")
    return {"units": [_hex(sscc_id(s)) for s in units]}


def _consignments_of(conn, principal: Principal, packs: list[Pack], returns: bool | None) -> list[bytes]:
    """The loose consignments in transit to the caller that the scanned packs travel in (one pack of each is
    enough), in the order first scanned. returns: True for returns only, False for plain consignments only."""
    found: list[bytes] = []
    for pack in _lookup(conn, packs):
        field, container = pack.field, pack.source
        if container is None or not _consignment_to_me(conn, principal, container, returns, field,
                                                        "the pack's consignment"):  # fmt: skip
            raise _conflict(field, "not_in_consignment", "the pack does not travel loose in a consignment")
        if container not in found:
            found.append(container)
    return found


def _consignment_to_me(
    conn, principal: Principal, consignment_id: bytes, returns: bool | None, field: str, what: str
) -> bool:
    """False when `consignment_id` is no loose consignment on chain; refuses (naming `field`, `what` in the
    message) one that is not in transit to the caller, or not the kind `returns` asks for (True: a return only,
    False: a plain consignment only)."""
    loose = prechecks.consignment(conn, consignment_id)
    state = prechecks.unit_state(conn, consignment_id) if loose is not None else None
    if state is None:
        return False
    if not state.in_transit:
        raise _conflict(field, "not_in_transit", f"{what} is not in transit")
    if state.recipient != _me(principal):
        raise _conflict(field, "not_recipient", f"{what} is in transit to another organisation")
    if returns is True and not loose["is_return"]:
        raise _conflict(field, "not_a_return", f"{what} is not a return: receive it")
    if returns is False and loose["is_return"]:
        raise _conflict(field, "return_needs_acceptance", f"{what} is a return: accept it")
    return True


def _consignments_by_id(conn, principal: Principal, ids: list[str], returns: bool | None) -> list[bytes]:
    """Loose consignments in transit to the caller named by their ids (as the pack-shipment's or return's
    operation gives them), refused as _consignments_of refuses a pack's consignment."""
    found: list[bytes] = []
    for i, text in enumerate(ids):
        field, consignment_id = f"consignments[{i}]", bytes.fromhex(text[2:])
        if not _consignment_to_me(conn, principal, consignment_id, returns, field, "the consignment"):
            raise _conflict(field, "unknown_consignment", f"no loose consignment {text} is on chain")
        if consignment_id in found:
            raise _invalid("consignments", "duplicate", f"lists consignment {text} twice")
        found.append(consignment_id)
    return found


def _loose(conn, principal: Principal, body: dict, returns: bool | None) -> list[bytes]:
    """The loose consignments a receipt, refusal or acceptance names: by id, then by a pack of each."""
    found = _consignments_by_id(conn, principal, body.get("consignments") or [], returns)
    for c in _consignments_of(conn, principal, body.get("packs") or [], returns):
        if c not in found:
            found.append(c)
    return found


def _incoming_any(conn, principal: Principal, body: dict, returns: bool | None) -> dict:
    units = _incoming(conn, principal, body.get("units") or [])["units"]
    loose = _loose(conn, principal, body, returns)
    return {"units": units + [_hex(c) for c in loose]}


def prepare_receive(conn, principal: Principal, body: dict) -> dict:
    """Units shipped to the caller (SSCCs), and loose consignments named by a pack they carry."""
    return _incoming_any(conn, principal, body, returns=False)


def prepare_refuse(conn, principal: Principal, body: dict) -> dict:
    return _incoming_any(conn, principal, body, returns=None)


def prepare_unpack(conn, principal: Principal, body: dict) -> dict:
    units = body["units"]
    _distinct(units, "units")
    for i, sscc in enumerate(units):
        _held_loose(conn, principal, sscc, f"units[{i}]")
    return {"units": [_hex(sscc_id(s)) for s in units]}


def _new_sscc(conn, sscc: str) -> bytes:
    unit_id = sscc_id(sscc)
    if prechecks.unit_exists(conn, unit_id):
        raise _conflict("sscc", "already_used", f"SSCC {sscc} is already a packed unit")
    return unit_id


def prepare_pack_case(conn, principal: Principal, body: dict) -> dict:
    unit_id = _new_sscc(conn, body["sscc"])
    state = _lot_for(conn, body["gtin"], body["lot"], "lot")
    if state.manufacturer != _me(principal):
        raise _conflict("lot", "not_manufacturer", "only the lot's manufacturer packs its loose stock")
    if state.recalled:
        raise _conflict("lot", "recalled", "the lot is recalled")
    if state.quarantined:
        raise _conflict("lot", "quarantined", "the lot is quarantined")
    out = {"sscc": body["sscc"], "unit_id": _hex(unit_id), "lot_id": _hex(state.lot_id)}
    if body.get("packs"):
        found = _lookup(conn, body["packs"], where=False)
        for pack in found:
            if pack.lot_id != state.lot_id:
                raise _invalid(pack.field, "other_lot", "is not of the case's lot")
        indexes = [pack.index for pack in found]
        taken = prechecks.first_cased(conn, state.lot_id, indexes=indexes)
        if taken is not None:
            raise _conflict(f"packs[{indexes.index(taken)}]", "already_packed", "the pack is already in a case")
        for pack in found:
            _not_ended(pack)
        return out | {"indexes": sorted(indexes)}
    first, count = body["first_index"], body["count"]
    if first + count > state.serial_count:
        raise _invalid("count", "out_of_range", f"the lot has {state.serial_count} serials (leaf indexes from 0)")
    taken = prechecks.first_cased(conn, state.lot_id, first=first, count=count)
    if taken is not None:
        raise _conflict("first_index", "already_packed", f"leaf index {taken} of the run is already in a case")
    ended = prechecks.first_ended(conn, state.lot_id, range(first, first + count))
    if ended is not None:
        raise _conflict("first_index", f"already_{ended[1]}",
                        f"leaf index {ended[0]} of the run was {ended[1]} from the loose stock: pack around it")  # fmt: skip
    return out | {"first_index": first, "count": count}


def prepare_pack_pallet(conn, principal: Principal, body: dict) -> dict:
    unit_id = _new_sscc(conn, body["sscc"])
    _distinct(body["cases"], "cases")
    for i, sscc in enumerate(body["cases"]):
        state = _held_loose(conn, principal, sscc, f"cases[{i}]")
        if state.kind not in ("case", "tote"):
            raise _invalid(
                f"cases[{i}]", "not_a_case", f"SSCC {sscc} is a {state.kind}: a pallet takes cases and totes"
            )
    return {"sscc": body["sscc"], "unit_id": _hex(unit_id), "cases": [_hex(sscc_id(s)) for s in body["cases"]]}


# --------------------------------------------------------------------------- packs


def _pack_index(conn, pack: Pack, field: str) -> tuple[bytes, int]:
    found = prechecks.serial(conn, sgtin_id(pack.gtin, pack.serial))
    if found is None:
        raise _invalid(field, "unknown_serial", f"serial {pack.serial} of GTIN {pack.gtin} was never commissioned")
    if pack.lot is not None and pack.lot != found["lot"]:
        raise _conflict(field, "lot_mismatch", f"the pack belongs to lot {found['lot']}, not {pack.lot}")
    return found["lot_id"], found["leaf_index"]


@dataclass(frozen=True)
class _Found:
    """A pack of a request, as the one pack lookup (`_lookup`) found it."""

    field: str  # packs[i]
    serial: str
    lot: prechecks.LotState
    index: int  # leaf index in the lot
    end: str | None  # how it left the supply chain: dispensed, destroyed, stolen (None: it did not)
    source: bytes | None = None  # where it is now: the tote or consignment it was moved into, else its case
    tree: bool = False  # the source is a tree case

    @property
    def lot_id(self) -> bytes:
        return self.lot.lot_id


def _lookup(conn, packs: list[Pack], where: bool = True) -> list[_Found]:
    """THE pack lookup of the write pre-checks: each pack's lot and leaf index (an unknown serial or a pack listed
    twice: 422; its lot, or the batch of its serial, not on chain yet: 409), how it ended, and (where) the
    container it is in now (None: its manufacturer's loose stock). The callers' own rules follow."""
    out, seen = [], set()
    ends: dict[bytes, dict[int, str]] = {}
    moved: dict[bytes, dict[int, bytes]] = {}
    for i, pack in enumerate(packs):
        field = f"packs[{i}]"
        lot_id, index = _pack_index(conn, pack, field)
        if (lot_id, index) in seen:
            raise _invalid("packs", "duplicate", f"lists pack {pack.serial} twice")
        seen.add((lot_id, index))
        state = prechecks.lot(conn, lot_id)
        if state is None or index >= state.serial_count:
            raise _conflict(field, "lot_not_commissioned", "the pack's lot (or batch) is not commissioned on chain yet")
        if lot_id not in ends:
            ends[lot_id] = prechecks.pack_end_states(conn, lot_id)
        found = _Found(field, pack.serial, state, index, ends[lot_id].get(index))
        if where:
            if lot_id not in moved:
                moved[lot_id] = prechecks.pack_containers(conn, lot_id)
            source, tree = moved[lot_id].get(index), False
            if source is None:
                source, tree = prechecks.case_of_pack(conn, lot_id, index) or (None, False)
            found = replace(found, source=source, tree=tree)
        out.append(found)
    return out


def _not_ended(found: _Found) -> None:
    if found.end:
        raise _conflict(found.field, f"already_{found.end}", f"the pack was already {found.end}")


def _packs(conn, principal: Principal, packs: list[Pack], loose_ok: bool) -> list[dict]:
    """Resolve packs to (case, lot, index) the caller holds, and refuse ones that left the chain.

    Dispensing (not loose_ok) needs sellable stock: lot neither recalled, quarantined nor expired, case
    and its pallet not quarantined. Destruction (loose_ok) is what recalled and quarantined stock is for."""
    sellable = not loose_ok
    out = []
    for found in _lookup(conn, packs):
        state, field = found.lot, found.field
        if sellable and state.recalled:
            raise _conflict(field, "recalled", f"lot {state.lot_number} is recalled")
        if sellable and state.quarantined:
            raise _conflict(field, "quarantined", f"lot {state.lot_number} is quarantined")
        if sellable and state.expired:
            raise _conflict(field, "expired", f"lot {state.lot_number} has expired")
        _not_ended(found)
        out.append(_pack_holder(conn, principal, found, loose_ok))
    return out


def _pack_holder(conn, principal, found: _Found, loose_ok: bool) -> dict:
    field, state = found.field, found.lot
    if found.source is None:
        if not loose_ok or state.manufacturer != _me(principal):
            raise _conflict(field, "not_holder", "the pack is in the manufacturer's loose stock")
        return {"case": None, "tree": False, "lot_id": _hex(state.lot_id), "index": found.index}
    case_id = found.source
    unit = prechecks.unit_state(conn, case_id)
    if unit.custodian != _me(principal):
        raise _conflict(field, "not_holder", "the pack's case is not held by your organisation")
    if unit.in_transit:
        raise _conflict(field, "in_transit", "the pack's case is in transit")
    if not loose_ok and unit.quarantined:
        raise _conflict(field, "quarantined", "the pack's case is quarantined")
    if not loose_ok and unit.container is not None and prechecks.unit_state(conn, unit.container).quarantined:
        raise _conflict(field, "quarantined", "the pack's case is on a quarantined pallet")
    return {"case": _hex(case_id), "tree": found.tree, "lot_id": _hex(state.lot_id), "index": found.index}


def prepare_dispense(conn, principal: Principal, body: dict) -> dict:
    return {"packs": _packs(conn, principal, body["packs"], loose_ok=False)}


def prepare_destroy(conn, principal: Principal, body: dict) -> dict:
    return {"packs": _packs(conn, principal, body["packs"], loose_ok=True)}


# --------------------------------------------------------------------------- issue 14: packs picked out of containers


@dataclass
class _Picking:
    """What a request's packs resolved to: one entry per pack (its source container, or None for the
    manufacturer's loose stock; whether the source is a tree case; lot id; leaf index), and the source
    containers' custody."""

    packs: list[dict]
    sources: dict[bytes, custody.Custody]


def _pick(conn, principal: Principal, packs: list[Pack], *, opened: bool = True, lot_ok: bool = True) -> _Picking:
    """Resolve packs to where they are now (the tote or consignment they were moved into, else their case, else
    the manufacturer's loose stock) and refuse what the contract would: an unknown or ended pack (dispensed,
    destroyed, stolen), a recalled or quarantined lot or pack (lot_ok: not for a report of theft), a source the
    caller does not hold, in transit, quarantined, or (opened: packs are taken out of it) not opened yet."""
    me = _me(principal)
    out, sources = [], {}
    for found in _lookup(conn, packs):
        state, field, source = found.lot, found.field, found.source
        if lot_ok and state.recalled:
            raise _conflict(field, "recalled", f"lot {state.lot_number} is recalled")
        if lot_ok and state.quarantined:
            raise _conflict(field, "quarantined", f"lot {state.lot_number} is quarantined")
        _not_ended(found)
        if lot_ok and prechecks.pack_quarantined(conn, found.lot_id, found.index):
            raise _conflict(field, "quarantined", "the pack is quarantined")
        if source is None:
            if state.manufacturer != me:
                raise _conflict(field, "not_holder", "the pack is in its manufacturer's loose stock")
        else:
            if source not in sources:
                sources[source] = prechecks.unit_state(conn, source)
            _source_held(sources[source], me, field, opened)
        out.append({"source": _hex(source) if source else None, "tree": found.tree, "lot_id": _hex(found.lot_id),
                    "index": found.index})  # fmt: skip
    return _Picking(out, sources)


def _source_held(unit: custody.Custody | None, me: bytes, field: str, opened: bool) -> None:
    """The container packs are taken from: held by the caller and (opened) at rest, not quarantined, opened."""
    if unit is None or unit.custodian != me:
        raise _conflict(field, "not_holder", "the pack's container is not held by your organisation")
    if opened and unit.in_transit:
        raise _conflict(field, "in_transit", "the pack's container is in transit")
    if opened and unit.held_quarantined:
        raise _conflict(field, "quarantined", "the pack's container is quarantined")
    if opened and not unit.unpacked:
        raise _conflict(field, "not_unpacked", "the pack's container is closed: unpack it first")


def _recipient(conn, principal: Principal, gln: str) -> bytes:
    to = prechecks.account_of_gln(conn, gln)
    if to is None:
        raise _invalid("to", "unknown_gln", f"GLN {gln} is not a registered trading partner")
    if to == _me(principal):
        raise _invalid("to", "self", "cannot ship to your own organisation")
    if prechecks.suspended(conn, to):
        raise _conflict("to", "recipient_suspended", f"GLN {gln} is suspended: nothing can be shipped to it")
    return to


def _pickable(picked: _Picking, tote: bool) -> None:
    """Packs move into another unit out of a run case or a listed unit (tote, consignment), as the contract takes
    them (docs/gas-redesign.md): not out of loose stock; out of a case packed by its children's root only into a
    tote of that case's packs alone (packToteFromCase)."""
    sources = {pack["source"] for pack in picked.packs}
    for i, pack in enumerate(picked.packs):
        if pack["source"] is None:
            raise _conflict(f"packs[{i}]", "loose_stock",
                            "the pack is in loose stock: pack it into a case first, then pick it out of the case")  # fmt: skip
        if pack["tree"] and not (tote and len(sources) == 1):
            raise _conflict(f"packs[{i}]", "tree_case",
                            "the pack is in a case committed by its children's root: its packs go into a tote of "
                            "their own, with no others")  # fmt: skip


def prepare_pack_tote(conn, principal: Principal, body: dict) -> dict:
    """Pick packs of any products and lots out of opened cases, totes and consignments the caller holds into a new
    tote (packToteListed)."""
    unit_id = _new_sscc(conn, body["sscc"])
    picked = _pick(conn, principal, body["packs"])
    _pickable(picked, tote=True)
    return {"sscc": body["sscc"], "unit_id": _hex(unit_id), "packs": picked.packs}


def prepare_pack_cage(conn, principal: Principal, body: dict) -> dict:
    """A roll cage (packCageListed, docs/gas-redesign.md): totes picked straight out of opened run cases the caller
    holds, each tote's listing carried in the cage's word, with loose cases the caller holds. The cage is shipped,
    received and unpacked as a pallet; its totes are opened with it."""
    unit_id = _new_sscc(conn, body["sscc"])
    _distinct([body["sscc"], *(t["sscc"] for t in body["totes"])], "totes")
    totes, seen = [], set()
    for i, tote in enumerate(body["totes"]):
        try:
            tote_id = _new_sscc(conn, tote["sscc"])
            picked = _pick(conn, principal, tote["packs"])
            _pickable(picked, tote=False)
            for j, pack in enumerate(picked.packs):
                if picked.sources[bytes.fromhex(pack["source"][2:])].kind != "case":
                    raise _conflict(f"packs[{j}]", "not_in_case", "a roll cage's totes are picked out of cases")
                if (pack["lot_id"], pack["index"]) in seen:
                    raise _invalid(f"packs[{j}]", "duplicate", "the pack is in another tote of the cage")
                seen.add((pack["lot_id"], pack["index"]))
        except Rejected as e:
            raise Rejected(e.status, f"totes[{i}].{e.field}", e.rule, e.message) from e
        totes.append({"sscc": tote["sscc"], "unit_id": _hex(tote_id), "packs": picked.packs})
    cases = body.get("cases", [])
    _distinct(cases, "cases")
    for k, sscc in enumerate(cases):
        state = _held_loose(conn, principal, sscc, f"cases[{k}]")
        if state.kind != "case" or state.unpacked:
            raise _conflict(f"cases[{k}]", "not_a_case", f"SSCC {sscc} is not a closed case: a roll cage takes cases")
    return {"sscc": body["sscc"], "unit_id": _hex(unit_id), "totes": totes,
            "cases": [_hex(sscc_id(c)) for c in cases]}  # fmt: skip


def prepare_ship_packs(conn, principal: Principal, body: dict) -> dict:
    """Ship loose packs picked out of opened containers the caller holds to a party, as a consignment (shipListed)."""
    to = _recipient(conn, principal, body["to"])
    picked = _pick(conn, principal, body["packs"])
    _pickable(picked, tote=False)
    return {"to": _hex(to), "to_gln": body["to"], "packs": picked.packs}


def prepare_return_packs(conn, principal: Principal, body: dict) -> dict:
    """Return saleable packs to the party that shipped them to the caller (returnFromCase/returnListed/returnCaged,
    DSCSA saleable returns):
    refused, with the reason, for a pack the caller does not hold, one dispensed (or destroyed, stolen), or one
    whose container came from another party."""
    to = _recipient(conn, principal, body["to"])
    picked = _pick(conn, principal, body["packs"])
    for i, pack in enumerate(picked.packs):
        if pack["source"] is None:  # the caller's own loose stock (a manufacturer that dispenses): never shipped to it
            raise _conflict(f"packs[{i}]", "not_from_that_party",
                            "the pack is your own loose stock: no party shipped it to you, so it cannot be returned")  # fmt: skip
        came_from = picked.sources[bytes.fromhex(pack["source"][2:])].sender  # custody.py: the contract's _sender
        if came_from != to:
            whom = "no one (it never travelled to you)" if came_from is None else "another party"
            raise _conflict(f"packs[{i}]", "not_from_that_party",
                            f"the pack's container was shipped to you by {whom}, not by GLN {body['to']}")  # fmt: skip
    return {"to": _hex(to), "to_gln": body["to"], "packs": picked.packs}


def prepare_accept_return(conn, principal: Principal, body: dict) -> dict:
    """Take back returned packs after verifying them (acceptReturn): the returns in transit to the caller, each
    named by its id or by any pack it carries."""
    return {"consignments": [_hex(c) for c in _loose(conn, principal, body, returns=True)]}


def prepare_report_stolen(conn, principal: Principal, body: dict) -> dict:
    """Report packs stolen (reportStolen): their holder, through the container they are in (or a manufacturer
    from its loose stock). They are inactive for good; a pack already dispensed, destroyed or stolen is refused."""
    return {"packs": _pick(conn, principal, body["packs"], opened=False, lot_ok=False).packs}


_NOT_UNDONE = {"destroyed": "destroyed", "stolen": "stolen"}


def prepare_undo_dispense(conn, principal: Principal, body: dict) -> dict:
    """Undo a dispense (EU FMD): the same dispenser, within 10 days of it (chain time, as the mirror last saw
    it), for packs not expired, recalled, destroyed or stolen, still in the container they were dispensed from,
    which the caller holds at rest. Packs are grouped by the dispense that ended them; the relayer proves that
    dispense (its dispenseDay call and the dispenser's chain links after it) when it sends the undo."""
    me, now = _me(principal), prechecks.chain_now(conn)
    groups: dict[tuple[int, int, str], dict] = {}
    for found in _lookup(conn, body["packs"], where=False):
        state, field, lot_id, index, end = found.lot, found.field, found.lot_id, found.index, found.end
        if end != "dispensed":
            rule = _NOT_UNDONE.get(end, "not_dispensed")
            raise _conflict(field, rule, f"the pack is {end or 'not dispensed'}: there is no dispense to undo")
        row = prechecks.dispense_of(conn, lot_id, index)
        if bytes(row["by"]) != me:
            raise _conflict(field, "not_dispenser", "the pack was dispensed by another party")
        deadline = int(row["time"]) + prechecks.UNDO_WINDOW
        if now > deadline:
            when = datetime.fromtimestamp(deadline, UTC).isoformat()
            raise _conflict(field, "undo_window_closed", f"a dispense can be undone within 10 days (until {when})")
        if state.recalled:
            raise _conflict(field, "recalled", f"lot {state.lot_number} is recalled")
        if state.expiry < now:
            raise _conflict(field, "expired", f"lot {state.lot_number} has expired")
        container = bytes(row["case_id"])
        unit = prechecks.unit_state(conn, container)
        if unit is None or unit.custodian != me:
            raise _conflict(field, "not_holder", "the container the pack was dispensed from is not held by you")
        if unit.in_transit:
            raise _conflict(field, "in_transit", "the container the pack was dispensed from is in transit")
        key = (int(row["block_number"]), int(row["log_index"]), _hex(lot_id))
        group = groups.setdefault(key, {"day": int(row["time"]) // prechecks.DAY, "block_number": key[0],
                                        "log_index": key[1], "lot_id": key[2], "container_id": _hex(container),
                                        "indexes": []})  # fmt: skip
        group["indexes"].append(index)
    return {"dispenser": _hex(me), "undo": list(groups.values())}


# --------------------------------------------------------------------------- status and cold chain


def _status_target(conn, principal: Principal, body: dict, quarantine: bool) -> dict:
    regulator = principal.has_role("regulator")
    if body.get("sscc"):
        state = _unit(conn, body["sscc"], "sscc")
        if not regulator and state.custodian != _me(principal):
            raise _conflict("sscc", "not_holder", "only the unit's holder or a regulator can change its quarantine")
        if state.quarantined == quarantine:
            rule = "quarantined" if quarantine else "not_quarantined"
            raise _conflict("sscc", rule, f"the unit is {'already' if quarantine else 'not'} quarantined")
        _not_in_flight(conn, state.unit_id, ("quarantine", "clear_quarantine"), "sscc", "the unit")
        return {"target": "unit", "unit_id": _hex(state.unit_id)}
    state = _lot_for(conn, body["gtin"], body["lot"], "lot")
    if not regulator and state.manufacturer != _me(principal):
        raise _conflict("lot", "not_manufacturer", "only the lot's manufacturer or a regulator can quarantine a lot")
    if state.quarantined == quarantine:
        rule = "quarantined" if quarantine else "not_quarantined"
        raise _conflict("lot", rule, f"the lot is {'already' if quarantine else 'not'} quarantined")
    _not_in_flight(conn, state.lot_id, ("quarantine", "clear_quarantine"), "lot", "the lot")
    return {"target": "lot", "lot_id": _hex(state.lot_id)}


def prepare_quarantine(conn, principal: Principal, body: dict) -> dict:
    return _status_target(conn, principal, body, quarantine=True)


def prepare_clear_quarantine(conn, principal: Principal, body: dict) -> dict:
    return _status_target(conn, principal, body, quarantine=False)


def prepare_record_readings(conn, principal: Principal, body: dict) -> dict:
    state = _unit(conn, body["sscc"], "sscc")
    me = _me(principal)
    moving = state if state.container is None else prechecks.unit_state(conn, state.container)
    if state.custodian != me and not (moving.in_transit and moving.recipient == me):
        raise _conflict("sscc", "not_holder", "only the unit's holder, or its recipient in transit, records readings")
    readings = body["readings"]
    return {
        "unit_id": _hex(state.unit_id),
        "sensor": body["sensor_id"],
        "sensor_id": _hex(Web3.keccak(text=body["sensor_id"])),
        "start": readings.start,
        "interval": readings.interval,
        "readings": _hex(readings.packed()),
    }


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Action:
    name: str
    roles: tuple[str, ...]
    prepare: Callable[[object, Principal, dict], dict]
    after: Callable[[object, Principal, dict, str], None] | None = None
    after_uses_body: bool = False


ACTIONS = {
    a.name: a
    for a in (
        Action("register_product", ("manufacturer",), prepare_register_product, after_register_product, True),
        Action("commission_lot", ("manufacturer",), prepare_commission_lot, after_commission_lot),
        Action("open_lot", ("manufacturer",), prepare_open_lot, after_open_lot),
        Action("commission_batch", ("manufacturer",), prepare_commission_batch, after_commission_batch),
        Action("pack_case", ("manufacturer",), prepare_pack_case),
        Action("pack_pallet", ("manufacturer", "distributor"), prepare_pack_pallet),
        Action("unpack", ("manufacturer", "distributor", "dispenser"), prepare_unpack),
        Action("ship", ("manufacturer", "distributor", "dispenser"), prepare_ship),
        Action("receive", ("manufacturer", "distributor", "dispenser"), prepare_receive),
        Action("refuse", ("manufacturer", "distributor", "dispenser"), prepare_refuse),
        Action("dispense", ("dispenser",), prepare_dispense),
        Action("destroy", ("dispenser", "manufacturer"), prepare_destroy),
        Action("recall", ("manufacturer", "regulator"), prepare_recall),
        Action("quarantine", ("manufacturer", "distributor", "dispenser", "regulator"), prepare_quarantine),
        Action("clear_quarantine", ("manufacturer", "distributor", "dispenser", "regulator"), prepare_clear_quarantine),
        Action("record_readings", ("manufacturer", "distributor", "dispenser"), prepare_record_readings),
        Action("pack_tote", ("manufacturer", "distributor", "dispenser"), prepare_pack_tote),
        Action("pack_cage", ("manufacturer", "distributor"), prepare_pack_cage),
        Action("ship_packs", ("manufacturer", "distributor", "dispenser"), prepare_ship_packs),
        Action("return_packs", ("dispenser",), prepare_return_packs),
        Action("accept_return", ("manufacturer", "distributor", "dispenser"), prepare_accept_return),
        Action("report_stolen", ("manufacturer", "distributor", "dispenser"), prepare_report_stolen),
        Action("undo_dispense", ("dispenser",), prepare_undo_dispense),
    )
}


def request_digest(action: str, raw: bytes) -> bytes:
    """What an Idempotency-Key is bound to: the action and the exact request body."""
    return hashlib.sha256(action.encode() + b"\0" + raw).digest()


SIGHTED = re.compile(r"^(units|packs)\[(\d+)\]$")


def record_sighting(conn, principal: Principal, body: dict, refused: Rejected) -> None:
    """A scan refused for a unit or pack is still a sighting: logged (channel 'scan') for the
    detection rules, and committed on its own, since the refused write wrote nothing else."""
    match = SIGHTED.match(refused.field)
    if match is None:
        return
    item = body[match.group(1)][int(match.group(2))]
    if isinstance(item, Pack):
        values = (
            to_element_string(item),
            int(item.gtin),
            item.serial,
            item.lot,
            sgtin_id(item.gtin, item.serial),
            None,
        )
    else:
        values = (item, None, None, None, None, sscc_id(item))
    verifications_db.insert_refused_scan(conn, principal.organisation_id, int(principal.gln), values, [refused.rule])
    conn.commit()


def stored_later(action: str) -> bool:
    """Whether an accepted `action` may be stored in the outbox after the pre-checks of the writes that follow it
    in one request (an EPCIS document's, then stored in one statement): it has no after-hook, and no pre-check
    reads the outbox for it (a status change checks the one in flight)."""
    return ACTIONS[action].after is None and action not in outbox.STATUS_CHANGES


def prepare(conn, principal: Principal, action: str, body: dict, idempotency_key: str, digest: bytes,
            sightings: bool = True) -> tuple[dict | None, dict | None]:  # fmt: skip
    """The pre-check of one write: (the outbox payload to store, None), or (None, the first operation of the key)
    when the pre-check now fails but the key was accepted before (a rescan after the first one took effect);
    Rejected otherwise (a refused scan logged as a sighting if `sightings`)."""
    try:
        payload = ACTIONS[action].prepare(conn, principal, body)
    except Rejected as refused:
        existing = outbox.by_key(conn, principal.organisation_id, idempotency_key)
        if existing is None:
            if sightings:
                record_sighting(conn, principal, body, refused)
            raise
        return None, outbox.replay(existing, digest)
    return payload, None


def submit(conn, principal: Principal, action: str, body: dict, raw: bytes, idempotency_key: str,
           digest: bytes | None = None, sightings: bool = True) -> tuple[dict, bool]:  # fmt: skip
    """Accept one write in the caller's transaction; returns (operation, created). `digest`: what the key is
    bound to, when not the raw body (an EPCIS event); `sightings`: log a refused scan (and commit it) or not
    (an EPCIS capture, whose transaction may still be rolled back as a whole)."""
    spec = ACTIONS[action]
    digest = digest or request_digest(action, raw)
    payload, replayed = prepare(conn, principal, action, body, idempotency_key, digest, sightings)
    if replayed is not None:
        return replayed, False
    stored = {k: v for k, v in payload.items() if not k.startswith("_")}
    row, created = outbox.accept(conn, principal.organisation_id, action, stored, idempotency_key, digest=digest)
    if created and spec.after is not None:
        spec.after(conn, principal, body if spec.after_uses_body else payload, str(row["id"]))
    return row, created
