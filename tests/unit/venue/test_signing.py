"""The signer and request building against the venue's documented examples."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from hope.venue.signing import Ed25519Signer, HmacSigner, query_string, signed_query

SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PAYLOAD = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
           "&recvWindow=5000&timestamp=1499827319559")
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_hmac_matches_the_documented_vector() -> None:
    """HMAC-SHA256 hex of the docs' payload with the docs' secret is the docs' signature."""
    assert HmacSigner(SECRET).sign(PAYLOAD) == SIGNATURE


def test_signed_query_puts_recv_window_timestamp_and_signature_last() -> None:
    """The built query is exactly the docs' payload plus its signature."""
    params = {"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "1", "price": "0.1"}
    q = signed_query(params, HmacSigner(SECRET), timestamp_ms=1499827319559, recv_window_ms=5000)
    assert q == f"{PAYLOAD}&signature={SIGNATURE}"


def test_ed25519_signature_is_base64_and_verifies_and_is_url_encoded() -> None:
    """An Ed25519 signature is base64 of the raw signature, percent-encoded in the query."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    signer = Ed25519Signer.from_pem(pem)
    sig = signer.sign(PAYLOAD)
    key.public_key().verify(base64.b64decode(sig), PAYLOAD.encode())
    q = signed_query({"symbol": "LTCBTC"}, signer, timestamp_ms=1, recv_window_ms=5000)
    assert "+" not in q.rsplit("signature=", 1)[1] and "/" not in q.rsplit("signature=", 1)[1]


def test_secrets_never_in_repr() -> None:
    """A signer's repr shows no secret."""
    assert "Nhq" not in repr(HmacSigner(SECRET))


def test_query_string_drops_none_and_spells_booleans() -> None:
    """None values are left out; booleans are spelled as the venue expects."""
    assert query_string({"a": 1, "b": None, "c": True}) == "a=1&c=true"
