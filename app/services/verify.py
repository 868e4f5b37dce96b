"""Verification of a pack (or a lot, or a case/pallet) against the mirror, with a proof anyone can
check against the chain. No Flask here.

A pack verification is one prepared query in the common case: the serial's lot and leaf index,
the lot's on-chain record (root, recall, quarantine), the pack's own events (`pack_events`) and its
Merkle proof (`lot_proof()`, sliced out of the stored tree). A pack that was packed into a case
costs one more query: the custody path of its case and of the pallets that carried it.

Verdicts, most serious first (the verdict is the first that applies; `reasons` lists them all):
`unknown` (the product, or the lot on chain, is not known), `counterfeit` (a serial the lot never
had, or printed with another lot or expiry), `recalled`, `dispensed`, `suspect` (destroyed and yet
presented, or seen by a party it never reached, or kept out of its temperature range),
`quarantined`, `expired`, `verified`.

A pack picked out of its case into a tote or a consignment (or returned) is followed through them: its
holder and transit are its current container's, its path and excursions those of every unit that carried
it while it did (custody.follow). A pack reported stolen is `suspect` (reason `stolen`); a pack in a
return not yet accepted shows `return_pending` in its state and custody.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from app import gs1
from app.db import access as access_db
from app.db import mirror
from app.db import products as products_db
from app.db import verify as db
from app.db.mirror import Party
from app.ids import lgtin_id, sscc_id
from app.services import access, custody, serials
from app.services.parties import cached_parties

VERDICTS = ("unknown", "counterfeit", "recalled", "dispensed", "suspect", "quarantined", "expired", "verified")

# reason code -> (verdict it implies, what it means)
REASONS = {
    "unknown_product": ("unknown", "no product with this GTIN is registered on chain"),
    "lot_not_on_chain": ("unknown", "the lot is known here but its commissioning is not (yet) on chain"),
    "unknown_lot": ("unknown", "no lot with this number was commissioned for the GTIN"),
    "unknown_unit": ("unknown", "no case or pallet with this SSCC was packed on chain"),
    "serials_not_held": ("unknown", "the lot is on chain but its serial list is not held by this service"),
    "unknown_serial": ("counterfeit", "the serial was never commissioned for this GTIN"),
    "lot_mismatch": ("counterfeit", "the serial belongs to another lot than the one printed"),
    "expiry_mismatch": ("counterfeit", "the printed expiry is not the lot's expiry"),
    "recalled": ("recalled", "the lot was recalled"),
    "dispensed": ("dispensed", "the pack was already dispensed: a second one with its serial is a clone"),
    "destroyed": ("suspect", "the pack was destroyed: it should not exist"),
    "stolen": ("suspect", "the pack was reported stolen"),
    "not_received_by_requester": ("suspect", "the pack never reached the requesting organisation"),
    "temperature_excursion": ("suspect", "a unit that carried it was kept outside the product's range"),
    "quarantined": ("quarantined", "the pack, a unit holding it, or its lot is quarantined"),
    "expired": ("expired", "the lot's expiry date has passed"),
}

_RANK = {verdict: rank for rank, verdict in enumerate(VERDICTS)}  # most serious first
# each reason as the answer shows it: {"code", "verdict", "detail"}
_REASON_BODY = {
    code: {"code": code, "verdict": verdict, "detail": detail} for code, (verdict, detail) in REASONS.items()
}

clock = time.time  # what "now" is for expiry (tests move it)
NO_LOT = b"\x00" * 32  # no lot printed: matches no lot id
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1c\x7f]")  # kept out of the log: NUL and friends (GS, \x1d, stays)

# GS1 Lightweight Verification Messaging failure codes (data.verificationFailureReason)
LVM_NO_MATCH = "No_match_GTIN_Serial"


@dataclass(frozen=True)
class Requester:
    """Who asks, and from where (the GLN it asks from: its own, or the LVM `reqGLN`)."""

    organisation_id: int
    account: bytes
    gln: str
    roles: tuple[str, ...]
    place_gln: str | None = None


@dataclass
class Verdict:
    verdict: str
    reasons: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, reasons: list[str]) -> Verdict:
        if not reasons:
            return cls("verified", [])
        return cls(min((REASONS[r][0] for r in reasons), key=_RANK.__getitem__), list(dict.fromkeys(reasons)))

    def lvm_failure(self) -> str | None:
        """The LVM `verificationFailureReason`, or None when the product identifier matches."""
        lot, expiry = "lot_mismatch" in self.reasons, "expiry_mismatch" in self.reasons
        if {"unknown_product", "unknown_serial", "lot_not_on_chain"} & set(self.reasons):
            return LVM_NO_MATCH
        if lot and expiry:
            return "No_match_GTIN_Serial_Lot_Expiry"
        if lot:
            return "No_match_GTIN_Serial_Lot"
        if expiry:
            return "No_match_GTIN_Serial_Expiry"
        return None


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def _iso(value) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None


# -- custody (the one fold: app/services/custody.py) ----------------------------------------


@dataclass
class Held:
    """A unit's custody now (`now`, the one fold) and the rows it was folded from (to fold it again up to a
    partial viewer's cut). For a pack (`pack_rows` given): the custody of the container it is in, through
    every container that carried it (custody.follow)."""

    unit_id: bytes
    now: custody.Custody
    rows: list[dict]
    pack_rows: list[dict] | None = None

    def events(self) -> list[access.Event]:
        """Its custody events for the access policy: its own and its pallets' while it sat on them."""
        out = []
        for step in self.now.path:
            kind = "palletised" if step.event == "packed" and step.unit != self.unit_id else step.event
            if kind in access.CUSTODY_EVENTS:
                other = (
                    step.recipient if kind == "shipped" else step.sender if kind in ("received", "refused") else None
                )
                out.append(access.Event(kind, (step.block_number, step.log_index), step.actor, other))
        return out

    def seen(self, vis: access.Visibility) -> custody.Custody:
        """The custody as a partial viewer may see it: as it stood at its last event (its path cut there),
        or now while the object has not left its hands."""
        if vis.full or vis.current:
            return self.now
        upto = [r for r in self.rows if (r["block_number"], r["log_index"]) <= vis.position]
        if self.pack_rows is not None:
            mine = [r for r in self.pack_rows if (r["block_number"], r["log_index"]) <= vis.position]
            return custody.follow(mine, upto) or self.now
        return custody.fold(self.unit_id, upto) or self.now


def _custody_of(conn, unit_id: bytes) -> Held | None:
    """A case's or pallet's custody: its events and its pallets' (one query), folded; None if never packed."""
    rows = mirror.custody_events(conn, unit_id)
    now = custody.fold(unit_id, rows)
    return None if now is None else Held(unit_id, now, rows)


def _pack_custody_of(conn, pack_rows: list[dict]) -> Held | None:
    """A pack's custody through its containers (one query for all of them); None if it never left loose stock."""
    units = custody.containers(pack_rows)
    if not units:
        return None
    # a pack never picked out of its case (the common case) takes verification's one-unit prepared statement
    rows = mirror.custody_events(conn, units[0]) if len(units) == 1 else mirror.custody_events_of(conn, units)
    now = custody.follow(pack_rows, rows)
    return None if now is None else Held(now.unit_id, now, rows, pack_rows)


def _unix_iso(seconds: int) -> str | int:
    """A logger's time as ISO-8601 UTC; one no calendar can show (a logger may send anything up to
    2**40) stays a number rather than failing the answer."""
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return seconds


def _excursion_body(excursion: custody.Excursion) -> dict:
    return {
        "unit": _hex(excursion.unit),
        "time": _unix_iso(excursion.time),
        "celsius": excursion.value / 100,
        "allowed": [excursion.min_temp / 100, excursion.max_temp / 100],
        "block_number": excursion.block_number,
        "tx_hash": _hex(excursion.tx_hash),
    }


def _step_body(step: custody.Step, names: dict[bytes, Party]) -> dict:
    """A handoff reads from the shipper to the recipient, whoever acted (as in provenance timelines)."""
    body = {"event": step.event, "unit": _hex(step.unit), "from": _name(names, step.sender),
            "to": _name(names, step.recipient), "block_number": step.block_number, "tx_hash": _hex(step.tx_hash),
            "time": _iso(step.at)}  # fmt: skip
    if step.sscc is not None:
        body["sscc"] = f"{int(step.sscc):018d}"
    return body


def _name(names: dict[bytes, Party], account: bytes | None) -> dict | None:
    return None if account is None else names[account].as_dict()


# -- verification ---------------------------------------------------------------------------


@dataclass
class Result:
    """One verification: the verdict and the answer's body; `log` is the verification log row."""

    verdict: Verdict
    body: dict
    log: dict


def _expiry_date(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()


def verify_pack(conn, pack: gs1.Pack, requester: Requester) -> Result:
    sgtin = serials.sgtin_ids(pack.gtin, [pack.serial])[0]
    body: dict = {"kind": "pack", "gtin": pack.gtin, "serial": pack.serial, "lot": pack.lot,
                  "expiry": pack.expiry.isoformat() if pack.expiry else None, "sgtin_id": _hex(sgtin)}  # fmt: skip
    printed_lot = lgtin_id(pack.gtin, pack.lot) if pack.lot else NO_LOT
    row = db.pack(conn, sgtin, int(pack.gtin), printed_lot)
    reasons: list[str] = []
    if row.lot_id is None:
        if row.unlisted:
            reasons.append("serials_not_held")  # the lot is on chain; its serial list was never given to us
        else:
            reasons.append("unknown_serial" if row.product else "unknown_product")
        verdict = Verdict.of(reasons)
        return Result(verdict, {**body, **_verdict_body(verdict)}, _log_row(body, verdict, sgtin=sgtin))
    manufacturer = row.manufacturer and bytes(row.manufacturer)
    reasons += _lot_reasons(pack, row)
    state = custody.pack_state(row.pack_events)
    case_id, pack_quarantined, end = state.case_id, state.quarantined, state.end
    if end:
        reasons.append(end)
    if pack_quarantined:
        reasons.append("quarantined")
    held = _pack_custody_of(conn, row.pack_events) if state.container else None
    if held is not None:
        if held.now.held_quarantined:
            reasons.append("quarantined")
        if held.now.excursions:
            reasons.append("temperature_excursion")
    # who may see what (app/services/access.py), from the rows already here: no query of its own
    events = [access.Event(e["kind"], (e["block_number"], e["log_index"]), e["actor"] and bytes(e["actor"]))
              for e in row.pack_events if e["kind"] in access.CUSTODY_EVENTS]  # fmt: skip
    record = access.Record(
        frozenset({manufacturer} if manufacturer else ()), (*events, *(held.events() if held else ()))
    )
    vis = access.visibility(access.Viewer.of(requester), record)
    if manufacturer is not None and vis.verdict_only:
        reasons.append("not_received_by_requester")
    verdict = Verdict.of(reasons)
    body["lot_record"] = {
        "lot": row.lot, "expiry": row.expiry.isoformat(), "lot_id": _hex(row.lot_id),
        "manufacturer": _hex(manufacturer), "recalled": row.recalled, "quarantined": row.lot_quarantined,
    }  # fmt: skip
    body.update(_verdict_body(verdict))
    body["state"] = {"dispensed": end == "dispensed", "destroyed": end == "destroyed", "quarantined": pack_quarantined,
                     "stolen": state.stolen, "return_pending": bool(held and held.now.return_pending)}  # fmt: skip
    if manufacturer is not None:
        body["lot_record"]["manufacturer"] = cached_parties(conn, [manufacturer])[manufacturer].as_dict()
    if not vis.verdict_only:
        # who holds it and where it went, up to what the requester may see (app/services/access.py);
        # anyone else gets the verdict, its reasons and the proof
        body["custody"] = _custody_body(conn, held.seen(vis) if held else None, manufacturer, case_id)
        body["excursions"] = _excursions_shown(held, vis)
    body["proof"] = _proof_body(row, sgtin)
    return Result(verdict, body, _log_row(body, verdict, sgtin=sgtin))


def _lot_reasons(pack: gs1.Pack, row: db.PackRow) -> list[str]:
    """What is wrong with the pack's lot, or with the lot and expiry printed beside its serial."""
    checks = [
        ("lot_not_on_chain", not row.on_chain),
        ("lot_mismatch", pack.lot is not None and pack.lot != row.lot),
        ("expiry_mismatch", pack.expiry is not None and pack.expiry != row.expiry),
        ("recalled", row.recalled),
        ("quarantined", row.lot_quarantined),
        ("expired", row.chain_expiry is not None and int(row.chain_expiry) < clock()),
    ]
    return [reason for reason, applies in checks if applies]


def _verdict_body(verdict: Verdict) -> dict:
    return {
        "verdict": verdict.verdict,
        "reasons": [_REASON_BODY[r].copy() for r in verdict.reasons],
    }


def _excursions_shown(held: Held | None, vis: access.Visibility) -> list[dict]:
    if held is None:
        return []
    return [_excursion_body(x) for x in held.now.excursions if vis.shows((x.block_number, x.log_index))]


def _custody_body(conn, held: custody.Custody | None, manufacturer: bytes | None, case_id: bytes | None) -> dict:
    accounts = {manufacturer} if manufacturer else set()
    if held is not None:
        accounts |= {a for s in held.path for a in (s.sender, s.recipient) if a}
        accounts |= {a for a in (held.custodian, held.destination) if a}
    names = cached_parties(conn, accounts)
    if held is None:
        return {"case": None, "holder": _name(names, manufacturer), "in_transit": False, "path": []}
    return {
        "case": _hex(case_id),
        "container": _hex(held.unit_id),
        "container_kind": held.kind,
        "pallet": _hex(held.container),
        "holder": _name(names, held.custodian),
        "in_transit": held.in_transit,
        "recipient": _name(names, held.destination) if held.in_transit else None,
        "unpacked": held.unpacked,
        "return_pending": held.return_pending,
        "path": [_step_body(step, names) for step in held.path],
    }


def _proof_body(row: db.PackRow, sgtin: bytes) -> dict | None:
    """The pack's Merkle proof against the on-chain root of the commissioning batch that holds it (a lot
    commissioned in one go is its batch 0); None if the batch is not on chain or its tree is not stored. The
    proof is checked here too: a stored tree that disagrees with the chain is never handed out as evidence."""
    if row.batch_root is None or row.proof is None:
        return None
    index, proof = int(row.leaf_index), bytes(row.proof)
    siblings = [proof[i : i + 32] for i in range(0, len(proof), 32)]
    leaf = serials.lot_leaf(index, sgtin)
    if serials.implied_root(leaf, siblings) != bytes(row.batch_root):
        return None
    return {
        "lot_id": _hex(row.lot_id),
        "batch": int(row.batch),
        "batch_first_index": int(row.batch_first),
        "batch_count": int(row.batch_count),
        "leaf_index": index,
        "leaf": _hex(leaf),
        "proof": ["0x" + p.hex() for p in siblings],
        "root": _hex(row.batch_root),
        "block_number": row.batch_block,
        "tx_hash": _hex(row.batch_tx),
        "how_to_check": (
            "sgtin_id = keccak256(abi.encode('sgtin', uint64 gtin, string serial)); "
            "leaf = keccak256(bytes.concat(keccak256(abi.encode(uint256 leaf_index, bytes32 sgtin_id)))); "
            "OpenZeppelin MerkleProof.verify(proof, root, leaf) must be true, and root must equal "
            "PharmaTrack.batch(lot_id, batch).serialsRoot (for batch 0 also PharmaTrack.lot(lot_id).serialsRoot), "
            "set by the LotCommissioned or BatchCommissioned event in tx_hash at block_number"
        ),
    }


def verify_lot(conn, lot: gs1.Lot, requester: Requester) -> Result:
    lot_id = lgtin_id(lot.gtin, lot.lot)
    body: dict = {"kind": "lot", "gtin": lot.gtin, "lot": lot.lot,
                  "expiry": lot.expiry.isoformat() if lot.expiry else None, "lot_id": _hex(lot_id)}  # fmt: skip
    row = db.lot(conn, lot_id, int(lot.gtin))
    reasons: list[str] = []
    if row.lot_id is None:
        reasons.append("unknown_lot" if row.product else "unknown_product")
    else:
        if lot.expiry is not None and lot.expiry != _expiry_date(int(row.expiry)):
            reasons.append("expiry_mismatch")
        if row.recalled:
            reasons.append("recalled")
        if row.lot_quarantined:
            reasons.append("quarantined")
        if int(row.expiry) < clock():
            reasons.append("expired")
        body["lot_record"] = {
            "expiry": _expiry_date(int(row.expiry)).isoformat(), "serial_count": int(row.serial_count),
            "serials_root": _hex(row.serials_root), "manufacturer": _hex(row.manufacturer),
            "block_number": row.lot_block, "tx_hash": _hex(row.lot_tx),
        }  # fmt: skip
    verdict = Verdict.of(reasons)
    body.update(_verdict_body(verdict))
    return Result(verdict, body, _log_row(body, verdict))


def verify_unit(conn, unit: gs1.LogisticUnit, requester: Requester) -> Result:
    unit_id = sscc_id(unit.sscc)
    body: dict = {"kind": "logistic_unit", "sscc": unit.sscc, "unit_id": _hex(unit_id)}
    held = _custody_of(conn, unit_id)
    reasons: list[str] = []
    vis = access.VERDICT_ONLY
    if held is None:
        reasons.append("unknown_unit")
    else:
        if held.now.held_quarantined:
            reasons.append("quarantined")
        if held.now.excursions:
            reasons.append("temperature_excursion")
        # the manufacturers of its lots see it whole (app/services/access.py): asked only when the
        # requester is neither a regulator nor already known to see it all
        viewer, events = access.Viewer.of(requester), tuple(held.events())
        vis = access.visibility(viewer, access.Record(frozenset(), events))
        if not vis.full:
            vis = access.visibility(
                viewer, access.Record(frozenset(access_db.unit_manufacturers(conn, unit_id)), events)
            )
        if vis.verdict_only:
            reasons.append("not_received_by_requester")
    verdict = Verdict.of(reasons)
    body.update(_verdict_body(verdict))
    if held is not None and not vis.verdict_only:
        body["custody"] = _custody_body(conn, held.seen(vis), held.now.packer, unit_id)
        body["excursions"] = _excursions_shown(held, vis)
    return Result(verdict, body, _log_row(body, verdict, unit=unit_id))


def verify(conn, item: gs1.Identifier, requester: Requester) -> Result:
    if isinstance(item, gs1.Pack):
        return verify_pack(conn, item, requester)
    if isinstance(item, gs1.Lot):
        return verify_lot(conn, item, requester)
    if isinstance(item, gs1.LogisticUnit):
        return verify_unit(conn, item, requester)
    raise gs1.GS1Error("code", "kind", "a product alone cannot be verified: give a serial, a lot or an SSCC")


def _log_row(body: dict, verdict: Verdict, sgtin: bytes | None = None, unit: bytes | None = None) -> dict:
    return {
        "gtin": int(body["gtin"]) if body.get("gtin") else None,
        "serial": body.get("serial"),
        "lot": body.get("lot"),
        "expiry": body.get("expiry"),
        "sgtin_id": sgtin,
        "unit_id": unit,
        "verdict": verdict.verdict,
        "reasons": verdict.reasons,
    }


def log_row(result: Result, requester: Requester, channel: str, code: str, corr_uuid: str | None = None,
            context: str | None = None) -> dict:  # fmt: skip
    """The verification log row of one answer: who asked what, from where, and the verdict
    (written by app/services/verifylog.py)."""
    return {
        **result.log,
        "organisation_id": requester.organisation_id,
        "requester_gln": int(requester.place_gln or requester.gln),
        "channel": channel,
        "code": CONTROL.sub("\ufffd", code[:512]),  # as given, but Postgres text holds no NUL
        "corr_uuid": corr_uuid,
        "context": context,
    }


def product_details(conn, gtin: str) -> dict | None:
    """The name, strength and form printed on the product's packs (public master data, given with its
    registration), for a page to show beside the verdict; None if none were given."""
    return products_db.details(conn, int(gtin))
