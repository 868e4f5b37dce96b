"""Backfill progress on stderr: blocks done, events/s, ETA (tqdm)."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    """Call with each Step; shows a bar while the indexer is more than `threshold` blocks behind."""

    def __init__(self, target_block: int, start_block: int, threshold: int = 1000, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.events = 0
        self.started = time.monotonic()
        total = max(0, target_block - start_block)
        self.bar = (
            tqdm(total=total, unit="blk", desc="backfill", file=sys.stderr, dynamic_ncols=True)
            if self.enabled and total > threshold
            else None
        )

    def __call__(self, step, seconds: float = 0.0) -> None:
        self.events += step.events
        if self.bar is None:
            return
        if step.blocks:
            self.bar.update(min(step.blocks, self.bar.total - self.bar.n))
            rate = self.events / max(time.monotonic() - self.started, 1e-6)
            self.bar.set_postfix(events=self.events, events_per_s=f"{rate:,.0f}", refresh=False)
        if self.bar.n >= self.bar.total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
