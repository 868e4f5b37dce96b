"""The HTTP API: Flask blueprints over the services (no SQL, no chain calls here)."""
