"""One audit line → one record, bounded: what a malformed line can cost the reader is capped.

Every reader of the log (writer start-up, ``hope audit verify``, the audit reader) parses lines
here, so a hostile line (megabytes long, nested 1,500 levels deep) is refused with a reason
instead of a ``RecursionError`` deep inside ``json``.
"""

from __future__ import annotations

import json
from typing import Any

MAX_LINE_BYTES = 4 << 20  # the bus refuses payloads over 1 MiB; a record is a payload plus ~1 KiB
MAX_DEPTH = 32            # envelope (1) + payload (2) + the deepest payload value HOPE writes (~5)
_CHEAP_DEPTH = MAX_DEPTH  # fewer opening brackets than this cannot nest deeper than MAX_DEPTH


class BadLine(ValueError):
    """A line that is not one audit record; ``str()`` is the reason, without the location."""


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v if isinstance(x, dict | list))
    return deepest


def parse_record(raw: bytes) -> dict[str, Any]:
    """The record of one line (without its newline); raises :class:`BadLine` naming why."""
    if len(raw) > MAX_LINE_BYTES:
        raise BadLine(f"line of {len(raw)} bytes exceeds the {MAX_LINE_BYTES}-byte limit")
    try:
        rec = json.loads(raw)
    except RecursionError:
        raise BadLine(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise BadLine(f"not valid JSON ({exc})") from None
    if not isinstance(rec, dict):
        raise BadLine(f"not a JSON object (a {type(rec).__name__})")
    if raw.count(b"{") + raw.count(b"[") > _CHEAP_DEPTH and _depth(rec) > MAX_DEPTH:
        raise BadLine(f"nested deeper than {MAX_DEPTH} levels")
    return rec
