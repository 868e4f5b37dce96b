"""Product master data as the API lists it: reads of the chain mirror (`ev_product_registered`, with
the manufacturer's GLN as registered on chain and the block's time); and the one writer of
`product_details`, the name, strength and form stored beside a registration.

``product(conn, gtin)`` is one indexed select, prepared once per connection: `make bench-verify`
measures the API's ceiling with it."""

from __future__ import annotations

from app.db import fetch_all, fetch_all_prepared, fetch_one

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


# -- the one writer of `product_details` (the details beside a registration, given back if it fails)

INSERT_PRODUCT_DETAILS = """
INSERT INTO product_details (gtin, organisation_id, operation_id, name, strength, dosage_form)
VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (gtin) DO NOTHING RETURNING gtin
"""
DELETE_PRODUCT_DETAILS_OF = "DELETE FROM product_details WHERE operation_id = %s"


def insert_product_details(
    conn, gtin: int, organisation_id: int, operation_id: str, name: str, strength: str | None, dosage_form: str | None
) -> bool:
    """The product's details beside its registration; False when the GTIN already has them."""
    row = fetch_one(conn, INSERT_PRODUCT_DETAILS, (gtin, organisation_id, operation_id, name, strength, dosage_form))
    return row is not None


def delete_product_details_of(conn, operation_id: str) -> int:
    """A failed registration gives its GTIN's details back; the rows deleted (0 or 1)."""
    with conn.cursor() as cur:
        cur.execute(DELETE_PRODUCT_DETAILS_OF, (operation_id,))
        return cur.rowcount


DETAILS = "SELECT name, strength, dosage_form FROM product_details WHERE gtin = %s"


def details(conn, gtin: int) -> dict | None:
    """{name, strength, dosage_form} given with the product's registration; None if none were."""
    return fetch_one(conn, DETAILS, (gtin,))
