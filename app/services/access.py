"""Who may see what: the one access policy every read path asks (no Flask, no SQL here).

The rule, in DSCSA's spirit of "each buyer gets the history up to its purchase". For an object (a
pack, a case, a pallet or a lot) and the organisation asking:

- a regulator, and the manufacturer of (any lot in) the object, see its whole record (FULL);
- any other organisation that took part in a custody event of the object or of a container that held
  it (packed, palletised, shipped, was named recipient — received or refused —, unpacked, dispensed,
  destroyed; picked packs into a tote or consignment, returned them or accepted their return, reported
  them stolen, undid their dispense) sees the record up to and including its own last such event (UP_TO(position), position =
  (block_number, log_index) of that event), plus the object's current verdict; it does not see where
  the object went after it left its hands. While the object has not left its hands (it is the
  custodian, or the named recipient of the shipment in transit, and no one has had a custody event
  since), it also sees what happens meanwhile: readings, excursions, quarantines (UP_TO(…, current));
- anyone else sees the verification verdict and its reasons only: no custody, no parties
  (VERDICT_ONLY). On a provenance route that is a 403 `not_on_path`; on verification it is the reason
  `not_received_by_requester` (the verdict `suspect`): one decision, two ways of saying it.

Containers count only while they held the object: a pallet's events before the case was put on it, or
after the case left it (the case shipped, unpacked or palletised again on its own, or the pallet
unpacked), do not make a party a participant of the case or of its packs. A pack picked out of its case
into a tote or a consignment is followed there: the case's events after the pick, and the tote's before
the pack was put in it (there are none: a tote is made with its packs), do not count for the pack.

Decisions where the issue is silent (as a pharmacist, a distributor and an FDA investigator expect):
- A handoff has two ends. `shipped` is an event of the shipper and of the named recipient: a pharmacy
  checking goods-in before its receive scan sees the record up to the shipment, and the transit's
  readings and excursions. `received` is the receiver's event only: the shipper's record ends at its
  shipment (it does not learn that, or when, the goods arrived: that is the buyer's record). `refused`
  is an event of both ends, since the goods are back in the sender's hands; the refusing recipient
  stays a participant up to its refusal (it does not see what the sender does with them next).
- Quarantines, clearances, temperature readings and recalls are not custody events: they make no one a
  participant. They are the object's state, not its path.
- "The object's current verdict" includes the lot's own status events (opened, commissioned, recalled,
  quarantined, cleared of the lot): a partial viewer sees them whenever they happened (a distributor
  must learn of a recall of a lot it sold on). Everything else after its cut (later holders' events,
  pallets the object went on later, readings and excursions recorded later) stays hidden; the verdict
  still names them as reasons (`temperature_excursion`, `quarantined`), without custody or parties.
- A lot is never in one organisation's hands: a partial viewer of a lot sees it up to its last event
  in the lot, never `current`.
- Pack counts of a lot (how many dispensed, destroyed, quarantined) are the manufacturer's and the
  regulator's view only: they aggregate other holders' events.
- Lists follow the same rule, lot by lot. /v1/lots and /v1/recalls list the lots a viewer may see
  (FULL or UP_TO): the lots it manufactured and the lots of which it took part in a custody event of a
  case, of a pallet while it held such a case, or of a pack. A listed lot's recalled/quarantined flags
  are its current verdict, shown whatever the viewer's cut.
- Partner activity: a regulator sees any partner's, every row where it acted or was the counterparty;
  any other organisation only its own, and of those only rows that are its own events under this rule
  (a receipt of goods it shipped names it on chain as the sender, but is the receiver's event).
- Alerts: an alert about an object is seen by those who see the object's whole record (regulators, the
  manufacturer of its lot or product) plus the organisations it names. A partial participant that the
  alert does not name does not see it: an alert's evidence is about what happened to the object (where
  it was scanned, by whom, on which later unit), which is exactly what lies after its cut; the detector
  names every party whose own facts an alert is about. An alert about no object (e.g. an organisation's
  failed verifications) is seen by regulators and the parties it names. Who may see an alert may also
  acknowledge it; closing stays with regulators and manufacturers (app/services/alerts.py).
- Operations (accepted writes): the submitting organisation and regulators.
- EPCIS events recorded without a custody effect on chain (a TransactionEvent: a purchase order or despatch
  advice; an AssociationEvent: a sensor device to a unit; table epcis_recorded_events): as operations, the
  capturing organisation and regulators, in the answers about the objects they name (which the viewer must
  see at all: the rule above). A trading partner's purchase orders are its business, not the object's record.
- The manufacturer of a lot is the product's public master data (the product registry, the LVM
  responder), not a custody party: a verification names it to anyone, and a partial view lists it
  among the parties.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

Position = tuple[int, int]  # (block_number, log_index): chain order

# The custody events: taking part in one makes an organisation a participant of the object.
# Issue 14: packs picked into a tote or a consignment (moved), returned, a return accepted, packs reported
# stolen and a dispense undone are custody events of who did them (shipping and receiving a tote or a
# consignment are the unit events above).
CUSTODY_EVENTS = frozenset(
    {"packed", "palletised", "shipped", "received", "refused", "unpacked", "dispensed", "destroyed", "moved",
     "returned", "accepted", "stolen", "undone"}
)  # fmt: skip
# The lot's own status events: part of the object's current verdict, shown to every participant.
VERDICT_EVENTS = frozenset({"opened", "commissioned", "recalled", "quarantined", "cleared"})


@dataclass(frozen=True)
class Visibility:
    """What a viewer may see of one object: `full`, `up_to` (with `position`) or `verdict_only`."""

    level: str
    position: Position | None = None
    current: bool = False  # UP_TO only: the object has not left the viewer's hands since `position`

    @property
    def full(self) -> bool:
        return self.level == "full"

    @property
    def partial(self) -> bool:
        return self.level == "up_to"

    @property
    def verdict_only(self) -> bool:
        return self.level == "verdict_only"

    def shows(self, position: Position) -> bool:
        """Whether an event at `position` is inside what the viewer may see of the record."""
        if self.level == "full":
            return True
        return self.level == "up_to" and (self.current or tuple(position) <= self.position)

    def __repr__(self) -> str:
        if self.partial:
            return f"UP_TO({self.position}{', current' if self.current else ''})"
        return self.level.upper()


FULL = Visibility("full")
VERDICT_ONLY = Visibility("verdict_only")


def UP_TO(position: Position, current: bool = False) -> Visibility:
    return Visibility("up_to", (int(position[0]), int(position[1])), current)


@dataclass(frozen=True)
class Viewer:
    """Who asks: its chain account (None: an organisation with none), organisation id, regulator or not."""

    account: bytes | None
    organisation_id: int | None = None
    regulator: bool = False

    @classmethod
    def of(cls, who) -> Viewer:
        """From an app.services.orgs.Principal (account as 0x-hex) or a verify Requester (account as bytes)."""
        account = who.account
        if isinstance(account, str):
            account = bytes.fromhex(account.removeprefix("0x")) if account else None
        return cls(account, who.organisation_id, "regulator" in who.roles)


class Event(NamedTuple):  # a tuple: built for every custody row of a verification, so kept cheap
    """One event of an object's record: its kind, chain position, who acted and, for a handoff, the
    other end (shipped: the recipient; received, refused: the sender). `container` is None for the
    object's own events, else the id of the container (case or pallet) it happened to."""

    kind: str
    position: Position
    actor: bytes | None
    other: bytes | None = None
    container: bytes | None = None

    @property
    def parties(self) -> frozenset[bytes]:
        """Who took part: the actor; for shipped and refused also the other end (module docstring)."""
        if self.kind not in CUSTODY_EVENTS:
            return frozenset()
        ends = (self.actor, self.other) if self.kind in ("shipped", "refused") else (self.actor,)
        return frozenset(a for a in ends if a is not None)

    def names(self, account: bytes) -> bool:
        """Whether `account` took part in this custody event (`parties`, without building the set)."""
        if self.kind not in CUSTODY_EVENTS:
            return False
        return account == self.actor or (account == self.other and self.kind in ("shipped", "refused"))

    @property
    def keepers(self) -> frozenset[bytes]:
        """Whose hands the object is in after this event: the custodian, and while shipped the named
        recipient too; after a refusal, the sender only."""
        if self.kind == "refused":
            return frozenset({self.other} - {None})
        return self.parties


@dataclass(frozen=True)
class Stay:
    """The object inside `container` from `start` (the packing event) up to `end` inclusive (the event
    that took it out, or emptied the container); end None: still inside."""

    container: bytes
    start: Position
    end: Position | None = None

    def covers(self, position: Position) -> bool:
        return self.start <= position and (self.end is None or position <= self.end)


@dataclass(frozen=True)
class Record:
    """What the rule needs to know of an object: its manufacturers (of every lot in it), its events and
    its containers' events (any, in any order), and when each container held it."""

    manufacturers: frozenset[bytes]
    events: tuple[Event, ...] = ()
    stays: tuple[Stay, ...] = ()

    def held(self, event: Event) -> bool:
        """An own event, or a container's event while the container held the object."""
        if event.container is None:
            return True
        return any(s.container == event.container and s.covers(event.position) for s in self.stays)


def last_event(account: bytes | None, record: Record) -> Event | None:
    """`account`'s last custody event in the record (None: it took part in none)."""
    if account is None:
        return None
    mine = [e for e in record.events if e.names(account) and record.held(e)]
    return max(mine, key=lambda e: e.position, default=None)


def visibility(viewer: Viewer, record: Record) -> Visibility:
    """FULL, UP_TO(position of the viewer's last custody event) or VERDICT_ONLY (module docstring)."""
    if viewer.regulator or (viewer.account is not None and viewer.account in record.manufacturers):
        return FULL
    last = last_event(viewer.account, record)
    if last is None:
        return VERDICT_ONLY
    later = any(e.kind in CUSTODY_EVENTS and e.position > last.position and record.held(e) for e in record.events)
    return UP_TO(last.position, current=not later and viewer.account in last.keepers)


def shown_events(vis: Visibility, events: Iterable, position=lambda e: e.position, kind=lambda e: e.kind) -> list:
    """The events of a record a viewer sees: everything for FULL; for UP_TO those up to its position,
    and the lot's status events whenever they happened (the current verdict); nothing for VERDICT_ONLY."""
    if vis.full:
        return list(events)
    if vis.verdict_only:
        return []
    return [e for e in events if vis.shows(position(e)) or kind(e) in VERDICT_EVENTS]


# --------------------------------------------------------------------------- list-level questions


def lot_scope(viewer: Viewer) -> bytes | None:
    """Whose lots a list shows: None for every lot (a regulator), else the viewer's account, whose
    manufactured and participated lots app/db/access.py MY_LOTS selects (module docstring). An
    organisation without a chain account is scoped to an account no lot names."""
    if viewer.regulator:
        return None
    return viewer.account if viewer.account is not None else bytes(20)


def may_see_activity(viewer: Viewer, partner: bytes | None) -> bool:
    """A trading partner's activity: a regulator any partner's, anyone else its own only."""
    return viewer.regulator or (partner is not None and partner == viewer.account)


def may_see_activity_row(viewer: Viewer, partner: bytes, row: dict) -> bool:
    """One row of `partner`'s activity (app/services/queries.py: event, role): a regulator every row;
    the partner itself the rows that are its own events under the rule (not the receipt of goods it
    shipped, nor the acceptance of packs it returned, where it is only the counterparty)."""
    if not may_see_activity(viewer, partner):
        return False
    receipt = row["event"] in ("received", "return_accepted")  # the receiver's event, not the shipper's
    return viewer.regulator or not (receipt and row["role"] == "counterparty")


def alert_scope(viewer: Viewer) -> tuple[int | None, bytes | None]:
    """(organisation id, account) an alert list is limited to; (None, None) for a regulator (every alert)."""
    if viewer.regulator:
        return None, None
    return (viewer.organisation_id if viewer.organisation_id is not None else -1), lot_scope(viewer)


def may_see_alert(viewer: Viewer, named: Iterable[int], manufacturers: Iterable[bytes]) -> bool:
    """An alert: regulators, the organisations it names, and the manufacturers of the object it is
    about (the only non-regulators who see that object's whole record)."""
    if viewer.regulator or (viewer.organisation_id is not None and viewer.organisation_id in set(named)):
        return True
    return viewer.account is not None and viewer.account in set(manufacturers)


def may_list_pack(viewer: Viewer, manufacturer: bytes, *, asked: bool, held: bool) -> bool:
    """A pack's serial among the objects of an event (an EPCIS child or epc list): regulators, the pack's
    manufacturer, and anyone for the pack it asked about or a pack it acted on itself. Anyone else gets a
    count, as provenance gives: a list of a lot's valid serials is what a counterfeiter needs."""
    if viewer.regulator or asked or held:
        return True
    return viewer.account is not None and viewer.account == bytes(manufacturer)


def may_see_operation(viewer: Viewer, submitted_by: int) -> bool:
    """An accepted write: the organisation that submitted it, and regulators."""
    return viewer.regulator or (viewer.organisation_id is not None and viewer.organisation_id == submitted_by)


def may_see_recorded_event(viewer: Viewer, captured_by: int) -> bool:
    """An EPCIS event recorded without a custody effect (TransactionEvent, AssociationEvent): the organisation
    that captured it, and regulators (module docstring)."""
    return may_see_operation(viewer, captured_by)


# -- people (issue 16): what a signed-in person may do through the pages -----------------------------------
# A person acts for its organisation: everything it is shown is what the API shows that organisation (the
# rules above, through the same services). Its role narrows what it may do on top of the organisation's roles.
# The audit trail of the pages: the organisation's compliance (quality) people and its admins read their
# organisation's entries; a regulator's inspectors read every organisation's.
PERSON_ROLES = ("pharmacist", "warehouse", "quality", "inspector", "admin")
# person role -> the organisation roles it may be given under (an inspector works for a regulator)
PERSON_ROLE_NEEDS = {
    "pharmacist": ("dispenser",),
    "warehouse": ("manufacturer", "distributor", "dispenser"),
    "quality": ("manufacturer", "distributor", "dispenser", "regulator"),
    "inspector": ("regulator",),
    "admin": ("manufacturer", "distributor", "dispenser", "regulator"),
}
# page action -> the person roles that may take it (the organisation's roles are then checked by the
# services, as for an API key: dispensing needs a dispenser)
PERSON_ACTIONS = {
    "verify": frozenset({"pharmacist", "warehouse", "quality", "inspector"}),
    "dispense": frozenset({"pharmacist"}),
    "read_audit": frozenset({"quality", "inspector", "admin"}),
    "admin_people": frozenset({"admin"}),  # invite and disable the organisation's people
    "investigate": frozenset({"quality", "inspector"}),  # provenance of any code, as the API shows it
    "alerts": frozenset({"quality", "inspector"}),  # the alerts inbox: read, acknowledge, close (alert rules decide)
    "recall": frozenset({"quality", "inspector"}),  # recall a lot (the write path: its manufacturer or a regulator)
}
ALL_ORGANISATIONS = -1  # audit_scope's answer for a regulator's inspector


def may_act(person_role: str, action: str) -> bool:
    return person_role in PERSON_ACTIONS[action]


def audit_scope(person_role: str, organisation_id: int, organisation_roles: Iterable[str]) -> int | None:
    """Whose audit entries the person may read: ALL_ORGANISATIONS, its organisation's id, or None (none)."""
    if not may_act(person_role, "read_audit"):
        return None
    if person_role == "inspector" and "regulator" in organisation_roles:
        return ALL_ORGANISATIONS
    return organisation_id
