"""The namespace lab (root): hosts reach each other only through its bridge; a pulled cable
cuts a host off; stale namespaces of a dead run are removed, with what ran inside."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hope.cluster.netns import Lab, namespaces

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SERVE = ("import socket,sys; s=socket.socket(); "
         "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], 7700)); "
         "s.listen(); print('ready', flush=True); c,_=s.accept(); c.send(b'ok'); c.close()")
ASK = "import socket,sys; s=socket.create_connection((sys.argv[1], 7700), timeout=2); " \
      "print(s.recv(2).decode())"


def test_hosts_talk_over_the_bridge_and_a_pulled_cable_cuts_one_off():
    """x reaches y's address; with y's cable out the connection attempt times out; back in,
    it works again; everything is deleted at the end."""
    lab = Lab(["x", "y"], tag="u")
    try:
        lab.create()
        for expect_ok in (True, False, True):
            lab.link("y", expect_ok)
            server = subprocess.Popen(lab.argv("y", [sys.executable, "-c", SERVE,
                                                     lab.address("y")]),
                                      stdout=subprocess.PIPE, text=True)
            try:
                assert server.stdout.readline().strip() == "ready"
                out = subprocess.run(lab.argv("x", [sys.executable, "-c", ASK,
                                                    lab.address("y")]),
                                     capture_output=True, text=True, timeout=20)
                assert (out.stdout.strip() == "ok") is expect_ok, out.stderr
            finally:
                server.kill()
                server.wait(5)
    finally:
        lab.destroy()
    assert not [n for n in namespaces() if n.startswith(lab.prefix)]


def test_stale_namespaces_of_a_dead_run_are_removed_with_their_processes():
    """A namespace named after a pid that no longer exists, with a process inside: both gone."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    ns = f"hn{dead}-stale"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    sleeper = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "300"])
    try:
        assert ns in Lab.remove_stale()
        assert ns not in namespaces()
        assert sleeper.wait(10) != 0
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
