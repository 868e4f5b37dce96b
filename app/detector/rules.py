"""The detection rules as data and pure functions: which reason of a verification raises which alert,
the thresholds of the rules across verifications, and how an alert names its subject and evidence.

Every rule name here is one of app/services/alerts.py RULES (the declaration the API lists and
filters by); tests/detector checks that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

IMPOSSIBLE_TRAVEL = "impossible_travel"
REPEATED_FAILURES = "repeated_failed_verifications"
TEMPERATURE_EXCURSION = "temperature_excursion"
CLONE = "clone"

_CLONE = (CLONE, "high", "a pack already dispensed or destroyed was presented again")
_MISPRINT = ("lot_or_expiry_mismatch", "high", "a serial was printed with another lot or expiry")
# reason of a verification or refused scan -> (rule, severity, summary)
REASONS = {
    "unknown_product": ("unknown_product", "medium", "a code of a product nobody registered was presented"),
    "unknown_serial": ("serial_not_in_lot", "high", "a serial that was never commissioned was presented"),
    "lot_mismatch": _MISPRINT,
    "expiry_mismatch": _MISPRINT,
    "expired": ("expired", "medium", "an expired pack was presented"),
    "recalled": ("recalled", "high", "a pack of a recalled lot was presented"),
    "quarantined": ("quarantined", "medium", "a quarantined pack was presented"),
    "dispensed": _CLONE,
    "destroyed": _CLONE,
    "already_dispensed": _CLONE,
    "already_destroyed": _CLONE,
    "not_received_by_requester": ("not_received", "medium", "a party verified a pack it never received"),
    "not_holder": ("not_received", "medium", "a party scanned a unit it never received"),
    "not_recipient": ("not_received", "medium", "a party scanned a unit shipped to someone else"),
    # issue 14: a stolen pack presented anywhere; packs returned to a party that never shipped them to the
    # returner (a return scan refused by the write path's pre-check, app/services/writes.py)
    "stolen": ("stolen", "high", "a pack reported stolen was presented"),
    "not_from_that_party": (
        "return_not_from_sender",
        "high",
        "packs were returned by a party that never received them from the return's recipient",
    ),
}
# every rule the detector raises
RAISED = frozenset({rule for rule, _, _ in REASONS.values()} | {IMPOSSIBLE_TRAVEL, REPEATED_FAILURES,
                                                                TEMPERATURE_EXCURSION})  # fmt: skip

FAILED = ("unknown", "counterfeit")  # verdicts that count as a failed verification
DISPENSE_RECHECK_SECONDS = 10 * 86400  # EU FMD (Delegated Regulation 2016/161, art. 13(2)): undo within 10 days


@dataclass(frozen=True)
class Thresholds:
    travel_seconds: float = 3600
    failed_verifications: int = 5
    window_seconds: float = 600

    @classmethod
    def from_settings(cls, settings) -> Thresholds:
        return cls(settings.detect_travel_seconds, settings.detect_failed_verifications,
                   settings.detect_window_seconds)  # fmt: skip


def rules_of(reasons) -> set[tuple[str, str, str]]:
    """(rule, severity, summary) of each rule a verification's reasons raise, once each."""
    return {REASONS[r] for r in reasons if r in REASONS}


def hex_id(value) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def evidence(row: dict) -> dict:
    """One verification as an alert's evidence."""
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


def subject(row: dict, rule: str = "") -> str:
    """What a verification's alert is about: the pack, else the unit, else the lot, else the code."""
    if rule == "unknown_product" and row["gtin"] is not None:
        return f"gtin:{row['gtin']:014d}"  # one alert per unknown GTIN, whatever serials come with it
    if row["sgtin_id"] is not None:
        return f"sgtin:{hex_id(row['sgtin_id'])}"
    if row["unit_id"] is not None:
        return f"unit:{hex_id(row['unit_id'])}"
    if row["gtin"] is not None and row["lot"] is not None:
        return f"lot:{row['gtin']:014d}/{row['lot']}"
    return f"gtin:{row['gtin']:014d}" if row["gtin"] is not None else f"code:{row['code']}"
