"""The auth frame: a vector of per-recipient MACs over the exact body bytes.

Wire (the third frame beside ``[topic, body]``)::

    auth = 0x01 | len(signer) (1 byte) | signer (ASCII) | { tag (4 bytes) | mac (16 bytes) }*

``tag`` = BLAKE2b-32 of the recipient's name; ``mac`` = BLAKE2b-128 of the body keyed with the
directional pair key ``BLAKE2b-256(key = X25519(signer, recipient),
"hope-event-v1\\0" signer "\\0" recipient)``. The signer puts one entry per principal with a
public key (itself included: a service hears its own events; not the proxy, which receives
nothing), so each consumer checks one MAC
and holds no key that makes another consumer's entry. Measured costs: docs/SECURITY.md.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hope.authority import NOT_RECEIVING
from hope.eventauth.keys import is_name, load_public, public_dir, public_names

VERSION = 1
TAG_BYTES, MAC_BYTES = 4, 16
ENTRY = TAG_BYTES + MAC_BYTES
RESCAN_S = 0.5          # how often a sealer/opener looks for principals enrolled/revoked since
UNKNOWN_RETRY_S = 1.0   # how often an opener looks again for an unknown signer's public key
_b2 = hashlib.blake2b


class AuthError(Exception):
    """An auth frame that does not prove its signer; ``reason`` is the refusal counter name."""

    def __init__(self, reason: str, message: str, signer: str = "") -> None:
        super().__init__(message)
        self.reason, self.message, self.signer = reason, message, signer


def _raw(pub: X25519PublicKey) -> bytes:
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def tag_of(name: str) -> bytes:
    return _b2(name.encode(), digest_size=TAG_BYTES).digest()


def pair_key(secret: X25519PrivateKey, peer: X25519PublicKey, signer: str,
             recipient: str) -> bytes:
    shared = secret.exchange(peer)
    return _b2(b"hope-event-v1\0" + signer.encode() + b"\0" + recipient.encode(), key=shared,
               digest_size=32).digest()


class PairKeys:
    """One principal's side of every pair: seal for all principals, open from any of them.

    Keys are derived once per peer (an X25519 exchange, ~0.1 ms) and kept as keyed BLAKE2b
    states, so a seal is one ``copy/update/digest`` per recipient and an open is one."""

    def __init__(self, keys_dir: Path, name: str, secret: X25519PrivateKey) -> None:
        self.keys_dir, self.name, self.secret = keys_dir, name, secret
        self._mytag = tag_of(name)
        self._header = bytes((VERSION, len(name))) + name.encode()
        self._seal_to: list[tuple[bytes, object]] = []   # (tag, keyed BLAKE2b state)
        self._sealed_names: set[str] = set()
        self._next_scan = 0.0
        self._dir_mtime = -1.0
        self._open_from: dict[bytes, object] = {}
        self._unknown: dict[bytes, float] = {}           # signer -> next lookup (monotonic)
        self._derived_from: dict[str, bytes] = {}        # peer -> public key its pair key used

    # sealing -------------------------------------------------------------------------------
    def rescan(self, force: bool = False) -> None:
        """Pick up principals enrolled since (their public key files), and forget the pair keys
        of principals whose public key was revoked or rotated (``hope keys``)."""
        try:
            mtime = os.stat(public_dir(self.keys_dir)).st_mtime
        except FileNotFoundError:
            mtime = 0.0
        if mtime == self._dir_mtime and not force:
            return
        self._dir_mtime = mtime
        current = {}
        for peer in public_names(self.keys_dir):
            pub = load_public(self.keys_dir, peer)
            if pub is not None:
                current[peer] = pub
        for peer, raw in list(self._derived_from.items()):
            if peer not in current or _raw(current[peer]) != raw:
                self._forget(peer)
        self._unknown.clear()
        for peer, pub in current.items():
            if peer in self._sealed_names or peer in NOT_RECEIVING:
                continue
            key = pair_key(self.secret, pub, self.name, peer)
            self._seal_to.append((tag_of(peer), _b2(key=key, digest_size=MAC_BYTES)))
            self._sealed_names.add(peer)
            self._derived_from[peer] = _raw(pub)

    def _forget(self, peer: str) -> None:
        tag = tag_of(peer)
        self._seal_to = [(t, st) for t, st in self._seal_to if t != tag]
        self._sealed_names.discard(peer)
        self._open_from.pop(peer.encode(), None)
        self._derived_from.pop(peer, None)

    def _rescan_if_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_scan:
            self._next_scan = now + RESCAN_S
            self.rescan()

    def seal(self, body: bytes) -> bytes:
        self._rescan_if_due()
        parts = [self._header]
        append = parts.append
        for tag, state in self._seal_to:
            h = state.copy()
            h.update(body)
            append(tag)
            append(h.digest())
        return b"".join(parts)

    def knows(self, peer: str) -> bool:
        return peer in self._sealed_names

    # opening -------------------------------------------------------------------------------
    def open(self, body: bytes, auth: bytes) -> str:
        """The signer whose MAC for us over ``body`` is in ``auth``; AuthError otherwise."""
        if len(auth) < 2 or auth[0] != VERSION:
            raise AuthError("auth_malformed", "auth frame of an unknown version or empty")
        self._rescan_if_due()
        n = auth[1]
        off = 2 + n
        raw = auth[2:off]
        state = self._open_from.get(raw)
        if state is None:
            state = self._learn(raw)
        pos = auth.find(self._mytag, off)
        while pos != -1 and (pos - off) % ENTRY:
            pos = auth.find(self._mytag, pos + 1)
        signer = raw.decode()
        if pos == -1 or pos + ENTRY > len(auth):
            raise AuthError("auth_not_for_us", f"no MAC for {self.name} from {signer}", signer)
        h = state.copy()
        h.update(body)
        if not hmac.compare_digest(h.digest(), auth[pos + TAG_BYTES:pos + ENTRY]):
            raise AuthError("auth_bad_mac", f"MAC from {signer!r} does not match the body",
                            signer)
        return signer

    def _learn(self, raw: bytes) -> object:
        try:
            signer = raw.decode("ascii")
        except UnicodeDecodeError:
            signer = ""
        if not is_name(signer):
            raise AuthError("auth_malformed", f"bad signer name {raw[:40]!r}")
        now = time.monotonic()
        if self._unknown.get(raw, 0.0) > now:
            raise AuthError("auth_unknown_principal", f"no public key for {signer!r}", signer)
        pub = load_public(self.keys_dir, signer)
        if pub is None:
            if len(self._unknown) > 10_000:
                self._unknown.clear()
            self._unknown[raw] = now + UNKNOWN_RETRY_S
            raise AuthError("auth_unknown_principal", f"no public key for {signer!r}", signer)
        state = _b2(key=pair_key(self.secret, pub, signer, self.name), digest_size=MAC_BYTES)
        self._open_from[raw] = state
        self._derived_from.setdefault(signer, _raw(pub))
        return state
