"""The log's side of a witness: push a checkpoint with its consistency proof, read the latest.

Plain ``urllib`` (blocking; callers run it in a thread), short timeouts, never a redirect
off the configured URL.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from hope.audit.note import ALG_COSIGNATURE_V1, NoteError, parse_vkey
from hope.witness.core import SIZE_TYPE, request_body


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
