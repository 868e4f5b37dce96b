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
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from app import gs1
from app.db import access as access_db
from app.db import fetch_all_prepared
from app.ids import lgtin_id, sscc_id
from app.services import access, serials

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
    "not_received_by_requester": ("suspect", "the pack never reached the requesting organisation"),
    "temperature_excursion": ("suspect", "a unit that carried it was kept outside the product's range"),
    "quarantined": ("quarantined", "the pack, a unit holding it, or its lot is quarantined"),
    "expired": ("expired", "the lot's expiry date has passed"),
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
        ranked = sorted({r: None for r in reasons}, key=lambda r: VERDICTS.index(REASONS[r][0]))
        return cls(REASONS[ranked[0]][0] if ranked else "verified", list(dict.fromkeys(reasons)))

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


# One round trip whatever the answer: the serial's lot, leaf, lot record, own events and proof;
# when the serial is unknown, whether its GTIN is (unknown product or counterfeit serial).
PACK = """
SELECT s.lot_id, s.leaf_index, c.lot, c.expiry, c.serial_count,
       l.serials_root, l.block_number AS lot_block, l.tx_hash AS lot_tx, l.manufacturer, l.expiry AS chain_expiry,
       EXISTS (SELECT 1 FROM ev_lot_recalled r WHERE r.lot_id = s.lot_id) AS recalled,
       COALESCE((SELECT max(q.block_number * 100000 + q.log_index) FROM ev_lot_quarantined q WHERE q.lot_id = s.lot_id), -1)
     > COALESCE((SELECT max(x.block_number * 100000 + x.log_index) FROM ev_lot_quarantine_cleared x
                 WHERE x.lot_id = s.lot_id), -1) AS lot_quarantined,
       (SELECT json_agg(json_build_array(p.kind, encode(p.container_id, 'hex'), p.block_number, encode(p.actor, 'hex'),
                                          p.log_index)
                        ORDER BY p.block_number, p.log_index)
        FROM pack_events p WHERE p.lot_id = s.lot_id AND p.leaf_index = s.leaf_index) AS pack_events,
       lot_proof(s.lot_id, c.serial_count, s.leaf_index) AS proof,
       CASE WHEN s.lot_id IS NULL THEN EXISTS (SELECT 1 FROM ev_product_registered p WHERE p.gtin = $2) END AS product,
       CASE WHEN s.lot_id IS NULL THEN EXISTS (SELECT 1 FROM ev_lot_commissioned u WHERE u.lot_id = $3)
                                   AND NOT EXISTS (SELECT 1 FROM lot_commissions v WHERE v.lot_id = $3) END AS unlisted
FROM (SELECT 1) one
LEFT JOIN lot_serials s ON s.sgtin_id = $1
LEFT JOIN lot_commissions c ON c.lot_id = s.lot_id
LEFT JOIN ev_lot_commissioned l ON l.lot_id = s.lot_id
"""

LOT = """
SELECT l.lot_id, l.gtin, l.lot_number, l.expiry, l.serial_count, l.serials_root, l.manufacturer,
       l.block_number AS lot_block, l.tx_hash AS lot_tx,
       EXISTS (SELECT 1 FROM ev_lot_recalled r WHERE r.lot_id = l.lot_id) AS recalled,
       COALESCE((SELECT max(q.block_number * 100000 + q.log_index) FROM ev_lot_quarantined q WHERE q.lot_id = l.lot_id), -1)
     > COALESCE((SELECT max(x.block_number * 100000 + x.log_index) FROM ev_lot_quarantine_cleared x
                 WHERE x.lot_id = l.lot_id), -1) AS lot_quarantined,
       EXISTS (SELECT 1 FROM ev_product_registered p WHERE p.gtin = $2) AS product
FROM (SELECT 1) one LEFT JOIN ev_lot_commissioned l ON l.lot_id = $1
"""

# The custody events of a unit and of every pallet it was put on, oldest first, with block times.
PATH = """
WITH pallets AS (SELECT pallet_id FROM ev_pallet_packed WHERE case_ids @> ARRAY[$1::bytea]),
units AS (SELECT $1::bytea AS u UNION SELECT pallet_id FROM pallets)
SELECT e.*, b.timestamp AS at FROM (
    SELECT case_id AS unit, 'packed' AS kind, block_number, log_index, tx_hash, packer AS actor, NULL::bytea AS other,
           sscc, NULL::integer AS value, NULL::integer AS min_temp, NULL::integer AS max_temp, NULL::bigint AS time
      FROM ev_case_packed WHERE case_id = $1
    UNION ALL SELECT case_id, 'packed', block_number, log_index, tx_hash, packer, NULL, sscc, NULL, NULL, NULL, NULL
      FROM ev_case_tree_packed WHERE case_id = $1
    UNION ALL SELECT pallet_id, 'packed', block_number, log_index, tx_hash, packer, NULL, sscc, NULL, NULL, NULL, NULL
      FROM ev_pallet_packed WHERE pallet_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'shipped', block_number, log_index, tx_hash, from_org, to_org, NULL, NULL, NULL, NULL, NULL
      FROM ev_shipped WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'received', block_number, log_index, tx_hash, by, from_org, NULL, NULL, NULL, NULL, NULL
      FROM ev_received WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'refused', block_number, log_index, tx_hash, by, sender, NULL, NULL, NULL, NULL, NULL
      FROM ev_refused WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'unpacked', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unpacked WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'quarantined', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unit_quarantined WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'cleared', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unit_quarantine_cleared WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'excursion', block_number, log_index, tx_hash, NULL, NULL, NULL, value, min_temp, max_temp, time
      FROM ev_excursion_detected WHERE unit_id IN (SELECT u FROM units)
) e LEFT JOIN blocks b ON b.number = e.block_number
ORDER BY e.block_number, e.log_index
"""

ORGS = """
SELECT r.account, r.gln, o.name FROM ev_organisation_registered r
LEFT JOIN organisations o ON o.account = r.account
WHERE r.account = ANY($1)
"""


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def _iso(value) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None


# -- parties --------------------------------------------------------------------------------

_PARTIES: dict[tuple[str, bytes], tuple[float, dict]] = {}
PARTY_TTL = 60.0  # names can be edited; a GLN never moves


def parties(conn, accounts: set[bytes]) -> dict[bytes, dict]:
    """account -> {gln, name, account} for every account (remembered a minute per process)."""
    now, out, missing = time.monotonic(), {}, []
    for account in accounts:
        hit = _PARTIES.get((conn.dsn, account))
        if hit and now - hit[0] < PARTY_TTL:
            out[account] = hit[1]
        else:
            missing.append(account)
    if missing:
        for row in fetch_all_prepared(conn, "verify_orgs", ORGS, (missing,)):
            account = bytes(row["account"])
            party = {"gln": f"{int(row['gln']):013d}", "name": row["name"], "account": _hex(account)}
            _PARTIES[(conn.dsn, account)] = (now, party)
            out[account] = party
    for account in missing:
        out.setdefault(account, {"gln": None, "name": None, "account": _hex(account)})
    return out


# -- custody --------------------------------------------------------------------------------


@dataclass
class Custody:
    """A unit's custody as the mirror knows it: who held it, where it is, what happened to it."""

    path: list[dict] = field(default_factory=list)  # handoffs, oldest first (accounts still bytes)
    holders: set[bytes] = field(default_factory=set)  # everyone who held it (packer, receivers, unpacker)
    holder: bytes | None = None
    recipient: bytes | None = None
    in_transit: bool = False
    unpacked: bool = False
    quarantined: bool = False
    container: bytes | None = None  # the pallet it is on now
    excursions: list[dict] = field(default_factory=list)
    # for the access policy (app/services/access.py): the custody events, each path step's and
    # excursion's chain position, and the custody as it stood after each path step
    events: list[access.Event] = field(default_factory=list)
    positions: list[tuple[int, int]] = field(default_factory=list)
    excursion_positions: list[tuple[int, int]] = field(default_factory=list)
    states: list[tuple] = field(default_factory=list)  # (holder, recipient, in_transit, unpacked, pallet)


def _unix_iso(seconds: int) -> str | int:
    """A logger's time as ISO-8601 UTC; one no calendar can show (a logger may send anything up to
    2**40) stays a number rather than failing the answer."""
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return seconds


def _excursion(unit: bytes, row: dict) -> dict:
    return {
        "unit": _hex(unit),
        "time": _unix_iso(row["time"]),
        "celsius": row["value"] / 100,
        "allowed": [row["min_temp"] / 100, row["max_temp"] / 100],
        "block_number": row["block_number"],
        "tx_hash": _hex(row["tx_hash"]),
    }


class _Fold:
    """Replays a unit's events, and its pallets' while it sat on them, as the contract applies them."""

    def __init__(self, unit_id: bytes):
        self.unit_id = unit_id
        self.state: Custody | None = None
        self.on_pallet: bytes | None = None
        self.pallet_quarantined = False

    def apply(self, row: dict) -> None:
        unit, kind = bytes(row["unit"]), row["kind"]
        actor, other = row["actor"] and bytes(row["actor"]), row["other"] and bytes(row["other"])
        own = unit == self.unit_id
        if kind == "packed" and own:
            self.state = Custody(holder=actor, holders={actor})
        elif self.state is None:
            return
        elif kind == "packed":
            self.on_pallet, self.pallet_quarantined = unit, False
        elif not own and unit != self.on_pallet:
            return  # a pallet's event from before or after the unit was on it
        position = (row["block_number"], row["log_index"])
        if kind == "excursion":
            self.state.excursions.append(_excursion(unit, row))
            self.state.excursion_positions.append(position)
            return
        self._custody(kind, own, actor, other)
        if kind in access.CUSTODY_EVENTS:
            event = "palletised" if kind == "packed" and not own else kind
            self.state.events.append(access.Event(event, position, actor, other))
        # a handoff step reads from the shipper to the recipient, whoever acted: `received` and `refused`
        # are done by the recipient (actor) of what the sender (other) shipped, as in provenance timelines
        sender, recipient = (other, actor) if kind in ("received", "refused") else (actor, other)
        step = {"event": kind, "unit": _hex(unit), "from": sender, "to": recipient,
                "block_number": row["block_number"], "tx_hash": _hex(row["tx_hash"]), "time": _iso(row["at"])}  # fmt: skip
        if row["sscc"] is not None:
            step["sscc"] = f"{int(row['sscc']):018d}"
        self.state.path.append(step)
        self.state.positions.append(position)
        s = self.state
        self.state.states.append((s.holder, s.recipient, s.in_transit, s.unpacked, self.on_pallet))

    def _custody(self, kind: str, own: bool, actor: bytes, other: bytes | None) -> None:
        state = self.state
        if kind == "shipped":
            state.holder, state.recipient, state.in_transit = actor, other, True
            if own:
                self.on_pallet = None  # a case shipped on its own has left its pallet
        elif kind in ("received", "unpacked"):
            state.holder, state.in_transit = actor, False
            state.holders.add(actor)
            if kind == "unpacked":
                state.unpacked = state.unpacked or own
                self.on_pallet = None
        elif kind == "refused":
            state.holder, state.in_transit = other, False
        elif kind in ("quarantined", "cleared") and own:
            state.quarantined = kind == "quarantined"
        elif kind in ("quarantined", "cleared"):
            self.pallet_quarantined = kind == "quarantined"

    def result(self) -> Custody | None:
        if self.state is not None:
            self.state.container = self.on_pallet
            self.state.quarantined = self.state.quarantined or (self.on_pallet is not None and self.pallet_quarantined)
        return self.state


def custody_of(conn, unit_id: bytes) -> Custody | None:
    """A case's or pallet's custody from the mirror; None if it was never packed."""
    fold = _Fold(unit_id)
    for row in fetch_all_prepared(conn, "verify_path", PATH, (unit_id,)):
        fold.apply(row)
    return fold.result()


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
    row = fetch_all_prepared(conn, "verify_pack", PACK, (sgtin, int(pack.gtin), printed_lot))[0]
    reasons: list[str] = []
    if row["lot_id"] is None:
        if row["unlisted"]:
            reasons.append("serials_not_held")  # the lot is on chain; its serial list was never given to us
        else:
            reasons.append("unknown_serial" if row["product"] else "unknown_product")
        verdict = Verdict.of(reasons)
        return Result(verdict, {**body, **_verdict_body(verdict)}, _log_row(body, verdict, sgtin=sgtin))
    manufacturer = row["manufacturer"] and bytes(row["manufacturer"])
    reasons += _lot_reasons(pack, row)
    case_id, pack_quarantined, end = _pack_state(row["pack_events"] or [])
    if end:
        reasons.append(end)
    if pack_quarantined:
        reasons.append("quarantined")
    custody = custody_of(conn, case_id) if case_id else None
    if custody is not None:
        if custody.quarantined:
            reasons.append("quarantined")
        if custody.excursions:
            reasons.append("temperature_excursion")
    # who may see what (app/services/access.py), from the rows already here: no query of its own
    events = [access.Event(kind, (block, log), bytes.fromhex(actor))
              for kind, _container, block, actor, log in row["pack_events"] or [] if kind in access.CUSTODY_EVENTS]  # fmt: skip
    record = access.Record(
        frozenset({manufacturer} if manufacturer else ()), (*events, *(custody.events if custody else ()))
    )
    vis = access.visibility(access.Viewer.of(requester), record)
    if manufacturer is not None and vis.verdict_only:
        reasons.append("not_received_by_requester")
    verdict = Verdict.of(reasons)
    body["lot_record"] = {
        "lot": row["lot"], "expiry": row["expiry"].isoformat(), "lot_id": _hex(row["lot_id"]),
        "manufacturer": _hex(manufacturer), "recalled": row["recalled"], "quarantined": row["lot_quarantined"],
    }  # fmt: skip
    body.update(_verdict_body(verdict))
    body["state"] = {"dispensed": end == "dispensed", "destroyed": end == "destroyed", "quarantined": pack_quarantined}
    if manufacturer is not None:
        body["lot_record"]["manufacturer"] = parties(conn, {manufacturer})[manufacturer]
    if not vis.verdict_only:
        # who holds it and where it went, up to what the requester may see (app/services/access.py);
        # anyone else gets the verdict, its reasons and the proof
        body["custody"] = _custody_body(conn, custody, manufacturer, case_id, vis)
        body["excursions"] = _excursions_shown(custody, vis)
    body["proof"] = _proof_body(row, sgtin)
    return Result(verdict, body, _log_row(body, verdict, sgtin=sgtin))


def _lot_reasons(pack: gs1.Pack, row: dict) -> list[str]:
    """What is wrong with the pack's lot, or with the lot and expiry printed beside its serial."""
    checks = [
        ("lot_not_on_chain", row["serials_root"] is None),
        ("lot_mismatch", pack.lot is not None and pack.lot != row["lot"]),
        ("expiry_mismatch", pack.expiry is not None and pack.expiry != row["expiry"]),
        ("recalled", row["recalled"]),
        ("quarantined", row["lot_quarantined"]),
        ("expired", row["chain_expiry"] is not None and int(row["chain_expiry"]) < clock()),
    ]
    return [reason for reason, applies in checks if applies]


def _pack_state(events: list) -> tuple[bytes | None, bool, str | None]:
    """(case it was packed into, quarantined on its own, 'dispensed'/'destroyed' or None)."""
    case_id, quarantined, end = None, False, None
    for kind, container, *_when_who in events:
        if kind == "cased":
            case_id = bytes.fromhex(container)
        elif kind in ("dispensed", "destroyed"):
            end = kind
        else:
            quarantined = kind == "quarantined"
    return case_id, quarantined, end


def _verdict_body(verdict: Verdict) -> dict:
    return {
        "verdict": verdict.verdict,
        "reasons": [{"code": r, "verdict": REASONS[r][0], "detail": REASONS[r][1]} for r in verdict.reasons],
    }


def _excursions_shown(custody: Custody | None, vis: access.Visibility) -> list[dict]:
    if custody is None:
        return []
    return [x for x, at in zip(custody.excursions, custody.excursion_positions, strict=True) if vis.shows(at)]


def _custody_body(conn, custody: Custody | None, manufacturer: bytes | None, case_id: bytes | None,
                  vis: access.Visibility = access.FULL) -> dict:  # fmt: skip
    path, pallet = (custody.path, custody.container) if custody is not None else ([], None)
    if custody is not None:
        holder, recipient, in_transit, unpacked = (
            custody.holder,
            custody.recipient,
            custody.in_transit,
            custody.unpacked,
        )
    if custody is not None and not vis.full and not vis.current:
        # cut after the viewer's last event: the path, and the custody as it stood then
        shown = sum(1 for at in custody.positions if vis.shows(at))
        path = custody.path[:shown]
        holder, recipient, in_transit, unpacked, pallet = custody.states[shown - 1] if shown else (None,) * 5
    accounts = {manufacturer} if manufacturer else set()
    if custody is not None:
        accounts |= {a for s in path for a in (s["from"], s["to"]) if a}
        accounts |= {a for a in (holder, recipient) if a}
    names = parties(conn, accounts)
    if custody is None:
        return {"case": None, "holder": names.get(manufacturer), "in_transit": False, "path": []}
    return {
        "case": _hex(case_id),
        "pallet": _hex(pallet),
        "holder": names.get(holder),
        "in_transit": in_transit,
        "recipient": names.get(recipient) if in_transit else None,
        "unpacked": unpacked,
        "path": [{**s, "from": names.get(s["from"]), "to": names.get(s["to"])} for s in path],
    }


def _proof_body(row: dict, sgtin: bytes) -> dict | None:
    """The pack's Merkle proof against the lot's on-chain root; None if the lot is not on chain or
    its tree is not stored. The proof is checked here too: a stored tree that disagrees with the
    chain is never handed out as evidence."""
    if row["serials_root"] is None or row["proof"] is None:
        return None
    index, siblings = int(row["leaf_index"]), [bytes(p) for p in row["proof"]]
    leaf = serials.lot_leaf(index, sgtin)
    if serials.implied_root(leaf, siblings) != bytes(row["serials_root"]):
        return None
    return {
        "lot_id": _hex(row["lot_id"]),
        "leaf_index": index,
        "leaf": _hex(leaf),
        "proof": [_hex(p) for p in siblings],
        "root": _hex(row["serials_root"]),
        "block_number": row["lot_block"],
        "tx_hash": _hex(row["lot_tx"]),
        "how_to_check": (
            "sgtin_id = keccak256(abi.encode('sgtin', uint64 gtin, string serial)); "
            "leaf = keccak256(bytes.concat(keccak256(abi.encode(uint256 leaf_index, bytes32 sgtin_id)))); "
            "OpenZeppelin MerkleProof.verify(proof, root, leaf) must be true, and root must equal "
            "PharmaTrack.lot(lot_id).serialsRoot (set by the LotCommissioned event in tx_hash at block_number)"
        ),
    }


def verify_lot(conn, lot: gs1.Lot, requester: Requester) -> Result:
    lot_id = lgtin_id(lot.gtin, lot.lot)
    body: dict = {"kind": "lot", "gtin": lot.gtin, "lot": lot.lot,
                  "expiry": lot.expiry.isoformat() if lot.expiry else None, "lot_id": _hex(lot_id)}  # fmt: skip
    row = fetch_all_prepared(conn, "verify_lot", LOT, (lot_id, int(lot.gtin)))[0]
    reasons: list[str] = []
    if row["lot_id"] is None:
        reasons.append("unknown_lot" if row["product"] else "unknown_product")
    else:
        if lot.expiry is not None and lot.expiry != _expiry_date(int(row["expiry"])):
            reasons.append("expiry_mismatch")
        if row["recalled"]:
            reasons.append("recalled")
        if row["lot_quarantined"]:
            reasons.append("quarantined")
        if int(row["expiry"]) < clock():
            reasons.append("expired")
        body["lot_record"] = {
            "expiry": _expiry_date(int(row["expiry"])).isoformat(), "serial_count": int(row["serial_count"]),
            "serials_root": _hex(row["serials_root"]), "manufacturer": _hex(row["manufacturer"]),
            "block_number": row["lot_block"], "tx_hash": _hex(row["lot_tx"]),
        }  # fmt: skip
    verdict = Verdict.of(reasons)
    body.update(_verdict_body(verdict))
    return Result(verdict, body, _log_row(body, verdict))


def verify_unit(conn, unit: gs1.LogisticUnit, requester: Requester) -> Result:
    unit_id = sscc_id(unit.sscc)
    body: dict = {"kind": "logistic_unit", "sscc": unit.sscc, "unit_id": _hex(unit_id)}
    custody = custody_of(conn, unit_id)
    reasons: list[str] = []
    if custody is None:
        reasons.append("unknown_unit")
    else:
        if custody.quarantined:
            reasons.append("quarantined")
        if custody.excursions:
            reasons.append("temperature_excursion")
        # the manufacturers of its lots see it whole (app/services/access.py): asked only when the
        # requester is neither a regulator nor already known to see it all
        viewer = access.Viewer.of(requester)
        vis = access.visibility(viewer, access.Record(frozenset(), tuple(custody.events)))
        if not vis.full:
            record = access.Record(frozenset(access_db.unit_manufacturers(conn, unit_id)), tuple(custody.events))
            vis = access.visibility(viewer, record)
        if vis.verdict_only:
            reasons.append("not_received_by_requester")
    verdict = Verdict.of(reasons)
    body.update(_verdict_body(verdict))
    if custody is not None and not vis.verdict_only:
        packer = custody.path[0]["from"] if custody.path else None
        body["custody"] = _custody_body(conn, custody, packer, unit_id, vis)
        body["excursions"] = _excursions_shown(custody, vis)
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
