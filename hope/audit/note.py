"""C2SP ``tlog-checkpoint`` bodies, ``signed-note`` Ed25519 signatures, ``tlog-cosignature`` v1.

The exact bytes are in docs/AUDIT.md. In short, a checkpoint body is::

    <origin>\\n<tree size>\\n<base64 root hash>\\n[extension line\\n ...]

HOPE's extension lines are ``time <UTC timestamp>``, ``previous <tree size of the checkpoint
before>`` and one ``family <name> <size> <head hex>`` per file family (sorted by name). A signed note is ``body + "\\n"`` followed by signature lines
``— <key name> <base64(4-byte key hash || signature)>\\n``; the key hash is
``SHA-256(name || "\\n" || type || public key)[:4]`` with type 0x01 (Ed25519 note signature)
or 0x04 (Ed25519 cosignature/v1, whose signature also carries an 8-byte big-endian time and
signs ``"cosignature/v1\\ntime <t>\\n" + body``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
DASH = "\u2014 "  # every signature line starts with an em dash and a space
MAX_NOTE_BYTES = 1 << 16


class NoteError(ValueError):
    """A note or checkpoint that does not parse; the message says what is wrong."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> bytes:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(),
                 *self.extensions]
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def parse(cls, body: bytes) -> Checkpoint:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise NoteError("checkpoint is not UTF-8") from None
        if not text.endswith("\n"):
            raise NoteError("checkpoint does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or any(not line for line in lines):
            raise NoteError("checkpoint needs origin, size and root lines, none empty")
        origin, size, root, *ext = lines
        if not size.isdigit() or (size != "0" and size.startswith("0")):
            raise NoteError(f"tree size {size!r} is not a decimal without leading zeroes")
        try:
            raw = base64.b64decode(root, validate=True)
        except binascii.Error:
            raise NoteError("root hash is not base64") from None
        if len(raw) != 32:
            raise NoteError(f"root hash is {len(raw)} bytes, not 32")
        return cls(origin, int(size), raw, tuple(ext))

    # HOPE's extension lines ------------------------------------------------------------
    @property
    def time(self) -> str | None:
        for line in self.extensions:
            if line.startswith("time "):
                return line[5:]
        return None

    @property
    def previous(self) -> int | None:
        """The tree size of the checkpoint before this one (0 for the first)."""
        for line in self.extensions:
            if line.startswith("previous ") and line[9:].isdigit():
                return int(line[9:])
        return None

    @property
    def families(self) -> dict[str, tuple[int, str]]:
        """{family: (records, head hash hex)} from the ``family`` lines."""
        out: dict[str, tuple[int, str]] = {}
        for line in self.extensions:
            parts = line.split(" ")
            if len(parts) == 4 and parts[0] == "family" and parts[2].isdigit():
                out[parts[1]] = (int(parts[2]), parts[3])
        return out


def audit_extensions(time: str, families: dict[str, tuple[int, str]],
                     previous: int) -> tuple[str, ...]:
    return (f"time {time}", f"previous {previous}",
            *(f"family {name} {size} {head}" for name, (size, head) in sorted(families.items())))


def key_hash(name: str, alg: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]


def raw_public(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def vkey(name: str, public: bytes, alg: int = ALG_ED25519) -> str:
    """The C2SP verifier key text ``<name>+<hex key hash>+<base64(type || key)>``."""
    return (f"{name}+{key_hash(name, alg, public).hex()}+"
            f"{base64.b64encode(bytes([alg]) + public).decode()}")


def parse_vkey(text: str) -> tuple[str, int, bytes]:
    """(name, type, public key) of a verifier key; raises NoteError."""
    try:
        name, khash, b64 = text.strip().split("+", 2)  # names hold no "+", base64 may
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError(f"not a verifier key: {text[:40]!r}") from None
    if len(raw) != 33 or key_hash(name, raw[0], raw[1:]).hex() != khash:
        raise NoteError(f"verifier key {name!r}: bad key or key hash")
    return name, raw[0], raw[1:]


def sign_line(name: str, private: Ed25519PrivateKey, body: bytes) -> str:
    sig = private.sign(body)
    blob = key_hash(name, ALG_ED25519, raw_public(private)) + sig
    return f"{DASH}{name} {base64.b64encode(blob).decode()}\n"


def cosign_line(name: str, private: Ed25519PrivateKey, body: bytes, timestamp: int) -> str:
    message = f"cosignature/v1\ntime {timestamp}\n".encode() + body
    blob = (key_hash(name, ALG_COSIGNATURE_V1, raw_public(private))
            + struct.pack(">Q", timestamp) + private.sign(message))
    return f"{DASH}{name} {base64.b64encode(blob).decode()}\n"


def split_note(note: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(body, [(key name, decoded signature blob)]) of a signed note; raises NoteError."""
    if len(note) > MAX_NOTE_BYTES:
        raise NoteError(f"note of {len(note)} bytes exceeds {MAX_NOTE_BYTES}")
    cut = note.rfind(b"\n\n")
    if cut < 0 or not note.endswith(b"\n"):
        raise NoteError("no signature block (a blank line, then signature lines)")
    body, sigs = note[:cut + 1], note[cut + 2:]
    out = []
    for line in sigs.decode(errors="replace").split("\n")[:-1]:
        if not line.startswith(DASH) or " " not in line[len(DASH):]:
            raise NoteError(f"malformed signature line {line[:60]!r}")
        name, b64 = line[len(DASH):].rsplit(" ", 1)
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise NoteError(f"signature of {name!r} is not base64") from None
        if len(blob) < 5:
            raise NoteError(f"signature of {name!r} is too short")
        out.append((name, blob))
    if not out:
        raise NoteError("note has no signature")
    return body, out


def signed_by(note: bytes, name: str, public: bytes) -> bool:
    """Does ``note`` carry a valid Ed25519 note signature of (name, public)?"""
    body, sigs = split_note(note)
    want = key_hash(name, ALG_ED25519, public)
    for sname, blob in sigs:
        if sname == name and blob[:4] == want and _verify(public, blob[4:], body):
            return True
    return False


def cosigned_by(note: bytes, name: str, public: bytes) -> int | None:
    """The time of a valid cosignature/v1 of (name, public) on ``note``, or None."""
    body, sigs = split_note(note)
    want = key_hash(name, ALG_COSIGNATURE_V1, public)
    for sname, blob in sigs:
        if sname == name and blob[:4] == want and len(blob) == 4 + 8 + 64:
            (ts,) = struct.unpack(">Q", blob[4:12])
            message = f"cosignature/v1\ntime {ts}\n".encode() + body
            if _verify(public, blob[12:], message):
                return ts
    return None


def _verify(public: bytes, sig: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(sig, message)
        return True
    except (InvalidSignature, ValueError):
        return False
