"""CONTROL: operator commands on the bus, one module per command (as circus documents each).

Every command is one CONTROL event on topic ``CONTROL.<service>`` whose payload names the
addressee and the command, plus the command's own fields::

    topic    CONTROL.<service>            ("CONTROL.*" for every service)
    payload  {"service": "<service>" | "*", "command": "<command>", ...}

| command | module | obeyed by | sent by (:mod:`hope.authority`) |
|---|---|---|---|
| ``halt``, ``reduce``, ``resume`` | :mod:`hope.control.trading` | decision-engine, decision-engine-shadow, executor | operator, gateway |
| ``flatten`` | :mod:`hope.control.flatten` | executor | operator, gateway |
| ``ack_position`` | :mod:`hope.control.ack_position` | executor | operator |
| ``retry``, ``retry_ok`` | :mod:`hope.control.retry` | dlq-retry | operator, dlq-retry; any |

The bus refuses a CONTROL from any other principal before a handler sees it; consumers also
verify a CONTROL event's id before acting on it (``verify_id=True``). The envelope
schema requires ``service`` and ``command`` to be strings (:data:`hope.envelope` payload schemas).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EVERY = "*"  # the addressee meaning "every service that obeys this command"


def control_payload(command: str, service: str = EVERY, **fields: Any) -> dict[str, Any]:
    """The payload of one CONTROL command addressed to ``service``."""
    return {"service": service, "command": command, **fields}


def addressed_to(payload: Mapping[str, Any], *names: str) -> bool:
    """Is this CONTROL payload for a service answering to any of ``names`` (or to everyone)?"""
    return payload.get("service") in (EVERY, *names)
