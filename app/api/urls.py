"""Malformed %-escapes in the request URL are refused (400 naming the path or query parameter).

A ``%`` not followed by two hex digits is not valid percent-encoding (RFC 3986 §2.1), but WSGI servers pass
it through literally: ``/01/09506000134352/21/%ZZ`` would be read as the serial ``%ZZ`` (a valid GS1
serial, since ``%`` is in character set 82). The raw request target is what the client sent: gunicorn gives
it as ``RAW_URI``, werkzeug's server as ``REQUEST_URI``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from flask import Flask, request

from app.api.problems import problem

BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
RULE = "percent_encoding: a % must be followed by two hex digits (write a literal % as %25)"


def _bad(text: str) -> str | None:
    found = BAD_ESCAPE.search(text)
    return text[found.start() : found.start() + 3] if found else None


def _refuse_malformed_escapes():
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw or "%" not in raw:
        return None
    path, _, query = raw.partition("?")
    if (bad := _bad(path)) is not None:
        # After routing: the path parameter that holds the escape literally, else the path as a whole.
        names = [k for k, v in (request.view_args or {}).items() if isinstance(v, str) and bad in v]
        return _problem("path", names[0] if names else "path", bad)
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if (bad := _bad(name) or _bad(value)) is not None:
            return _problem("query", unquote(name.replace("+", " ")) if not _bad(name) else "query", bad)
    return None


def _problem(location: str, field: str, bad: str):
    return problem(
        400,
        "Bad Request",
        f"malformed %-escape {bad!r} in the URL's {location}",
        errors={location: {field: [RULE]}},
        code="percent_encoding",
    )


def register(app: Flask) -> None:
    app.before_request(_refuse_malformed_escapes)
