"""Request security of SIGNED endpoints, as the venue documents it (rest-api.md, "Request
Security"): the API key in ``X-MBX-APIKEY``, a ``signature`` over the query string concatenated
without separator to the body, HMAC-SHA256 (hex, not case-sensitive) or Ed25519 (base64), and
the timing rule::

    timestamp < serverTime + 1000  and  serverTime - timestamp <= recvWindow

(``recvWindow`` default 5000 ms, at most 60000, up to three decimals; ``timestamp`` in ms or
µs). Pure functions and one key ring: no sockets, clocks passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from hope.venue_sim.rest import ApiError

DEFAULT_RECV_WINDOW_MS = Decimal(5000)
MAX_RECV_WINDOW_MS = Decimal(60000)
API_KEY_RE = re.compile(r"^[A-Za-z0-9]{1,128}$")


class AuthError(ApiError):
    """A refusal of the request's key, signature or timing (nothing was done)."""


def hmac_signature(secret: str, payload: str) -> str:
    """HMAC-SHA256 of ``payload`` with ``secret``, lowercase hex (what a client sends)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


@dataclass
class ApiKey:
    """One API key registered at the stand-in: HMAC (``secret``) or Ed25519 (``public_key``)."""

    api_key: str
    account: str = "main"
    secret: str | None = None
    public_key: Ed25519PublicKey | None = None
    permissions: list[str] = field(default_factory=lambda: ["SPOT"])
    enable_withdrawals: bool = False

    def __post_init__(self) -> None:
        if (self.secret is None) == (self.public_key is None):
            raise ValueError(f"API key {self.api_key[:6]}...: needs exactly one of an HMAC "
                             "secret or an Ed25519 public key")

    @property
    def kind(self) -> str:
        return "HMAC_SHA256" if self.secret is not None else "Ed25519"

    def verify(self, payload: str, signature: str) -> bool:
        if self.secret is not None:
            expected = hmac_signature(self.secret, payload)
            return hmac.compare_digest(expected, signature.lower())
        assert self.public_key is not None
        try:
            raw = base64.b64decode(signature.replace(" ", "+"), validate=True)
            self.public_key.verify(raw, payload.encode())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


def split_signature(query: str, body: str) -> tuple[str, str | None]:
    """(the signed payload, the ``signature`` value) from the raw query string and body.

    The payload is the query string and the body, each without its ``signature=`` pair,
    concatenated without separator (as the client built it before appending the signature).
    """
    found: str | None = None
    parts = []
    for raw in (query, body):
        kept = []
        for pair in raw.split("&") if raw else []:
            if pair.startswith("signature="):
                if found is None:
                    found = unquote(pair[len("signature="):])
                continue
            kept.append(pair)
        parts.append("&".join(kept))
    return "".join(parts), found


def parse_recv_window(raw: str | None) -> Decimal:
    if raw is None:
        return DEFAULT_RECV_WINDOW_MS
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal(-1)
    if (not value.is_finite() or value <= 0 or value > MAX_RECV_WINDOW_MS
            or -value.as_tuple().exponent > 3):
        raise AuthError(-1131, "recvWindow must be less than 60000")
    return value


def parse_timestamp(raw: str | None) -> Decimal:
    """The request's ``timestamp`` in ms (µs values, ≥ 10^14, are scaled down)."""
    if raw is None or raw == "":
        raise AuthError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, "
                               "or malformed.")
    if not raw.isdigit() or len(raw) > 20:
        raise AuthError(-1100, "Illegal characters found in parameter 'timestamp'; legal range "
                               "is '^[0-9]{1,20}$'.")
    value = Decimal(raw)
    return value / 1000 if value >= 10 ** 14 else value


def check_timing(timestamp_ms: Decimal, recv_window_ms: Decimal, server_ms: float) -> None:
    """The venue's rule; -1021 with the venue's message for each side."""
    server = Decimal(repr(server_ms))
    if timestamp_ms >= server + 1000:
        raise AuthError(-1021, "Timestamp for this request was 1000ms ahead of the server's "
                               "time.")
    if server - timestamp_ms > recv_window_ms:
        raise AuthError(-1021, "Timestamp for this request is outside of the recvWindow.")


class KeyRing:
    """The API keys the stand-in knows; ``authenticate`` checks key, signature and timing."""

    def __init__(self, keys: list[ApiKey] | None = None) -> None:
        self.keys: dict[str, ApiKey] = {}
        for key in keys or []:
            self.add(key)

    def add(self, key: ApiKey) -> None:
        self.keys[key.api_key] = key

    def lookup(self, api_key: str | None) -> ApiKey:
        """The key named by ``X-MBX-APIKEY``: -2014 malformed or missing, -2015 unknown."""
        if not api_key or not API_KEY_RE.match(api_key):
            raise AuthError(-2014, "API-key format invalid.", 401)
        key = self.keys.get(api_key)
        if key is None:
            raise AuthError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return key

    def authenticate(self, api_key: str | None, query: str, body: str,
                     params: dict[str, str], server_ms: float) -> ApiKey:
        """The caller's key once every check passes; AuthError with the venue's code else."""
        key = self.lookup(api_key)
        payload, signature = split_signature(query, body)
        if not signature:
            raise AuthError(-1102, "Mandatory parameter 'signature' was not sent, was "
                                   "empty/null, or malformed.")
        timestamp = parse_timestamp(params.get("timestamp"))
        window = parse_recv_window(params.get("recvWindow"))
        if not key.verify(payload, signature):
            raise AuthError(-1022, "Signature for this request is not valid.")
        check_timing(timestamp, window, server_ms)
        return key


def ws_payload(params: dict[str, object]) -> str:
    """The WebSocket API's signature payload: every parameter but ``signature``, sorted by
    name, ``name=value`` joined with ``&``, not percent-encoded (web-socket-api.md)."""
    def text(value: object) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)
    return "&".join(f"{k}={text(v)}" for k, v in sorted(params.items()) if k != "signature")


def authenticate_ws(ring: KeyRing, params: dict[str, object], server_ms: float) -> ApiKey:
    """A WebSocket API request signed in its ``params`` (``apiKey``, ``timestamp``,
    ``signature``); AuthError with the venue's code else."""
    raw = params.get("apiKey")
    key = ring.lookup(raw if isinstance(raw, str) else None)
    signature = params.get("signature")
    if not isinstance(signature, str) or not signature:
        raise AuthError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, "
                               "or malformed.")
    ts = params.get("timestamp")
    timestamp = parse_timestamp(None if ts is None else str(ts))
    window = params.get("recvWindow")
    recv_window = parse_recv_window(None if window is None else str(window))
    if not key.verify(ws_payload(params), signature):
        raise AuthError(-1022, "Signature for this request is not valid.")
    check_timing(timestamp, recv_window, server_ms)
    return key


def load_key_dir(directory: str | Path, account: str = "main",
                 enable_withdrawals: bool = False) -> ApiKey:
    """The API key in ``directory`` (``api_key`` and ``secret``, or ``api_key`` and
    ``ed25519_key.pub`` in PEM), as :func:`hope.venue_sim.testing.generate_test_keys` writes."""
    d = Path(directory)
    api_key = (d / "api_key").read_text().strip()
    secret_path = d / "secret"
    if secret_path.exists():
        if secret_path.stat().st_mode & 0o077:
            raise ValueError(f"{secret_path}: readable by others (must be 0600)")
        return ApiKey(api_key, account, secret=secret_path.read_text().strip(),
                      enable_withdrawals=enable_withdrawals)
    pub_path = d / "ed25519_key.pub"
    if not pub_path.exists():
        raise FileNotFoundError(f"{d}: neither 'secret' nor 'ed25519_key.pub'")
    public = load_pem_public_key(pub_path.read_bytes())
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError(f"{pub_path}: not an Ed25519 public key")
    return ApiKey(api_key, account, public_key=public, enable_withdrawals=enable_withdrawals)
