"""JSON bodies are parsed with bounds: a deeply nested body is a 400 naming the rule (it used to kill
the gunicorn worker with SIGSEGV), duplicate keys a 422 naming the key, an oversized body a 413;
a 100,000-serial lot still fits."""

from __future__ import annotations

import http.client
import json
import threading

import pytest

from app.api import jsonbody

from .conftest import add_key

NESTED = b"[" * 100_000 + b"]" * 100_000
PROBLEM = "application/problem+json"


@pytest.fixture
def key(database_url):
    return add_key(database_url, roles=("manufacturer", "dispenser"))


def _post(client, key, path, data, content_type="application/json"):
    return client.post(path, data=data, content_type=content_type,
                       headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "k1"})  # fmt: skip


def test_nested_brackets_do_not_crash_the_gunicorn_worker(database_url, anvil, gunicorn_factory):
    server = gunicorn_factory(database_url, anvil.rpc_url)
    workers = server.worker_pids()
    for path in ("/v1/dispensations", "/v1/verify", "/v1/lots"):
        for body in (NESTED, b'{"packs": ' + NESTED + b"}", b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
            answer = server.request("POST", path, body, headers={"Idempotency-Key": "deep"})
            assert answer.status == 400, answer
            assert answer.headers["Content-Type"] == PROBLEM
            assert answer.json()["errors"] == {"json": ["depth: arrays and objects nested deeper than 32 levels"]}
    # an oversized body is refused from its Content-Length, before it is read (the server then
    # closes the connection: a client still sending sees the 413 or a broken pipe)
    conn = http.client.HTTPConnection(server.base.removeprefix("http://"), timeout=30)
    conn.putrequest("POST", "/v1/dispensations")
    for name, value in {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json",
                        "Idempotency-Key": "big", "Content-Length": "9000000"}.items():  # fmt: skip
        conn.putheader(name, value)
    conn.endheaders()
    big = conn.getresponse()
    assert big.status == 413
    assert json.loads(big.read())["errors"] == {"body": {"size": ["at most 8388608 bytes"]}}
    conn.close()
    assert server.worker_pids() == workers, "a worker died"
    assert server.request("GET", "/v1/me").status == 200
    assert "SIGSEGV" not in server.log() and "Worker (pid" not in server.log()


@pytest.mark.parametrize("path", ["/v1/dispensations", "/v1/verify"])
def test_nesting_is_bounded_by_the_setting(client, key, path):
    body = {"codes": [[[["x"]]]]}
    deep = json.dumps(body).replace("[[[", "[" * 31).replace("]]]", "]" * 31)  # depth 33
    resp = _post(client, key, path, deep)
    assert resp.status_code == 400 and resp.mimetype == PROBLEM
    assert "depth" in resp.get_json()["errors"]["json"][0]
    ok = json.dumps({"codes": ["(01)09506000134352(21)X1"]})
    assert _post(client, key, "/v1/verify", ok).status_code == 200


@pytest.mark.parametrize(
    ("body", "key_name"),
    [
        ('{"packs": ["a"], "packs": ["b"]}', "packs"),
        ('{"codes": [{"x": 1, "y": 2, "x": 3}]}', "x"),
    ],
)
def test_duplicate_keys_are_refused_naming_the_key(client, key, body, key_name):
    for path in ("/v1/dispensations", "/v1/verify"):
        resp = _post(client, key, path, body)
        assert resp.status_code == 422 and resp.mimetype == PROBLEM, resp.get_json()
        assert resp.get_json()["errors"]["json"][key_name][0].startswith("duplicate_key: ")


def test_a_colon_in_a_string_or_an_escaped_colon_is_not_a_duplicate(client, key):
    body = (
        '{"codes": ["https://id.gs1.org/01/09506000134352/21/X1", "https\\u003a//id.gs1.org/01/09506000134352/21/X2"]}'
    )
    resp = _post(client, key, "/v1/verify", body)
    assert resp.status_code == 200, resp.get_json()
    assert len(resp.get_json()["results"]) == 2


def test_malformed_json_names_the_syntax_rule(client, key):
    resp = _post(client, key, "/v1/dispensations", '{"packs": [')
    assert resp.status_code == 400
    assert resp.get_json()["errors"]["json"][0].startswith("syntax: Invalid JSON body: ")


def test_an_oversized_body_is_413(settings):
    from app import create_app

    app = create_app(settings.replace(max_body_bytes=4096))
    client = app.test_client()
    key = add_key(settings.database_url, roles=("dispenser",))
    resp = _post(client, key, "/v1/dispensations", json.dumps({"packs": ["x" * 5000]}))
    assert resp.status_code == 413 and resp.mimetype == PROBLEM
    assert resp.get_json()["errors"] == {"body": {"size": ["at most 4096 bytes"]}}
    assert _post(client, key, "/v1/dispensations", json.dumps({"packs": []})).status_code == 422
    app.extensions["pharmatrack"].db.close()


def test_a_100000_serial_lot_fits_the_default_size_and_reaches_the_schema(client, key, settings):
    serials = [f"SER{n:017d}" for n in range(100_000)]  # 20 characters, the longest AI 21 serial
    body = json.dumps({"gtin": "09506000134353", "lot": "L1", "expiry": "2030-12-31", "serials": serials})
    assert settings.max_body_bytes > len(body) > 2_000_000
    resp = _post(client, key, "/v1/lots", body)
    # the wrong check digit of the GTIN is what is refused: the body got through the bounds
    assert resp.status_code == 422, resp.get_json()
    assert "check_digit" in str(resp.get_json()["errors"]["json"]["gtin"])


def test_an_escaped_colon_cannot_hide_a_duplicate_key():
    """The escape adds a ':' to orjson's re-serialisation as the duplicate takes one away."""
    with pytest.raises(jsonbody.BodyError) as refused:
        jsonbody.loads(b'{"a": 1, "a": 2, "b": "\\u003a"}')
    assert (refused.value.status, refused.value.key) == (422, "a")
    assert jsonbody.loads(b'{"a": 1, "b": "\\u003a"}') == {"a": 1, "b": ":"}


def test_big_integers_keep_their_exact_value():
    assert jsonbody.loads(b'{"n": 18446744073709551617}') == {"n": 18446744073709551617}
    assert jsonbody.loads(b'{"s": "18446744073709551617", "f": 1.5}') == {"s": "18446744073709551617", "f": 1.5}


def test_the_parser_is_safe_in_a_thread_with_a_small_stack():
    errors = []

    def parse():
        try:
            jsonbody.loads(b"[" * 1_000_000 + b"]" * 1_000_000)
        except jsonbody.BodyError as exc:
            errors.append(exc)

    old = threading.stack_size(256 * 1024)
    try:
        thread = threading.Thread(target=parse)
        thread.start()
        thread.join(30)
    finally:
        threading.stack_size(old)
    assert [e.rule for e in errors] == ["depth"]
