"""Authentication gate: every route is closed unless its view is explicitly marked public.

Callers authenticate with an organisation API key, ``Authorization: Bearer pt_<prefix>_<secret>``
(created with ``pharmatrack key create``). The principal (organisation, GLN, roles) is put on
``flask.g.principal``; views restrict further with ``@requires_roles(...)``.

The pages (app/web, the blueprints in ``SESSION_BLUEPRINTS``) are not behind this gate: people sign in with
sessions there, and a session cookie is no credential here.
"""

from __future__ import annotations

import functools
import hashlib
import time

from flask import Flask, Response, current_app, g, request

from app.api import ratelimit
from app.api.problems import problem
from app.services import orgs

PUBLIC_ATTR = "_pharmatrack_public"
KEY_CHECKED_ATTR = "_pharmatrack_key_checked"
SECURITY = [{"ApiKey": []}]  # OpenAPI security requirement of every non-public operation
OPTIONAL_SECURITY = [{}, {"ApiKey": []}]  # public, or with an API key (see public_key_checked)


def public(view):
    """Mark a view (function or MethodView class) as reachable without credentials."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def public_key_checked(view):
    """Public, but an API key that comes with the request is still checked (a bad one is a 401, a good one
    sets the principal): public data (product master data) answered the same to a client that always
    sends its key, which also pays for the same authentication as on the closed routes."""
    setattr(view, KEY_CHECKED_ATTR, True)
    return public(view)


def _view_attr(app: Flask, endpoint: str, attr: str) -> bool:
    view = app.view_functions.get(endpoint)
    if view is None:
        return False
    return bool(getattr(view, attr, False) or getattr(getattr(view, "view_class", None), attr, False))


def is_public(app: Flask, endpoint: str | None) -> bool:
    if endpoint is None:
        return True  # no route matched: let the 404/405 handler answer
    if endpoint in app.config.get("PUBLIC_ENDPOINTS", ()):
        return True
    return _view_attr(app, endpoint, PUBLIC_ATTR)


def _unauthorized(rule: str):
    resp = problem(
        401,
        "Unauthorized",
        "this route needs an organisation API key: Authorization: Bearer pt_…",
        errors={"headers": {"Authorization": [rule]}},
    )
    resp.headers["WWW-Authenticate"] = 'Bearer realm="pharmatrack"'
    return resp


def requires_roles(*roles: str):
    """Allow the view only to organisations holding one of `roles` (403 otherwise)."""
    unknown = set(roles) - set(orgs.ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            principal = g.get("principal")
            if principal is None or not principal.has_role(*roles):
                return problem(
                    403,
                    "Forbidden",
                    f"this action needs the role {' or '.join(roles)}; your organisation has "
                    f"{', '.join(principal.roles) if principal else 'none'}",
                )
            return fn(*args, **kwargs)

        return wrapper

    return decorate


class KeyCache:
    """Valid keys seen in the last `ttl` seconds (by their SHA-256): most requests skip the key lookup.
    A revoked key, or a suspended organisation, is refused within `ttl`."""

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: float):
        self.ttl = ttl
        self.entries: dict[bytes, tuple[orgs.Principal, float]] = {}

    def get(self, key: str) -> orgs.Principal | None:
        if self.ttl <= 0:
            return None
        hit = self.entries.get(hashlib.sha256(key.encode()).digest())
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    def put(self, key: str, principal: orgs.Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self.entries) >= self.MAX_ENTRIES:
            self.entries.clear()
        self.entries[hashlib.sha256(key.encode()).digest()] = (principal, time.monotonic() + self.ttl)


def register(app: Flask) -> None:
    ext = app.extensions["pharmatrack"]
    cache = KeyCache(ext.settings.api_key_cache_seconds)
    limiter = ratelimit.RateLimiter(
        ext.db,
        ext.settings.rate_limit_window_seconds,
        ext.settings.rate_limit_auth_failures,
        ext.settings.rate_limit_key_requests,
    )
    app.extensions["pharmatrack.ratelimit"] = limiter

    @app.before_request
    def _require_credentials():
        header = request.headers.get("Authorization", "")
        # a page (app/web) is its session gate's to decide: an API key is no credential there
        if request.blueprint in current_app.config.get("SESSION_BLUEPRINTS", ()) or (
            is_public(current_app, request.endpoint)
            and not (header and request.endpoint and _view_attr(current_app, request.endpoint, KEY_CHECKED_ATTR))
        ):
            return None
        scheme, _, key = header.partition(" ")
        if not header:
            return _unauthorized("required")
        if scheme.lower() != "bearer" or not key.strip():
            return _unauthorized("must be 'Bearer <API key>'")
        key = key.strip()
        principal = cache.get(key)
        if principal is None:
            principal = _look_up(key)
            if not isinstance(principal, orgs.Principal):
                return principal  # the 401 or 429 answer
            cache.put(key, principal)
        if retry := limiter.hit(principal.key_prefix):
            return ratelimit.too_many(retry, "this API key's request limit is reached")
        g.principal = principal
        return None

    def _look_up(key: str) -> orgs.Principal | Response:
        """The key's principal from the database, or the answer refusing it (failed attempts are
        counted per client address: app/api/ratelimit.py)."""
        if retry := limiter.address_blocked(request.remote_addr):
            return ratelimit.too_many(retry, "too many failed authentications from this address")
        db = current_app.extensions["pharmatrack"].db
        with db.connection() as conn:
            principal = orgs.authenticate(conn, key)
        if principal is None:
            if retry := limiter.failed(request.remote_addr):
                return ratelimit.too_many(retry, "too many failed authentications from this address")
            return _unauthorized("unknown, revoked or suspended API key")
        return principal
