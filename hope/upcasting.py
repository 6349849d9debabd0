"""Schema versions: older envelopes are upgraded to the current one through registered upcasters.

An upcaster takes the decoded map of one major version and returns the map of the next. Decoding
walks the chain until it reaches :data:`hope.envelope.SCHEMA_MAJOR`; a version with no registered
path (a future major, or garbage) is rejected, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hope.envelope import SCHEMA_MAJOR, SCHEMA_VERSION, EnvelopeError

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_UPCASTERS: dict[int, Upcaster] = {}


def register(from_major: int) -> Callable[[Upcaster], Upcaster]:
    def wrap(fn: Upcaster) -> Upcaster:
        _UPCASTERS[from_major] = fn
        return fn
    return wrap


def major_of(version: Any) -> int:
    """The major number of ``schema_version``; absent means the spec's v1."""
    if type(version) is str and version == SCHEMA_VERSION:  # nearly every event
        return SCHEMA_MAJOR
    if version is None:
        return 1
    if not isinstance(version, str):
        raise EnvelopeError(f"schema_version must be a string, got {type(version).__name__}",
                            "schema_version")
    head = version.split(".", 1)[0]
    if not (head.isascii() and head.isdigit()):
        raise EnvelopeError(f"unparseable schema_version {version!r}", "schema_version")
    return int(head)


def upcast(data: dict[str, Any]) -> dict[str, Any]:
    """Return ``data`` upgraded to the current major version, or raise EnvelopeError."""
    major = major_of(data.get("schema_version"))
    if major > SCHEMA_MAJOR:
        raise EnvelopeError(f"unknown schema major version {data.get('schema_version')!r} "
                            f"(this build reads up to {SCHEMA_VERSION})", "schema_version")
    while major < SCHEMA_MAJOR:
        step = _UPCASTERS.get(major)
        if step is None:
            raise EnvelopeError(f"no upcaster from schema major {major}", "schema_version")
        data = step(data)
        major = major_of(data.get("schema_version"))
    return data


@register(1)
def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """The spec's v1 shape has no causation_id and no delivery fields; its event_id is kept.

    The v1 ``event_id`` used the same formula, so it still verifies after the upgrade. A v1 event
    replayed from a legacy file has no publisher: it is marked ``legacy-v1`` with seq 0.
    """
    out = dict(data)
    out["schema_version"] = SCHEMA_VERSION
    out.setdefault("causation_id", None)
    out.setdefault("publisher", None)
    out.setdefault("epoch", None)
    out.setdefault("seq", 0)
    out.setdefault("tseq", 0)
    return out
