"""The pages' routes: sign-in and sign-out, the pharmacist's verify-and-dispense page, the audit trail.

Views are thin: they read the form, call the services the API calls (so a page shows exactly what the API
shows the person's organisation: app/services/access.py), record the action in the audit trail and render.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC

from flask import Response, current_app, g, redirect, render_template, request, stream_with_context
from flask import session as flask_session

from app import gs1
from app.errors import NotFound
from app.services import access, alerts, outbox, people, proofcheck, provenance, queries, writes
from app.services import verify as verify_service
from app.web.session import address, blp, db, start_session, throttle

# what a pharmacist reads for each reason, and what to do about it
ADVICE = {
    "unknown_product": (
        "This product is not registered.",
        "Do not dispense. Check the code was scanned right; "
        "if it was, quarantine the pack and report it to the supplier.",
    ),
    "lot_not_on_chain": (
        "The lot is not yet confirmed on the chain.",
        "Do not dispense now; try again in a few minutes or ask the supplier.",
    ),
    "unknown_lot": ("No such lot was made for this product.", "Quarantine the pack and report it."),
    "unknown_unit": ("No such case or pallet is known.", "Quarantine it and report it."),
    "serials_not_held": (
        "The serial list of this lot is held elsewhere.",
        "Do not dispense; ask the manufacturer to verify the pack.",
    ),
    "unknown_serial": (
        "This serial number was never made for this product: the pack may be counterfeit.",
        "Do not dispense. Quarantine the pack and report it to the authority and the supplier.",
    ),
    "lot_mismatch": (
        "The lot printed on the pack is not the lot of this serial: the pack may be counterfeit.",
        "Do not dispense. Quarantine the pack and report it.",
    ),
    "expiry_mismatch": (
        "The expiry printed on the pack is not the lot's expiry: the pack may be counterfeit.",
        "Do not dispense. Quarantine the pack and report it.",
    ),
    "recalled": (
        "This lot has been recalled.",
        "Do not dispense. Put the pack aside and return it as the recall notice says.",
    ),
    "dispensed": (
        "This pack was already dispensed: a second pack with this serial is a copy.",
        "Do not dispense. Quarantine the pack and report it, unless you dispensed it just now by mistake "
        "(then undo the dispense).",
    ),
    "destroyed": ("This pack was recorded as destroyed.", "Do not dispense. Quarantine the pack and report it."),
    "stolen": ("This pack was reported stolen.", "Do not dispense. Quarantine the pack and report it."),
    "not_received_by_requester": (
        "The records do not show this pack reaching your pharmacy.",
        "Do not dispense. Check your goods-in for this delivery; if it was not received, "
        "quarantine the pack and report it.",
    ),
    "temperature_excursion": (
        "The pack was kept outside its storage temperature on the way.",
        "Do not dispense. Quarantine the pack and ask the supplier.",
    ),
    "quarantined": ("The pack, its case or its lot is quarantined.", "Do not dispense. Keep it aside."),
    "expired": ("The pack has expired.", "Do not dispense. Put it with expired stock for destruction."),
}
# what a scanner may type for the GS separator when it cannot send the control character itself
GS_STAND_INS = re.compile(r"<GS>|\{GS\}|\^\]|\u241d|\\x1d", re.IGNORECASE)
CSV_BATCH = 1000


def _audit(action: str, subject: str, outcome: str) -> None:
    with db().connection() as conn:
        people.record(conn, g.person, action, subject, address(), outcome)


def _forbidden(what: str):
    _audit("refused", request.path, f"forbidden: {what}")
    return render_template("error.html", title="Not allowed",
                           message=f"Your role ({g.person.role}) may not {what}."), 403  # fmt: skip


# -- signing in and out -----------------------------------------------------------------------------------


@blp.route("/login", methods=["GET", "POST"], endpoint="login")
def login():
    if request.method == "GET":
        return render_template("login.html", email="", problem=None)
    email = request.form.get("email", "")[:254]
    password = request.form.get("password", "")
    try:
        with db().connection() as conn:
            person = people.sign_in(conn, email, password, address(), throttle())
            people.record(conn, person, "sign_in", "", address(), "ok" if person else "refused: wrong email or password",
                          email=email)  # fmt: skip
    except people.Throttled as exc:
        with db().connection() as conn:
            people.record(conn, None, "sign_in", "", address(), f"throttled for {exc.retry_after} s", email=email)
        problem = f"Too many failed sign-ins. Try again in {(exc.retry_after + 59) // 60} minute(s)."
        return render_template("login.html", email=email, problem=problem), 429, {"Retry-After": str(exc.retry_after)}
    if person is None:
        return render_template("login.html", email=email, problem="Email or password is wrong."), 401
    start_session(person)
    return redirect("/", code=303)


@blp.route("/logout", methods=["POST"], endpoint="logout")
def logout():
    _audit("sign_out", "", "ok")
    flask_session.clear()
    return redirect("/login", code=303)


@blp.route("/logout-everywhere", methods=["POST"], endpoint="logout_everywhere")
def logout_everywhere():
    with db().connection() as conn:
        people.sign_out_everywhere(conn, g.person)
        people.record(conn, g.person, "sign_out_everywhere", "", address(), "ok")
    flask_session.clear()
    return redirect("/login", code=303)


@blp.route("/", endpoint="home")
def home():
    if g.person.may("read_audit"):  # quality, inspectors and admins: their investigation pages
        return redirect("/audit", code=303)
    if g.person.may("verify"):
        return redirect("/pharmacy", code=303)
    return render_template("home.html")


# -- the pharmacist: verify and dispense -------------------------------------------------------------------


@blp.route("/pharmacy", endpoint="pharmacy")
def pharmacy():
    if not g.person.may("verify"):
        return _forbidden("verify packs")
    return render_template("pharmacy.html")


def _requester() -> verify_service.Requester:
    p = g.person
    return verify_service.Requester(p.organisation_id, bytes.fromhex(p.account[2:]), p.gln, p.organisation_roles)


def _scanned(text: str) -> str:
    return GS_STAND_INS.sub(gs1.GS, text.strip())


@blp.route("/pharmacy/check", methods=["POST"], endpoint="check")
def check():
    if not g.person.may("verify"):
        return _forbidden("verify packs")
    text = _scanned(request.form.get("code", ""))[: gs1.MAX_INPUT_LENGTH]
    try:
        pack = gs1.parse(text, expect=(gs1.Kind.PACK,))
    except gs1.GS1Error as exc:
        _audit("verify", text, f"unreadable: {exc.rule}")
        return _partial("verdict.html", status=422, unreadable=f"{exc.message} ({exc.field}: {exc.rule})", code=text)
    ext = current_app.extensions["pharmatrack"]
    requester = _requester()
    with db().connection(autocommit=True) as conn:
        result = verify_service.verify(conn, pack, requester)
        product = verify_service.product_details(conn, pack.gtin)
    ext.verifications.append(verify_service.log_row(result, requester, "web", text))
    body = result.body
    proof = None
    if body.get("proof"):
        proof = proofcheck.check(ext.chain, ext.settings, body["proof"])
    _audit(
        "verify", gs1.to_element_string(pack), f"{result.verdict.verdict}: {', '.join(result.verdict.reasons) or 'ok'}"
    )
    return _partial("verdict.html", body=body, product=product, proof=proof, advice=ADVICE,
                    code=gs1.to_element_string(pack), may_dispense=g.person.may("dispense") and
                    "dispenser" in g.person.organisation_roles, idem=uuid.uuid4().hex)  # fmt: skip


def _partial(template: str, status: int = 200, **context):
    """The fragment for htmx, or the whole page around it for a browser without JavaScript."""
    if request.headers.get("HX-Request"):
        return render_template(template, **context), status
    return render_template("pharmacy.html", fragment=template, **context), status


@blp.route("/pharmacy/dispense", methods=["POST"], endpoint="dispense")
def dispense():
    return _dispense_write("dispense")


@blp.route("/pharmacy/undo-dispense", methods=["POST"], endpoint="undo_dispense")
def undo_dispense():
    """Undo a dispense made by mistake (EU FMD: the same pharmacy, within 10 days; the write path checks)."""
    return _dispense_write("undo_dispense")


def _dispense_write(action: str):
    """A dispense or its undo through the API's write path (outbox, relayer, chain), on the audit trail."""
    if not (g.person.may("dispense") and "dispenser" in g.person.organisation_roles):
        return _forbidden("dispense")
    text = _scanned(request.form.get("code", ""))[: gs1.MAX_INPUT_LENGTH]
    idem = re.sub(r"[^0-9a-f]", "", request.form.get("idem", ""))[:32] or uuid.uuid4().hex
    try:
        pack = gs1.parse(text, expect=(gs1.Kind.PACK,))
    except gs1.GS1Error as exc:
        _audit(action, text, f"unreadable: {exc.rule}")
        return _partial("dispensed.html", status=422, problem=f"{exc.message} ({exc.field}: {exc.rule})")
    subject = gs1.to_element_string(pack)
    try:
        with db().connection() as conn:
            row, _ = writes.submit(conn, g.person.principal(), action, {"packs": [pack]}, subject.encode(),
                                   f"web-{action}-{idem}")  # fmt: skip
            people.record(conn, g.person, action, subject, address(), f"accepted: operation {row['id']}")
    except writes.Rejected as exc:
        _audit(action, subject, f"refused: {exc.rule}")
        return _partial("dispensed.html", status=exc.status, problem=exc.message, action=action)
    return _partial("dispensed.html", status=202, operation=row, code=subject, undo_idem=uuid.uuid4().hex)


@blp.route("/pharmacy/operations/<uuid:operation_id>", endpoint="operation")
def operation(operation_id):
    """An accepted dispense, until the chain has it (the fragment polls itself while it is pending)."""
    with db().connection() as conn:
        row = outbox.get(conn, str(operation_id), g.person.organisation_id)
    if row is None:
        return render_template("error.html", title="Not found", message="No such operation of yours."), 404
    code = request.args.get("code", "")[: gs1.MAX_INPUT_LENGTH]
    return _partial("dispensed.html", operation=row, code=code, undo_idem=uuid.uuid4().hex)


# -- quality and inspectors: investigate a code -------------------------------------------------------------


@blp.route("/investigate", endpoint="investigate")
def investigate():
    """A pack's, case's, pallet's or lot's provenance, as the API shows it to the person's organisation."""
    if not g.person.may("investigate"):
        return _forbidden("investigate provenance")
    text = _scanned(request.args.get("code", ""))[: gs1.MAX_INPUT_LENGTH]
    if not text:
        return render_template("investigate.html", code="", prov=None, problem=None)
    try:
        item = gs1.parse(text, expect=(gs1.Kind.PACK, gs1.Kind.LOGISTIC_UNIT, gs1.Kind.LOT))
    except gs1.GS1Error as exc:
        _audit("investigate", text, f"unreadable: {exc.rule}")
        return render_template("investigate.html", code=text, prov=None,
                               problem=f"{exc.message} ({exc.field}: {exc.rule})"), 422  # fmt: skip
    if isinstance(item, gs1.Pack):
        build, args = provenance.pack_provenance, (item,)
    elif isinstance(item, gs1.LogisticUnit):
        build, args = provenance.unit_provenance, (item.sscc,)
    else:
        build, args = provenance.lot_provenance, (item.gtin, item.lot)
    subject = gs1.to_element_string(item)
    try:
        with db().connection() as conn:
            prov = provenance.seen_by(conn, g.person.principal(), build, *args).to_dict()
    except provenance.NotOnPath as exc:
        _audit("investigate", subject, "refused: not on path")
        return render_template("investigate.html", code=text, prov=None, problem="Your organisation took no part in "
                               f"the custody of this {exc.kind}: only its verdict may be shown to it."), 403  # fmt: skip
    except NotFound as exc:
        _audit("investigate", subject, "not found")
        return render_template("investigate.html", code=text, prov=None, problem=f"Not known here: {exc}."), 404
    _audit("investigate", subject, f"ok: {len(prov['timeline'])} events")
    return render_template("investigate.html", code=text, prov=prov, problem=None)


# -- quality and inspectors: the alerts inbox -------------------------------------------------------------


ALERTS_PAGE = 25


@blp.route("/alerts", endpoint="alerts")
def alerts_inbox():
    """The alerts the person's organisation may see (as GET /v1/alerts), newest first, by status."""
    if not g.person.may("alerts"):
        return _forbidden("read alerts")
    status, before = request.args.get("status", ""), request.args.get("before", "")
    if (status and status not in alerts.STATUSES) or (before and not before.isdigit()):
        return render_template("error.html", title="Bad request", message="status: one of "
                               f"{', '.join(alerts.STATUSES)}; before: a whole number"), 400  # fmt: skip
    organisation_id, account = access.alert_scope(access.Viewer.of(g.person.principal()))
    with db().connection() as conn:
        rows, next_id = alerts.list_alerts(conn, organisation_id, status=status or None,
                                           before=int(before) if before else None, limit=ALERTS_PAGE,
                                           account=account)  # fmt: skip
        names = alerts.organisations(conn, [p for r in rows for p in r["parties"]])
    return render_template("alerts.html", rows=rows, names=names, status=status, next_before=next_id,
                           statuses=alerts.STATUSES)  # fmt: skip


@blp.route("/alerts/<int:alert_id>/<any(acknowledge, close):step>", methods=["POST"], endpoint="alert_step")
def alert_step(alert_id: int, step: str):
    """Acknowledge an alert (with a note) or close it (with its resolution): the alert rules decide who may."""
    if not g.person.may("alerts"):
        return _forbidden("review alerts")
    principal = g.person.principal()
    regulator, account = principal.has_role("regulator"), access.alert_scope(access.Viewer.of(principal))[1]
    text = request.form.get("text", "").strip()[:2000]
    try:
        with db().connection() as conn:
            if step == "acknowledge":
                alerts.acknowledge(conn, alert_id, principal.organisation_id, regulator, text or None, account)
            else:
                alerts.close(conn, alert_id, principal.organisation_id, regulator, text, account)
            people.record(conn, g.person, f"alert_{step}", f"alert {alert_id}", address(), "ok")
    except NotFound:
        _audit(f"alert_{step}", f"alert {alert_id}", "refused: not found")
        return render_template("error.html", title="Not found", message=f"No alert {alert_id} of yours."), 404
    except (alerts.TransitionRefused, alerts.ClosureRefused) as exc:
        _audit(f"alert_{step}", f"alert {alert_id}", f"refused: {type(exc).__name__}")
        status = 409 if isinstance(exc, alerts.TransitionRefused) else 403
        return render_template("error.html", title="Not done", message=exc.message), status
    except ValueError as exc:
        return render_template("error.html", title="Not done", message=f"resolution: {exc}"), 422
    return redirect("/alerts", code=303)


# -- quality and inspectors: recalls ----------------------------------------------------------------------


def _may_recall() -> bool:
    return g.person.may("recall") and bool(set(writes.ACTIONS["recall"].roles) & set(g.person.organisation_roles))


@blp.route("/recalls", methods=["GET", "POST"], endpoint="recalls")
def recalls():
    """Recalled lots the organisation may see (as GET /v1/recalls); a lot's manufacturer or a regulator recalls
    one here, after a confirmation page (POST with `confirmed`)."""
    if not g.person.may("recall"):
        return _forbidden("see recalls")
    if request.method == "POST":
        return _recall(request.form.get("code", ""), request.form.get("confirmed") == "yes")
    viewer = access.lot_scope(access.Viewer.of(g.person.principal()))
    with db().connection() as conn:
        rows = queries.recalls(conn, viewer, limit=50).rows
        names = queries.parties(conn, [bytes(a) for r in rows for a in (r["manufacturer"], r["recalled_by"])])
    for r in rows:
        r["manufacturer_name"] = (names.get(bytes(r["manufacturer"])) or {}).get("name")
        r["recalled_by_name"] = (names.get(bytes(r["recalled_by"])) or {}).get("name")
        r["expiry_date"] = queries.expiry_date(r["expiry"])
    return render_template("recalls.html", rows=rows, may_recall=_may_recall())


def _recall(text: str, confirmed: bool):
    if not _may_recall():
        return _forbidden("recall lots")
    text = _scanned(text)[: gs1.MAX_INPUT_LENGTH]
    try:
        lot = gs1.parse(text, expect=(gs1.Kind.LOT,))
    except gs1.GS1Error as exc:
        return render_template("error.html", title="Not a lot", message=f"{exc.message} ({exc.field}: {exc.rule})"), 422
    subject = gs1.to_element_string(lot)
    if not confirmed:  # the confirmation page: what would be recalled
        with db().connection(autocommit=True) as conn:
            body = verify_service.verify(conn, lot, _requester()).body
            product = verify_service.product_details(conn, lot.gtin)
        return render_template("recall_confirm.html", body=body, product=product, code=subject)
    try:
        with db().connection() as conn:
            row, _ = writes.submit(conn, g.person.principal(), "recall", {"gtin": lot.gtin, "lot": lot.lot},
                                   subject.encode(), f"web-recall-{uuid.uuid4().hex}")  # fmt: skip
            people.record(conn, g.person, "recall", subject, address(), f"accepted: operation {row['id']}")
    except writes.Rejected as exc:
        _audit("recall", subject, f"refused: {exc.rule}")
        return render_template("error.html", title="Not recalled", message=exc.message), exc.status
    return render_template("recall_confirm.html", accepted=row, code=subject), 202


# -- the organisation's admin: invite and disable people ------------------------------------------------------


@blp.route("/admin/people", methods=["GET", "POST"], endpoint="admin_people")
def admin_people():
    if not g.person.may("admin_people"):
        return _forbidden("manage the organisation's people")
    link, problem, status = None, None, 200
    if request.method == "POST":
        form = request.form
        email = form.get("email", "")[:254]
        try:
            with db().connection() as conn:
                token = people.invite(conn, g.person, email, form.get("name", "")[:200], form.get("role", ""))
                people.record(conn, g.person, "invite", email, address(), f"ok: {form.get('role', '')}")
            link = f"{request.host_url}invite/{token}"
        except people.PersonError as exc:
            _audit("invite", email, f"refused: {exc.field}")
            problem, status = f"{exc.field}: {exc.problem}", 422
    with db().connection() as conn:
        rows = people.list_people(conn, g.person.gln)
    roles = [r for r in access.PERSON_ROLES if set(access.PERSON_ROLE_NEEDS[r]) & set(g.person.organisation_roles)]
    return render_template("admin.html", rows=rows, roles=roles, link=link, problem=problem), status


@blp.route("/admin/people/<int:person_id>/disable", methods=["POST"], endpoint="disable_person")
def disable_person(person_id: int):
    if not g.person.may("admin_people"):
        return _forbidden("manage the organisation's people")
    with db().connection() as conn:
        email = people.disable_colleague(conn, g.person, person_id)
        people.record(conn, g.person, "disable_person", email or str(person_id), address(),
                      "ok" if email else "refused: not an enabled colleague")  # fmt: skip
    return redirect("/admin/people", code=303)


@blp.route("/invite/<token>", methods=["GET", "POST"], endpoint="invite")
def accept_invite(token: str):
    """The invited person sets a password through the admin's one-time link (no session needed)."""
    with db().connection() as conn:
        row = people.invited(conn, token[:64])
    if row is None:
        return render_template("error.html", title="Invitation not valid",
                               message="This invitation link is unknown, used or expired. Ask your admin for a new one."), 404  # fmt: skip
    if request.method == "GET":
        return render_template("invite.html", invited=row, problem=None)
    password = request.form.get("password", "")
    if password != request.form.get("confirm", ""):
        return render_template("invite.html", invited=row, problem="The two passwords differ."), 422
    try:
        with db().connection() as conn:
            person = people.accept_invite(conn, token[:64], password)
            people.record(conn, person, "accept_invite", "", address(), "ok" if person else "refused: spent")
    except people.PersonError as exc:
        return render_template("invite.html", invited=row, problem=f"Password {exc.problem}."), 422
    if person is None:
        return render_template("error.html", title="Invitation not valid", message="This invitation was used."), 404
    start_session(person)
    return redirect("/", code=303)


# -- the audit trail ---------------------------------------------------------------------------------------


@blp.route("/audit", endpoint="audit")
def audit():
    before = request.args.get("before", "")
    if before and not before.isdigit():
        return render_template("error.html", title="Bad request", message="before: must be a whole number"), 400
    with db().connection() as conn:
        rows = people.audit_page(conn, g.person, int(before) if before else None)
    if rows is None:
        return _forbidden("read the audit trail")
    more = len(rows) == people.AUDIT_PAGE
    for row in rows:
        row["at"] = row["at"].astimezone(UTC)
    return render_template("audit.html", rows=rows, next_before=rows[-1]["id"] if rows and more else None)


AUDIT_COLUMNS = ("id", "at", "email", "organisation", "action", "subject", "address", "outcome")


@blp.route("/audit.csv", endpoint="audit_csv")
def audit_csv():
    """Every entry the person may read, newest first, read a thousand at a time."""
    with db().connection() as conn:
        first = people.audit_page(conn, g.person, None, CSV_BATCH)
        if first is None:
            return _forbidden("read the audit trail")
        people.record(conn, g.person, "audit_export", "audit.csv", address(), "ok")
    person = g.person

    def rows():
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(AUDIT_COLUMNS)
        batch = first
        while batch:
            for row in batch:
                writer.writerow([_csv_cell(row[c]) for c in AUDIT_COLUMNS])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if len(batch) < CSV_BATCH:
                break
            with db().connection() as conn:
                batch = people.audit_page(conn, person, batch[-1]["id"], CSV_BATCH)

    return Response(stream_with_context(rows()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit.csv"'})  # fmt: skip


def _csv_cell(value) -> str:
    """A cell as text; one a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    text = value.isoformat() if hasattr(value, "isoformat") else "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
