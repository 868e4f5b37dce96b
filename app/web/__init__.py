"""The pages people use (issue 16): server-rendered Jinja2 with htmx, served by the same app as the API.

People sign in as themselves (app/services/people.py) and get a signed session cookie (Flask's, `HttpOnly`,
`SameSite=Lax`, `Secure` unless SESSION_COOKIE_SECURE=0). The pages take sessions only and the API takes API
keys only: the API's key gate leaves this blueprint's routes to the session gate here (app/api/auth.py), and
an Authorization header sent to a page is ignored. Every POST carries a CSRF token (Flask-WTF's CSRFProtect,
checked for this blueprint only: API clients send bearer keys, never cookies). Each request re-reads the
person, so a disabled person or one signed out everywhere is signed out on the next request.

Front-end assets (htmx) come from npm (package.json) and are served from node_modules at /assets/: no CDN.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from app.config import Settings
from app.web.session import blp, csrf, secret_key


def register(app: Flask, settings: Settings) -> None:
    """Sessions, CSRF and the pages (before the API's key gate, which leaves SESSION_BLUEPRINTS to us)."""
    from app.web import views  # noqa: F401  (the routes)

    app.config.update(
        SECRET_KEY=secret_key(settings.session_secret_file),
        SESSION_COOKIE_NAME="pharmatrack_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in _gate, for the pages only
        WTF_CSRF_TIME_LIMIT=int(settings.session_hours * 3600),
        # the token and SameSite=Lax do it: a Referer check would refuse every form, since every answer says
        # Referrer-Policy: no-referrer (app/api/security.py)
        WTF_CSRF_SSL_STRICT=False,
    )
    app.config["SESSION_BLUEPRINTS"] = {*app.config.get("SESSION_BLUEPRINTS", ()), blp.name}
    csrf.init_app(app)
    app.register_blueprint(blp)
