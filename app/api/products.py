"""Product master data from the mirror: GTIN, manufacturer and storage range. It is public, as GS1
product data is: it names no serial, no holder and no shipment. A request that comes with an API key
has it checked all the same (a bad key is a 401).

``GET /v1/products/{gtin}`` is one indexed select, planned once per connection (app/db/products.py):
`make bench-verify` measures the API's ceiling with it, sending the same API key as to ``/v1/verify``,
so the two pass the same key check and differ only in the work after it."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from app import gs1
from app.api.auth import OPTIONAL_SECURITY, public_key_checked
from app.api.fields import Text
from app.api.problems import problem
from app.db import products as products_db
from app.errors import NotFound

blp = Blueprint("products", __name__, url_prefix="/v1/products", description="Registered products")


class ProductQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    after = Text(
        load_default="00000000000000",
        validate=validate.Regexp(r"^\d{14}$", error="must be a GTIN-14 (14 digits), as returned in `next`"),
        metadata={"description": "Page cursor: the `next` value of the previous page"},
    )


class StorageRangeSchema(Schema):
    min_centi_celsius = fields.Integer(required=True)
    max_centi_celsius = fields.Integer(required=True)


class ProductSchema(Schema):
    gtin = Text(required=True, metadata={"example": "09506000134352"})
    manufacturer = Text(required=True, metadata={"description": "Manufacturer's chain address"})
    manufacturer_gln = Text(allow_none=True)
    storage = fields.Nested(StorageRangeSchema, required=True)
    block_number = fields.Integer(required=True)
    tx_hash = Text(required=True)
    registered_at = fields.DateTime(allow_none=True)


class ProductPageSchema(Schema):
    items = fields.List(fields.Nested(ProductSchema), required=True)
    next = Text(allow_none=True, metadata={"description": "Pass as `after` for the next page; null at the end"})


def _row(row: dict) -> dict:
    return {
        "gtin": f"{int(row['gtin']):014d}",
        "manufacturer": "0x" + bytes(row["manufacturer"]).hex(),
        "manufacturer_gln": f"{int(row['manufacturer_gln']):013d}" if row["manufacturer_gln"] is not None else None,
        "storage": {"min_centi_celsius": row["min_temp"], "max_centi_celsius": row["max_temp"]},
        "block_number": row["block_number"],
        "tx_hash": "0x" + bytes(row["tx_hash"]).hex(),
        "registered_at": row["timestamp"],
    }


@blp.route("")
@public_key_checked
class Products(MethodView):
    @blp.doc(security=OPTIONAL_SECURITY)
    @blp.arguments(ProductQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, ProductPageSchema)
    def get(self, query):
        """Registered products in GTIN order, as mirrored from the chain (public product master data)."""
        db = current_app.extensions["pharmatrack"].db
        with db.connection() as conn:
            rows = products_db.list_products(conn, int(query["after"]), query["limit"] + 1)
        page, more = rows[: query["limit"]], len(rows) > query["limit"]
        items = [_row(r) for r in page]
        return {"items": items, "next": items[-1]["gtin"] if more else None}


@blp.route("/<gtin>")
@public_key_checked
class ProductByGtin(MethodView):
    @blp.doc(security=OPTIONAL_SECURITY)
    @blp.response(200, ProductSchema)
    def get(self, gtin):
        """One registered product by its GTIN (GTIN-8/12/13/14 with its check digit), as mirrored from the chain
        (public product master data)."""
        try:
            gtin = gs1.parse_gtin(gtin)
        except gs1.GS1Error as exc:
            return problem(
                422, "Unprocessable Entity", exc.message, errors={"path": {"gtin": [f"{exc.rule}: {exc.message}"]}}
            )
        db = current_app.extensions["pharmatrack"].db
        with db.connection() as conn:
            row = products_db.product(conn, int(gtin))
        if row is None:
            raise NotFound(f"product {gtin}")
        return _row(row)
