"""What the relayer does when the chain mirror moves back: the composition roots register this with
the indexer (app.stack.indexer_hooks), which calls it inside its rollback transaction."""

from __future__ import annotations

import logging

from app.db import operations, relay

log = logging.getLogger(__name__)


def on_mirror_rollback(conn, first_removed_block: int) -> None:
    """A reorg removed the mirror's blocks from `first_removed_block` on. What the relayer saw mined
    there is open again ('sent'), and what it had confirmed is submitted again: it is confirmed anew
    only once mined on the new branch (exactly once: the relayer re-broadcasts the recorded bytes,
    same nonce)."""
    reopened = relay.reopen_mined_from(conn, first_removed_block)
    resubmitted = operations.resubmit_confirmed(conn, reopened)
    if reopened:
        log.warning("reorg: %d relayed transaction(s) and %d confirmed operation(s) from block %d on are open "
                    "again", len(reopened), resubmitted, first_removed_block)  # fmt: skip
