"""``ack_position``: the operator has dealt with a quarantined position at the venue.

Wire message (published by ``hope ack-position ORDER_ID``)::

    topic    CONTROL.executor
    payload  {"service": "executor", "command": "ack_position", "order_id": "hope-..."}

Authority (:mod:`hope.authority`): principal ``operator`` (the CLI) only.

A position record the executor could not read is quarantined and holds trading HALTED
(:mod:`hope.execution.held`). This command, audited like every CONTROL, releases that hold for
one position; the executor then follows the trading state file again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hope.control import addressed_to, control_payload

COMMAND = "ack_position"
SERVICE = "executor"


def ack_position_payload(order_id: str) -> dict[str, Any]:
    return control_payload(COMMAND, SERVICE, order_id=order_id)


def acknowledged_position(payload: Mapping[str, Any], service: str) -> str | None:
    """The order id this CONTROL acknowledges for ``service``, or None when it is not one."""
    if payload.get("command") != COMMAND or not addressed_to(payload, service):
        return None
    order_id = payload.get("order_id")
    return order_id if isinstance(order_id, str) and order_id else None
