"""The session-wide guard: a connection to an address beyond loopback fails the test."""

from __future__ import annotations

import socket

import pytest

from tests import conftest


def test_non_loopback_connect_is_refused_and_recorded() -> None:
    """connect() to a non-loopback address raises before any packet and is recorded."""
    before = len(conftest._violations)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, \
            pytest.raises(conftest.NonLoopbackConnection, match="192.0.2.1"):
        sock.connect(("192.0.2.1", 443))
    assert len(conftest._violations) == before + 1
    del conftest._violations[before:]   # this test's own attempt: not a failure


def test_loopback_and_unix_sockets_are_allowed() -> None:
    """127.0.0.1, ::1 and unix sockets pass the guard (a refused port is not a violation)."""
    before = len(conftest._violations)
    with socket.socket() as sock:
        sock.settimeout(1)
        assert sock.connect_ex(("127.0.0.1", 1)) != 0
    with socket.socket(socket.AF_UNIX) as sock, pytest.raises(OSError):
        sock.connect("/nonexistent/hope.sock")
    assert len(conftest._violations) == before
