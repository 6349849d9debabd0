"""A small supervisord XML-RPC client over its unix socket (``[unix_http_server]``).

xmlrpc.client speaks HTTP over TCP only; :class:`UnixTransport` swaps in a connection that
connects to an AF_UNIX path. Blocking: call from a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from pathlib import Path
from typing import Any


class SupervisorError(RuntimeError):
    """supervisord is unreachable or refused a call; the message names the socket and call."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class UnixTransport(xmlrpc.client.Transport):
    """An xmlrpc Transport whose every request goes to one unix socket path."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self._path, self._timeout)


class SupervisorClient:
    """The calls the health monitor needs: process states, stop/start, a signal."""

    def __init__(self, socket_path: str | Path, group: str = "hope", timeout: float = 30.0) -> None:
        self.socket_path = str(socket_path)
        self.group = group
        self._timeout = timeout

    def _proxy(self) -> Any:
        # A fresh proxy per call: xmlrpc connections are not thread-safe and calls are rare.
        return xmlrpc.client.ServerProxy("http://localhost/RPC2",
                                         transport=UnixTransport(self.socket_path, self._timeout))

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._proxy().supervisor, method)(*args)
        except xmlrpc.client.Fault as exc:
            raise SupervisorError(f"{self.socket_path}: supervisor.{method}{args}: "
                                  f"{exc.faultString}") from None
        except (OSError, xmlrpc.client.ProtocolError, http.client.HTTPException) as exc:
            raise SupervisorError(f"{self.socket_path}: supervisor.{method}: cannot reach "
                                  f"supervisord ({exc})") from None

    def full_name(self, service: str) -> str:
        return f"{self.group}:{service}" if self.group else service

    def states(self) -> dict[str, dict[str, Any]]:
        """Our group's programs by service name: ``{"state": "RUNNING" | "BACKOFF" | "FATAL" |
        ..., "pid": int, "start": wall time the process started (0 if never)}``."""
        out = {}
        for info in self._call("getAllProcessInfo"):
            if not self.group or info.get("group") == self.group:
                out[info["name"]] = {"state": info["statename"], "pid": info.get("pid", 0),
                                     "start": float(info.get("start", 0) or 0)}
        return out

    def process_info(self, service: str) -> dict[str, Any]:
        return self._call("getProcessInfo", self.full_name(service))

    def stop(self, service: str) -> None:
        """Stop and wait: supervisord sends stopsignal, then SIGKILL after stopwaitsecs."""
        try:
            self._call("stopProcess", self.full_name(service), True)
        except SupervisorError as exc:
            if "NOT_RUNNING" not in str(exc):
                raise

    def start(self, service: str) -> None:
        try:
            self._call("startProcess", self.full_name(service), True)
        except SupervisorError as exc:
            if "ALREADY_STARTED" not in str(exc):
                raise

    def restart(self, service: str) -> None:
        """Restart a hung process: SIGKILL through supervisord, whose autorestart brings it back.

        A hung handler loop cannot act on SIGTERM, so a stop would only wait out stopwaitsecs
        (30 s for the audit writer: as long as our RPC timeout) before the same SIGKILL. A
        process that is not running is simply started."""
        try:
            self._call("signalProcess", self.full_name(service), "KILL")
        except SupervisorError as exc:
            if "NOT_RUNNING" not in str(exc):
                raise
            self.start(service)

    def signal(self, service: str, sig: str) -> None:
        self._call("signalProcess", self.full_name(service), sig)
