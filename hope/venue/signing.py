"""Signed requests as the venue checks them: the query string, ``timestamp`` and
``recvWindow``, signed with HMAC-SHA256 (hex) or Ed25519 (base64).

The payload signed is the exact query string sent (parameters in the order given, then
``recvWindow`` and ``timestamp``); the signature goes last. Secrets never appear in a ``repr``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote, urlencode


class Signer(Protocol):
    kind: str

    def sign(self, payload: str) -> str: ...


class HmacSigner:
    """HMAC-SHA256 of the payload with the secret, lower-case hex."""

    kind = "hmac-sha256"

    def __init__(self, secret: bytes) -> None:
        self._secret = bytes(secret)

    def sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode("utf-8"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "HmacSigner(<secret>)"


class Ed25519Signer:
    """Ed25519 signature of the payload, standard base64 (the venue's recommended keys)."""

    kind = "ed25519"

    def __init__(self, key: Any) -> None:
        self._key = key

    @classmethod
    def from_pem(cls, pem: bytes, where: str = "ed25519 key") -> Ed25519Signer:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise ValueError(f"ed25519_key_file: {where} is not an unencrypted PEM private key") \
                from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"ed25519_key_file: {where} is not an Ed25519 key")
        return cls(key)

    def sign(self, payload: str) -> str:
        return base64.b64encode(self._key.sign(payload.encode("utf-8"))).decode("ascii")

    def __repr__(self) -> str:
        return "Ed25519Signer(<key>)"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def query_string(params: Mapping[str, Any]) -> str:
    """``a=1&b=x`` in the given order, values percent-encoded (``None`` values left out)."""
    return urlencode([(k, _text(v)) for k, v in params.items() if v is not None])


def signed_query(params: Mapping[str, Any], signer: Signer, *, timestamp_ms: int,
                 recv_window_ms: int) -> str:
    """The full signed query string: ``params&recvWindow=..&timestamp=..&signature=..``."""
    payload = query_string({**params, "recvWindow": recv_window_ms, "timestamp": timestamp_ms})
    return f"{payload}&signature={quote(signer.sign(payload), safe='')}"
