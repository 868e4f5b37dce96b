"""Read-path tests reuse the write path's world: parties, API keys, relayer and indexer, and a
stock of one lot in two cases on a pallet, all built through the real API on anvil."""

from tests.writes.conftest import open_world, stock, world  # noqa: F401  (pytest fixtures)
