"""What the detector does when the chain mirror moves back: the composition roots register these
with the indexer (app.stack.indexer_hooks), which calls them inside its rollback transaction."""

from __future__ import annotations

from app.db import detector_cursor


def on_mirror_rollback(conn, first_removed_block: int) -> None:
    """A reorg removed the mirror's blocks from `first_removed_block` on: their replayed events are read again."""
    detector_cursor.rewind_cursor(conn, first_removed_block - 1)


def on_mirror_reset(conn) -> None:
    """The mirror was emptied: the detector reads the new chain from its start."""
    detector_cursor.reset_cursor(conn)
