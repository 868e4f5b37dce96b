from __future__ import annotations

import pytest


@pytest.fixture
def web_settings(settings):
    """Plain-HTTP cookies (the test client is not HTTPS), and a throttle small enough to reach."""
    return settings.replace(session_cookie_secure=False, login_throttle_account=3, login_throttle_address=6)


@pytest.fixture
def web_app(web_settings):
    from app import create_app

    application = create_app(web_settings)
    yield application
    ext = application.extensions["pharmatrack"]
    ext.verifications.close()
    ext.db.close()


from tests.web.browser import driver  # noqa: E402, F401  (a fixture: the module's Chromium)
