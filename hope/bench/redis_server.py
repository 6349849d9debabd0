"""Debian's redis-server as the pub/sub peer: installed if missing, run on loopback, stopped after.

No persistence, bound to 127.0.0.1 on a free port, its files in a temp dir that is removed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

from hope.testing import short_tmpdir


class RedisUnavailable(RuntimeError):
    """redis-server is not installed and could not be installed."""


def ensure_installed() -> str:
    """Path of redis-server, installing Debian's package with apt-get (as root) when missing."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0:
        raise RedisUnavailable("redis-server is not installed (apt-get install redis-server)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "install", "-y", "-qq", "redis-server"],
                ["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "redis-server"]):
        subprocess.run(cmd, env=env, capture_output=True, timeout=600)
        found = shutil.which("redis-server")
        if found:
            return found
    raise RedisUnavailable("apt-get install redis-server failed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self) -> None:
        self.binary = ensure_installed()
        self.dir = short_tmpdir("hb-redis-")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 15.0) -> None:
        log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no",
             "--protected-mode", "yes"], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RedisUnavailable(f"redis-server exited: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer PING within {timeout:g}s")

    def log_tail(self) -> str:
        try:
            return (self.dir / "redis.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)
