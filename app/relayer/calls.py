"""Outbox operations as contract calls: one call per operation, or one call for many where the
contract takes lists (ship, receive, refuse, unpack take unit arrays; dispense and destroy take a
set of packs per case). The payloads were resolved when the scan was accepted, so only tree
cases need a lookup here (their children, for the multiproof)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from eth_utils import to_checksum_address

from app.ids import pack_set
from app.merkle import CaseTree
from app.services import prechecks

ZERO32 = bytes(32)


@dataclass
class Call:
    fn: str
    args: list
    op_ids: list[str] = field(default_factory=list)


def _b(hex_value: str) -> bytes:
    return bytes.fromhex(hex_value[2:])


def _units_call(fn: str, ops: list[dict], extra: tuple = ()) -> Call:
    units = [_b(u) for op in ops for u in op["payload"]["units"]]
    return Call(fn, [units, *extra], [str(op["id"]) for op in ops])


def _one(op: dict) -> Call:  # noqa: PLR0911 - one return per action
    p = op["payload"]
    oid = [str(op["id"])]
    match op["action"]:
        case "register_product":
            return Call("registerProduct", [int(p["gtin"]), p["min_temp"], p["max_temp"]], oid)
        case "commission_lot":
            return Call("commissionLot", [int(p["gtin"]), p["lot"], p["expiry"], p["count"], _b(p["root"])], oid)
        case "open_lot":
            return Call("openLot", [int(p["gtin"]), p["lot"], p["expiry"], p["capacity"]], oid)
        case "commission_batch":
            return Call("commissionBatch", [_b(p["lot_id"]), p["first_index"], p["count"], _b(p["root"])], oid)
        case "pack_case" if "indexes" in p:
            return Call("packCaseTree", [int(p["sscc"]), _b(p["lot_id"]), pack_set(p["indexes"])], oid)
        case "pack_case":
            return Call("packCase", [int(p["sscc"]), _b(p["lot_id"]), p["first_index"], p["count"]], oid)
        case "pack_pallet":
            return Call("packPallet", [int(p["sscc"]), [_b(c) for c in p["cases"]]], oid)
        case "recall":
            return Call("recallLot", [_b(p["lot_id"])], oid)
        case "quarantine" | "clear_quarantine":
            clear = op["action"] == "clear_quarantine"
            if p["target"] == "unit":
                return Call("clearUnitQuarantine" if clear else "quarantineUnit", [_b(p["unit_id"])], oid)
            return Call("clearLotQuarantine" if clear else "quarantineLot", [_b(p["lot_id"])], oid)
        case "record_readings":
            args = [_b(p["unit_id"]), _b(p["sensor_id"]), p["start"], p["interval"], _b(p["readings"])]
            return Call("recordReadings", args, oid)
    raise ValueError(f"no single call for action {op['action']!r}")


def _pack_calls(conn, fn: str, ops: list[dict]) -> list[Call]:
    groups: dict[tuple[str | None, str, bool], dict] = defaultdict(lambda: {"indexes": [], "ops": []})
    for op in ops:
        for pack in op["payload"]["packs"]:
            group = groups[(pack["case"], pack["lot_id"], pack["tree"])]
            group["indexes"].append(pack["index"])
            if str(op["id"]) not in group["ops"]:
                group["ops"].append(str(op["id"]))
    calls = []
    for (case, lot_id, tree), group in groups.items():
        container = _b(case) if case else ZERO32
        if tree:
            children = CaseTree(_b(lot_id), prechecks.tree_case_indexes(conn, container))
            packs, proof = children.children_proof(group["indexes"])
        else:
            packs, proof = pack_set(group["indexes"]), ([], [])
        calls.append(Call(fn, [container, _b(lot_id), packs, proof], group["ops"]))
    return calls


def pack_groups(conn, packs: list[dict]) -> list[tuple]:
    """A payload's packs (source, tree, lot_id, index) as the contract's PackGroup[]: one group per source
    container and lot (zero source: the manufacturer's loose stock), with a multiproof for a tree case."""
    grouped: dict[tuple[str | None, str, bool], list[int]] = defaultdict(list)
    for pack in packs:
        grouped[(pack["source"], pack["lot_id"], pack["tree"])].append(pack["index"])
    out = []
    for (source, lot_id, tree), indexes in grouped.items():
        container = _b(source) if source else ZERO32
        if tree:
            packs_set, proof = CaseTree(_b(lot_id), prechecks.tree_case_indexes(conn, container)).children_proof(
                indexes
            )
        else:
            packs_set, proof = pack_set(indexes), ([], [])
        out.append((container, _b(lot_id), packs_set, proof))
    return out


def _picked(conn, op: dict, day_records=None) -> list[Call]:
    p, oid = op["payload"], [str(op["id"])]
    match op["action"]:
        case "pack_tote":
            return [Call("packTote", [int(p["sscc"]), pack_groups(conn, p["packs"])], oid)]
        case "ship_packs":
            return [Call("shipPacks", [pack_groups(conn, p["packs"]), to_checksum_address(p["to"])], oid)]
        case "return_packs":
            return [Call("returnPacks", [pack_groups(conn, p["packs"]), to_checksum_address(p["to"])], oid)]
        case "report_stolen":
            return [Call("reportStolen", [pack_groups(conn, p["packs"])], oid)]
        case "accept_return":
            return [Call("acceptReturn", [_b(c)], oid) for c in p["consignments"]]
        case "undo_dispense":
            return [_undo(day_records, _b(p["dispenser"]), group, oid) for group in p["undo"]]
    raise ValueError(f"no picking call for action {op['action']!r}")


def _undo(day_records, dispenser: bytes, group: dict, oid: list[str]) -> Call:
    """undoDispense of packs of one dispense: that day's DispenseRecord list read from the chain's Dispensed logs
    now (`day_records(dispenser, day)`; the contract checks it against its accumulator of the day, which the
    mirror may lag behind), and which record is the dispense."""
    records = day_records(dispenser, group["day"])
    which = next(
        (
            i
            for i, r in enumerate(records)
            if (r["block_number"], r["log_index"]) == (group["block_number"], group["log_index"])
        ),
        len(records),
    )  # fmt: skip  (not on chain any more: the contract refuses, UndoRecordsInvalid)
    tuples = [(r["time"], r["lot_id"], r["container_id"], (r["first_word"], r["masks"])) for r in records]
    return Call("undoDispense", [group["day"], tuples, which, pack_set(group["indexes"])], oid)


PICKED = ("pack_tote", "ship_packs", "return_packs", "report_stolen", "accept_return", "undo_dispense")


def build(conn, action: str, ops: list[dict], day_records=None) -> list[Call]:
    """The calls that carry out `ops` (all of one organisation and action), in order. `day_records(dispenser,
    day)`: a dispenser's DispenseRecord list of a day from the chain (needed for undo_dispense only)."""
    if action in ("receive", "refuse", "unpack"):
        fn = {"receive": "receiveShipment", "refuse": "refuseShipment", "unpack": "unpack"}[action]
        return [_units_call(fn, ops)]
    if action == "ship":
        by_recipient: dict[str, list[dict]] = defaultdict(list)
        for op in ops:
            by_recipient[op["payload"]["to"]].append(op)
        return [_units_call("ship", group, (to_checksum_address(to),)) for to, group in by_recipient.items()]
    if action in ("dispense", "destroy"):
        return _pack_calls(conn, action, ops)
    if action in PICKED:  # one call per operation: each is its own tote, consignment or report
        return [call for op in ops for call in _picked(conn, op, day_records)]
    return [_one(op) for op in ops]
