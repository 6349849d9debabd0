"""``[market_clock]``: who may move a service's market clock, and by how much per step."""

from __future__ import annotations

from dataclasses import dataclass, field

from hope.config import register_section

# The recorded pumps in data/ lie up to 225 days apart (2021-01-23 → 2021-09-05), and the replay
# publishes their PRICEs back to back (gaps are compressed on the wall clock, not in market time):
# a year per step lets the default replay through and still refuses a jump to another decade.
DEFAULT_MAX_STEP_S = 366 * 86400.0


@register_section("market_clock")
@dataclass
class MarketClockConfig:
    publishers: list[str] = field(default_factory=lambda: ["scanner"])  # market-data publishers
    max_step_s: float = DEFAULT_MAX_STEP_S  # a larger jump forward is refused and ALERTed

    def validate(self) -> None:
        if not self.publishers or not all(isinstance(p, str) and p for p in self.publishers):
            raise ValueError("publishers: must be a non-empty list of service names")
        if not self.max_step_s > 0:
            raise ValueError("max_step_s: must be > 0")
