"""Counterfeit and diversion detection: rules over the verification log and the mirror, each
raising an alert with its evidence (app/services/alerts.py keeps one live alert per rule and
subject, counting repeats).

The rules:
- from each verification or refused scan (its reasons): unknown product, serial not in its lot,
  lot or expiry mismatch, expired, recalled, quarantined, already dispensed or destroyed (a clone),
  verified or scanned by a party that never received it. A pharmacy verifying a pack it dispensed
  itself, within DISPENSE_RECHECK_SECONDS of the dispense, is no clone: it is checking its own sale
  (or a patient's return it may still take back: the EU FMD lets the dispensing premises undo a
  dispense within ten days). The verdict stays `dispensed`; only the alert is not raised. Later, or
  by anyone else, or a second dispensing scan of it, it is a clone;
- across verifications: the same serial seen at two places (GLNs) within DETECT_TRAVEL_SECONDS,
  and one requester failing DETECT_FAILED_VERIFICATIONS times within DETECT_WINDOW_SECONDS;
- from the chain: every temperature excursion (ExcursionDetected), on the unit that carried it.

The detector runs beside the indexer (`pharmatrack detect`, started by `up`): verification rows
are marked `detected` when seen (their ids can commit out of order), chain events are read up to
the indexer's cursor (blocks cannot).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from app.db import Database, fetch_all, fetch_one
from app.services import alerts

log = logging.getLogger(__name__)

# reason of a verification or refused scan -> (rule, severity, summary)
RULES = {
    "unknown_product": ("unknown_product", "medium", "a code of a product nobody registered was presented"),
    "unknown_serial": ("serial_not_in_lot", "high", "a serial that was never commissioned was presented"),
    "lot_mismatch": ("lot_or_expiry_mismatch", "high", "a serial was printed with another lot or expiry"),
    "expiry_mismatch": ("lot_or_expiry_mismatch", "high", "a serial was printed with another lot or expiry"),
    "expired": ("expired", "medium", "an expired pack was presented"),
    "recalled": ("recalled", "high", "a pack of a recalled lot was presented"),
    "quarantined": ("quarantined", "medium", "a quarantined pack was presented"),
    "dispensed": ("clone", "high", "a pack already dispensed or destroyed was presented again"),
    "destroyed": ("clone", "high", "a pack already dispensed or destroyed was presented again"),
    "already_dispensed": ("clone", "high", "a pack already dispensed or destroyed was presented again"),
    "already_destroyed": ("clone", "high", "a pack already dispensed or destroyed was presented again"),
    "not_received_by_requester": ("not_received", "medium", "a party verified a pack it never received"),
    "not_holder": ("not_received", "medium", "a party scanned a unit it never received"),
    "not_recipient": ("not_received", "medium", "a party scanned a unit shipped to someone else"),
}
alerts.register_rule(
    *{rule for rule, _, _ in RULES.values()},
    "impossible_travel",
    "repeated_failed_verifications",
    "temperature_excursion",
)
FAILED = ("unknown", "counterfeit")  # verdicts that count as a failed verification
DISPENSE_RECHECK_SECONDS = 10 * 86400  # EU FMD (Delegated Regulation 2016/161, art. 13(2)): undo within 10 days

UNSEEN = """
SELECT id, at, organisation_id, requester_gln, channel, code, gtin, serial, lot, sgtin_id, unit_id, verdict, reasons
FROM verifications WHERE NOT detected ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""
MARK = "UPDATE verifications SET detected = true WHERE id = ANY(%s)"
MANUFACTURER_ORG = """
SELECT o.id FROM ev_product_registered p JOIN organisations o ON o.account = p.manufacturer WHERE p.gtin = %s LIMIT 1
"""
SEEN_ELSEWHERE = """
SELECT id, at, requester_gln, organisation_id, channel FROM verifications
WHERE sgtin_id = %(sgtin)s AND id <> %(id)s AND requester_gln <> %(gln)s
  AND at BETWEEN %(at)s - make_interval(secs => %(window)s) AND %(at)s + make_interval(secs => %(window)s)
ORDER BY abs(extract(epoch FROM at - %(at)s)) LIMIT 1
"""
FAILURES = """
SELECT count(*) AS n FROM verifications
WHERE organisation_id = %s AND verdict = ANY(%s) AND at > %s - make_interval(secs => %s) AND at <= %s
"""
CURSOR = """
INSERT INTO detector_cursor (name) VALUES ('main') ON CONFLICT (name) DO NOTHING;
SELECT block_number FROM detector_cursor WHERE name = 'main' FOR UPDATE
"""
INDEXED_UP_TO = "SELECT block_number FROM indexer_cursor WHERE name = 'main'"
EXCURSIONS = """
SELECT e.block_number, e.log_index, e.tx_hash, e.unit_id, e.sensor_id, e.time, e.value, e.min_temp, e.max_temp,
       ARRAY(SELECT DISTINCT o.id FROM organisations o WHERE o.account IN (
           SELECT t.by FROM ev_temperature_recorded t WHERE t.unit_id = e.unit_id AND t.block_number = e.block_number
           UNION SELECT c.packer FROM ev_case_packed c WHERE c.case_id = e.unit_id
           UNION SELECT c.packer FROM ev_case_tree_packed c WHERE c.case_id = e.unit_id
           UNION SELECT p.packer FROM ev_pallet_packed p WHERE p.pallet_id = e.unit_id)) AS parties
FROM ev_excursion_detected e WHERE e.block_number > %s AND e.block_number <= %s
ORDER BY e.block_number, e.log_index
"""
MOVE = "UPDATE detector_cursor SET block_number = %s WHERE name = 'main'"
# Whether the requester itself dispensed this pack, less than `window` seconds before asking.
DISPENSED_BY_REQUESTER = """
SELECT 1 FROM lot_serials s
JOIN pack_events p ON p.lot_id = s.lot_id AND p.leaf_index = s.leaf_index AND p.kind = 'dispensed'
JOIN organisations o ON o.account = p.actor AND o.id = %(org)s
JOIN blocks b ON b.number = p.block_number
WHERE s.sgtin_id = %(sgtin)s AND %(at)s < b.timestamp + make_interval(secs => %(window)s)
LIMIT 1
"""


@dataclass(frozen=True)
class Thresholds:
    travel_seconds: float = 3600
    failed_verifications: int = 5
    window_seconds: float = 600

    @classmethod
    def from_settings(cls, settings) -> Thresholds:
        return cls(settings.detect_travel_seconds, settings.detect_failed_verifications,
                   settings.detect_window_seconds)  # fmt: skip


def _hex(value) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def _evidence(row: dict) -> dict:
    return {
        "verification": row["id"],
        "at": row["at"].isoformat(),
        "channel": row["channel"],
        "organisation": row["organisation_id"],
        "place_gln": f"{row['requester_gln']:013d}" if row["requester_gln"] is not None else None,
        "code": row["code"],
        "verdict": row["verdict"],
        "reasons": row["reasons"],
    }


def _subject(row: dict, rule: str = "") -> str:
    if rule == "unknown_product" and row["gtin"] is not None:
        return f"gtin:{row['gtin']:014d}"  # one alert per unknown GTIN, whatever serials come with it
    if row["sgtin_id"] is not None:
        return f"sgtin:{_hex(row['sgtin_id'])}"
    if row["unit_id"] is not None:
        return f"unit:{_hex(row['unit_id'])}"
    if row["gtin"] is not None and row["lot"] is not None:
        return f"lot:{row['gtin']:014d}/{row['lot']}"
    return f"gtin:{row['gtin']:014d}" if row["gtin"] is not None else f"code:{row['code']}"


class Detector:
    def __init__(self, db: Database, thresholds: Thresholds | None = None, batch: int = 500):
        self.db = db
        self.thresholds = thresholds or Thresholds()
        self.batch = batch

    def run_once(self) -> int:
        """Apply every rule to what is new; returns the alerts raised or repeated."""
        with self.db.connection() as conn:
            raised = self._verifications(conn)
            raised += self._excursions(conn)
        return raised

    def run_forever(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # a rule's failure must not stop the others next round; it is logged
                log.exception("detector round failed")
                busy = 0
            if not busy:
                stop.wait(poll_seconds)

    # -- per verification -------------------------------------------------------------------

    def _verifications(self, conn) -> int:
        rows = fetch_all(conn, UNSEEN, (self.batch,))
        raised = 0
        manufacturers: dict[int, int | None] = {}
        failing: dict[int, dict] = {}
        for row in rows:
            parties = [row["organisation_id"]]
            if row["gtin"] is not None:
                if row["gtin"] not in manufacturers:
                    found = fetch_one(conn, MANUFACTURER_ORG, (row["gtin"],))
                    manufacturers[row["gtin"]] = found["id"] if found else None
                parties.append(manufacturers[row["gtin"]])
            parties = [p for p in parties if p is not None]
            for rule, severity, summary in {RULES[r] for r in row["reasons"] if r in RULES}:
                if rule == "clone" and self._own_dispense_rechecked(conn, row):
                    continue
                # per requester: a party sees only what it presented (and the manufacturer all of it)
                subject = f"{_subject(row, rule)}@org:{row['organisation_id']}"
                self._raise(conn, rule, subject, summary, _evidence(row), parties, severity, row)
                raised += 1
            raised += self._travel(conn, row, parties)
            if row["verdict"] in FAILED and row["organisation_id"] is not None:
                failing[row["organisation_id"]] = row
        for organisation, last in failing.items():
            raised += self._failures(conn, organisation, last)
        if rows:
            with conn.cursor() as cur:
                cur.execute(MARK, ([r["id"] for r in rows],))
        return raised

    @staticmethod
    def _own_dispense_rechecked(conn, row: dict) -> bool:
        """A verification (not a dispensing scan) of a pack by the organisation that dispensed it, soon after."""
        if row["channel"] == "scan" or "dispensed" not in row["reasons"] or row["sgtin_id"] is None:
            return False
        if row["organisation_id"] is None:
            return False
        args = {"sgtin": row["sgtin_id"], "org": row["organisation_id"], "at": row["at"],
                "window": DISPENSE_RECHECK_SECONDS}  # fmt: skip
        return fetch_one(conn, DISPENSED_BY_REQUESTER, args) is not None

    @staticmethod
    def _raise(conn, rule, subject, summary, evidence, parties, severity, row) -> None:
        alerts.raise_alert(
            conn, rule, subject, summary, evidence, parties, severity,
            gtin=row["gtin"], sgtin_id=row["sgtin_id"] and bytes(row["sgtin_id"]),
            unit_id=row["unit_id"] and bytes(row["unit_id"]),
        )  # fmt: skip

    def _travel(self, conn, row: dict, parties: list[int]) -> int:
        """The same pack seen at two places too close in time to have travelled between them."""
        if row["sgtin_id"] is None or row["requester_gln"] is None:
            return 0
        other = fetch_one(conn, SEEN_ELSEWHERE, {"sgtin": row["sgtin_id"], "id": row["id"], "gln": row["requester_gln"],
                                                 "at": row["at"], "window": self.thresholds.travel_seconds})  # fmt: skip
        if other is None:
            return 0
        seconds = abs((row["at"] - other["at"]).total_seconds())
        evidence = {
            **_evidence(row),
            "seen_elsewhere": {"verification": other["id"], "at": other["at"].isoformat(), "channel": other["channel"],
                            "place_gln": f"{other['requester_gln']:013d}", "organisation": other["organisation_id"]},
            "seconds_apart": round(seconds, 3),
        }  # fmt: skip
        # each requester's own place and time is evidence the other must not see: the manufacturer
        # (and regulators) see this alert
        parties = parties[1:]
        places = sorted([f"{row['requester_gln']:013d}", f"{other['requester_gln']:013d}"])
        summary = f"the same serial was seen at two places {seconds:.0f} s apart"
        subject = f"{_subject(row)}@{places[0]}+{places[1]}"
        self._raise(conn, "impossible_travel", subject, summary, evidence, parties, "high", row)
        return 1

    def _failures(self, conn, organisation: int, last: dict) -> int:
        t = self.thresholds
        count = fetch_one(conn, FAILURES, (organisation, list(FAILED), last["at"], t.window_seconds, last["at"]))["n"]
        if count < t.failed_verifications:
            return 0
        evidence = {**_evidence(last), "failures": count, "window_seconds": t.window_seconds}
        alerts.raise_alert(
            conn, "repeated_failed_verifications", f"org:{organisation}",
            f"{count} failed verifications within {t.window_seconds:.0f} s from one requester",
            evidence, [organisation], "medium",
        )  # fmt: skip
        return 1

    # -- chain events -------------------------------------------------------------------------

    def _excursions(self, conn) -> int:
        with conn.cursor() as cur:
            cur.execute(CURSOR)
            after = cur.fetchone()[0]
        indexed = fetch_one(conn, INDEXED_UP_TO)
        if indexed is None or indexed["block_number"] <= after:
            return 0
        rows = fetch_all(conn, EXCURSIONS, (after, indexed["block_number"]))
        for row in rows:
            evidence = {
                "block_number": row["block_number"], "tx_hash": _hex(row["tx_hash"]),
                "sensor_id": _hex(row["sensor_id"]), "time": row["time"], "celsius": row["value"] / 100,
                "allowed": [row["min_temp"] / 100, row["max_temp"] / 100],
            }  # fmt: skip
            alerts.raise_alert(
                conn, "temperature_excursion", f"unit:{_hex(row['unit_id'])}",
                f"{row['value'] / 100:.2f} °C outside {row['min_temp'] / 100:.2f} to {row['max_temp'] / 100:.2f} °C",
                evidence, list(row["parties"]), "high", unit_id=bytes(row["unit_id"]),
            )  # fmt: skip
        with conn.cursor() as cur:
            cur.execute(MOVE, (indexed["block_number"],))
        return len(rows)
