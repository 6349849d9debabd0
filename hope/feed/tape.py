"""The tape: every trade the live feed handed on, one gzip CSV per symbol and UTC hour.

``<state>/tape/<SYMBOL>/binance_<SYMBOL>_aggtrades_<YYYY-MM-DDTHH>Z.csv.gz`` in the aggregate-
trades format :mod:`hope.market.feeds` reads (``timestamp,id,side,price,amount,cost,
is_buyer_maker``; ``id`` the venue's aggregate trade id), so ``hope scanner eval`` and the playback
read it like ``data/``. Crash-safe: each flush appends one complete gzip member per file in a
single ``write``, so a killed process leaves whole members; a torn tail (power loss mid-write)
is cut off at the next start, kept in ``quarantine/`` and reported, and readers of a torn file
report it as a bad row and keep what came before. Multi-member gzip is standard (RFC 1952).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from hope.feed.messages import AggTrade

HEADER = "timestamp,id,side,price,amount,cost,is_buyer_maker\n"
OPEN_HOURS = 2   # files kept open per symbol (a flush may straddle the hour)


def hour_of(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000.0, UTC).strftime("%Y-%m-%dT%H")


def tape_name(symbol: str, hour: str) -> str:
    return f"binance_{symbol}_aggtrades_{hour}Z.csv.gz"


def row(t: AggTrade) -> str:
    m = t.buyer_maker
    cost = float(t.price) * float(t.qty)
    return (f"{t.ts_ms},{t.id},{'sell' if m else 'buy'},{t.price},{t.qty},{cost:.12g},"
            f"{'true' if m else 'false'}\n")


def complete_length(data: bytes) -> tuple[int, bool]:
    """(bytes of whole gzip members at the start of ``data``, whether a torn tail follows)."""
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        try:
            d.decompress(data[pos:])
        except zlib.error:
            return pos, True
        if not d.eof:
            return pos, True
        pos = len(data) - len(d.unused_data)
    return pos, False


def repair(path: Path, quarantine: Path | None = None) -> int:
    """Cut a torn tail off ``path`` (kept in ``quarantine``); returns the bytes cut."""
    data = path.read_bytes()
    good, torn = complete_length(data)
    if not torn:
        return 0
    if quarantine is not None:
        quarantine.mkdir(parents=True, exist_ok=True)
        with open(quarantine / f"tape-{path.name}.torn", "ab") as fh:
            fh.write(data[good:])
    with open(path, "r+b") as fh:
        fh.truncate(good)
        os.fsync(fh.fileno())
    return len(data) - good


def parse_line(symbol: str, line: str) -> AggTrade | None:
    parts = line.rstrip("\n").split(",")
    if len(parts) != 7 or not parts[0].isdigit():
        return None
    try:
        return AggTrade(symbol, int(parts[1]), int(parts[0]), parts[3], parts[4],
                        parts[6] == "true")
    except ValueError:
        return None


class Tape:
    """Appends trades per symbol and hour; :meth:`flush` writes one gzip member per file."""

    def __init__(self, root: Path, quarantine: Path | None = None,
                 on_torn: Callable[[Path, int], None] | None = None) -> None:
        self.root = Path(root)
        self.quarantine = quarantine
        self.on_torn = on_torn
        self.pending: dict[Path, list[str]] = {}
        self.fds: dict[Path, int] = {}
        self.order: dict[str, list[Path]] = {}   # symbol -> open paths, oldest first
        self.rows = 0
        self.flushes = 0
        self.torn = 0

    def path(self, symbol: str, ts_ms: int) -> Path:
        return self.root / symbol / tape_name(symbol, hour_of(ts_ms))

    def append(self, t: AggTrade) -> None:
        p = self.path(t.symbol, t.ts_ms)
        rows = self.pending.get(p)
        if rows is None:
            rows = self.pending[p] = []
        rows.append(row(t))

    def _open(self, symbol: str, p: Path) -> int:
        fd = self.fds.get(p)
        if fd is not None:
            return fd
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.exists():
            cut = repair(p, self.quarantine)
            if cut:
                self.torn += 1
                if self.on_torn is not None:
                    self.on_torn(p, cut)
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.fds[p] = fd
        paths = self.order.setdefault(symbol, [])
        paths.append(p)
        while len(paths) > OPEN_HOURS:
            os.close(self.fds.pop(paths.pop(0)))
        return fd

    def flush(self) -> int:
        """Write what is pending: one complete gzip member per file, each in one write."""
        n = 0
        for p, rows in self.pending.items():
            symbol = p.parent.name
            fd = self._open(symbol, p)
            text = "".join(rows)
            if os.fstat(fd).st_size == 0:
                text = HEADER + text
            os.write(fd, gzip.compress(text.encode(), compresslevel=5, mtime=0))
            n += len(rows)
        self.pending.clear()
        if n:
            self.rows += n
            self.flushes += 1
        return n

    def fsync(self) -> None:
        for fd in self.fds.values():
            os.fsync(fd)

    def close(self) -> None:
        self.flush()
        self.fsync()
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        self.order.clear()

    # --- reading back: where a restart continues, what warms the strategies up ---------------
    def files(self, symbol: str) -> list[Path]:
        d = self.root / symbol
        return sorted(d.glob(tape_name(symbol, "*"))) if d.is_dir() else []

    def read(self, symbol: str, since_ms: int = 0) -> Iterator[AggTrade]:
        """The symbol's trades on the tape at or after ``since_ms``, in file (= id) order."""
        first = tape_name(symbol, hour_of(since_ms)) if since_ms > 0 else ""
        for p in self.files(symbol):
            if p.name < first:
                continue
            data = p.read_bytes()
            good, _torn = complete_length(data)
            text = gzip.decompress(data[:good]).decode() if good else ""
            for line in text.splitlines():
                t = parse_line(symbol, line)
                if t is not None and t.ts_ms >= since_ms:
                    yield t

    def last(self, symbol: str) -> AggTrade | None:
        """The symbol's newest trade on the tape (pending rows included)."""
        for p, rows in self.pending.items():
            if p.parent.name == symbol and rows:
                return parse_line(symbol, max(rows, key=lambda r: int(r.split(",")[1])))
        for p in reversed(self.files(symbol)):
            data = p.read_bytes()
            good, _torn = complete_length(data)
            lines = gzip.decompress(data[:good]).decode().splitlines() if good else []
            for line in reversed(lines):
                t = parse_line(symbol, line)
                if t is not None:
                    return t
        return None
