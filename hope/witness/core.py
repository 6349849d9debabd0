"""The witness, socket-free: C2SP ``tlog-witness`` ``add-checkpoint`` and the latest cosigned
checkpoint per log, persisted before it answers.

``add_checkpoint(body)`` takes the request body (``old <size>``, consistency proof lines, an
empty line, the signed checkpoint note) and returns ``(status, content type, body)``:

- 200, the cosignature line(s) (``text/plain``): signed by a trusted log key, ``old`` equal to
  the size it holds, and the proof shows the new tree extends the old one;
- 400 malformed or ``old`` > size, 403 no trusted signature, 404 unknown origin,
  409 ``text/x.tlog.size`` "<size it holds>\\n" when ``old`` differs (or same size, other root),
  422 the consistency proof does not verify.

State: ``<dir>/witness.key`` (Ed25519, 0600), ``<dir>/state.json`` (per origin: size, root and
the cosigned note), ``<dir>/logs.txt`` (extra trusted log vkeys, one a line).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hope.audit.merkle import verify_consistency
from hope.audit.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Checkpoint,
    NoteError,
    cosign_line,
    parse_vkey,
    raw_public,
    signed_by,
    split_note,
    vkey,
)
from hope.audit.witness_client import SIZE_TYPE, parse_request
from hope.files import atomic_write_bytes


class Witness:
    """One witness identity and the latest cosigned checkpoint of every log it follows."""

    def __init__(self, directory: Path, logs: list[str] | None = None, name: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self.key = self._load_key()
        pub = raw_public(self.key)
        self.name = name or f"hope-witness/{pub.hex()[:16]}"
        self.clock = clock
        self._lock = threading.Lock()  # check-then-persist is atomic per witness
        self.trusted: dict[str, list[bytes]] = {}
        for text in [*(logs or []), *self._file_logs()]:
            origin, alg, key = parse_vkey(text)
            if alg == ALG_ED25519:
                self.trusted.setdefault(origin, []).append(key)
        self.state: dict[str, dict[str, Any]] = self._load_state()

    @property
    def vkey(self) -> str:
        return vkey(self.name, raw_public(self.key), ALG_COSIGNATURE_V1)

    # --- persistence ---------------------------------------------------------------------
    def _load_key(self) -> Ed25519PrivateKey:
        path = self.dir / "witness.key"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path}: not an Ed25519 key")
            return key
        key = Ed25519PrivateKey.generate()
        atomic_write_bytes(path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()), mode=0o600)
        return key

    def _file_logs(self) -> list[str]:
        try:
            text = (self.dir / "logs.txt").read_text()
        except FileNotFoundError:
            return []
        return [line.strip() for line in text.splitlines()
                if line.strip() and not line.startswith("#")]

    def _load_state(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads((self.dir / "state.json").read_text())
        except FileNotFoundError:
            return {}

    def _save(self) -> None:
        atomic_write_bytes(self.dir / "state.json",
                           json.dumps(self.state, indent=1, sort_keys=True).encode())

    # --- the protocol ----------------------------------------------------------------------
    def latest(self, origin: str) -> bytes | None:
        """The latest cosigned checkpoint note of ``origin`` (log signature + cosignature)."""
        entry = self.state.get(origin)
        return entry["note"].encode() if entry else None

    def add_checkpoint(self, body: bytes) -> tuple[int, str, bytes]:
        try:
            old, proof, note = parse_request(body)
            cp_body, _ = split_note(note)
            cp = Checkpoint.parse(cp_body)
        except (NoteError, ValueError) as exc:
            return 400, "text/plain", f"bad request: {exc}\n".encode()
        keys = self.trusted.get(cp.origin)
        if not keys:
            return 404, "text/plain", f"unknown log origin {cp.origin!r}\n".encode()
        if not any(signed_by(note, cp.origin, k) for k in keys):
            return 403, "text/plain", b"no signature by a trusted key of this log\n"
        if old > cp.size:
            return 400, "text/plain", f"old size {old} > checkpoint size {cp.size}\n".encode()
        with self._lock:
            held = self.state.get(cp.origin)
            size = held["size"] if held else 0
            if old != size:
                return 409, SIZE_TYPE, f"{size}\n".encode()
            held_root = base64.b64decode(held["root"]) if held else b""
            if held and cp.size == size and cp.root != held_root:
                return 409, SIZE_TYPE, f"{size}\n".encode()
            if held and not verify_consistency(size, cp.size, held_root, cp.root, proof):
                return 422, "text/plain", b"consistency proof does not verify\n"
            if not held and proof:
                return 422, "text/plain", b"the proof must be empty from size 0\n"
            line = cosign_line(self.name, self.key, cp_body, int(self.clock()))
            self.state[cp.origin] = {"size": cp.size, "root": base64.b64encode(cp.root).decode(),
                                     "note": (note + line.encode()).decode()}
            self._save()
        return 200, "text/plain", line.encode()
