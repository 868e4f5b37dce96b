"""EPCIS 2.0 SimpleEventQuery over the chain mirror: parameters, scope, the access policy, paging. No Flask here.

A query is scoped by the identifiers it names (MATCH_epc, MATCH_anyEPC, MATCH_parentID, MATCH_epcClass, or the
EPC of the /epcs/{epc}/events view): each is read as a provenance answer (app/services/provenance.py) and cut by
the one access policy exactly as the provenance views are (`provenance.visibility` / `restrict`: a regulator and
the manufacturer see all, a party on the custody path up to its own last event, anyone else nothing), turned
into EPCIS events (export.py), then filtered by every parameter with the standard's semantics and paged in
chain order.

A query naming no identifier (`GET /epcis/events?eventType=…&GE_eventTime=…`) reads the objects the caller may
have a record of, found with indexed SQL (app/db/epcis.py query_candidates): for a regulator every lot and SSCC
unit (case, pallet, tote) and consignment (loose packs); for anyone else the lots of `access.lot_scope`
(manufactured or taken part in), the units and consignments it acted on or held inside a pallet it acted on, and
those holding its lots. A consignment has no GS1 key: it is read through one of its packs (one of the viewer's
own lots when there is one), whose record holds the consignment's events while the pack was in it. Each candidate is
read as above (its provenance answer cut by the access policy: a party on its path up to its own last event, the
manufacturer and a regulator all, anyone else nothing) and answers the events whose home it is: an event is
answered through the object it happened to (the unit of a shipment, the container of a pack-set event, the parent
of an aggregation, the lot of a lot event), so each event is answered once over all pages. Candidates are read
in the order they were made (chain order), their events in chain order; the nextPageToken says where to resume.
Work is bounded per page: at most MAX_OBJECTS_PER_PAGE candidates are read, so a page may hold fewer than
perPage events (even none) with a next link: follow it until there is none. The times are pushed down (an
event's eventTime and recordTime are its block's time): LT_eventTime skips the objects made later, GE_eventTime and
GE_recordTime (and a subscription's scan, from the block after its last) keep only the objects something happened
to from that block on; EQ_bizLocation and EQ_readPoint (an event's place is its actor's SGLN) keep only the objects
those parties acted on; EQ_bizStep only the objects with an event of ours of such a bizStep; all three of one same
event (app/db/epcis.py _RELEVANT). Disposition, event type and the rest apply per event. Limit: an event a party
could see only through the history of a contained object (a pallet's earlier shipment, for a party that held one of
its cases later) is answered when the query names that object (MATCH_*), not here; so are recorded events
(export.recorded_events: not chain events, so neither their time nor their object is in the pushdown; only a
single-EPC one about a lot or unit is answered here, without time, place or bizStep filters).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime

from app import gs1
from app.db import epcis as reads
from app.errors import NotFound
from app.services import access, provenance
from app.services.epcis import cbv, export
from app.services.orgs import Principal

EXCEPTION = "epcisException:"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 1000
LIST_PARAMS = ("eventType", "EQ_bizStep", "EQ_disposition", "EQ_bizLocation", "EQ_readPoint", "MATCH_epc",
               "MATCH_anyEPC", "MATCH_parentID", "MATCH_epcClass", "EQ_eventID")  # fmt: skip
TIME_PARAMS = ("GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime")
SCOPE_PARAMS = ("MATCH_epc", "MATCH_anyEPC", "MATCH_parentID", "MATCH_epcClass")
MAX_SCOPE = 50  # objects one query may name (over all SCOPE_PARAMS): each is a whole provenance answer to build
MAX_VALUES = 200  # values of any other list parameter
MAX_OBJECTS_PER_PAGE = 20  # candidates a query naming no object reads per page (each a provenance answer)
PARAMS = frozenset((*LIST_PARAMS, *TIME_PARAMS, "perPage", "nextPageToken"))


class QueryError(Exception):
    """A refused query: `exception` is the EPCIS exception name, `parameter` the one at fault (or None)."""

    def __init__(self, exception: str, parameter: str | None, reason: str, status: int = 400):
        super().__init__(reason)
        self.exception, self.parameter, self.reason, self.status = exception, parameter, reason, status

    @property
    def type(self) -> str:
        return EXCEPTION + self.exception


def _bad(parameter: str, reason: str) -> QueryError:
    return QueryError("QueryParameterException", parameter, f"{parameter}: {reason}")


@dataclass
class Query:
    lists: dict[str, list[str]] = field(default_factory=dict)
    times: dict[str, datetime] = field(default_factory=dict)
    per_page: int = DEFAULT_PER_PAGE
    after: tuple[int, int, str] | None = None  # the last event of the previous page
    resume: tuple[int, int, bytes] | None = None  # naming no object: the candidate the last page ended in
    since_block: int | None = None  # not a parameter: only events in blocks from this one (a subscription's scan)
    scope: list[gs1.Identifier] = field(default_factory=list)


def parse(items: list[tuple[str, str]]) -> Query:
    """The query of these (name, value) pairs (repeated names and comma-separated values both list)."""
    query = Query()
    for name, value in items:
        try:
            _parse_one(query, name, value)
        except ValueError as error:  # any other parse failure (e.g. int() of a non-ASCII digit): still 400
            raise _bad(name, f"{value!r} is not a valid value ({error})") from error
    for name in SCOPE_PARAMS:
        for value in query.lists.get(name, []):
            try:
                item = cbv.parse_epc(value, field=name) if not value.startswith(cbv.PT_NS) else None
            except ValueError as error:
                raise _bad(name, f"{value!r} is not an EPC ({error})") from error
            if item is not None and item not in query.scope:
                query.scope.append(item)
    return query


def _parse_one(query: Query, name: str, value: str) -> None:
    """One (name, value) pair into `query`; QueryError (400) naming `name` when it is not valid."""
    if name not in PARAMS:
        raise _bad(name, "unknown query parameter")
    if name in LIST_PARAMS:
        values = [v.strip() for v in value.split(",") if v.strip()] if name != "EQ_eventID" else [value]
        if not values:
            raise _bad(name, "empty value")
        _bound(query, name, len(values))
        query.lists.setdefault(name, []).extend(_list_value(name, v) for v in values)
    elif name in TIME_PARAMS:
        query.times[name] = _time(name, value)
    elif name == "perPage":
        if not (value.isascii() and value.isdecimal()) or not 1 <= int(value) <= MAX_PER_PAGE:
            raise _bad(name, f"must be an integer 1..{MAX_PER_PAGE} (ASCII digits)")
        query.per_page = int(value)
    else:
        query.resume, query.after = _token(value)


def _bound(query: Query, name: str, adding: int) -> None:
    """413 QueryTooComplexException naming `name` when the query would name more than MAX_SCOPE objects (over
    all scope parameters) or more than MAX_VALUES values of another parameter: bounded work per request."""
    if name in SCOPE_PARAMS:
        have, limit, what = sum(len(query.lists.get(n, [])) for n in SCOPE_PARAMS), MAX_SCOPE, "objects"
    else:
        have, limit, what = len(query.lists.get(name, [])), MAX_VALUES, "values"
    if have + adding > limit:
        raise QueryError(
            "QueryTooComplexException", name, f"{name}: a query may name at most {limit} {what} (split it)", 413
        )


def _list_value(name: str, value: str) -> str:
    if name == "eventType":
        if value not in cbv.EVENT_TYPES:
            raise _bad(name, f"{value!r} is not an EPCIS event type ({', '.join(cbv.EVENT_TYPES)})")
        return value
    if name in ("EQ_bizStep", "EQ_disposition"):
        word = cbv.cbv_word(value)
        known = cbv.BIZ_STEPS if name == "EQ_bizStep" else cbv.DISPOSITIONS
        if word not in known:
            raise _bad(name, f"{value!r} is not a CBV 2.0 {'bizStep' if name == 'EQ_bizStep' else 'disposition'}")
        return word
    if name in ("EQ_bizLocation", "EQ_readPoint"):
        try:
            return cbv.sgln(cbv.gln_of_sgln(value, field=name))
        except gs1.GS1Error as error:
            raise _bad(name, f"{value!r} is not an SGLN ({error.message})") from error
    if name in SCOPE_PARAMS:
        if value.startswith(cbv.PT_NS):
            return value
        try:
            item = cbv.parse_epc(value, field=name)
        except gs1.GS1Error as error:
            raise _bad(name, f"{value!r} is not an EPC ({error.message})") from error
        return cbv.epc_uri(gs1.Pack(item.gtin, item.serial) if isinstance(item, gs1.Pack) else item)
    return value


def _time(name: str, value: str) -> datetime:
    try:
        return cbv.zoned_time(value)
    except ValueError as error:
        raise _bad(name, str(error)) from None


def token(event: dict | None, candidate: dict | None = None) -> str:
    """The token of the page after `event`; for a query naming no object, after it in `candidate` (event None:
    after the whole candidate)."""
    raw = f"{event['pt:blockNumber']}:{event['pt:logIndex']}:{event['eventID']}" if event is not None else ""
    if candidate is not None:
        raw = f"U:{candidate['block_number']}:{candidate['log_index']}:{bytes(candidate['id']).hex()}:{raw}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _token(value: str) -> tuple[tuple[int, int, bytes] | None, tuple[int, int, str] | None]:
    """(candidate, event) of a token: candidate None for a query naming objects; event None after a candidate."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        resume = None
        if raw.startswith("U:"):
            _, block, log, object_id, raw = raw.split(":", 4)
            resume = (int(block), int(log), bytes.fromhex(object_id))
            if not raw:
                return resume, None
        block, log, event_id = raw.split(":", 2)
        return resume, (int(block), int(log), event_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise _bad("nextPageToken", "not a token this server gave") from error


# --------------------------------------------------------------------------------------------- running


def _provenance(conn, item: gs1.Identifier) -> provenance.Provenance | None:
    try:
        if isinstance(item, gs1.Pack):
            return provenance.pack_provenance(conn, gs1.Pack(item.gtin, item.serial))
        if isinstance(item, gs1.LogisticUnit):
            return provenance.unit_provenance(conn, item.sscc)
        return provenance.lot_provenance(conn, item.gtin, item.lot)
    except NotFound:
        return None


class Operator:
    """The operator's uncut export (the CLI): passed explicitly as OPERATOR, never implied by a missing principal."""

    def __repr__(self) -> str:
        return "OPERATOR"


OPERATOR = Operator()


def visible_events(
    conn, viewer: Principal | Operator, items: list[gs1.Identifier], snapshot: bool = True
) -> tuple[list[dict], list]:
    """The EPCIS events of these objects `viewer` may see (the access policy), and their answers; OPERATOR:
    no cut (the CLI export). Anything else (None: an anonymous request) is refused: the cut fails closed.
    `snapshot`: start the transaction's one snapshot (False: the caller did, first in its transaction)."""
    if viewer is OPERATOR:
        principal = None
    elif isinstance(viewer, Principal):
        principal = viewer
    else:
        raise TypeError(f"visible_events needs a Principal or OPERATOR, not {viewer!r}")
    events: dict[str, dict] = {}
    provs = []
    if snapshot:
        provenance.read_snapshot(conn)
    for item in items:
        prov = _provenance(conn, item)
        if prov is None:
            continue
        vis = viewer = None
        if principal is not None:
            viewer = access.Viewer.of(principal)
            vis = provenance.visibility(conn, principal, prov)  # the access policy (app/services/access.py)
            if vis.verdict_only:
                continue
            provenance.restrict(conn, prov, vis)
        provs.append(prov)
        for event in export.events(conn, prov, vis, viewer):
            events.setdefault(event["eventID"], event)
    ordered = sorted(events.values(), key=lambda e: (e["pt:blockNumber"], e["pt:logIndex"], e["eventID"]))
    return ordered, provs


def _epcs(event: dict, *keys: str) -> set[str]:
    out: set[str] = set()
    for key in keys:
        value = event.get(key)
        if isinstance(value, str):
            out.add(value)
        elif isinstance(value, list):
            out.update(v["epcClass"] if isinstance(v, dict) else v for v in value)
    return out


def matches(query: Query, event: dict) -> bool:
    """Whether an event passes every parameter (SimpleEventQuery semantics; list values are OR-ed)."""
    lists = query.lists
    checks = {
        "eventType": {event["type"]},
        "EQ_bizStep": {event.get("bizStep")},
        "EQ_disposition": {event.get("disposition")},
        "EQ_bizLocation": {(event.get("bizLocation") or {}).get("id")},
        "EQ_readPoint": {(event.get("readPoint") or {}).get("id")},
        "EQ_eventID": {event["eventID"]},
        "MATCH_epc": _epcs(event, "epcList", "childEPCs"),
        "MATCH_anyEPC": _epcs(event, "epcList", "childEPCs", "parentID"),
        "MATCH_parentID": _epcs(event, "parentID"),
        "MATCH_epcClass": _epcs(event, "quantityList", "childQuantityList"),
    }
    for name, have in checks.items():
        if name in lists and not have.intersection(lists[name]):
            return False
    times = query.times
    event_time = datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
    record_time = datetime.fromisoformat(event["recordTime"].replace("Z", "+00:00"))
    return not (
        ("GE_eventTime" in times and event_time < times["GE_eventTime"])
        or ("LT_eventTime" in times and event_time >= times["LT_eventTime"])
        or ("GE_recordTime" in times and record_time < times["GE_recordTime"])
        or ("LT_recordTime" in times and record_time >= times["LT_recordTime"])
    )


def run(conn, principal: Principal, query: Query) -> tuple[list[dict], list, str | None]:
    """(this page's events, the provenance answers read, the next page's token or None). A query answers a
    principal only: None or OPERATOR is refused (the uncut export is visible_events(…, OPERATOR, …))."""
    if not isinstance(principal, Principal):
        raise TypeError(f"an EPCIS query answers a Principal, not {principal!r}")
    if not query.scope:
        return _run_unscoped(conn, principal, query)
    if query.resume is not None:
        raise _bad("nextPageToken", "a token of a query naming no object (a page of another query)")
    events, provs = visible_events(conn, principal, query.scope)
    chosen = [e for e in events if matches(query, e)]
    if query.after is not None:
        chosen = [e for e in chosen if (e["pt:blockNumber"], e["pt:logIndex"], e["eventID"]) > query.after]
    page = chosen[: query.per_page]
    more = len(chosen) > query.per_page
    return page, provs, token(page[-1]) if more else None


def home(event: dict) -> str | None:
    """The EPC of the object an event happened to (module docstring): the container of a pack-set event, the
    parent of an aggregation, the one EPC of an object event, else the one class of its quantities."""
    if event.get("pt:container"):
        return event["pt:container"]
    if event["type"] == "AggregationEvent":
        return event.get("parentID")
    epcs = event.get("epcList") or []
    if epcs:
        return epcs[0] if len(epcs) == 1 else None
    quantities = event.get("quantityList") or []
    return quantities[0]["epcClass"] if len(quantities) == 1 else None


def consignment_epc(consignment_id: bytes) -> str:
    """Our URI of a consignment (export.unit_epc: it has no GS1 key)."""
    return f"{cbv.PT_NS}consignments/0x{bytes(consignment_id).hex()}"


def consignment_of(epc: str) -> bytes | None:
    """The consignment id of our consignment URI; None for anything else."""
    prefix = f"{cbv.PT_NS}consignments/0x"
    if not epc.startswith(prefix):
        return None
    try:
        return bytes.fromhex(epc[len(prefix) :])
    except ValueError:
        return None


def _candidate(row: dict) -> tuple[gs1.Identifier, str]:
    """A candidate row as the identifier to read and the EPC its home events name (a consignment: read through
    one of its packs, app/db/epcis.py)."""
    if row["kind"] == "lot":
        item = gs1.Lot(f"{int(row['gtin']):014d}", row["lot_number"])
        return item, cbv.lgtin(item.gtin, item.lot)
    if row["kind"] == "consignment":
        return gs1.Pack(f"{int(row['gtin']):014d}", row["serial"]), consignment_epc(row["id"])
    sscc = f"{int(row['sscc']):018d}"
    return gs1.LogisticUnit(sscc), cbv.sscc(sscc)


def _position(row: dict) -> tuple[int, int, bytes]:
    return row["block_number"], row["log_index"], bytes(row["id"])


def _pushdown(conn, query: Query) -> dict | None:
    """The filters of a query naming no object that select its candidates (module docstring): since (a block),
    at (the accounts of its places), kinds (our event names of its bizSteps); None when no event can match."""
    since = query.since_block
    after_time = max((query.times[t] for t in ("GE_eventTime", "GE_recordTime") if t in query.times), default=None)
    if after_time is not None:  # every event's time is its block's: an event at or after it is in such a block
        first = reads.first_block_at(conn, after_time)
        if first is None:
            return None
        since = max(first, since or 0)
    at = None
    for param in ("EQ_bizLocation", "EQ_readPoint"):  # both are the acting party's place (export._where)
        if param in query.lists:
            accounts = reads.accounts_of_glns(conn, [cbv.gln_of_sgln(v, field=param) for v in query.lists[param]])
            at = accounts if at is None else [a for a in at if a in accounts]
    kinds = None
    if "EQ_bizStep" in query.lists:
        steps = set(query.lists["EQ_bizStep"])
        kinds = sorted(k for k, v in cbv.EVENT_VOCABULARY.items() if v.biz_step in steps and k in reads.EVENT_KINDS)
    if at == [] or kinds == []:  # places of no party, or bizSteps no candidate's event has
        return None
    return {"since": since, "at": at, "kinds": kinds}


def _run_unscoped(conn, principal: Principal, query: Query) -> tuple[list[dict], list, str | None]:
    """A query naming no object (module docstring): the events whose home is one of the caller's candidate
    objects, cut by the access policy, candidate by candidate; at most MAX_OBJECTS_PER_PAGE read per page."""
    if query.after is not None and query.resume is None:
        raise _bad("nextPageToken", "a token of a query naming objects (a page of another query)")
    provenance.read_snapshot(conn)
    scope = access.lot_scope(access.Viewer.of(principal))  # None: a regulator (every object)
    inside = query.after is not None  # resume inside the candidate the last page ended in
    pushed = _pushdown(conn, query)
    if pushed is None:  # nothing can match: no object is read
        return [], [], None
    rows = reads.query_candidates(conn, scope, after=query.resume or (-1, -1, b""), inclusive=inside,
                                  before=query.times.get("LT_eventTime"), n=MAX_OBJECTS_PER_PAGE + 1,
                                  **pushed)  # fmt: skip
    page: list[dict] = []
    provs: list = []
    last = None  # the candidate of page[-1]
    for row in rows[:MAX_OBJECTS_PER_PAGE]:
        item, epc = _candidate(row)
        events, answers = visible_events(conn, principal, [item], snapshot=False)
        mine = [e for e in events if home(e) == epc and matches(query, e)
                and (query.since_block is None or e["pt:blockNumber"] >= query.since_block)]  # fmt: skip
        if inside and _position(row) == query.resume:
            mine = [e for e in mine if (e["pt:blockNumber"], e["pt:logIndex"], e["eventID"]) > query.after]
        if mine:
            provs += answers
        for event in mine:
            if len(page) == query.per_page:
                return page, provs, token(page[-1], last)
            page.append(event)
            last = row
    if len(rows) > MAX_OBJECTS_PER_PAGE:
        return page, provs, token(None, rows[MAX_OBJECTS_PER_PAGE - 1])
    return page, provs, None
