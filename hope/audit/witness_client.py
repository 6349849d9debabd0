"""The log's side of a witness (C2SP tlog-witness): push a checkpoint with its consistency
proof, read the latest; the request body's bytes, shared with ``hope.witness.core``.

Plain ``urllib`` (blocking; callers run it in a thread), short timeouts, never a redirect
off the configured URL.
"""

from __future__ import annotations

import base64
import binascii
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from hope.audit.note import ALG_COSIGNATURE_V1, NoteError, parse_vkey

SIZE_TYPE = "text/x.tlog.size"  # a 409's body: the tree size the witness holds
MAX_PROOF_LINES = 63


@dataclass
class PushResult:
    status: int
    size: int | None = None        # 409: the size the witness holds
    cosignature: bytes = b""       # 200: its signature line(s)
    error: str = ""


class WitnessClient:
    def __init__(self, url: str, vkey: str = "", timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.name, self.public = "", None
        if vkey:
            name, alg, key = parse_vkey(vkey)
            if alg != ALG_COSIGNATURE_V1:
                raise NoteError(f"witness key {name!r} is not a cosignature/v1 key")
            self.name, self.public = name, key

    def add_checkpoint(self, old: int, proof: list[bytes], note: bytes) -> PushResult:
        req = urllib.request.Request(f"{self.url}/add-checkpoint",
                                     data=request_body(old, proof, note), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return PushResult(resp.status, cosignature=resp.read())
        except urllib.error.HTTPError as exc:
            body = exc.read()
            if exc.code == 409 and exc.headers.get_content_type() == SIZE_TYPE:
                try:
                    return PushResult(409, size=int(body.decode().strip()))
                except ValueError:
                    pass
            return PushResult(exc.code, error=body.decode(errors="replace").strip()[:200])

    def latest(self, origin: str) -> bytes | None:
        """The witness's latest cosigned checkpoint of ``origin``; None if it holds none."""
        q = urllib.parse.urlencode({"origin": origin})
        try:
            with urllib.request.urlopen(f"{self.url}/checkpoint?{q}",
                                        timeout=self.timeout_s) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise OSError(f"HTTP {exc.code}") from None


def parse_request(body: bytes) -> tuple[int, list[bytes], bytes]:
    """(old size, proof hashes, signed note) of an add-checkpoint body; ValueError naming why."""
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise ValueError("no empty line before the checkpoint")
    lines = head.decode(errors="replace").split("\n")
    first = lines[0]
    if not first.startswith("old ") or not first[4:].isdigit() or (
            first[4:] != "0" and first[4:].startswith("0")):
        raise ValueError("first line must be 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise ValueError(f"more than {MAX_PROOF_LINES} proof lines")
    proof = []
    for text in lines[1:]:
        try:
            h = base64.b64decode(text, validate=True)
        except binascii.Error:
            raise ValueError(f"proof line {text[:20]!r} is not base64") from None
        if len(h) != 32:
            raise ValueError("a proof hash is not 32 bytes")
        proof.append(h)
    return int(first[4:]), proof, note


def request_body(old: int, proof: list[bytes], note: bytes) -> bytes:
    """The add-checkpoint request body (the log's side)."""
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n").encode() + note
