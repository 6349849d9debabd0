"""The authority table: which principal may publish which event type (and CONTROL command).

Principals are the supervisord program names, the event listener and ``operator`` (the ``hope``
CLI): :func:`hope.principals.principals`. The bus
receive path (:mod:`hope.eventauth.gate`) asks :meth:`Authority.refusal` about every event after
its MAC proved the signer, before any handler sees it. docs/SECURITY.md shows the same table.

| event type | who may publish it |
|---|---|
| SIGNAL | the market-data publishers (``[market_clock] publishers``), the gateway |
| PRICE, FEED | the market-data publishers |
| DECISION, TRADING_STATE | decision-engine |
| SHADOW_DECISION | decision-engine-shadow |
| ORDER, FILL, CLOSE, BREAKER, RECONCILIATION, VENUE_REPLY | executor |
| WATERMARK, GAP, DUPLICATE, HEARTBEAT_SUMMARY | audit-writer |
| HEALTH | health-monitor, health-listener (the supervisord event listener) |
| RETRY | dlq-retry |
| API_REQUEST | gateway |
| HEARTBEAT, DEAD_LETTER | any principal, with ``payload.service`` equal to the signer |
| REPLAY | any principal, with ``payload.requester`` equal to the signer |
| ALERT | any principal |
| CONTROL | per command, :data:`CONTROL_AUTHORITY` (each command's module says it too) |

Anything else (a type not in :class:`hope.envelope.EventType`, a CONTROL command not listed) is
refused: what is not granted is forbidden.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hope.envelope import Envelope, EventType
from hope.principals import OPERATOR, principals  # OPERATOR: the hope CLI

OPERATORS = (OPERATOR, "gateway")  # the CLI and the gateway's control scope
ANY = "*"                       # any principal
SELF = "=service"               # any principal naming itself in payload.service
SELF_REQUESTER = "=requester"   # any principal naming itself in payload.requester
MARKET = "=market-data"         # the configured market-data publishers


# Principals that receive nothing on the bus: no MAC is made for them (the proxy only publishes
# its heartbeats; the witness is not on the bus at all and holds no event key).
NOT_RECEIVING = frozenset({"proxy", "witness"})


def event_principals() -> list[str]:
    """The principals that get an event key pair from ``hope keys init``."""
    return [p for p in principals() if p != "witness"]


E = EventType
TYPE_AUTHORITY: dict[str, tuple[str, ...]] = {
    E.SIGNAL: (MARKET, "gateway"),
    E.PRICE: (MARKET,),
    E.FEED: (MARKET,),
    E.DECISION: ("decision-engine",),
    E.TRADING_STATE: ("decision-engine",),
    E.SHADOW_DECISION: ("decision-engine-shadow",),
    E.ORDER: ("executor",), E.FILL: ("executor",), E.CLOSE: ("executor",),
    E.BREAKER: ("executor",), E.RECONCILIATION: ("executor",), E.VENUE_REPLY: ("executor",),
    E.WATERMARK: ("audit-writer",), E.GAP: ("audit-writer",), E.DUPLICATE: ("audit-writer",),
    E.HEARTBEAT_SUMMARY: ("audit-writer",),
    E.HEALTH: ("health-monitor", "health-listener"),
    E.RETRY: ("dlq-retry",),
    E.API_REQUEST: ("gateway",),
    E.HEARTBEAT: (SELF,), E.DEAD_LETTER: (SELF,),
    E.REPLAY: (SELF_REQUESTER,),
    E.ALERT: (ANY,),
}
# CONTROL: who may send each command (the command modules in hope/control/ repeat their row).
CONTROL_AUTHORITY: dict[str, tuple[str, ...]] = {
    "halt": OPERATORS, "reduce": OPERATORS, "resume": OPERATORS, "flatten": OPERATORS,
    "ack_position": (OPERATOR,),
    "retry": (OPERATOR, "dlq-retry"),
    # the acknowledgement of a RETRY by whichever service ran the retried handler
    "retry_ok": (ANY,),
}
assert set(TYPE_AUTHORITY) | {E.CONTROL} == set(E), "every EventType needs an authority row"


# Programs a cluster may run several of, each instance under its own name ``<program>-<n>``
# (hope/cluster/spec.py): an instance has its program's authority. The single-instance ones
# (decision-engine, executor, audit-writer, dlq-retry) have none to lend: ``executor-2`` may
# not publish ORDER.
MULTI_INSTANCE = ("health-monitor", "gateway", "dashboard", "proxy", "scanner", "audit-reader")


def instance_of(principal: str) -> str | None:
    """``health-monitor-2`` → ``health-monitor`` (a multi-instance program), else None."""
    base, _, n = principal.rpartition("-")
    return base if n.isdigit() and base in MULTI_INSTANCE else None


class Authority:
    """The table with this instance's market-data publishers filled in."""

    def __init__(self, market_data: Iterable[str]) -> None:
        self.market_data = frozenset(market_data)
        self._memo: dict[tuple[str, str], bool] = {}

    def refusal(self, signer: str, env: Envelope) -> str | None:
        """None when ``signer`` may publish ``env``, else why not (for the log and ALERT)."""
        etype = env.event_type
        if etype == E.CONTROL:
            command = env.payload.get("command")
            allowed = CONTROL_AUTHORITY.get(command) if isinstance(command, str) else None
            if allowed is None:
                return f"CONTROL command {str(command)[:40]!r} is not in the authority table"
            return None if self._grants(allowed, signer, env.payload) else \
                f"{signer} may not send CONTROL {command}"
        key = (signer, etype)
        ok = self._memo.get(key)
        if ok is None:  # rules that read the payload are not memoised
            allowed = TYPE_AUTHORITY.get(etype)
            if allowed is None:
                return f"event type {etype[:40]!r} is not in the authority table"
            if SELF in allowed or SELF_REQUESTER in allowed:
                return None if self._grants(allowed, signer, env.payload) else \
                    f"{signer} may publish {etype} only about itself"
            ok = self._memo[key] = self._grants(allowed, signer, env.payload)
        return None if ok else f"{signer} may not publish {etype}"

    def _grants(self, allowed: tuple[str, ...], signer: str, payload: dict[str, Any]) -> bool:
        program = instance_of(signer)
        for who in allowed:
            if who in (signer, ANY, program):
                return True
            if who == MARKET and signer in self.market_data:
                return True
            if who == SELF and payload.get("service") == signer:
                return True
            if who == SELF_REQUESTER and payload.get("requester") == signer:
                return True
        return False
