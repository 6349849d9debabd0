"""``flatten``: the executor closes every open position now (CLOSE reason ``flatten``).

Wire message (published by ``hope flatten``)::

    topic    CONTROL.*
    payload  {"service": "*", "command": "flatten"}

Authority (:mod:`hope.authority`): principals ``operator`` (the CLI) and ``gateway`` (its
control scope); from anyone else the bus refuses it and no position is touched.

The executor sells every open position at the market, even when trading is HALTED (an operator's
order overrides the kill switch's stop of automatic exits), and logs how many it closed and how
many are still open (a failed sell keeps its position and is tried again on the next PRICE).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hope.control import EVERY, addressed_to, control_payload

COMMAND = "flatten"


def flatten_payload(service: str = EVERY) -> dict[str, Any]:
    return control_payload(COMMAND, service)


def is_flatten(payload: Mapping[str, Any], service: str) -> bool:
    """Is this CONTROL payload a flatten order for ``service``?"""
    return payload.get("command") == COMMAND and addressed_to(payload, service)
