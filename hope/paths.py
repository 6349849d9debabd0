"""The state directory layout of CONVENTIONS.md, in one place, with owner-only permissions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

UNIX_PATH_MAX = 107


class StatePathError(ValueError):
    pass


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> StatePaths:
        return cls(Path(root).absolute())

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def events(self) -> Path:
        return self.root / "events"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def dlq(self) -> Path:
        return self.root / "dlq"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    def principal_keys(self, principal: str) -> Path:
        """``keys/<principal>/``: the secrets of one principal, and only that principal's."""
        return self.keys / principal

    @property
    def public_keys(self) -> Path:
        """``keys/public/``: public key material every service may read."""
        return self.keys / "public"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def positions(self) -> Path:
        return self.root / "positions"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def trading_state(self) -> Path:
        return self.root / "trading_state"

    @property
    def registry(self) -> Path:
        return self.run / "registry.json"

    @property
    def checkpoint_copy(self) -> Path:
        """A second local copy of the audit checkpoints (a witness off the host is the real one)."""
        return self.root / "checkpoint-copy"

    @property
    def tape(self) -> Path:
        """Every trade a live feed received: ``tape/<SYMBOL>/<hourly .csv.gz>``."""
        return self.root / "tape"

    @property
    def venue(self) -> Path:
        """The live venue's status (``status.json``: last reconciliation, breaker) and marker
        of a first start (``started.json``)."""
        return self.root / "venue"

    @property
    def witness(self) -> Path:
        """The witness program's own state (its key, the checkpoints it cosigned)."""
        return self.root / "witness"

    def ipc(self, name: str) -> str:
        """An ipc:// endpoint under run/; refuses paths longer than the unix-socket limit."""
        path = self.run / name
        if len(str(path)) > UNIX_PATH_MAX:
            raise StatePathError(
                f"unix socket path {path} is {len(str(path))} bytes, over the {UNIX_PATH_MAX}-byte "
                "limit: choose a shorter --state-dir (tests: mkdtemp(dir='/tmp'))")
        return f"ipc://{path}"

    def ensure(self) -> StatePaths:
        """Create the layout: private dirs (0700) for sockets and keys, the rest owner-writable."""
        for d in (self.root, self.events, self.outbox, self.dlq, self.logs, self.quarantine,
                  self.positions, self.exchange, self.checkpoint_copy):
            d.mkdir(parents=True, exist_ok=True)
        shared = _shared_gid()
        for d in (self.run, self.keys):
            d.mkdir(parents=True, exist_ok=True)
            st = d.stat()
            # Under privilege separation (group hope, hope/privsep.py) the modes are set there.
            if st.st_uid == os.geteuid() and st.st_gid != shared:
                os.chmod(d, 0o700)
        return self


def _shared_gid() -> int:
    """The gid of group ``hope`` (privilege separation), -1 when there is none."""
    import grp

    try:
        return grp.getgrnam("hope").gr_gid
    except KeyError:
        return -1
