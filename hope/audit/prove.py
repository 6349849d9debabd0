"""``hope audit prove``: the inclusion proof of one audited event under the latest checkpoint."""

from __future__ import annotations

import base64
from typing import Any

from hope.audit.checkpoints import CheckpointLines, parse_line
from hope.audit.merkle import MerkleTree, record_leaf, verify_inclusion
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
    leaves: dict[int, bytes] = {}
    found = None
    for fam in reader.families():
        for loc in reader.located(fam):
            leaf = loc.record.get("leaf")
            if isinstance(leaf, int) and isinstance(loc.record.get("hash"), str):
                leaves[leaf] = record_leaf(loc.record["hash"])
                if loc.record.get("event_id") == event_id and found is None:
                    found = loc
    if found is None:
        raise LookupError(f"no audited event {event_id}")
    index = found.record["leaf"]
    if index >= cp.size:
        raise LookupError(f"{event_id} (leaf {index}) is not sealed yet: the latest checkpoint "
                          f"covers {cp.size} records")
    tree = MerkleTree()
    for i in range(cp.size):
        if i not in leaves:
            raise LookupError(f"leaf {i} is missing from the log (run `hope audit verify`)")
        tree.append(leaves[i])
    proof = tree.inclusion_proof(index, cp.size)
    if not verify_inclusion(leaves[index], index, cp.size, proof, cp.root):
        raise LookupError("the records do not match the latest checkpoint (run `hope audit "
                          "verify`)")
    b64 = base64.b64encode
    return {"event_id": event_id, "where": found.where, "leaf": index, "tree_size": cp.size,
            "root": b64(cp.root).decode(), "proof": [b64(h).decode() for h in proof],
            "checkpoint_time": cp.time, "note": signed.note.decode()}
