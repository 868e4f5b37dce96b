"""Who am I: the organisation behind the caller's API key."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.auth import SECURITY

blp = Blueprint("me", __name__, url_prefix="/v1/me", description="The calling organisation")


class MeSchema(Schema):
    organisation = fields.String(required=True)
    gln = fields.String(required=True)
    account = fields.String(required=True, metadata={"description": "The organisation's chain address"})
    roles = fields.List(fields.String(), required=True)
    key_prefix = fields.String(required=True, metadata={"description": "Public prefix of the key used"})


@blp.route("")
class Me(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, MeSchema)
    def get(self):
        """The organisation, GLN and roles behind the API key (clients use it to check their key)."""
        p = g.principal
        return {
            "organisation": p.name,
            "gln": p.gln,
            "account": p.account,
            "roles": list(p.roles),
            "key_prefix": p.key_prefix,
        }
