"""The RFC 6962 tree: roots, inclusion and consistency proofs against a naive reference."""

from __future__ import annotations

import hashlib

from hope.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)


def naive_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 section 2.1."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


def build(n: int) -> tuple[MerkleTree, list[bytes]]:
    tree, leaves = MerkleTree(), [leaf_hash(b"line %d" % i) for i in range(n)]
    for h in leaves:
        tree.append(h)
    return tree, leaves


def test_roots_match_the_reference_for_every_size() -> None:
    """Every historical root of a 70-leaf tree equals the recursive definition."""
    tree, leaves = build(70)
    assert tree.root(0) == EMPTY_ROOT
    for n in range(1, 71):
        assert tree.root(n) == naive_root(leaves[:n]), n


def test_inclusion_proofs_verify_and_reject_a_wrong_leaf() -> None:
    """Each leaf's proof verifies under its tree size; another leaf or index does not."""
    tree, leaves = build(37)
    for size in (1, 2, 5, 16, 37):
        root = tree.root(size)
        for i in range(size):
            proof = tree.inclusion_proof(i, size)
            assert verify_inclusion(leaves[i], i, size, proof, root)
            assert not verify_inclusion(leaf_hash(b"forged"), i, size, proof, root)
            if size > 1:
                assert not verify_inclusion(leaves[i], (i + 1) % size, size, proof, root)


def test_consistency_proofs_between_every_pair_of_sizes() -> None:
    """PROOF(m, n) verifies for all 0 <= m <= n <= 33, and fails against a forked old root."""
    tree, _ = build(33)
    for new in range(0, 34):
        for old in range(0, new + 1):
            proof = tree.consistency_proof(old, new)
            assert verify_consistency(old, new, tree.root(old), tree.root(new), proof), (old, new)
            if 0 < old < new:
                assert not verify_consistency(old, new, leaf_hash(b"fork"), tree.root(new), proof)
    assert not verify_consistency(3, 3, tree.root(3), tree.root(4), [])
    assert len(tree.consistency_proof(1, 33)) <= 2 * 6
