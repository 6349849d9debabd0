"""Open positions and the executor's order ledger: an append-only journal plus a compacted snapshot.

Files in ``<state>/positions/``:

- ``executor.json``: the snapshot ``{"gen": N, "orders": {client_id: record}, "positions":
  {order_id: position}, "pruned_before": market_ts | null}``, written temp → fsync → rename →
  fsync dir (:func:`hope.files.atomic_write_bytes`; encoded with msgspec: an O(state) snapshot
  blocks the executor's loop, and msgspec writes it ~6x faster than ``json.dumps``);
- ``executor.<N>.journal``: every change since that snapshot, one JSON line each: a list of
  ``[kind, key, value]`` ops (``"o"`` ledger record, ``"p"`` position; value ``null`` deletes).
  One line may carry several ops, so a fill's ledger entry and its position land together or not
  at all.

Loading = snapshot + replay of its journal. Compaction (on the first write after start, and every
``compact_every`` records or more when the state is larger) writes a new snapshot naming journal
N+1, opens that journal, then deletes the old one: a crash at any point leaves a snapshot whose
journal holds exactly the changes after it. Finished ledger records are kept ``retention`` on the
market clock (see :meth:`ExecutorStore.prune`) and then forgotten, so the state does not grow.

Durability (see :mod:`hope.journal`): against SIGKILL every change is durable as soon
as its method returns; against power loss, up to ``fsync_interval_s``. A torn last journal line is
quarantined and ignored; a corrupt inner line or an unreadable snapshot sets ``load_error`` (the
service then halts trading, since a ledger we cannot read could double orders) and the store stops
writing to disk, leaving the evidence untouched.

Records are typed (:mod:`hope.execution.records`). One that parses as JSON but does not decode to
its type is set apart in ``quarantined`` at load; when the store opens for writing it is kept in
``<quarantine>/executor-ledger.bin`` and an order record is replaced by a QUARANTINED
:class:`~hope.execution.records.FinishedOrder` (its decision is never placed again). The
executor reports each one (ALERT) and keeps running: one bad record must not stop every start.
A quarantined position also holds trading HALTED until an operator acknowledges it
(:mod:`hope.execution.held`): nothing manages its exits.

The ledger record is how the executor makes one decision one order: the intent (the decision,
``attempted``) is journaled before the exchange is called, and the outcome after, so a restart
resumes exactly where it stopped. Constructing a store only reads (the gateway does that while
the executor runs); the first write opens it for writing.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from hope.envelope import Envelope
from hope.execution.exchange import Order
from hope.execution.held import HeldPositions
from hope.execution.records import (
    QUARANTINED,
    SNAPSHOT,
    FinishedOrder,
    LedgerRecord,
    Position,
    QuarantinedRecord,
    RecordError,
    decode_order,
    decode_position,
    describe,
)
from hope.files import SHARED_MODE, atomic_write_bytes
from hope.journal import JSON, Journal, quarantine_torn, read_journal
from hope.quarantine import Quarantine

TAKE_PROFIT, STOP_LOSS, TIMEOUT, FLATTEN = "take_profit", "stop_loss", "timeout", "flatten"
ORDER, POSITION = "o", "p"
KINDS = {ORDER: "order", POSITION: "position"}


class ExecutorStore:
    """Order ledger + positions in memory, every change journaled (see the module docstring)."""

    def __init__(self, directory: Path, *, fsync_interval_s: float = 0.02,
                 compact_every: int = 10_000, quarantine_dir: Path | None = None,
                 log: Any = None) -> None:
        self.dir = Path(directory)
        self.path = self.dir / "executor.json"
        self.fsync_interval_s = fsync_interval_s
        self.compact_every = compact_every
        self.quarantine_dir = Path(quarantine_dir) if quarantine_dir else self.dir
        self.log = log
        self.orders: dict[str, LedgerRecord] = {}
        self.positions: dict[str, Position] = {}
        self.load_error: str | None = None
        self.quarantined: dict[tuple[str, str], QuarantinedRecord] = {}
        self.held = HeldPositions(self.dir)  # quarantined positions: trading HALTED until acked
        self.pruned_before: float | None = None  # done records older than this may be forgotten
        self.gen = 0
        self.positions_version = 0  # +1 on every change to ``positions`` (exit_watch.py)
        self.compactions = 0
        self._retired_fsyncs = 0
        self._done: deque[tuple[float, str]] = deque()  # (prune key, client id), finish order
        self._journal: Journal | None = None
        self._torn: Any = None
        self._since_compact = 0
        self._load()

    def journal_path(self, gen: int) -> Path:
        return self.dir / f"executor.{gen}.journal"

    # --- reading -----------------------------------------------------------------------------
    def _load(self) -> None:
        # A concurrent writer may compact between our reads of the snapshot and its journal
        # (journal gone): read again until the snapshot did not change underneath us.
        for _ in range(5):
            self.orders, self.positions, self._done = {}, {}, deque()
            self.positions_version += 1
            self.quarantined = {}
            ino = self._snapshot_inode()
            if not self._load_snapshot():
                return
            contents = read_journal(self.journal_path(self.gen))
            if contents is None and ino != self._snapshot_inode():
                continue
            break
        if contents is None:
            return
        for lineno, record in enumerate(contents.records, 1):
            where = f"{self.journal_path(self.gen)}:{lineno}"
            try:
                for kind, key, value in record:
                    self._load_op(kind, key, value, where)
            except (TypeError, ValueError) as exc:  # not a list of [kind, key, value] ops
                self.load_error = f"{self.journal_path(self.gen)}: record {lineno}: {exc}"
                return
            self._since_compact += 1
        if contents.bad:
            self.load_error = "; ".join(contents.bad[:3])
        self._torn = contents if contents.torn else None

    def _snapshot_inode(self) -> int | None:
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def _load_snapshot(self) -> bool:
        try:
            data = SNAPSHOT.decode(self.path.read_bytes())
        except FileNotFoundError:
            return True
        except (OSError, msgspec.DecodeError) as exc:
            # Refuse to guess: an unreadable ledger could double orders. The service halts on this.
            self.load_error = f"{self.path}: unreadable ({exc})"
            return False
        self.gen, self.pruned_before = data.gen, data.pruned_before
        for cid, rec in data.orders.items():
            self._load_op(ORDER, cid, rec, str(self.path))
        for oid, raw in data.positions.items():
            self._load_op(POSITION, oid, raw, str(self.path))
        return True

    def _load_op(self, kind: str, key: str, raw: Any, where: str) -> None:
        """Type one raw value and apply it; one that does not decode is set apart."""
        if kind not in KINDS:
            raise ValueError(f"unknown op kind {kind!r}")
        self.quarantined.pop((kind, key), None)  # a later write supersedes an unreadable one
        if raw is None:
            self._apply(kind, key, None)
            return
        try:
            value = decode_order(raw) if kind == ORDER else decode_position(raw)
        except RecordError as exc:
            self._apply(kind, key, None)
            self.quarantined[(kind, key)] = QuarantinedRecord(
                KINDS[kind], key, str(exc), where, raw, describe(raw))
            return
        self._apply(kind, key, value)

    def _apply(self, kind: str, key: str, value: Any) -> None:
        if kind == ORDER:
            if value is None:
                self.orders.pop(key, None)
                return
            self.orders[key] = value
            if value.done and value.t is not None:
                self._done.append((value.t, key))
        elif kind == POSITION:
            self.positions_version += 1
            if value is None:
                self.positions.pop(key, None)
            else:
                self.positions[key] = value
        else:
            raise ValueError(f"unknown op kind {kind!r}")

    # --- writing -----------------------------------------------------------------------------
    @property
    def writable(self) -> bool:
        return self.load_error is None

    def open(self) -> None:
        """Open for writing: quarantine a torn journal tail, then compact (snapshot + new journal)."""
        if self._journal is not None or not self.writable:
            return
        if self._torn is not None:
            quarantine_torn(self._torn, self.quarantine_dir, "executor-journal", self.log)
            self._torn = None
        self._set_apart()
        self.compact()

    def _set_apart(self) -> None:
        """Keep unreadable records as evidence; an order's decision becomes QUARANTINED (done)."""
        for rec in self.quarantined.values():
            self._keep_evidence(rec)
            if rec.kind == KINDS[ORDER]:
                self.orders[rec.key] = FinishedOrder(status=QUARANTINED, order_event_id=None)
            else:
                self.held.hold(rec.key, rec.error)

    def _keep_evidence(self, rec: QuarantinedRecord) -> None:
        Quarantine(self.quarantine_dir, "executor-ledger").keep(
            [JSON.encode(rec.raw)], f"{rec.kind} {rec.key}: {rec.error}", where=rec.where)
        if self.log is not None:
            self.log.error("ledger record quarantined", **rec.alert())

    def quarantine(self, kind: str, key: str, value: Any, error: str,
                   where: str) -> QuarantinedRecord:
        """Set one record apart now: evidence kept, an order replaced by QUARANTINED (so its
        decision is never placed again), a position dropped. Returns what to report."""
        raw = msgspec.to_builtins(value)
        rec = QuarantinedRecord(KINDS[kind], key, error, where, raw, describe(raw))
        self.quarantined[(kind, key)] = rec
        self._keep_evidence(rec)
        if kind == ORDER:
            self.put_order(key, FinishedOrder(status=QUARANTINED, order_event_id=None))
        else:
            self.held.hold(key, error)
            self.drop_position(key)
        return rec

    def hold_reason(self) -> str | None:
        """Why trading must stay HALTED: a quarantined position nobody acknowledged yet."""
        return self.held.reason({k for kind, k in self.quarantined if kind == POSITION})

    def acknowledge_position(self, order_id: str) -> bool:
        """The operator dealt with this quarantined position at the venue: stop holding."""
        pending = self.quarantined.pop((POSITION, order_id), None) is not None
        return self.held.release(order_id) or pending

    def write(self, orders: dict[str, LedgerRecord | None] | None = None,
              positions: dict[str, Position | None] | None = None) -> None:
        """Apply these changes in memory and journal them as one line (None deletes)."""
        ops: list[list[Any]] = []
        for cid, rec in (orders or {}).items():
            self._apply(ORDER, cid, rec)
            ops.append([ORDER, cid, rec])
        for oid, pos in (positions or {}).items():
            self._apply(POSITION, oid, pos)
            ops.append([POSITION, oid, pos])
        if not ops or not self.writable:
            return  # a store that failed to load keeps working in memory, never on disk
        if self._journal is None:
            self.open()
        self._journal.append(ops)  # type: ignore[union-attr]
        self._since_compact += 1
        if self._since_compact >= max(self.compact_every, len(self.orders) + len(self.positions)):
            self.compact()  # amortized: a snapshot costs O(state), and comes after >= O(state) lines

    def put_order(self, cid: str, rec: LedgerRecord) -> None:
        self.write(orders={cid: rec})

    def put_position(self, pos: Position) -> None:
        self.write(positions={pos.order_id: pos})

    def drop_position(self, order_id: str) -> None:
        self.write(positions={order_id: None})

    def prune(self, before: float) -> int:
        """Forget finished ledger records whose prune key (market time) is older than ``before``.

        In memory only: the next snapshot leaves them out; a replayed journal may bring some back
        until then, and they are pruned again. ``pruned_before`` tells the executor which
        decisions might have been forgotten (it asks the exchange about those)."""
        n = 0
        while self._done and self._done[0][0] < before:
            t, cid = self._done.popleft()
            rec = self.orders.get(cid)
            if rec is not None and rec.done and rec.t == t:
                del self.orders[cid]
                n += 1
        if n:
            self.pruned_before = max(before, self.pruned_before or before)
        return n

    def compact(self) -> None:
        """Snapshot the state naming journal N+1, switch to it, delete older journals."""
        if not self.writable:
            return
        new_gen = self.gen + 1
        atomic_write_bytes(self.path, JSON.encode({
            "gen": new_gen, "pruned_before": self.pruned_before, "orders": self.orders,
            "positions": self.positions,
        }), mode=SHARED_MODE)  # the gateway reads positions
        old, self._journal = self._journal, Journal(self.journal_path(new_gen),
                                                    fsync_interval_s=self.fsync_interval_s)
        self._journal.open()
        self.gen, self._since_compact = new_gen, 0
        self.compactions += 1
        if old is not None:
            old.close()
            self._retired_fsyncs += old.fsyncs
        for path in self._old_journals():
            path.unlink(missing_ok=True)

    def _old_journals(self) -> Iterable[Path]:
        current = self.journal_path(self.gen).name
        return [p for p in self.dir.glob("executor.*.journal") if p.name != current]

    def save(self) -> None:
        """Persist the in-memory state now (a compaction): for callers that edit the dicts."""
        if self._journal is None:
            self.open()  # compacts, which is the save
        else:
            self.compact()

    @property
    def dirty(self) -> bool:
        journal = self._journal
        return journal is not None and journal.dirty

    @property
    def fsyncs(self) -> int:
        return self._retired_fsyncs + (self._journal.fsyncs if self._journal else 0)

    def sync(self) -> bool:
        """Group commit: fsync the journal if it has unsynced lines (thread-safe)."""
        journal = self._journal
        return journal.sync() if journal is not None else False

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None


class PositionManager:
    """Decides when a position closes (take-profit, stop-loss, timeout on the market clock)."""

    def __init__(self, store: ExecutorStore) -> None:
        self.store = store

    def open_positions(self) -> list[Position]:
        return list(self.store.positions.values())

    def open(self, fill: Order, targets: dict[str, Any], fill_env: Envelope, *,
             ledger: dict[str, LedgerRecord] | None = None,
             extra: dict[str, Any] | None = None) -> Position:
        """A position from a BUY fill; take-profit and stop-loss are relative to the fill price.

        ``ledger`` entries are journaled in the same line as the position (all or nothing);
        ``extra``: more :class:`Position` fields (a live venue's ids)."""
        entry = fill.avg_price
        tp_pct = targets.get("take_profit_pct")
        sl_pct = targets.get("stop_loss_pct")
        tp = entry * (1 + tp_pct / 100) if tp_pct is not None else float(targets["take_profit"])
        sl = entry * (1 - sl_pct / 100) if sl_pct is not None else float(targets["stop_loss"])
        pos = Position(order_id=fill.client_id, symbol=fill.symbol, quote=fill.commission_asset,
                       quantity=fill.quantity, entry_price=entry, entry_fee=fill.commission,
                       opened_market_ts=fill.market_ts, take_profit=tp, stop_loss=sl,
                       timeout_s=float(targets.get("timeout_s", 0)) or 1e18, fill_env=fill_env,
                       **(extra or {}))
        self.store.write(orders=ledger, positions={pos.order_id: pos})
        return pos

    @staticmethod
    def exit_reason(pos: Position, price: float | None, market_now: float | None) -> str | None:
        """Why ``pos`` should close now, or None. Price targets first, then the market-clock timeout."""
        if price is not None and price >= pos.take_profit:
            return TAKE_PROFIT
        if price is not None and price <= pos.stop_loss:
            return STOP_LOSS
        if market_now is not None and market_now - pos.opened_market_ts >= pos.timeout_s:
            return TIMEOUT
        return None

    @staticmethod
    def close_payload(pos: Position, sell: Order, reason: str) -> dict[str, Any]:
        """CLOSE per CONVENTIONS: pnl is net of both fees, all in the quote currency."""
        fees = pos.entry_fee + sell.commission
        pnl = sell.quantity * sell.avg_price - pos.quantity * pos.entry_price - fees
        return {
            "order_id": pos.order_id, "symbol": pos.symbol, "entry_price": pos.entry_price,
            "exit_price": sell.avg_price, "quantity": pos.quantity, "pnl": pnl, "fees": fees,
            "reason": reason, "holding_s": max(0.0, sell.market_ts - pos.opened_market_ts),
            "quote": pos.quote, "market_ts": sell.market_ts, "close_order_id": sell.client_id,
        }
