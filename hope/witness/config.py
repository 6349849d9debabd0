"""The ``[witness]`` config section: where the witness listens, its name, the logs it trusts."""

from __future__ import annotations

from dataclasses import dataclass, field

from hope.audit.note import NoteError, parse_vkey
from hope.config import register_section


@register_section("witness")
@dataclass
class WitnessConfig:
    host: str = "127.0.0.1"   # another machine: its own address, reachable from the log's host
    port: int = 8791          # beside the dashboard's 8790; 0: any free port (tests), the
                              # bound one is in witness/address.json
    name: str = ""            # key name of its cosignatures ("" = "hope-witness/<key hash>")
    # Verifier keys (C2SP vkey "<origin>+<hash>+<base64>") of the logs it witnesses; more can be
    # added on the witness host with `hope witness trust VKEY` (kept in <state>/witness/logs.txt).
    logs: list[str] = field(default_factory=list)
    max_body_bytes: int = 65536

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port: must be 0..65535")
        if self.max_body_bytes < 1024:
            raise ValueError("max_body_bytes: must be >= 1024")
        for i, text in enumerate(self.logs):
            try:
                parse_vkey(text)
            except NoteError as exc:
                raise ValueError(f"logs[{i}]: {exc}") from None
