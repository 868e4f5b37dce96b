"""JSON request bodies, parsed once, with bounds: size, nesting depth, duplicate keys.

Why: Python's json module recurses in C; a body of 100,000 nested brackets overflowed the
stack of a gunicorn request thread (SIGSEGV: the worker and all its requests died). Here:

- the size is bounded by MAX_CONTENT_LENGTH (MAX_BODY_BYTES): 413 problem document;
- the body is parsed by orjson: it stops at 1024 levels with an error (checked in a thread with a
  256 KB stack), and is ~10x faster than Python's json on a 100,000-serial lot;
- the parsed document's depth is then checked iteratively against JSON_MAX_DEPTH: 400 naming the
  rule. A document holding a float beyond int64, where the body has a 19+ digit number, is parsed
  again by Python's json (its depth now known to be small), as orjson turns big integers into
  floats and would change their value;
- duplicate keys in an object are refused (422 naming the key): orjson keeps the last one
  silently, so the ``:`` in the body are counted against those in orjson's re-serialisation
  (both C-speed); only when they differ is the body parsed again by Python's json with an
  object_pairs_hook, which names the key.

The result is cached on the request, so webargs (flask-smorest's ``@blp.arguments``, via
GuardedParser) and ``request.get_json()`` use it without parsing again.
"""

from __future__ import annotations

import json
import re

import orjson
from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest.arguments import ArgumentsMixin
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import RequestEntityTooLarge

BIG_INT = re.compile(rb"\d{19,}")  # may not fit int64: orjson parses those as floats
INT64 = 2**63
_CONTAINERS = (dict, list)


class BodyError(ValueError):
    """A JSON body refused before it reached a schema."""

    def __init__(self, status: int, rule: str, message: str, key: str | None = None):
        super().__init__(message)
        self.status = status
        self.rule = rule
        self.message = message
        self.key = key


class _Duplicate(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


def _too_deep(max_depth: int) -> BodyError:
    return BodyError(400, "depth", f"arrays and objects nested deeper than {max_depth} levels")


def _walk(value, max_depth: int) -> bool:
    """Check the parsed document's depth (iteratively); True when it holds a float that may be
    an integer orjson could not keep exact."""
    big = False
    stack = [(value, 1)] if isinstance(value, _CONTAINERS) else []
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise _too_deep(max_depth)
        for item in node.values() if type(node) is dict else node:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif kind is float and not -INT64 <= item < INT64:
                big = True
    return big


def _python_parse(data: bytes):
    """Python's json (exact big integers), refusing duplicate keys. Only after the depth is known
    to be within bounds: it recurses in C."""
    try:
        return json.loads(data, object_pairs_hook=_refuse_duplicates)
    except _Duplicate as dup:
        raise BodyError(422, "duplicate_key", "the key appears more than once in one object", key=dup.key) from None


def loads(data: bytes | str, max_depth: int = 32):
    """Parse a JSON document within the bounds above; BodyError when refused."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    try:
        value = orjson.loads(data)  # iterative-safe: its own depth limit (1024), then an error
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise _too_deep(max_depth) from None
        raise BodyError(400, "syntax", f"Invalid JSON body: {exc}") from None
    if _walk(value, max_depth) and BIG_INT.search(data):
        return _python_parse(data)
    # Every ':' outside strings separates a member; orjson keeps the last of duplicate keys, so a
    # duplicate shows as fewer ':' in its re-serialisation (which writes ':' in strings as is). A
    # difference is settled by Python's json, which names the key. An escape (\u003a) adds a ':' to
    # the re-serialisation and could hide a duplicate's missing one: a body with escapes is settled
    # by Python's json too.
    if b"\\u" in data or data.count(b":") != orjson.dumps(value).count(b":"):
        return _python_parse(data)
    return value


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON: answers are written as before; request bodies are read with the bounds."""

    def loads(self, s: str | bytes, **kwargs):
        return loads(s, self._app.config.get("JSON_MAX_DEPTH", 32))


class GuardedParser(FlaskParser):
    """webargs reads the body the guard parsed (request.get_json's cache), never json.loads."""

    def _raw_load_json(self, req: Request):
        if not is_json_request(req):
            return core.missing
        cached = req._cached_json[False]  # Flask's cache, filled by _parse_json_body below
        if cached is not Ellipsis:
            return cached
        # not parsed by the guard: an empty body (webargs answers 400 "Invalid JSON body.")
        return core.parse_json(req.get_data(cache=True)[:1])


ArgumentsMixin.ARGUMENTS_PARSER = GuardedParser()


def _problem_for(exc: BodyError):
    from app.api.problems import problem

    if exc.key is not None:
        return problem(exc.status, "Unprocessable Entity", f"{exc.key!r}: {exc.message}",
                       errors={"json": {exc.key: [f"{exc.rule}: {exc.message}"]}})  # fmt: skip
    return problem(exc.status, "Bad Request", exc.message, errors={"json": [f"{exc.rule}: {exc.message}"]})


def register(app: Flask, max_body_bytes: int, max_depth: int) -> None:
    """Install the bounds on `app` (after the authentication gate: strangers' bodies are not parsed)."""
    from app.api.problems import problem

    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.config["JSON_MAX_DEPTH"] = max_depth
    app.json = GuardedJSONProvider(app)

    @app.before_request
    def _parse_json_body():
        if "json" not in request.environ.get("CONTENT_TYPE", "") or not request.is_json:
            return None  # the first test is the cheap one (a GET on the verify hot path)
        data = request.get_data(cache=True)
        if not data:
            return None
        try:
            value = loads(data, max_depth)
        except BodyError as exc:
            return _problem_for(exc)
        request._cached_json = (value, value)  # what get_json(silent=False/True) returns from now on
        return None

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc):
        return problem(413, "Content Too Large", f"the body is larger than {max_body_bytes} bytes",
                       errors={"body": {"size": [f"at most {max_body_bytes} bytes"]}})  # fmt: skip
