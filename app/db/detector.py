"""The detector's evidence: reads of the verification log, the chain mirror and the organisations
(app/detector). Reads only: the detector writes `alerts` through app/db/alerts.py, marks the log's
rows through app/db/verifications.py and moves its cursor through app/db/detector_cursor.py.
"""

from __future__ import annotations

from typing import NamedTuple

from app.db import fetch_all, fetch_one

MANUFACTURER_ORGANISATION = """
SELECT o.id FROM ev_product_registered p JOIN organisations o ON o.account = p.manufacturer WHERE p.gtin = %s LIMIT 1
"""
SEEN_ELSEWHERE = """
SELECT id, at, requester_gln, organisation_id, channel FROM verifications
WHERE sgtin_id = %(sgtin)s AND id <> %(id)s AND requester_gln <> %(gln)s
  AND at BETWEEN %(at)s - make_interval(secs => %(window)s) AND %(at)s + make_interval(secs => %(window)s)
ORDER BY abs(extract(epoch FROM at - %(at)s)) LIMIT 1
"""
FAILURES = """
SELECT count(*) AS n FROM verifications
WHERE organisation_id = %s AND verdict = ANY(%s) AND at > %s - make_interval(secs => %s) AND at <= %s
"""
INDEXED_UP_TO = "SELECT block_number FROM indexer_cursor WHERE name = 'main'"
# Each excursion with the organisations that may see it: whoever recorded the reading in that block,
# and whoever packed the unit (case, pallet or tote).
EXCURSIONS = """
SELECT e.block_number, e.log_index, e.tx_hash, e.unit_id, e.sensor_id, e.time, e.value, e.min_temp, e.max_temp,
       ARRAY(SELECT DISTINCT o.id FROM organisations o WHERE o.account IN (
           SELECT t.by FROM ev_temperature_recorded t WHERE t.unit_id = e.unit_id AND t.block_number = e.block_number
           UNION SELECT c.packer FROM ev_case_packed c WHERE c.case_id = e.unit_id
           UNION SELECT c.packer FROM ev_case_tree_packed c WHERE c.case_id = e.unit_id
           UNION SELECT p.packer FROM ev_pallet_packed p WHERE p.pallet_id = e.unit_id
           UNION SELECT t.packer FROM ev_tote_packed t WHERE t.tote_id = e.unit_id)) AS parties
FROM ev_excursion_detected e WHERE e.block_number > %s AND e.block_number <= %s
ORDER BY e.block_number, e.log_index
"""
# Whether the organisation itself dispensed this pack, less than `window` seconds before `at`.
DISPENSED_BY = """
SELECT 1 FROM lot_serials s
JOIN pack_events p ON p.lot_id = s.lot_id AND p.leaf_index = s.leaf_index AND p.kind = 'dispensed'
JOIN organisations o ON o.account = p.actor AND o.id = %(org)s
JOIN blocks b ON b.number = p.block_number
WHERE s.sgtin_id = %(sgtin)s AND %(at)s < b.timestamp + make_interval(secs => %(window)s)
LIMIT 1
"""


class Excursion(NamedTuple):
    block_number: int
    log_index: int
    tx_hash: bytes
    unit_id: bytes
    sensor_id: bytes
    time: int
    value: int  # centi-degrees Celsius, as min_temp and max_temp
    min_temp: int
    max_temp: int
    parties: list[int]  # organisation ids


def manufacturer_organisation(conn, gtin: int) -> int | None:
    """The id of our organisation that registered the product on chain, None if none did."""
    row = fetch_one(conn, MANUFACTURER_ORGANISATION, (gtin,))
    return None if row is None else row["id"]


def seen_elsewhere(conn, sgtin_id: bytes, verification_id: int, gln: int, at, window_seconds: float) -> dict | None:
    """The verification of the same pack from another GLN closest in time to `at`, within the window:
    {id, at, requester_gln, organisation_id, channel}; None if there is none."""
    params = {"sgtin": sgtin_id, "id": verification_id, "gln": gln, "at": at, "window": window_seconds}
    return fetch_one(conn, SEEN_ELSEWHERE, params)


def failures(conn, organisation_id: int, verdicts: list[str], at, window_seconds: float) -> int:
    """How many verifications by the organisation with one of `verdicts` in the window that ends at `at`."""
    return fetch_one(conn, FAILURES, (organisation_id, verdicts, at, window_seconds, at))["n"]


def indexed_up_to(conn) -> int | None:
    """The indexer's cursor (the last block mirrored), None before its first round."""
    row = fetch_one(conn, INDEXED_UP_TO)
    return None if row is None else row["block_number"]


def excursions(conn, after: int, up_to: int) -> list[Excursion]:
    """The temperature excursions in blocks (after, up_to], in chain order."""
    return [Excursion(**{**r, "tx_hash": bytes(r["tx_hash"]), "unit_id": bytes(r["unit_id"]),
                         "sensor_id": bytes(r["sensor_id"]), "parties": list(r["parties"])})
            for r in fetch_all(conn, EXCURSIONS, (after, up_to))]  # fmt: skip


def dispensed_by(conn, sgtin_id: bytes, organisation_id: int, at, window_seconds: float) -> bool:
    """Whether the organisation dispensed this pack less than `window_seconds` before `at`."""
    params = {"sgtin": sgtin_id, "org": organisation_id, "at": at, "window": window_seconds}
    return fetch_one(conn, DISPENSED_BY, params) is not None
