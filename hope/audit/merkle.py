"""The global audit log's RFC 6962 Merkle tree: leaf and node hashes, proofs, proof checks.

Leaves are the audit records in append order (every family); a record's leaf input is the 32
bytes of its ``hash`` (SHA-256 of its canonical text, so the leaf commits to all of it):
``leaf hash = SHA-256(0x00 || record hash)``, ``node = SHA-256(0x01 || l || r)``, the tree of
RFC 6962 section 2.1 (the split at the largest power of two below the size).

:class:`MerkleTree` keeps every *complete* subtree hash (level k holds the hashes of the aligned
2^k-leaf subtrees), 32 bytes each in one ``bytearray`` per level (~64 bytes a leaf in all). An
append stores its 32 bytes; the parents it completes are computed a level at a time at the next
root or proof (about one node hash per leaf in all, in a tight loop). Any historical root,
inclusion proof or consistency proof is then O(log n) lookups and hashes, never a pass over the
leaves.
"""

from __future__ import annotations

import hashlib

HASH_LEN = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def record_leaf(record_hash_hex: str) -> bytes:
    """The leaf hash of a record whose ``hash`` field is ``record_hash_hex``."""
    return _sha256(b"\x00" + bytes.fromhex(record_hash_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 6962 tree over leaf hashes, with its interior hashes kept."""

    def __init__(self) -> None:
        self.levels: list[bytearray] = [bytearray()]
        self.size = 0
        self._stale = False  # leaves appended whose parents are not computed yet

    def append(self, leaf: bytes) -> int:
        """Add one leaf *hash*; return its index. The writer's hot path only stores 32 bytes:
        interior hashes are computed a level at a time when a root or proof is asked for."""
        self.levels[0] += leaf
        self.size += 1
        self._stale = True
        return self.size - 1

    def reserve(self, size: int) -> None:
        """Start over with room for ``size`` leaves, placed in any order by :meth:`put`."""
        self.levels = [bytearray(size * HASH_LEN)]
        self.size = 0

    def put(self, index: int, leaf: bytes) -> None:
        """Place leaf ``index`` (below the reserved size)."""
        self.levels[0][index * HASH_LEN:(index + 1) * HASH_LEN] = leaf

    def finish(self) -> None:
        """The placed leaves are the tree (parents are computed when first needed)."""
        self.size = len(self.levels[0]) // HASH_LEN
        self._stale = True

    def flush(self) -> None:
        """Nothing to write: every hash is in memory."""

    def close(self) -> None:
        """Nothing to release."""

    def _build(self) -> None:
        """Complete every level: each parent is the hash of two adjacent children."""
        levels, node = self.levels, _sha256(b"\x01")
        level = 0
        while len(levels[level]) >= 2 * HASH_LEN:
            if len(levels) == level + 1:
                levels.append(bytearray())
            row, up = levels[level], levels[level + 1]
            have, want = len(up) // HASH_LEN, len(row) // (2 * HASH_LEN)
            for j in range(have * 2 * HASH_LEN, want * 2 * HASH_LEN, 2 * HASH_LEN):
                h = node.copy()  # (a copy of the hashed prefix beats concatenating it)
                h.update(row[j:j + 2 * HASH_LEN])
                up += h.digest()
            level += 1
        self._stale = False

    def _node(self, level: int, i: int) -> bytes:
        return bytes(self.levels[level][i * HASH_LEN:(i + 1) * HASH_LEN])

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for lo aligned as RFC 6962's recursion leaves it (hi <= size)."""
        if self._stale:
            self._build()
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and lo % n == 0:
            return self._node(n.bit_length() - 1, lo // n)
        k = _split(n)
        return node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if size > self.size:
            raise ValueError(f"tree has {self.size} leaves, not {size}")
        return self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 6962 section 2.1.1."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError(f"no leaf {index} in a tree of {size}")
        proof: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = _split(hi - lo)
            if index - lo < k:
                proof.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.subtree(lo, lo + k))
                lo += k
        return proof[::-1]

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """PROOF(old, D[0:new]) of RFC 6962 section 2.1.2 (empty when old is 0 or new)."""
        new = self.size if new is None else new
        if not 0 <= old <= new <= self.size:
            raise ValueError(f"no consistency proof from {old} to {new} (tree of {self.size})")
        if old in (0, new):
            return []
        proof: list[bytes] = []
        lo, hi, complete = 0, new, True
        while True:
            n, m = hi - lo, old - lo
            if m == n:
                if not complete:
                    proof.append(self.subtree(lo, hi))
                break
            k = _split(n)
            if m <= k:
                proof.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.subtree(lo, lo + k))
                lo += k
                complete = False
        return proof[::-1]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes],
                     root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` put ``leaf`` at ``index`` under ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes,
                       proof: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of ``new`` leaves an extension of ``old``?"""
    if old > new or old < 0:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node of the path
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root
