"""A cluster's network on one machine, for tests and benchmarks (root only): one network
namespace per host, each with ``eth0`` on a bridge in a switch namespace of its own.

Names carry the creating process's pid (``hn<pid>-<host>``), so runs side by side never touch
each other's namespaces and :meth:`Lab.remove_stale` deletes only those of runs whose process is
gone. Addresses are in ``10.231.0.0/24`` inside these namespaces only; nothing is routed out.
A host's link is taken down and up on the switch side (the cable pulled: its packets vanish,
no reset is sent). :meth:`Lab.destroy` deletes every namespace (their veths go with them), first killing whatever
still runs inside (a run killed before its teardown).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Sequence

FAMILY = "hn"
SUBNET = "10.231.0"
_STALE = re.compile(rf"^{FAMILY}(\d+)[a-z]*-")


def _ip(*args: str) -> str:
    out = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {out.stderr.strip() or out.returncode}")
    return out.stdout


def namespaces() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]


class Lab:
    """Namespaces ``hn<pid>-sw`` (the switch) and ``hn<pid>-<host>`` per host."""

    def __init__(self, hosts: Sequence[str], tag: str = "") -> None:
        self.prefix = f"{FAMILY}{os.getpid()}{tag}"
        self.hosts = list(hosts)
        self.switch = f"{self.prefix}-sw"
        self.created: list[str] = []

    @staticmethod
    def remove_stale() -> list[str]:
        """Delete the namespaces of earlier runs whose process no longer exists."""
        gone = []
        for ns in namespaces():
            m = _STALE.match(ns)
            if m and not _alive(int(m.group(1))):
                _delete(ns)
                gone.append(ns)
        return gone

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def address(self, host: str) -> str:
        return f"{SUBNET}.{self.hosts.index(host) + 1}"

    def create(self) -> None:
        self._add(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for host in self.hosts:
            ns = self.ns(host)
            self._add(ns)
            _ip("-n", self.switch, "link", "add", f"v{host}", "type", "veth", "peer", "name",
                "eth0", "netns", ns)
            _ip("-n", self.switch, "link", "set", f"v{host}", "master", "br0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def _add(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self.created.append(ns)

    def argv(self, host: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside ``host``'s namespace (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def link(self, host: str, up: bool) -> None:
        """Plug ``host``'s cable in or pull it (the switch port up or down)."""
        _ip("-n", self.switch, "link", "set", f"v{host}", "up" if up else "down")

    def destroy(self) -> None:
        for ns in reversed(self.created):
            _delete(ns)
        self.created.clear()


def _delete(ns: str) -> None:
    """End what still runs inside ``ns`` (a run killed before its teardown leaves daemons
    there), then delete it."""
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=20)
    for pid in out.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
