"""EPCIS 2.0 named queries (`/epcis/queries`) and webhook subscriptions, and their delivery. No Flask here.

A named query is a SimpleEventQuery (the parameters of GET /epcis/events, given as the EPCIS 2.0 OpenAPI's
QueryDefinition: `{"name": …, "query": {"EQ_bizStep": ["shipping"], …}}`) owned by the organisation that created
it: another organisation gets a 404 for it, as for anything it may not know exists. Running it answers the caller
exactly as GET /epcis/events would (app/services/epcis/query.py: the one access policy).

A subscription (`dest`, `signatureToken`, `stream: true` or a `schedule`, `reportIfEmpty`, `initialRecordTime`)
is served by the delivery process (app/webhooks, `pharmatrack deliver`, started by `up`):
- scan: a stream subscription on every round, a scheduled one when its run is due, runs its query for its
  organisation (every page) and queues the events recorded in blocks after the last scan (and, when given, at or
  after initialRecordTime; else from the subscription's creation on) in the outbox epcis_deliveries, one row per
  (subscription, eventID): a row is never queued twice. A scheduled run that finds nothing queues an empty report
  when reportIfEmpty.
- deliver: each due row is POSTed to `dest` as an EPCISQueryDocument of that one event (JSON-LD), with header
  `GS1-Signature: sha256=<hex HMAC-SHA256 of the body keyed with signatureToken>` (the standard leaves the
  signature implementation specific and names HMAC-SHA256 as an example). Before sending, the event is read again
  through the access policy for the subscriber's organisation as it is now: an event it may no longer see (or an
  organisation suspended) is withheld, never sent. A 2xx marks the row delivered in the same transaction that
  claimed it; anything else (an error status, no answer) schedules the next attempt with exponential backoff
  (base * 2^attempts, capped), durable across restarts.
At least once: a row whose 2xx arrives but whose transaction does not commit (the process killed in between) is
sent again. A restart never sends a row marked delivered: from the subscriber's view, exactly once given its 2xx.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from app import gs1
from app.db import epcis as epcis_reads
from app.db import organisations as organisations_db
from app.db import subscriptions as store
from app.errors import NotFound
from app.services import access
from app.services.epcis import cbv, export
from app.services.epcis import query as epcis_query
from app.services.orgs import Principal

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,199}")  # one URL path segment, no escaping needed
QUERY_PARAMS = epcis_query.PARAMS - {"perPage", "nextPageToken"}  # paging belongs to a run, not to the query
MAX_TOKEN = 1000
MAX_DEST = 2000
SCHEDULE_FIELDS = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "dayOfMonth": (1, 31), "month": (1, 12),
                   "dayOfWeek": (1, 7)}  # fmt: skip
SIGNATURE_HEADER = "GS1-Signature"


class BadRequest(Exception):
    """Bad input: `field` names it (a JSON path such as `query.EQ_bizStep`), `reason` the rule."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class Conflict(Exception):
    pass


# ------------------------------------------------------------------------------------------------ named queries


def _items(query: dict) -> list[tuple[str, str]]:
    """The (name, value) pairs of a stored query (a value or a list of values per parameter)."""
    items = []
    for name, value in query.items():
        for one in value if isinstance(value, list) else [value]:
            items.append((name, one))
    return items


def parse_stored(query: dict) -> epcis_query.Query:
    return epcis_query.parse(_items(query))


def check_query(body) -> tuple[str, dict]:
    """(name, query) of a QueryDefinition; BadRequest naming the field otherwise."""
    if not isinstance(body, dict):
        raise BadRequest("body", "must be a JSON object {name, query}")
    unknown = sorted(set(body) - {"name", "query"})
    if unknown:
        raise BadRequest(unknown[0], "unknown field (a QueryDefinition has name and query)")
    name = body.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise BadRequest("name", "must be 1 to 200 characters of A-Z a-z 0-9 . _ ~ - (not starting with . _ ~ -)")
    query = body.get("query")
    if not isinstance(query, dict):
        raise BadRequest("query", "must be a JSON object of query parameters")
    for param, value in query.items():
        if param not in QUERY_PARAMS:
            raise BadRequest(f"query.{param}", "not a query parameter of a named query (SimpleEventQuery)")
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v and "\x00" not in v for v in values):
            raise BadRequest(f"query.{param}", "must be a non-empty string or a non-empty list of them (no NUL)")
    try:
        parse_stored(query)
    except epcis_query.QueryError as error:
        raise BadRequest(f"query.{error.parameter}" if error.parameter else "query", error.reason) from error
    return name, query


def create_query(conn, principal: Principal, body) -> dict:
    name, query = check_query(body)
    row = store.insert_query(conn, principal.organisation_id, name, query)
    if row is None:
        raise Conflict(f"name: your organisation already has a query named {name!r}")
    return row


def list_queries(conn, principal: Principal, after: str = "", n: int = 1000) -> list[dict]:
    return store.queries(conn, principal.organisation_id, after, n)


def get_query(conn, principal: Principal, name: str) -> dict:
    """The caller's organisation's query; NotFound for another's (it does not learn it exists) or none."""
    row = store.query(conn, principal.organisation_id, name)
    if row is None:
        raise NotFound(f"query {name}")
    return row


def delete_query(conn, principal: Principal, name: str) -> None:
    if not store.delete_query(conn, principal.organisation_id, name):
        raise NotFound(f"query {name}")


def run_query(conn, principal: Principal, row: dict, paging: list[tuple[str, str]]):
    """Run a named query (`row`, as get_query gave it to this principal, in an earlier transaction: the run reads
    one snapshot, first in its own) as GET /epcis/events would, with perPage / nextPageToken from `paging`:
    (page, provenance answers, next token). QueryError on a bad paging parameter."""
    for param, _ in paging:
        if param not in ("perPage", "nextPageToken"):
            raise epcis_query.QueryError(
                "QueryParameterException", param, f"{param}: a named query takes perPage and nextPageToken only"
            )
    return epcis_query.run(conn, principal, epcis_query.parse(_items(row["query"]) + paging))


# ------------------------------------------------------------------------------------------------ subscriptions


def _schedule(value) -> dict:
    if not isinstance(value, dict) or not value:
        raise BadRequest("schedule", f"must be an object of some of {', '.join(SCHEDULE_FIELDS)}")
    out = {}
    for key, given in value.items():
        if key not in SCHEDULE_FIELDS:
            raise BadRequest(f"schedule.{key}", f"unknown field ({', '.join(SCHEDULE_FIELDS)})")
        spec = str(given) if isinstance(given, int) and not isinstance(given, bool) else given
        if not isinstance(spec, str):
            raise BadRequest(f"schedule.{key}", 'must be a string such as "5", "0,30" or "[1-5]"')
        allowed(key, spec)
        out[key] = spec
    return out


def allowed(key: str, spec: str) -> frozenset[int]:
    """The values a schedule field allows: a comma list of numbers and [a-b] ranges (EPCIS query schedule)."""
    lo, hi = SCHEDULE_FIELDS[key]
    values: set[int] = set()
    for piece in spec.split(","):
        part = piece.strip()
        match = re.fullmatch(r"\[(\d{1,2})-(\d{1,2})\]|(\d{1,2})", part)
        if match is None:
            raise BadRequest(f"schedule.{key}", f"{part!r} is not a number or a [a-b] range")
        a, b = (int(match[1]), int(match[2])) if match[3] is None else (int(match[3]), int(match[3]))
        if not lo <= a <= b <= hi:
            raise BadRequest(f"schedule.{key}", f"{part!r} is outside {lo}..{hi}")
        values.update(range(a, b + 1))
    return frozenset(values)


def next_run(schedule: dict, after: datetime) -> datetime | None:
    """The first time strictly after `after` (UTC) the schedule matches; an omitted field matches any value but
    `second`, which is 0 when omitted. None when nothing matches within 4 years (e.g. 31 February)."""
    sets = {key: allowed(key, schedule[key]) if key in schedule else None for key in SCHEDULE_FIELDS}
    seconds = sorted(sets["second"] or {0})
    day = after.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(366 * 4 + 1):
        ok_day = (sets["month"] is None or day.month in sets["month"]) and (
            sets["dayOfMonth"] is None or day.day in sets["dayOfMonth"]) and (
            sets["dayOfWeek"] is None or day.isoweekday() in sets["dayOfWeek"])  # fmt: skip
        if ok_day:
            for hour in sorted(sets["hour"] or range(24)):
                for minute in sorted(sets["minute"] or range(60)):
                    for second in seconds:
                        moment = day.replace(hour=hour, minute=minute, second=second)
                        if moment > after:
                            return moment
        day += timedelta(days=1)
    return None


def _dest(value) -> str:
    if not isinstance(value, str) or len(value) > MAX_DEST or "\x00" in value:
        raise BadRequest("dest", f"must be an http or https URL of at most {MAX_DEST} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("dest", "must be an http or https URL with a host")
    return value


def _time(field: str, value) -> datetime:
    if not isinstance(value, str):
        raise BadRequest(field, "must be an ISO 8601 date-time with its zone")
    try:
        return cbv.zoned_time(value)
    except ValueError as error:
        raise BadRequest(field, str(error)) from None


def check_subscription(body) -> dict:
    """The columns of a new subscription from its request body; BadRequest naming the field otherwise."""
    if not isinstance(body, dict):
        raise BadRequest("body", "must be a JSON object")
    known = {"dest", "signatureToken", "stream", "schedule", "reportIfEmpty", "initialRecordTime"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise BadRequest(unknown[0], f"unknown field ({', '.join(sorted(known))})")
    null = sorted(k for k, v in body.items() if v is None)
    if null:
        raise BadRequest(null[0], "must not be null (leave it out instead)")
    token = body.get("signatureToken")
    if token is not None and (not isinstance(token, str) or not 1 <= len(token) <= MAX_TOKEN or "\x00" in token):
        raise BadRequest("signatureToken", f"must be a string of 1 to {MAX_TOKEN} characters (no NUL)")
    stream, schedule = body.get("stream", False), body.get("schedule")
    if not isinstance(stream, bool):
        raise BadRequest("stream", "must be true or false")
    if stream == (schedule is not None):
        raise BadRequest("stream", "set either stream: true or a schedule (not both, not neither)")
    report = body.get("reportIfEmpty", False)
    if not isinstance(report, bool):
        raise BadRequest("reportIfEmpty", "must be true or false")
    if report and stream:
        raise BadRequest("reportIfEmpty", "applies to a scheduled subscription only")
    initial = body.get("initialRecordTime")
    return {
        "dest": _dest(body.get("dest")),
        "token": token,
        "stream": stream,
        "schedule": _schedule(schedule) if schedule is not None else None,
        "report": report,
        "initial": _time("initialRecordTime", initial) if initial is not None else None,
    }


def create_subscription(conn, principal: Principal, name: str, body, now: datetime | None = None) -> dict:
    get_query(conn, principal, name)  # 404 when not the caller's
    row = check_subscription(body)
    now = now or datetime.now(UTC)
    if row["schedule"] is not None and next_run(row["schedule"], now) is None:
        raise BadRequest("schedule", "matches no time (e.g. a day that no month has)")
    row.update(id=str(uuid.uuid4()), org=principal.organisation_id, name=name,
               # no initialRecordTime: the events recorded from now on (the mirror's blocks after its head)
               scanned=-1 if row["initial"] is not None else store.mirror_head(conn)[0],
               next_run=next_run(row["schedule"], now) if row["schedule"] is not None else None)  # fmt: skip
    return store.insert_subscription(conn, row)


def list_subscriptions(conn, principal: Principal, name: str) -> list[dict]:
    get_query(conn, principal, name)
    return store.subscriptions(conn, principal.organisation_id, name)


def get_subscription(conn, principal: Principal, name: str, subscription_id: str) -> dict:
    row = store.subscription(conn, principal.organisation_id, name, _uuid(subscription_id))
    if row is None:
        raise NotFound(f"subscription {subscription_id} of query {name}")
    return row


def delete_subscription(conn, principal: Principal, name: str, subscription_id: str) -> None:
    if not store.delete_subscription(conn, principal.organisation_id, name, _uuid(subscription_id)):
        raise NotFound(f"subscription {subscription_id} of query {name}")


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError as error:
        raise NotFound(f"subscription {value}") from error


def render_subscription(row: dict) -> dict:
    """A subscription as the EPCIS 2.0 OpenAPI answers it (the signatureToken is never shown back)."""
    out = {"subscriptionID": str(row["id"]), "queryName": row["query_name"], "dest": row["dest"],
           "createdAt": _iso(row["created_at"]), "signed": row["signature_token"] is not None}  # fmt: skip
    if row["stream"]:
        out["stream"] = True
    else:
        out["schedule"] = row["schedule"]
        out["reportIfEmpty"] = row["report_if_empty"]
    if row["initial_record_time"] is not None:
        out["initialRecordTime"] = _iso(row["initial_record_time"])
    if row["last_notified_at"] is not None:
        out["lastNotifiedAt"] = _iso(row["last_notified_at"])
    return out


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------------ mirror hooks


def on_mirror_rollback(conn, first_removed_block: int) -> None:
    """A reorg removed the mirror's blocks from `first_removed_block` on (the indexer calls this in its rollback
    transaction, app.stack.indexer_hooks): the subscriptions scan the replayed blocks again. A row queued from a
    removed block whose event is gone is withheld at delivery (the event is not found again)."""
    store.rewind(conn, first_removed_block - 1)


def on_mirror_reset(conn) -> None:
    """The mirror was emptied (a new chain): the subscriptions scan it from its start."""
    store.reset(conn)


# ------------------------------------------------------------------------------------------------ delivery


def signature(body: bytes, token: str) -> str:
    """The GS1-Signature header value: sha256=<hex HMAC-SHA256 of the body keyed with the signatureToken>."""
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def principal_of(conn, organisation_id: int) -> Principal | None:
    """The subscriber as a principal (its roles as now); None when it is gone or suspended."""
    row = organisations_db.by_id(conn, organisation_id)
    if row is None or row["suspended_at"] is not None:
        return None
    return Principal(organisation_id=row["id"], name=row["name"], gln=row["gln"],
                     account="0x" + bytes(row["account"]).hex(), roles=tuple(row["roles"]),
                     key_prefix="subscription")  # fmt: skip


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is the subscriber's answer (a failure, retried), never followed: following it would POST (or GET)
    to an address the public-destination check did not see."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST and return the status (a redirect's too: not followed); OSError (no answer) propagates."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise OSError(f"not an http or https URL: {url}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (checked above)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def public_destination(url: str) -> str | None:
    """None when every address `url`'s host resolves to is a public (global) one; else why not. A subscriber must
    not make the server POST into its own network (loopback, private, link-local: SSRF)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        return f"{host} does not resolve ({exc})"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            return f"{host} resolves to {address}, not a public address (the deliverer allows public ones only)"
    return None


@dataclass
class Deliverer:
    """The delivery loop (module docstring). `post(url, body, headers, timeout) -> status` is http_post but in
    tests of the loop's logic; `clock` gives now (UTC) so that backoff is tested without waiting.
    `allow_private`: also POST to hosts on loopback, private or link-local addresses (a local receiver in
    development and tests; `pharmatrack deliver --allow-private-destinations`); else such a row fails with the
    reason and is retried (the operator may allow it)."""

    db: object
    post: Callable[[str, bytes, dict, float], int] = http_post
    batch: int = 50
    backoff_base: float = 1.0
    backoff_max: float = 3600.0
    timeout: float = 10.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    allow_private: bool = False

    def run_forever(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # one round's failure (a database outage, a bad row) must not stop the loop: logged
                log.exception("delivery round failed")
                busy = 0
            if not busy:
                stop.wait(poll_seconds)

    def run_once(self) -> int:
        """One round: scan the due subscriptions, then deliver what is due. The number of rows handled."""
        now = self.clock()
        self.scan(now)
        return self.deliver(now)

    # -- scan ------------------------------------------------------------------------------------------------

    def scan(self, now: datetime) -> None:
        with self.db.connection() as conn:
            subs = store.due_subscriptions(conn, now)
        for sub in subs:
            try:
                self._scan_one(sub, now)
            except epcis_query.QueryError as error:  # a stored query no longer valid: logged, the others go on
                log.warning("subscription query refused", extra={"subscription": str(sub["id"]), "why": error.reason})
            except Exception:  # one subscription's failure must not starve the others: logged, scanned again next round
                log.exception("subscription scan failed", extra={"subscription": str(sub["id"])})

    def _scan_one(self, sub: dict, now: datetime) -> None:
        with self.db.connection() as conn:
            head_block = store.mirror_head(conn)
            principal = principal_of(conn, sub["organisation_id"])
        head = head_block[0]
        if principal is None or (head <= sub["scanned_block"] and sub["stream"]):
            return
        rows = []
        token = None
        while True:  # every page, each in its own snapshot; only blocks up to `head` (read before) are taken
            paging = [("perPage", str(epcis_query.MAX_PER_PAGE))] + ([("nextPageToken", token)] if token else [])
            query = epcis_query.parse(_items(sub["query"]) + paging)
            query.since_block = sub["scanned_block"] + 1  # a query naming no object reads only objects touched since
            with self.db.connection() as conn:
                page, _, token = epcis_query.run(conn, principal, query)
            initial = sub["initial_record_time"]
            for event in page:
                if not sub["scanned_block"] < event["pt:blockNumber"] <= head:
                    continue
                if initial is not None and _parse_time(event["recordTime"]) < initial:
                    continue
                rows.append({"event_id": event["eventID"], "event": event, "block_number": event["pt:blockNumber"],
                             "log_index": event["pt:logIndex"]})  # fmt: skip
            if token is None:
                break
        if not rows and not sub["stream"] and sub["report_if_empty"]:
            rows.append({"event_id": f"report:{_iso(now)}", "event": None, "block_number": head, "log_index": -1})
        following = next_run(sub["schedule"], now) if sub["schedule"] is not None else None
        with self.db.connection() as conn:
            if store.mark_scanned(conn, str(sub["id"]), sub["scanned_block"], head_block, following):
                store.enqueue(conn, str(sub["id"]), rows, now)

    # -- deliver ---------------------------------------------------------------------------------------------

    def deliver(self, now: datetime) -> int:
        """Deliver up to `batch` due rows, each in its own transaction (claimed, sent, marked)."""
        handled = 0
        while handled < self.batch:
            rows: list[dict] = []
            try:
                with self.db.connection() as conn:
                    rows = store.claim_due(conn, now, 1)
                    if not rows:
                        return handled
                    self._deliver_one(conn, rows[0], now)
            except Exception as exc:  # reading the event failed: the row backs off (logged), the others go on
                if not rows:
                    raise
                log.exception("delivery failed", extra={"subscription": str(rows[0]["subscription_id"])})
                with self.db.connection() as conn:
                    self._retry(conn, rows[0], now, f"{type(exc).__name__}: {exc}", others=False)
            handled += 1
        return handled

    def _retry(self, conn, row: dict, now: datetime, error: str, others: bool = True) -> None:
        wait = min(self.backoff_base * 2 ** row["attempts"], self.backoff_max)
        next_attempt = now + timedelta(seconds=wait)
        store.mark_retry(conn, str(row["subscription_id"]), row["event_id"], next_attempt, error, others)
        log.info("delivery failed, retrying", extra={"subscription": str(row["subscription_id"]), "why": error,
                                                     "in_seconds": wait})  # fmt: skip

    def _deliver_one(self, conn, row: dict, now: datetime) -> None:
        sub_id, event_id = str(row["subscription_id"]), row["event_id"]
        principal = principal_of(conn, row["organisation_id"])
        events, provs = [], []
        if row["event"] is not None:
            found = self._visible(conn, principal, row) if principal is not None else None
            if found is None:
                store.mark_done(conn, sub_id, event_id, "withheld", now)
                log.info("delivery withheld: not visible", extra={"subscription": sub_id, "event": event_id})
                return
            events, provs = found
        doc = export.query_document(events, provs, query_name=row["query_name"])
        doc["epcisBody"]["queryResults"]["subscriptionID"] = sub_id
        body = json.dumps(doc).encode()
        headers = {"Content-Type": "application/ld+json", "GS1-EPCIS-Version": cbv.EPCIS_VERSION,
                   "GS1-CBV-Version": cbv.CBV_VERSION}  # fmt: skip
        if row["signature_token"]:
            headers[SIGNATURE_HEADER] = signature(body, row["signature_token"])
        error = None if self.allow_private else public_destination(row["dest"])
        if error is None:
            try:
                status = self.post(row["dest"], body, headers, self.timeout)
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except OSError as exc:  # no answer: refused, reset, timed out, bad host
                error = f"{type(exc).__name__}: {exc}"
        if error is None:
            store.mark_done(conn, sub_id, event_id, "delivered", now)
            return
        self._retry(conn, row, now, error)

    def _visible(self, conn, principal: Principal, row: dict) -> tuple[list[dict], list] | None:
        """The event as the subscriber may see it now (the access policy), read through the objects its query
        names, or through the event's home object for a query naming none; None when it may not."""
        query = parse_stored(row["query"])
        items = query.scope
        if not items:
            items = _home_items(conn, principal, epcis_query.home(row["event"]) or "")
        if not items:
            return None
        events, provs = epcis_query.visible_events(conn, principal, items, snapshot=False)
        same = [e for e in events if e["eventID"] == row["event_id"]]
        return (same[:1], provs) if same else None


def _home_items(conn, principal: Principal, home: str) -> list:
    """The object to read an event's home through, as a query naming no object does: a consignment through one of
    its packs (app/db/epcis.py consignment_pack), anything else by its EPC; [] when there is none."""
    consignment = epcis_query.consignment_of(home)
    if consignment is not None:
        account = access.Viewer.of(principal).account
        pack = epcis_reads.consignment_pack(conn, consignment, account)
        return [gs1.Pack(f"{int(pack['gtin']):014d}", pack["serial"])] if pack else []
    try:
        return [cbv.parse_epc(home, field="event")] if home else []
    except (gs1.GS1Error, ValueError):
        return []


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
