"""Alerts from the detection rules: raising (an upsert), listing, and the review workflow (no Flask here).

One live (open or acknowledged) alert per ``(rule, subject)``: the detector calls :func:`raise_alert`
every time a rule fires, and a repeat adds to the live alert instead of opening another. Once closed,
the next firing opens a new alert.

Review: ``open → acknowledged → closed`` or ``open → closed``; anything else is refused. Who sees an
alert is the access policy's decision (app/services/access.py ``may_see_alert``): regulators every
alert; another organisation those naming it in ``parties`` and those about an object it manufactured.
Who sees an alert may acknowledge it. An alert a caller may not see is reported as not existing, so
alert ids reveal nothing about other parties.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from app.db import access as access_db
from app.db import alerts as alerts_db
from app.db import organisations as organisations_db
from app.errors import NotFound, PharmatrackError
from app.services import access

STATUSES = ("open", "acknowledged", "closed")
SEVERITIES = ("low", "medium", "high")
# The detection rules: an alert is raised, and `GET /v1/alerts?rule=` filters, only for these. The
# detector (app/detector/rules.py) raises exactly these; tests/detector checks that the two agree.
RULES = (
    "clone",
    "expired",
    "impossible_travel",
    "lot_or_expiry_mismatch",
    "not_received",
    "quarantined",
    "recalled",
    "repeated_failed_verifications",
    "return_not_from_sender",
    "serial_not_in_lot",
    "stolen",
    "temperature_excursion",
    "unknown_product",
)


TRANSITIONS = {("open", "acknowledged"), ("open", "closed"), ("acknowledged", "closed")}
TRANSITION_RULE = "alert_transition"
MAX_EVIDENCE = 20
MAX_ID = 2**63 - 1


class TransitionRefused(PharmatrackError):
    """The alert's status does not allow the requested transition."""

    def __init__(self, alert_id: int, rule: str, status: str, target: str):
        self.alert_id, self.rule, self.status, self.target = alert_id, rule, status, target
        self.message = (
            f"alert {alert_id} (rule {rule}) is {status} and cannot become {target}: only "
            "open → acknowledged, open → closed and acknowledged → closed are allowed"
        )
        super().__init__(self.message)


class ClosureRefused(PharmatrackError):
    """Only a regulator, or a manufacturer the alert names, may close it: the other parties (a
    requester, a holder) may be what the alert is about."""

    def __init__(self, alert_id: int):
        self.alert_id = alert_id
        self.message = f"alert {alert_id} can be closed by a regulator or the product's manufacturer; acknowledge it"
        super().__init__(self.message)


def _json_default(value):
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"evidence value of type {type(value).__name__} is not JSON")


def raise_alert(
    conn,
    rule: str,
    subject: str,
    summary: str,
    evidence: dict,
    parties: list[int],
    severity: str = "high",
    gtin: str | int | None = None,
    lot_id: bytes | None = None,
    sgtin_id: bytes | None = None,
    unit_id: bytes | None = None,
) -> dict:
    """Open an alert for (rule, subject), or add this occurrence to the live one.

    `evidence` is one occurrence's facts (JSON; bytes become 0x-hex, times ISO-8601); `parties` the
    organisation ids that may see the alert besides regulators (None entries are ignored). Returns ``{id, occurrences, created}``.
    Runs in the caller's transaction; concurrent callers for the same (rule, subject) are serialised
    by the unique index, so they never open two live alerts.
    """
    if not rule or not subject or not summary:
        raise ValueError("rule, subject and summary must be non-empty")
    if rule not in RULES:
        raise ValueError(f"rule {rule!r} is not a detection rule (RULES)")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    if not isinstance(evidence, dict):
        raise TypeError(f"evidence must be a dict, not {type(evidence).__name__}")
    parties = [p for p in parties if p is not None]  # an unknown requester or holder names nobody
    if any(type(p) is not int for p in parties):
        raise TypeError("parties must be organisation ids (int)")
    alert_id, occurrences = alerts_db.upsert(
        conn,
        rule=rule,
        subject=subject,
        severity=severity,
        summary=summary,
        evidence_json=json.dumps(evidence, default=_json_default),
        parties=list(parties),
        gtin=int(gtin) if gtin is not None else None,
        lot_id=bytes(lot_id) if lot_id is not None else None,
        sgtin_id=bytes(sgtin_id) if sgtin_id is not None else None,
        unit_id=bytes(unit_id) if unit_id is not None else None,
        severities=list(SEVERITIES),
        keep=MAX_EVIDENCE,
    )
    return {"id": alert_id, "occurrences": occurrences, "created": occurrences == 1}


# --------------------------------------------------------------------------- reading


def list_alerts(
    conn,
    organisation_id: int | None,
    *,
    status: str | None = None,
    rule: str | None = None,
    before: int | None = None,
    limit: int = 50,
    account: bytes | None = None,
) -> tuple[list[dict], int | None]:
    """Alerts, newest first; organisation_id None (a regulator) sees all, else those naming it and
    those about what `account` manufactured (access.alert_scope gives both).
    Returns the page and the id to continue before (None on the last page)."""
    rows = alerts_db.list_alerts(
        conn,
        before=before if before is not None else MAX_ID,
        status=status,
        rule=rule,
        organisation_id=organisation_id,
        limit=limit + 1,
        account=account,
    )
    page = rows[:limit]
    return page, page[-1]["id"] if len(rows) > limit else None


def _visible(conn, row: dict, organisation_id: int | None, account: bytes | None = None) -> bool:
    """The access policy's answer for this alert (organisation_id None: a regulator)."""
    viewer = access.Viewer(account, organisation_id, organisation_id is None)
    if access.may_see_alert(viewer, row["parties"], ()):
        return True  # a regulator or a named party: no need to ask who made the object
    return account is not None and access.may_see_alert(
        viewer, row["parties"], access_db.alert_manufacturers(conn, row)
    )


def get_alert(conn, alert_id: int, organisation_id: int | None, account: bytes | None = None) -> dict:
    """One alert; NotFound when it does not exist or the organisation may not see it."""
    row = alerts_db.get(conn, alert_id) if 0 < alert_id <= MAX_ID else None
    if row is None or not _visible(conn, row, organisation_id, account):
        raise NotFound(f"alert {alert_id}")
    return row


def _transition(conn, alert_id: int, target: str, organisation_id: int, regulator: bool,
                account: bytes | None = None) -> dict:  # fmt: skip
    row = alerts_db.lock(conn, alert_id) if 0 < alert_id <= MAX_ID else None
    if row is None or not _visible(conn, row, None if regulator else organisation_id, account):
        raise NotFound(f"alert {alert_id}")
    if (row["status"], target) not in TRANSITIONS:
        raise TransitionRefused(alert_id, row["rule"], row["status"], target)
    return row


def acknowledge(conn, alert_id: int, organisation_id: int, regulator: bool, note: str | None = None,
                account: bytes | None = None) -> dict:  # fmt: skip
    """open → acknowledged, by `organisation_id` (a regulator, or whoever may see the alert: a party of
    it, the manufacturer of what it is about). The note, if any, is kept with the evidence."""
    _transition(conn, alert_id, "acknowledged", organisation_id, regulator, account)
    alerts_db.mark_acknowledged(conn, alert_id, organisation_id, note)
    return get_alert(conn, alert_id, None)


def close(conn, alert_id: int, organisation_id: int, regulator: bool, resolution: str,
          account: bytes | None = None) -> dict:  # fmt: skip
    """open or acknowledged → closed, with the resolution: by a regulator, or a manufacturer that may
    see the alert (see ClosureRefused)."""
    if not resolution or not resolution.strip():
        raise ValueError("a resolution is required to close an alert")
    _transition(conn, alert_id, "closed", organisation_id, regulator, account)
    if not regulator and not organisations_db.has_role(conn, organisation_id, "manufacturer"):
        raise ClosureRefused(alert_id)
    alerts_db.mark_closed(conn, alert_id, organisation_id, resolution.strip())
    return get_alert(conn, alert_id, None)


def organisations(conn, ids) -> dict[int, dict]:
    """organisation id -> {id, name, gln}."""
    return organisations_db.names(conn, ids)
