"""Which symbols one scanner (or live-feed) instance owns: ``[scanner] shard = "k/n"``.

A symbol belongs to shard ``crc32(symbol) % n + 1``: stable across processes, hosts and
versions (Python's ``hash`` of a str is salted per process), so n scanners split the symbol
list without talking to each other and every symbol has exactly one owner.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

_SHARD = re.compile(r"([1-9][0-9]*)/([1-9][0-9]*)")


@dataclass(frozen=True)
class SymbolShard:
    index: int  # 1..count
    count: int

    @classmethod
    def parse(cls, text: str) -> SymbolShard | None:
        """``"2/4"`` → SymbolShard(2, 4); ``""`` → None (every symbol). ValueError naming the key."""
        if not text:
            return None
        m = _SHARD.fullmatch(text.strip())
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            raise ValueError(f"shard: {text!r} is not \"k/n\" with 1 <= k <= n")
        return cls(int(m.group(1)), int(m.group(2)))

    def owns(self, symbol: str) -> bool:
        return zlib.crc32(symbol.encode()) % self.count + 1 == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def owned(shard: SymbolShard | None, symbols: list[str]) -> list[str]:
    """The symbols of ``symbols`` the shard owns (all without a shard)."""
    return list(symbols) if shard is None else [s for s in symbols if shard.owns(s)]
