"""Fixtures of the data-layer tests."""

from __future__ import annotations

import pytest

from app.db import connect


@pytest.fixture
def conn(database_url):
    """A connection to the test's database; what the test wrote is rolled back at its end."""
    connection = connect(database_url)
    try:
        yield connection
    finally:
        connection.rollback()
        connection.close()
