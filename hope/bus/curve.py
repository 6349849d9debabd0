"""CurveZMQ on the bus (``[bus] transport = "tcp"``): key files per principal, the client and
server socket options, and the proxy's ZAP allow-list.

Each principal's certificate (zmq.auth format) is ``keys/<principal>/curve.key_secret`` (0600)
and its public half ``keys/public/<principal>.curve.key`` (0644). The proxy's XSUB and XPUB are
CURVE servers in ZAP domain ``hope``; its :class:`BusAuthenticator` admits exactly the public
keys in ``keys/public/`` (each under its principal's name) and refuses every other key; a peer
without CURVE fails the handshake. ipc stays plain: the socket files' permissions guard it.

A bus client on any host gets its keys with :func:`secure_client` (its own certificate and the
proxy's public key, both under the state dir's ``keys/``)::

    sock = ctx.socket(zmq.SUB)
    secure_client(sock, config, "executor")   # before connect(); no-op for ipc
    sock.connect(endpoints(config)[1])
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import zmq
from zmq.auth.certs import load_certificate
from zmq.auth.thread import ThreadAuthenticator

from hope.config import Config
from hope.files import remove_existing
from hope.paths import StatePaths
from hope.principals import check_name, note_key

SECRET_FILE = "curve.key_secret"
PUBLIC_SUFFIX = ".curve.key"
ZAP_DOMAIN = "hope"
SERVER = "proxy"


class CurveKeyError(RuntimeError):
    """A CURVE key that is missing or unreadable; the message names the file, never the key."""


@dataclass(frozen=True)
class CurveKeys:
    """One principal's CURVE key pair (z85, as zmq socket options take them)."""
    principal: str
    public: bytes
    secret: bytes

    @property
    def key_id(self) -> str:
        return fingerprint(self.public)


def fingerprint(public_z85: bytes) -> str:
    """A short public name of a CURVE key: ``curve:`` + 16 hex of its sha256."""
    return "curve:" + hashlib.sha256(public_z85).hexdigest()[:16]


def secret_path(state: StatePaths, principal: str) -> Path:
    return state.principal_keys(check_name(principal)) / SECRET_FILE


def public_path(state: StatePaths, principal: str) -> Path:
    return state.public_keys / f"{check_name(principal)}{PUBLIC_SUFFIX}"


def _cert(kind: str, public: bytes, secret: bytes | None) -> bytes:
    lines = [f"#   ****  Generated on {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} by hope  ****",
             f"#   ZeroMQ CURVE {kind} Certificate", "", "metadata", "curve",
             f'    public-key = "{public.decode()}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return ("\n".join(lines) + "\n").encode()


def _write(path: Path, data: bytes, mode: int) -> None:
    from hope.files import atomic_write_bytes

    atomic_write_bytes(path, data, mode=mode)


def ensure_dirs(state: StatePaths, principal: str) -> None:
    """``keys/`` and ``keys/<principal>/`` 0700, ``keys/public/`` 0755 (modes kept as they are
    when privilege separation has set them)."""
    for d, mode in ((state.keys, 0o700), (state.principal_keys(principal), 0o700),
                    (state.public_keys, 0o755)):
        if not d.is_dir():
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, mode)


def create_keypair(state: StatePaths, principal: str, *, force: bool = False
                   ) -> tuple[CurveKeys, bool]:
    """The principal's key pair, created when missing (or ``force``: a rotation); returns
    (keys, created). The public half is (re)written to ``keys/public/`` too: enrolled."""
    ensure_dirs(state, principal)
    path = secret_path(state, principal)
    if path.exists() and not force:
        keys = load_keys(state, principal)
        if not public_path(state, principal).exists():
            enrol_public(state, principal, keys.public)
        return keys, False
    public, secret = zmq.curve_keypair()
    _write(path, _cert("**Secret**", public, secret), 0o600)
    enrol_public(state, principal, public)
    return CurveKeys(principal, public, secret), True


def enrol_public(state: StatePaths, principal: str, public_z85: bytes) -> Path:
    """Admit ``principal`` with this public key (e.g. one made on another host)."""
    if len(public_z85) != 40:
        raise CurveKeyError(f"{principal}: a CURVE public key is 40 z85 characters")
    ensure_dirs(state, principal)
    path = public_path(state, principal)
    _write(path, _cert("Public", public_z85, None), 0o644)
    return path


def revoke(state: StatePaths, principal: str) -> list[Path]:
    """Withdraw the principal's key: its public half leaves the allow-list and its secret is
    deleted. Returns the files removed."""
    return remove_existing(public_path(state, principal), secret_path(state, principal))


def load_keys(state: StatePaths, principal: str) -> CurveKeys:
    path = secret_path(state, principal)
    try:
        public, secret = load_certificate(path)
    except OSError as exc:
        why = "missing" if not path.exists() else f"unreadable ({exc.strerror or exc})"
        raise CurveKeyError(f"{path}: CURVE key {why} (run `hope keys init`)") from None
    except ValueError:
        raise CurveKeyError(f"{path}: not a CURVE certificate") from None
    if not secret:
        raise CurveKeyError(f"{path}: no secret key in the certificate")
    return CurveKeys(principal, public, secret)


def load_public(state: StatePaths, principal: str) -> bytes:
    path = public_path(state, principal)
    try:
        return load_certificate(path)[0]
    except OSError:
        raise CurveKeyError(f"{path}: CURVE public key of {principal!r} missing "
                            "(run `hope keys init`, or copy it from the host that made it)") \
            from None
    except ValueError:
        raise CurveKeyError(f"{path}: not a CURVE certificate") from None


def allow_list(state: StatePaths) -> dict[bytes, str]:
    """{public key z85: principal} for every enrolled key; unreadable files are skipped."""
    found: dict[bytes, str] = {}
    for path in sorted(state.public_keys.glob(f"*{PUBLIC_SUFFIX}")):
        try:
            found[load_certificate(path)[0]] = path.name[:-len(PUBLIC_SUFFIX)]
        except (OSError, ValueError):
            continue
    return found


def uses_curve(config: Config) -> bool:
    """tcp means CurveZMQ; ipc is guarded by the socket files' permissions."""
    return config.bus.transport == "tcp"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(config: Config, exc: CurveKeyError) -> str:
    """Why a tcp bus refuses to start without its CURVE key, naming the config key and file."""
    host = config.bus.tcp_host
    where = (f"[bus] tcp_host = {host!r} is not a loopback address: binding or reaching it "
             "without CURVE is refused" if not is_loopback(host)
             else '[bus] transport = "tcp" requires CURVE')
    return f"{where}; {exc}"


def check_principal(config: Config, principal: str) -> None:
    """Raise CurveKeyError unless ``principal`` can join a tcp bus (own key, the public key of
    every proxy it connects to: ``[bus] proxy_names``, or ``proxy``)."""
    if uses_curve(config):
        load_keys(config.state, principal)
        for server in config.bus.proxy_names or [SERVER]:
            load_public(config.state, server)


def secure_client(sock: zmq.Socket, config: Config, principal: str, *,
                  server: str = SERVER) -> None:
    """Make ``sock`` (not yet connected) a CURVE client as ``principal`` when the bus is tcp:
    its own certificate and the public key of ``server`` (the principal of the proxy it
    connects to; a second proxy has its own). Raises CurveKeyError naming the file."""
    if not uses_curve(config):
        return
    keys = load_keys(config.state, principal)
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_serverkey = load_public(config.state, server)
    note_key("curve_key", keys.key_id)


def secure_server(sock: zmq.Socket, config: Config, principal: str = SERVER) -> None:
    """Make a proxy socket (not yet bound) a CURVE server in ZAP domain ``hope`` with the
    key of ``principal`` (the proxy's)."""
    if not uses_curve(config):
        return
    keys = load_keys(config.state, principal)
    sock.curve_server = True
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.zap_domain = ZAP_DOMAIN.encode()
    sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)  # no ZAP handler answering: refuse, never admit


class _AllowList:
    """The ZAP callback: a key is admitted when it is enrolled; denials are counted."""

    def __init__(self, state: StatePaths) -> None:
        self.state = state
        self.keys: dict[bytes, str] = {}
        self.denied = 0
        self.admitted: dict[str, int] = {}
        self.last_denied: str | None = None
        self._lock = threading.Lock()

    def callback(self, domain: str, key: bytes) -> bool:
        principal = self.keys.get(key)
        with self._lock:
            if principal is None:
                self.denied += 1
                self.last_denied = fingerprint(key)
                return False
            self.admitted[principal] = self.admitted.get(principal, 0) + 1
        return True


class BusAuthenticator(ThreadAuthenticator):
    """The proxy's ZAP handler (a thread on the proxy's context): admits the enrolled keys of
    ``keys/public/``; :meth:`reload` re-reads them (the proxy does when the directory changes)."""

    def __init__(self, ctx: zmq.Context, state: StatePaths) -> None:
        super().__init__(ctx)
        self.allow = _AllowList(state)

    def start(self) -> None:
        super().start()
        self.reload()
        self.configure_curve_callback(ZAP_DOMAIN, self.allow)

    def reload(self) -> tuple[set[str], set[str]]:
        """Re-read the allow-list; returns (principals added, principals removed or re-keyed)."""
        new = allow_list(self.allow.state)
        old = self.allow.keys
        removed = {p for k, p in old.items() if k not in new}
        added = {p for k, p in new.items() if k not in old}
        self.allow.keys = new  # one reference swap: the ZAP thread sees old or new
        return added, removed

    def curve_user_id(self, client_public_key: bytes) -> str:
        from zmq.utils import z85
        return self.allow.keys.get(z85.encode(client_public_key), "unknown")


def allow_list_stamp(state: StatePaths) -> tuple:
    """What changes when a key is enrolled, rotated or revoked (names, sizes, mtimes)."""
    try:
        entries = sorted(os.scandir(state.public_keys), key=lambda e: e.name)
    except OSError:
        return ()
    out = []
    for e in entries:
        if e.name.endswith(PUBLIC_SUFFIX):
            st = e.stat()
            out.append((e.name, st.st_size, st.st_mtime_ns))
    return tuple(out)
