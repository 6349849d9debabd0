"""Request security of the stand-in's SIGNED endpoints: HMAC (the docs' test vector) and Ed25519
signatures, the key checks and the exact recvWindow rule."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hope.venue_sim.signing import (
    ApiKey,
    AuthError,
    KeyRing,
    check_timing,
    hmac_signature,
    load_key_dir,
    parse_recv_window,
    parse_timestamp,
    split_signature,
)
from hope.venue_sim.testing import generate_test_keys, signed_query

DOCS_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOCS_PAYLOAD = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
                "&recvWindow=5000&timestamp=1499827319559")
DOCS_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SERVER_MS = 1499827319559.0


def code_of(fn, *args) -> int:  # noqa: ANN001 - a callable and its arguments
    with pytest.raises(AuthError) as info:
        fn(*args)
    return info.value.code


def docs_ring() -> KeyRing:
    return KeyRing([ApiKey(API_KEY, secret=DOCS_SECRET)])


def params_of(payload: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in payload.split("&"))


def test_docs_hmac_vector() -> None:
    """The docs' example secret and payload give the docs' signature."""
    assert hmac_signature(DOCS_SECRET, DOCS_PAYLOAD) == DOCS_SIGNATURE


def test_docs_vector_accepted_in_query_body_or_split() -> None:
    """The payload is the query string then the body without separator (the older docs'
    mixed example: signature 0fd168b8...); the signature may sit in either, in any letter case
    (HMAC is not case-sensitive)."""
    ring, params = docs_ring(), params_of(DOCS_PAYLOAD)
    sig = f"signature={DOCS_SIGNATURE}"
    mixed = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
    for query, body in ((f"{DOCS_PAYLOAD}&{sig}", ""), ("", f"{DOCS_PAYLOAD}&{sig}"),
                        (f"{DOCS_PAYLOAD}&signature={DOCS_SIGNATURE.upper()}", ""),
                        ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
                         f"quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
                         f"&signature={mixed}")):
        assert ring.authenticate(API_KEY, query, body, params, SERVER_MS).api_key == API_KEY
    assert split_signature(f"a=1&{sig}", "b=2") == ("a=1b=2", DOCS_SIGNATURE)


def test_key_and_signature_refusals() -> None:
    """No key or a malformed one: -2014; an unknown key: -2015 (401); a wrong or missing
    signature: -1022 / -1102."""
    ring, params = docs_ring(), params_of(DOCS_PAYLOAD)
    good = f"{DOCS_PAYLOAD}&signature={DOCS_SIGNATURE}"
    assert code_of(ring.authenticate, None, good, "", params, SERVER_MS) == -2014
    assert code_of(ring.authenticate, "bad key!", good, "", params, SERVER_MS) == -2014
    assert code_of(ring.authenticate, "A" * 64, good, "", params, SERVER_MS) == -2015
    with pytest.raises(AuthError) as info:
        ring.authenticate("A" * 64, good, "", params, SERVER_MS)
    assert info.value.status == 401
    tampered = good.replace("quantity=1", "quantity=2")
    assert code_of(ring.authenticate, API_KEY, tampered, "", params, SERVER_MS) == -1022
    assert code_of(ring.authenticate, API_KEY, DOCS_PAYLOAD, "", params, SERVER_MS) == -1102


def test_ed25519_signature(tmp_path: Path) -> None:
    """An Ed25519 key (base64 signature, percent-encoded in the query) verifies; a signature by
    another key or over other bytes does not."""
    keys = generate_test_keys(tmp_path, "ed25519")
    ring = KeyRing([load_key_dir(keys.directory)])
    params = {"symbol": "EVXBTC", "timestamp": "1499827319559"}
    query = signed_query(params, keys)
    assert "%2B" in query or "%2F" in query or "%3D" in query   # base64 travels encoded
    assert ring.authenticate(keys.api_key, query, "", params, SERVER_MS).kind == "Ed25519"
    other = base64.b64encode(Ed25519PrivateKey.generate().sign(b"symbol=EVXBTC")).decode()
    bad = query.split("&signature=")[0] + "&signature=" + other
    assert code_of(ring.authenticate, keys.api_key, bad, "", params, SERVER_MS) == -1022
    assert code_of(ring.authenticate, keys.api_key, query.replace("EVXBTC", "GVTBTC"), "",
                   params, SERVER_MS) == -1022


def test_generated_keys_are_private(tmp_path: Path) -> None:
    """Generated key files are 0600 in a 0700 directory, and the HMAC pair verifies; a secret
    others can read is refused, naming it."""
    keys = generate_test_keys(tmp_path)
    assert keys.directory == tmp_path / "keys" / "binance"
    assert keys.directory.stat().st_mode & 0o777 == 0o700
    for name in ("api_key", "secret"):
        assert (keys.directory / name).stat().st_mode & 0o777 == 0o600
    ring = KeyRing([load_key_dir(keys.directory)])
    params = {"timestamp": "1499827319559"}
    assert ring.authenticate(keys.api_key, signed_query(params, keys), "", params, SERVER_MS)
    (keys.directory / "secret").chmod(0o644)
    with pytest.raises(ValueError, match="secret: readable by others"):
        load_key_dir(keys.directory)


def test_recv_window_rule_boundaries() -> None:
    """timestamp < server + 1000 and server - timestamp <= recvWindow, exactly; recvWindow
    defaults to 5000, at most 60000 with three decimals; µs timestamps count as ms."""
    server = 1_000_000.0
    check_timing(Decimal(server + 999), Decimal(5000), server)
    assert code_of(check_timing, Decimal(server + 1000), Decimal(5000), server) == -1021
    check_timing(Decimal(server - 5000), Decimal(5000), server)
    assert code_of(check_timing, Decimal(server - 5001), Decimal(5000), server) == -1021
    check_timing(Decimal(server - 5000.5), Decimal("5000.5"), server)
    assert parse_recv_window(None) == 5000
    assert parse_recv_window("60000") == 60000
    assert parse_recv_window("6000.346") == Decimal("6000.346")
    for bad in ("60001", "0", "-5", "abc", "6000.3461"):
        assert code_of(parse_recv_window, bad) == -1131
    assert parse_timestamp("1499827319559000") == Decimal("1499827319559")
    assert code_of(parse_timestamp, None) == -1102
    assert code_of(parse_timestamp, "12a") == -1100
