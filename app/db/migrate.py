"""Apply the numbered plain-SQL migrations in migrations/ with yoyo."""

from __future__ import annotations

import warnings
from pathlib import Path

from app.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def _yoyo_url(url: str) -> str:
    # yoyo picks its backend by scheme; psycopg2 is the postgresql backend.
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def pending(url: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    from yoyo import get_backend, read_migrations

    backend = get_backend(_yoyo_url(url))
    try:
        return [m.id for m in backend.to_apply(read_migrations(str(migrations_dir)))]
    finally:
        backend.connection.close()


def apply(url: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration (under yoyo's lock); return the ids applied."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from yoyo import get_backend, read_migrations
    try:
        backend = get_backend(_yoyo_url(url))
    except Exception as exc:  # yoyo wraps driver errors in several types
        raise ConfigError(
            "DATABASE_URL", f"cannot connect for migrations ({str(exc).strip().splitlines()[0]})"
        ) from exc
    try:
        migrations = read_migrations(str(migrations_dir))
        with backend.lock():
            todo = backend.to_apply(migrations)
            backend.apply_migrations(todo)
        return [m.id for m in todo]
    finally:
        backend.connection.close()
