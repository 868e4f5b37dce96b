"""Authentication gate: every route is closed unless its view is explicitly marked public.

Organisation API keys arrive with the write path; until then the only open routes are the
ones marked with ``@public`` (health, readiness, the OpenAPI document, the docs page and the
foundation's read-only probe).
"""

from __future__ import annotations

from flask import Flask, current_app, request

from app.api.problems import problem

PUBLIC_ATTR = "_pharmatrack_public"


def public(view):
    """Mark a view (function or MethodView class) as reachable without credentials."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def is_public(app: Flask, endpoint: str | None) -> bool:
    if endpoint is None:
        return True  # no route matched: let the 404/405 handler answer
    if endpoint in app.config.get("PUBLIC_ENDPOINTS", ()):
        return True
    view = app.view_functions.get(endpoint)
    if view is None:
        return False
    return bool(getattr(view, PUBLIC_ATTR, False) or getattr(getattr(view, "view_class", None), PUBLIC_ATTR, False))


def register(app: Flask) -> None:
    @app.before_request
    def _require_credentials():
        if is_public(current_app, request.endpoint):
            return None
        return problem(
            401,
            "Unauthorized",
            "this route needs an organisation API key in the Authorization header",
            errors={"headers": {"Authorization": ["required"]}},
        )
