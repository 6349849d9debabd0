"""``retry`` and ``retry_ok``: commands of the dead-letter retry daemon (``dlq-retry``).

``retry`` asks the daemon to retry one parked or pending letter now, or all of them::

    topic    CONTROL.dlq-retry
    payload  {"service": "dlq-retry", "command": "retry", "dlq_id": "<letter id>"}
    payload  {"service": "dlq-retry", "command": "retry", "all": true}

Authority (:mod:`hope.authority`): ``retry`` from ``operator`` or ``dlq-retry``; ``retry_ok``
from any principal (whichever service ran the retried handler; the signer is recorded).

``retry_ok`` is sent by a service whose retried handler succeeded, in reply to the RETRY it got
(its causation), so the daemon marks the letter done at once instead of waiting out its silence
window::

    topic    CONTROL.dlq-retry
    payload  {"service": "dlq-retry", "command": "retry_ok", "dlq_id": "<letter id>"}
"""

from __future__ import annotations

from typing import Any

from hope.control import control_payload

SERVICE = "dlq-retry"
RETRY, RETRY_OK = "retry", "retry_ok"
COMMANDS = (RETRY, RETRY_OK)


def retry_payload(dlq_id: str | None = None) -> dict[str, Any]:
    """Retry one letter now, or every parked or pending letter when ``dlq_id`` is None."""
    if dlq_id is None:
        return control_payload(RETRY, SERVICE, all=True)
    return control_payload(RETRY, SERVICE, dlq_id=dlq_id)


def retry_ok_payload(dlq_id: str, service: str = SERVICE) -> dict[str, Any]:
    """The retried handler of letter ``dlq_id`` succeeded; ``service``: the RETRY's sender."""
    return control_payload(RETRY_OK, service, dlq_id=dlq_id)
