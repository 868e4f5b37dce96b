"""Rate limits: failed authentications per address and requests per API key, shared by every
process through Postgres; 429 problem documents with Retry-After."""

from __future__ import annotations

import secrets

import psycopg2
import pytest

from app import create_app

from .conftest import add_key


def _fake_key() -> str:
    return f"pt_{secrets.token_hex(5)}_{secrets.token_urlsafe(32)[:43]}"


def _app(settings, **changes):
    return create_app(settings.replace(**changes))


@pytest.fixture
def apps():
    made = []

    def make(settings, **changes):
        app = _app(settings, **changes)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["pharmatrack"].db.close()


def test_failed_keys_from_one_address_get_429_with_retry_after(settings, apps):
    app = apps(settings, rate_limit_auth_failures=5, rate_limit_window_seconds=3600)
    client = app.test_client()
    good = add_key(settings.database_url)
    statuses = [client.get("/v1/me", headers={"Authorization": f"Bearer {_fake_key()}"}).status_code
                for _ in range(8)]  # fmt: skip
    assert statuses == [401] * 5 + [429] * 3
    resp = client.get("/v1/me", headers={"Authorization": f"Bearer {_fake_key()}"})
    assert resp.status_code == 429 and resp.mimetype == "application/problem+json"
    assert 1 <= int(resp.headers["Retry-After"]) <= 3600
    assert resp.get_json()["errors"]["headers"]["Authorization"][0].startswith("rate_limited: ")
    # another address is not affected
    other = client.get("/v1/me", headers={"Authorization": f"Bearer {_fake_key()}"},
                       environ_base={"REMOTE_ADDR": "10.1.2.3"})  # fmt: skip
    assert other.status_code == 401
    # the blocked address is refused even with a valid key (no key cache in the tests' settings)
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {good}"}).status_code == 429


def test_failed_authentications_are_counted_across_processes(settings, apps):
    first = apps(settings, rate_limit_auth_failures=4, rate_limit_window_seconds=3600).test_client()
    second = apps(settings, rate_limit_auth_failures=4, rate_limit_window_seconds=3600).test_client()
    headers = {"Authorization": f"Bearer {_fake_key()}"}
    assert [first.get("/v1/me", headers=headers).status_code for _ in range(3)] == [401] * 3
    assert [second.get("/v1/me", headers=headers).status_code for _ in range(2)] == [401, 429]


def test_an_api_key_over_its_limit_gets_429_and_the_count_is_shared(settings, apps):
    first_app = apps(settings, rate_limit_key_requests=5, rate_limit_window_seconds=3600)
    second_app = apps(settings, rate_limit_key_requests=5, rate_limit_window_seconds=3600)
    first, second = first_app.test_client(), second_app.test_client()
    key = add_key(settings.database_url)
    other = add_key(settings.database_url, gln="9506000000046")
    headers = {"Authorization": f"Bearer {key}"}
    assert [first.get("/v1/me", headers=headers).status_code for _ in range(3)] == [200] * 3
    first_app.extensions["pharmatrack.ratelimit"].flush()  # what its background thread does each second
    assert [second.get("/v1/me", headers=headers).status_code for _ in range(2)] == [200, 200]
    second_app.extensions["pharmatrack.ratelimit"].flush()
    resp = second.get("/v1/me", headers=headers)
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 3600
    assert "request limit" in resp.get_json()["detail"]
    # the first process has not heard of the second's requests yet: one more passes (at most a
    # second of traffic), and its next flush reads the shared total back
    assert first.get("/v1/me", headers=headers).status_code == 200
    first_app.extensions["pharmatrack.ratelimit"].flush()
    assert first.get("/v1/me", headers=headers).status_code == 429
    assert first.get("/v1/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    conn = psycopg2.connect(settings.database_url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT relpersistence FROM pg_class WHERE relname = 'rate_limit_counters'")
        assert cur.fetchone() == ("u",)  # unlogged
        cur.execute("SELECT bucket FROM rate_limit_counters")
        buckets = [b for (b,) in cur.fetchall()]
    conn.close()
    assert buckets and not any(key.split("_")[-1] in b for b in buckets)  # never the secret


def test_the_background_thread_shares_the_counts(settings, apps):
    import time

    app = apps(settings, rate_limit_key_requests=1000, rate_limit_window_seconds=3600)
    key = add_key(settings.database_url)
    client = app.test_client()
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    deadline = time.monotonic() + 20
    while True:
        conn = psycopg2.connect(settings.database_url)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT sum(hits) FROM rate_limit_counters WHERE bucket LIKE 'key:%%'")
            (hits,) = cur.fetchone()
        conn.close()
        if hits == 1:
            break
        assert time.monotonic() < deadline, "the key's count never reached the shared table"
        time.sleep(0.2)
