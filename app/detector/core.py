"""Counterfeit and diversion detection: rules over the verification log and the mirror, each
raising an alert with its evidence (app/services/alerts.py keeps one live alert per rule and
subject, counting repeats). The rules as data are app/detector/rules.py; the evidence queries
app/db/detector.py.

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

from app.db import Database, detector_cursor, verifications
from app.db import detector as evidence_db
from app.detector import rules
from app.detector.rules import (
    DISPENSE_RECHECK_SECONDS,
    FAILED,
    IMPOSSIBLE_TRAVEL,
    REPEATED_FAILURES,
    TEMPERATURE_EXCURSION,
    Thresholds,
)
from app.services import alerts

log = logging.getLogger(__name__)

__all__ = ["Detector", "Thresholds"]


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
        rows = verifications.claim_undetected(conn, self.batch)
        raised = 0
        manufacturers: dict[int, int | None] = {}
        failing: dict[int, dict] = {}
        for row in rows:
            parties = [row["organisation_id"]]
            if row["gtin"] is not None:
                if row["gtin"] not in manufacturers:
                    manufacturers[row["gtin"]] = evidence_db.manufacturer_organisation(conn, row["gtin"])
                parties.append(manufacturers[row["gtin"]])
            parties = [p for p in parties if p is not None]
            for rule, severity, summary in rules.rules_of(row["reasons"]):
                if rule == rules.CLONE and self._own_dispense_rechecked(conn, row):
                    continue
                # per requester: a party sees only what it presented (and the manufacturer all of it)
                subject = f"{rules.subject(row, rule)}@org:{row['organisation_id']}"
                self._raise(conn, rule, subject, summary, rules.evidence(row), parties, severity, row)
                raised += 1
            raised += self._travel(conn, row, parties)
            if row["verdict"] in FAILED and row["organisation_id"] is not None:
                failing[row["organisation_id"]] = row
        for organisation, last in failing.items():
            raised += self._failures(conn, organisation, last)
        verifications.mark_detected(conn, [r["id"] for r in rows])
        return raised

    @staticmethod
    def _own_dispense_rechecked(conn, row: dict) -> bool:
        """A verification (not a dispensing scan) of a pack by the organisation that dispensed it, soon after."""
        if row["channel"] == "scan" or "dispensed" not in row["reasons"] or row["sgtin_id"] is None:
            return False
        if row["organisation_id"] is None:
            return False
        return evidence_db.dispensed_by(conn, row["sgtin_id"], row["organisation_id"], row["at"],
                                        DISPENSE_RECHECK_SECONDS)  # fmt: skip

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
        other = evidence_db.seen_elsewhere(conn, row["sgtin_id"], row["id"], row["requester_gln"], row["at"],
                                           self.thresholds.travel_seconds)  # fmt: skip
        if other is None:
            return 0
        seconds = abs((row["at"] - other["at"]).total_seconds())
        evidence = {
            **rules.evidence(row),
            "seen_elsewhere": {"verification": other["id"], "at": other["at"].isoformat(), "channel": other["channel"],
                            "place_gln": f"{other['requester_gln']:013d}", "organisation": other["organisation_id"]},
            "seconds_apart": round(seconds, 3),
        }  # fmt: skip
        # each requester's own place and time is evidence the other must not see: the manufacturer
        # (and regulators) see this alert
        parties = parties[1:]
        places = sorted([f"{row['requester_gln']:013d}", f"{other['requester_gln']:013d}"])
        summary = f"the same serial was seen at two places {seconds:.0f} s apart"
        subject = f"{rules.subject(row)}@{places[0]}+{places[1]}"
        self._raise(conn, IMPOSSIBLE_TRAVEL, subject, summary, evidence, parties, "high", row)
        return 1

    def _failures(self, conn, organisation: int, last: dict) -> int:
        t = self.thresholds
        count = evidence_db.failures(conn, organisation, list(FAILED), last["at"], t.window_seconds)
        if count < t.failed_verifications:
            return 0
        evidence = {**rules.evidence(last), "failures": count, "window_seconds": t.window_seconds}
        alerts.raise_alert(
            conn, REPEATED_FAILURES, f"org:{organisation}",
            f"{count} failed verifications within {t.window_seconds:.0f} s from one requester",
            evidence, [organisation], "medium",
        )  # fmt: skip
        return 1

    # -- chain events -------------------------------------------------------------------------

    def _excursions(self, conn) -> int:
        after = detector_cursor.claim_cursor(conn)
        indexed = evidence_db.indexed_up_to(conn)
        if indexed is None or indexed <= after:
            return 0
        found = evidence_db.excursions(conn, after, indexed)
        for e in found:
            evidence = {
                "block_number": e.block_number, "tx_hash": rules.hex_id(e.tx_hash),
                "sensor_id": rules.hex_id(e.sensor_id), "time": e.time, "celsius": e.value / 100,
                "allowed": [e.min_temp / 100, e.max_temp / 100],
            }  # fmt: skip
            alerts.raise_alert(
                conn, TEMPERATURE_EXCURSION, f"unit:{rules.hex_id(e.unit_id)}",
                f"{e.value / 100:.2f} °C outside {e.min_temp / 100:.2f} to {e.max_temp / 100:.2f} °C",
                evidence, e.parties, "high", unit_id=e.unit_id,
            )  # fmt: skip
        detector_cursor.advance_cursor(conn, indexed)
        return len(found)
