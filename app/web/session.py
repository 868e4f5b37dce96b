"""The pages' blueprint, its session gate and CSRF check, security headers and assets (app/web/__init__.py
says how sessions work)."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from pathlib import Path

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, send_from_directory
from flask import session as flask_session
from flask_wtf.csrf import CSRFError, CSRFProtect

from app.config import PROJECT_ROOT
from app.services import people

blp = Blueprint("web", __name__, template_folder="templates")
csrf = CSRFProtect()

STATIC = Path(__file__).resolve().parent / "static"
NODE_MODULES = PROJECT_ROOT / "node_modules"
# /assets/<name> -> the file served (ours, or an npm package's built file)
ASSETS = {
    "app.css": STATIC / "app.css",
    "app.js": STATIC / "app.js",
    "htmx.min.js": NODE_MODULES / "htmx.org" / "dist" / "htmx.min.js",
    # the camera's DataMatrix reader: @zxing/library's browser build (@zxing/browser ships ES modules only, with
    # bare imports no browser resolves without a bundler; the library's UMD build holds the same reader)
    "zxing.min.js": NODE_MODULES / "@zxing" / "library" / "umd" / "index.min.js",
}
OPEN_ENDPOINTS = frozenset({"web.login", "web.asset", "web.invite"})  # reachable without a session
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
    "connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def secret_key(path: Path) -> str:
    """The key that signs session cookies, shared by every worker: made once (0600) where none exists.
    Written to a temporary file and linked into place, so a worker never reads a half-written key."""
    for _ in range(3):
        try:
            key = path.read_text().strip()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".session-secret-")
            try:
                os.write(fd, secrets.token_hex(32).encode())
                os.close(fd)
                with contextlib.suppress(FileExistsError):  # another worker made it first: read theirs
                    os.link(tmp, path)
            finally:
                os.unlink(tmp)
            continue
        if len(key) >= 32:
            return key
        raise ValueError(f"{path}: the session secret is shorter than 32 characters")
    raise RuntimeError(f"{path}: could not create the session secret")


def throttle() -> people.Throttle:
    s = current_app.extensions["pharmatrack"].settings
    return people.Throttle(s.login_throttle_window_seconds, s.login_throttle_account, s.login_throttle_address)


def db():
    return current_app.extensions["pharmatrack"].db


def address() -> str:
    return request.remote_addr or ""


def start_session(person: people.Person) -> None:
    flask_session.clear()  # nothing of a previous session carries over
    flask_session.permanent = True
    flask_session.update(
        pid=person.id,
        gen=person.generation,
        exp=int(time.time() + current_app.permanent_session_lifetime.total_seconds()),
    )


def _session_person() -> people.Person | None:
    pid, gen, exp = flask_session.get("pid"), flask_session.get("gen"), flask_session.get("exp")
    if not (isinstance(pid, int) and isinstance(gen, int) and isinstance(exp, int)) or exp < time.time():
        return None
    with db().connection() as conn:
        return people.current(conn, pid, gen)


def to_sign_in():
    """Back to the sign-in page; an htmx request is told to load it (HX-Redirect), not to swap it in."""
    if request.headers.get("HX-Request"):
        resp = current_app.response_class(status=401)
        resp.headers["HX-Redirect"] = "/login"
        return resp
    return redirect("/login", code=303)


def _nul_field() -> str | None:
    """The first query or form field whose name or value holds a NUL (Postgres text cannot, and no scanner sends one)."""
    for source in (request.args, request.form) if request.method == "POST" else (request.args,):
        for name, value in source.items(multi=True):
            if "\x00" in name or "\x00" in value:
                return name.replace("\x00", "\ufffd")
    return None


@blp.before_request
def _gate():
    if (field := _nul_field()) is not None:
        return render_template("error.html", title="Input refused",
                               message=f"{field}: no_nul: a NUL character is not allowed."), 400  # fmt: skip
    if request.method == "POST":
        csrf.protect()  # a form without a valid token: CSRFError, 400 below
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    person = _session_person()
    if person is None:
        flask_session.clear()
        return to_sign_in()
    g.person = person
    return None


@blp.after_request
def _headers(resp):
    resp.headers["Content-Security-Policy"] = PAGE_CSP
    if request.endpoint != "web.asset":
        resp.headers["Cache-Control"] = "no-store"
    return resp


@blp.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError):
    return render_template("error.html", title="Form refused",
                           message="This form was not sent from a page of this site, or it has expired "
                           f"({exc.description}). Reload the page and try again."), 400  # fmt: skip


@blp.route("/assets/<name>", endpoint="asset")
def _asset(name: str):
    path = ASSETS.get(name)
    if path is None or not path.is_file():
        abort(404)
    return send_from_directory(path.parent, path.name, max_age=3600)
