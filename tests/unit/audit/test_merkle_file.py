"""The file-backed Merkle tree: same roots and proofs as the in-memory one, bounded heap."""

from __future__ import annotations

import random
import tempfile
import tracemalloc
from pathlib import Path

import pytest

from hope.audit.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from hope.audit.merkle_file import FileMerkleTree, level_path


def fresh(n: int = 0) -> tuple[FileMerkleTree, MerkleTree, list[bytes]]:
    tree = FileMerkleTree(Path(tempfile.mkdtemp(dir="/tmp", prefix="hope-merkle-")))
    tree.reserve(0)
    tree.finish()
    ref, leaves = MerkleTree(), [leaf_hash(b"r%d" % i) for i in range(n)]
    for i, leaf in enumerate(leaves):
        tree.append(leaf)
        ref.append(leaf)
        if i % 7 == 3:
            tree.flush()  # some nodes in files, some still pending
    return tree, ref, leaves


def test_roots_and_proofs_match_the_in_memory_tree_at_every_size():
    """Every historical root, inclusion and consistency proof equals the in-memory tree's."""
    tree, ref, leaves = fresh(67)
    for size in range(1, 68):
        assert tree.root(size) == ref.root(size)
        for index in range(0, size, 5):
            assert tree.inclusion_proof(index, size) == ref.inclusion_proof(index, size)
        for old in range(0, size + 1, 3):
            proof = tree.consistency_proof(old, size)
            assert proof == ref.consistency_proof(old, size)
            assert verify_consistency(old, size, ref.root(old), ref.root(size), proof)
    tree.close()


def test_start_up_build_places_leaves_in_any_order_and_appends_continue():
    """reserve/put in shuffled order then finish gives the same tree, and appends extend it."""
    _, ref, leaves = fresh(45)
    tree = FileMerkleTree(Path(tempfile.mkdtemp(dir="/tmp", prefix="hope-merkle-")))
    tree.reserve(30)
    order = list(range(30))
    random.Random(3).shuffle(order)
    for i in order:
        tree.put(i, leaves[i])
    tree.finish()
    assert tree.size == 30 and tree.root() == ref.root(30)
    for leaf in leaves[30:]:
        tree.append(leaf)
    assert tree.root() == ref.root(45)
    tree.flush()
    assert level_path(tree.dir, 0).stat().st_size == 45 * 32
    tree.close()


def test_a_reader_of_the_files_proves_what_the_writer_flushed():
    """A read-only opening of the files gives proofs that verify against the writer's root."""
    tree, ref, leaves = fresh(100)
    tree.flush()
    reader = FileMerkleTree.open_readonly(tree.dir)
    assert reader.size == 100
    proof = reader.inclusion_proof(41, 100)
    assert verify_inclusion(leaves[41], 41, 100, proof, ref.root(100))
    reader.close()
    tree.close()


def test_a_node_missing_from_a_short_file_is_a_lookup_error():
    """A level file cut short (a torn flush) fails the read instead of returning junk."""
    tree, _, _ = fresh(16)
    tree.flush()
    tree.close()
    path = level_path(tree.dir, 2)
    path.write_bytes(path.read_bytes()[:32])
    reader = FileMerkleTree.open_readonly(tree.dir)
    with pytest.raises(LookupError):
        reader.root(12)  # needs node 2 of level 2
    reader.close()


def test_heap_stays_logarithmic_as_the_tree_grows():
    """After a flush, 20,000 appended leaves leave nothing on the heap but a few bytes (<8 KiB)."""
    tree, _, _ = fresh(0)
    leaves = [leaf_hash(b"h%d" % i) for i in range(20_000)]
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i, leaf in enumerate(leaves, 1):
        tree.append(leaf)
        if i % 2000 == 0:
            tree.flush()
    tree.root()
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert tree.pending_nodes() == 0
    assert grown < 8192, grown
    tree.close()
