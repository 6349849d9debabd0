"""The audit writer's Merkle tree with its interior hashes in files, not on the heap.

``events/merkle/level-KK.bin`` (KK = 00, 01, ...) holds the hashes of the complete aligned
2^K-leaf subtrees in order, 32 bytes each (level 00: the leaf hashes). The files are a cache
derived from the log, never evidence: the writer's start-up rebuilds them from the verified
records (:meth:`FileMerkleTree.reserve` / :meth:`put` / :meth:`finish`) and checks the root
against the last signed checkpoint; they are written with each group commit and not fsynced
(a crash loses nothing the next start-up does not rebuild). A verifier never reads them.

In memory: only the nodes appended since the last :meth:`flush` (at most one group commit's
worth; none after it). An append stores its 32 bytes; the parents it completes are hashed a
level at a time at the next flush, root or proof (about one node hash per leaf in all, in a
tight loop; the one node per level left without a sibling at the last flush is read back from
its file). A root or proof reads its O(log n) nodes from the files (``pread``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from hope.audit.merkle import HASH_LEN, MerkleTree

MERKLE_DIR = "merkle"  # under events/
_node_prefix = hashlib.sha256(b"\x01")
_CHUNK = 1 << 16  # bytes read at a time when building a level from the one below


def level_path(directory: Path, level: int) -> Path:
    return directory / f"level-{level:02d}.bin"


class FileMerkleTree(MerkleTree):
    """An append-only RFC 6962 tree whose node hashes live in ``directory`` (see the module)."""

    def __init__(self, directory: Path, *, readonly: bool = False) -> None:
        super().__init__()
        self.levels = []  # (the in-memory rows of the base class are not used)
        self.dir = directory
        self.readonly = readonly
        self._fds: list[int] = []
        self._flushed: list[int] = []  # nodes of each level in its file
        self._pending: list[bytearray] = []  # nodes of each level appended since the last flush
        if readonly:
            self._open_existing()

    @classmethod
    def open_readonly(cls, directory: Path) -> FileMerkleTree:
        """The tree a running (or stopped) writer left, for proofs that are checked against a
        signed root before use (a torn or stale file then just fails that check)."""
        return cls(directory, readonly=True)

    def _open_existing(self) -> None:
        level = 0
        while (path := level_path(self.dir, level)).exists():
            fd = os.open(path, os.O_RDONLY)
            self._fds.append(fd)
            self._flushed.append(os.fstat(fd).st_size // HASH_LEN)
            self._pending.append(bytearray())
            level += 1
        self.size = self._flushed[0] if self._flushed else 0

    # --- building at start-up ---------------------------------------------------------------

    def reserve(self, size: int) -> None:
        """Start over with room for ``size`` leaves, placed in any order by :meth:`put`."""
        self.close()
        self.dir.mkdir(parents=True, exist_ok=True)
        for path in self.dir.glob("level-*.bin"):
            path.unlink()
        self._fds, self._flushed, self._pending = [], [], []
        fd = self._open_level(0)
        os.ftruncate(fd, size * HASH_LEN)
        self._flushed[0] = size
        self.size = 0

    def put(self, index: int, leaf: bytes) -> None:
        """Place leaf ``index`` (below the reserved size); :meth:`finish` builds the levels."""
        os.pwrite(self._fds[0], leaf, index * HASH_LEN)

    def finish(self) -> None:
        """Build every level above the placed leaves (a sequential pass, O(log n) memory)."""
        count, level = self._flushed[0], 0
        while count >= 2:
            up = self._open_level(level + 1)
            src, pos, out = self._fds[level], 0, 0
            end = (count // 2) * 2 * HASH_LEN
            while pos < end:
                chunk = os.pread(src, min(_CHUNK, end - pos), pos)
                if not chunk:
                    raise OSError(f"{level_path(self.dir, level)}: shorter than expected")
                parents = bytearray()
                for j in range(0, len(chunk), 2 * HASH_LEN):
                    h = _node_prefix.copy()
                    h.update(chunk[j:j + 2 * HASH_LEN])
                    parents += h.digest()
                _pwrite_all(up, parents, out)
                out += len(parents)
                pos += len(chunk)
            self._flushed[level + 1] = count // 2
            count, level = count // 2, level + 1
        self.size = self._flushed[0]

    def _open_level(self, level: int) -> int:
        fd = os.open(level_path(self.dir, level), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self._fds.append(fd)
        self._flushed.append(0)
        self._pending.append(bytearray())
        return fd

    # --- appending --------------------------------------------------------------------------

    def append(self, leaf: bytes) -> int:
        """Add one leaf hash; return its index. The parents it completes are hashed a level at
        a time at the next flush, root or proof (the writer's hot path only stores 32 bytes)."""
        self._pending[0] += leaf
        self.size += 1
        self._stale = True
        return self.size - 1

    def _build(self) -> None:
        """Hash every parent whose two children exist, a level at a time."""
        level = 0
        while True:
            count = self._count(level)
            if count < 2:
                break
            if level + 1 == len(self._pending):
                self._open_level(level + 1)
            have, want = self._count(level + 1), count // 2
            if want > have:
                out = self._pending[level + 1]
                src = self._span(level, 2 * have, 2 * want)
                for j in range(0, len(src), 2 * HASH_LEN):
                    h = _node_prefix.copy()
                    h.update(src[j:j + 2 * HASH_LEN])
                    out += h.digest()
            level += 1
        self._stale = False

    def _count(self, level: int) -> int:
        return self._flushed[level] + len(self._pending[level]) // HASH_LEN

    def _span(self, level: int, lo: int, hi: int) -> bytes:
        """Nodes lo..hi-1 of a level (those before the pending ones read from the file: at
        most the one left without a sibling at the last flush)."""
        done = self._flushed[level]
        head = b""
        if lo < done:
            head = os.pread(self._fds[level], (done - lo) * HASH_LEN, lo * HASH_LEN)
            if len(head) != (done - lo) * HASH_LEN:
                raise LookupError(f"{level_path(self.dir, level)}: shorter than expected")
            lo = done
        pending = self._pending[level]
        return head + bytes(pending[(lo - done) * HASH_LEN:(hi - done) * HASH_LEN])

    def flush(self) -> None:
        """Write the nodes appended since the last flush, and their parents, to their files
        (OSError: kept, retried)."""
        if self._stale:
            self._build()
        for level, buf in enumerate(self._pending):
            if buf:
                _pwrite_all(self._fds[level], buf, self._flushed[level] * HASH_LEN)
                self._flushed[level] += len(buf) // HASH_LEN
                buf.clear()

    def pending_nodes(self) -> int:
        return sum(len(b) for b in self._pending) // HASH_LEN

    # --- reading ----------------------------------------------------------------------------

    def _node(self, level: int, i: int) -> bytes:
        if self._stale:
            self._build()
        done = self._flushed[level]
        if i >= done:
            off = (i - done) * HASH_LEN
            node = bytes(self._pending[level][off:off + HASH_LEN])
        else:
            node = os.pread(self._fds[level], HASH_LEN, i * HASH_LEN)
        if len(node) != HASH_LEN:
            raise LookupError(f"{level_path(self.dir, level)}: no node {i}")
        return node

    def subtree(self, lo: int, hi: int) -> bytes:
        if hi > self.size:
            raise ValueError(f"tree has {self.size} leaves, not {hi}")
        return super().subtree(lo, hi)

    def close(self) -> None:
        """Write what is pending (best effort) and close the files (idempotent, never raises)."""
        if not self.readonly:
            with contextlib.suppress(OSError):
                self.flush()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []


def _pwrite_all(fd: int, data: bytes | bytearray, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
