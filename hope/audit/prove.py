"""``hope audit prove``: the inclusion proof of one audited event under the latest checkpoint.

The proof's O(log n) nodes are read from the writer's node files (``events/merkle/``, see
:mod:`hope.audit.merkle_file`) and used only if they verify against the signed root; when the
files are missing, short or stale, the tree is rebuilt from the log's records instead.
"""

from __future__ import annotations

import base64
from typing import Any

from hope.audit.checkpoints import CheckpointLines, parse_line
from hope.audit.merkle import MerkleTree, record_leaf, verify_inclusion
from hope.audit.merkle_file import MERKLE_DIR, FileMerkleTree
from hope.audit.note import Checkpoint
from hope.audit.reader import LocalAuditReader
from hope.paths import StatePaths


def prove(state: StatePaths, event_id: str) -> dict[str, Any]:
    """Leaf, tree size, root, proof and note for ``event_id``; LookupError naming why not."""
    lines = CheckpointLines.read(state.events, state.checkpoint_copy).lines()
    if not lines:
        raise LookupError("the log has no checkpoint yet")
    signed = parse_line(lines[-1], None)
    cp = signed.checkpoint
    reader = LocalAuditReader(state.events)
    found = next((loc for fam in reader.families() for loc in reader.located(fam)
                  if loc.record.get("event_id") == event_id
                  and isinstance(loc.record.get("leaf"), int)
                  and isinstance(loc.record.get("hash"), str)), None)
    if found is None:
        raise LookupError(f"no audited event {event_id}")
    index = found.record["leaf"]
    if index >= cp.size:
        raise LookupError(f"{event_id} (leaf {index}) is not sealed yet: the latest checkpoint "
                          f"covers {cp.size} records")
    leaf = record_leaf(found.record["hash"])
    proof, source = _from_files(state, leaf, index, cp), f"events/{MERKLE_DIR}"
    if proof is None:
        proof, source = _from_log(reader, leaf, index, cp), "log"
    b64 = base64.b64encode
    return {"event_id": event_id, "where": found.where, "leaf": index, "tree_size": cp.size,
            "root": b64(cp.root).decode(), "proof": [b64(h).decode() for h in proof],
            "checkpoint_time": cp.time, "note": signed.note.decode(), "nodes_from": source}


def _from_files(state: StatePaths, leaf: bytes, index: int, cp: Checkpoint) -> list[bytes] | None:
    """The proof from the node files if they hold the tree and it verifies, else None."""
    directory = state.events / MERKLE_DIR
    if not directory.is_dir():
        return None
    tree = FileMerkleTree.open_readonly(directory)
    try:
        if tree.size < cp.size:
            return None
        proof = tree.inclusion_proof(index, cp.size)
    except (OSError, LookupError, ValueError):
        return None
    finally:
        tree.close()
    return proof if verify_inclusion(leaf, index, cp.size, proof, cp.root) else None


def _from_log(reader: LocalAuditReader, leaf: bytes, index: int,
              cp: Checkpoint) -> list[bytes]:
    """The proof from every record's leaf (a pass over the log)."""
    tree = MerkleTree()
    tree.reserve(cp.size)
    placed = bytearray(cp.size)
    for fam in reader.families():
        for loc in reader.located(fam):
            i, digest = loc.record.get("leaf"), loc.record.get("hash")
            if isinstance(i, int) and 0 <= i < cp.size and isinstance(digest, str):
                tree.put(i, record_leaf(digest))
                placed[i] = 1
    if (missing := placed.find(0)) >= 0:
        raise LookupError(f"leaf {missing} is missing from the log (run `hope audit verify`)")
    tree.finish()
    proof = tree.inclusion_proof(index, cp.size)
    if not verify_inclusion(leaf, index, cp.size, proof, cp.root):
        raise LookupError("the records do not match the latest checkpoint (run `hope audit "
                          "verify`)")
    return proof
