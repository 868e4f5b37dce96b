"""Product master data as the API lists it: reads of the chain mirror (`ev_product_registered`, with
the manufacturer's GLN as registered on chain and the block's time). Reads only.

``product(conn, gtin)`` is one indexed select, prepared once per connection: `make bench-verify`
measures the API's ceiling with it."""

from __future__ import annotations

from app.db import fetch_all, fetch_all_prepared

_COLUMNS = """
p.gtin, p.manufacturer, o.gln AS manufacturer_gln, p.min_temp, p.max_temp, p.block_number, p.tx_hash, b.timestamp
"""
_FROM = """
FROM ev_product_registered p
LEFT JOIN ev_organisation_registered o ON o.account = p.manufacturer
LEFT JOIN blocks b ON b.number = p.block_number
"""
LIST_PRODUCTS = f"SELECT {_COLUMNS} {_FROM} WHERE p.gtin > %s ORDER BY p.gtin LIMIT %s"
PRODUCT = f"SELECT {_COLUMNS} {_FROM} WHERE p.gtin = $1 ORDER BY p.block_number LIMIT 1"


def list_products(conn, after: int, limit: int) -> list[dict]:
    """Up to `limit` products with a GTIN above `after`, in GTIN order: {gtin, manufacturer,
    manufacturer_gln, min_temp, max_temp, block_number, tx_hash, timestamp}."""
    return fetch_all(conn, LIST_PRODUCTS, (after, limit))


def product(conn, gtin: int) -> dict | None:
    """The product's first registration, as list_products' rows; None if the GTIN is not registered."""
    rows = fetch_all_prepared(conn, "product_by_gtin", PRODUCT, (gtin,))
    return rows[0] if rows else None
