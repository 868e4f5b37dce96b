"""Adaptive block windows for eth_getLogs: shrink when the provider refuses a range or the
result is too large, grow while windows come back sparse. Pure logic, unit-tested."""

from __future__ import annotations

from dataclasses import dataclass

# Phrases providers use when an eth_getLogs range or result is too big (geth, erigon, besu,
# nethermind, Infura, Alchemy, QuickNode ... word it differently).
_TOO_BIG = (
    "query returned more than",
    "too many results",
    "too many blocks",
    "too many logs",
    "range too large",
    "block range",
    "exceed maximum",
    "exceeds the range",
    "limit exceeded",
    "response size",
    "max results",
    "log response size exceeded",
    "limited to",
    "reduce your block range",
)


def is_range_error(message: str) -> bool:
    text = message.lower()
    return any(p in text for p in _TOO_BIG)


@dataclass
class AdaptiveWindow:
    size: int = 2_000
    minimum: int = 1
    maximum: int = 50_000
    target_logs: int = 20_000

    def refused(self) -> bool:
        """The provider refused the last range: halve. False when already at the minimum."""
        if self.size <= self.minimum:
            return False
        self.size = max(self.minimum, self.size // 2)
        return True

    def observe(self, logs: int, blocks: int) -> None:
        """Adjust after a successful window of `blocks` blocks that returned `logs` logs."""
        if logs > self.target_logs and self.size > self.minimum:
            self.size = max(self.minimum, self.size // 2)
        elif logs < self.target_logs // 4 and blocks >= self.size:
            self.size = min(self.maximum, self.size * 2)
