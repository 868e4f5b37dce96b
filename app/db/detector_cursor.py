"""The detector's chain cursor (`detector_cursor`): the last mirrored block whose events it has read.

The ONLY module that writes `detector_cursor`. The first two functions move it back with the mirror
(called through app/detector/hooks.py when the indexer rolls back or resets); the detector's own
read/advance functions follow them."""

from __future__ import annotations

# Keep the cursor at or below the last block the mirror still holds.
REWIND = "UPDATE detector_cursor SET block_number = LEAST(block_number, %s)"
RESET = "UPDATE detector_cursor SET block_number = -1"


def rewind_cursor(conn, last_kept_block: int) -> None:
    """The mirror dropped every block above `last_kept_block`: the detector reads them again."""
    with conn.cursor() as cur:
        cur.execute(REWIND, (last_kept_block,))


def reset_cursor(conn) -> None:
    """The mirror was emptied (a new chain): the detector starts again from the first block."""
    with conn.cursor() as cur:
        cur.execute(RESET)
