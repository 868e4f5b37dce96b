"""Who am I: the organisation behind the caller's API key."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.auth import SECURITY
from app.api.fields import Text

blp = Blueprint("me", __name__, url_prefix="/v1/me", description="The calling organisation")


class MeSchema(Schema):
    organisation = Text(required=True)
    gln = Text(required=True)
    account = Text(required=True, metadata={"description": "The organisation's chain address"})
    roles = fields.List(Text(), required=True)
    key_prefix = Text(required=True, metadata={"description": "Public prefix of the key used"})


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
