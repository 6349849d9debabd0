"""What a ZeroMQ bus takes off its SUB and how: subscribed prefixes, which topics get their
event id recomputed, and last-value prefixes (:mod:`hope.bus.latest`), kept in order on the
ordinary SUB or apart on a SUB of their own that wakes nothing (a mixin of
:class:`hope.bus.zmq.ZmqBus`; uses its ``checks`` and ``received_types``).
"""

from __future__ import annotations

import zmq

from hope.bus.latest import LastValues, drain
from hope.envelope import Envelope

RULES_MAX = 50_000  # memoised topic rules (topics are attacker-influenced: bounded)


class Subscriptions:
    def init_subscriptions(self) -> None:
        self.prefixes: list[bytes] = []
        self.verify_prefixes: list[bytes] = []
        self._rules: dict[bytes, tuple[bool, bool]] = {}
        self.latest: LastValues | None = None
        # Last-value topics apart arrive on a SUB of their own that wakes nothing: at thousands
        # of PRICEs a second a wake-up per frame cost ~50 µs of cold event-loop work each.
        self._latest_sub: zmq.Socket | None = None
        self._latest_apart: list[bytes] = []
        self._latest_in_order: list[bytes] = []  # on the ordinary SUB, kept by _on_frames

    def subscribe(self, prefix: str) -> None:
        prefix = "" if prefix == "*" else prefix
        self.prefixes.append(prefix.encode())

    def verify_ids(self, prefix: str) -> None:
        self.verify_prefixes.append(("" if prefix == "*" else prefix).encode())

    def keep_latest(self, prefix: str, *, in_order: bool = False) -> None:
        if self.latest is None:
            self.latest = LastValues(self.checks, self._wants, self.received_types)
        self.latest.add(prefix)
        (self._latest_in_order if in_order else self._latest_apart).append(prefix.encode())

    def drain_latest(self) -> int:
        """Take what the last-value SUB holds into the table (newest per topic wins)."""
        if self._latest_sub is None or self.latest is None:
            return 0
        return drain(self._latest_sub, self.latest)

    def read_latest(self, topic: str) -> Envelope | None:
        self.drain_latest()
        return super().read_latest(topic)

    def latest_candidates(self, topic: str) -> list[Envelope]:
        self.drain_latest()
        return super().latest_candidates(topic)

    def newest_topics(self, prefix: str) -> list[str]:
        self.drain_latest()
        return super().newest_topics(prefix)

    def _wants(self, topic: bytes) -> bool:
        return any(topic.startswith(p) for p in self.prefixes)

    def _topic_rules(self, topic: bytes) -> tuple[bool, bool]:
        """(wanted, verify the id) for a topic, memoised: topics repeat (type.symbol)."""
        rules = self._rules.get(topic)
        if rules is None:
            if len(self._rules) > RULES_MAX:
                self._rules.clear()
            rules = self._rules[topic] = (
                self._wants(topic), any(topic.startswith(p) for p in self.verify_prefixes))
        return rules

    def _wants_type(self, event_type: str) -> bool:
        for p in self.prefixes:
            head = p.decode().split(".", 1)[0]
            if p == b"" or head == event_type:
                return True
        return False
