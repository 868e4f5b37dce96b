"""GET /v1/operations/{id}: the caller's own operations only (regulators see all)."""

import uuid

import psycopg2
import pytest

from app.services import orgs, outbox


@pytest.fixture
def keys(database_url):
    conn = psycopg2.connect(database_url)
    with conn:
        pharmacy = orgs.add_organisation(conn, "Riverside Pharmacy", "9506000000039", "0x" + "ab" * 20, ["dispenser"])
        orgs.add_organisation(conn, "Hilltop Pharmacy", "9506000000046", "0x" + "cd" * 20, ["dispenser"])
        orgs.add_organisation(conn, "Medicines Agency", "9506000000053", "0x" + "ef" * 20, ["regulator"])
        keys = {gln: orgs.create_key(conn, gln, "test") for gln in ("9506000000039", "9506000000046", "9506000000053")}
        operation, _ = outbox.accept(conn, pharmacy, "ship", {"units": ["x"]}, "scan-1")
    conn.close()
    return keys, str(operation["id"])


def _get(client, key, operation_id):
    return client.get(f"/v1/operations/{operation_id}", headers={"Authorization": f"Bearer {key}"})


def test_the_owner_sees_its_operation(client, keys):
    by_gln, operation_id = keys
    resp = _get(client, by_gln["9506000000039"], operation_id)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["id"] == operation_id
    assert (body["action"], body["status"], body["tx_hash"]) == ("ship", "pending", None)


def test_another_organisation_gets_404_and_a_regulator_sees_it(client, keys):
    by_gln, operation_id = keys
    assert _get(client, by_gln["9506000000046"], operation_id).status_code == 404
    assert _get(client, by_gln["9506000000053"], operation_id).status_code == 200


@pytest.mark.parametrize("operation_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_or_malformed_ids_are_404(client, keys, operation_id):
    by_gln, _ = keys
    resp = _get(client, by_gln["9506000000039"], operation_id)
    assert resp.status_code == 404
    assert resp.content_type == "application/problem+json"


def test_without_a_key_it_is_401(client, keys):
    _, operation_id = keys
    assert client.get(f"/v1/operations/{operation_id}").status_code == 401
