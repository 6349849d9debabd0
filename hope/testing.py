"""Test helpers shipped with the package: temp state dirs, polling, real processes, probes.

Probe processes (``python -m hope.testing_probes emit|record``, started with
:meth:`Processes.probe`) are real services on the real bus: :mod:`hope.testing_probes`.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hope.audit.reader import LocalAuditReader
from hope.authority import event_principals
from hope.bus.memory import LocalBroker
from hope.config import Config, load
from hope.eventauth.keys import create_principal, init_principals, load_secret
from hope.eventauth.seal import PairKeys
from hope.runtime import Runtime, default_middleware
from hope.service import Service, build
from hope.supervisor_conf import checkout, program_command, render

S = TypeVar("S", bound=Service)

REPO = Path(__file__).resolve().parent.parent
_SEALERS: dict[tuple[str, str], PairKeys] = {}


def seal_frames(state_dir: Path, principal: str, frames: list[bytes]) -> list[bytes]:
    """``frames`` (``[topic, body]``) as ``principal`` sends them on the bus: its auth frame
    over the body appended (hope/eventauth/seal.py), its key pair created in
    ``<state_dir>/keys`` if it has none. For tests that publish hand-made frames."""
    keys_dir = Path(state_dir) / "keys"
    sealer = _SEALERS.get((str(keys_dir), principal))
    if sealer is None:
        create_principal(keys_dir, principal)
        sealer = _SEALERS[(str(keys_dir), principal)] = PairKeys(
            keys_dir, principal, load_secret(keys_dir, principal))
    sealer.rescan(force=True)
    return [*frames, sealer.seal(frames[-1])]


def shared_python(dest: Path, base: str = "/usr/bin/python3") -> Path:
    """A Python other users can run, with this interpreter's packages: a venv of ``base`` (a
    system Python, e.g. when this one lives in a private home such as /root/.pyenv) whose one
    ``.pth`` line adds this venv's site-packages (its own .pth files included: the editable
    install). For privilege-separation tests; returns its ``bin/python``."""
    import sysconfig

    subprocess.run([base, "-m", "venv", "--without-pip", str(dest)], check=True, timeout=120)
    ours = sysconfig.get_paths()["purelib"]
    theirs = subprocess.run([str(dest / "bin" / "python"), "-c",
                             "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            check=True, capture_output=True, text=True).stdout.strip()
    Path(theirs, "hope-shared.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return dest / "bin" / "python"


def short_tmpdir(prefix: str = "hope-") -> Path:
    """A temp dir short enough for unix socket paths (107 bytes)."""
    return Path(tempfile.mkdtemp(dir="/tmp", prefix=prefix))


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
             message: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {message}")
        time.sleep(interval)


async def async_wait_for(predicate: Callable[[], Any], timeout: float = 10.0,
                         message: str = "condition", interval: float = 0.01) -> Any:
    """:func:`wait_for` for a coroutine: the loop runs between polls (``interval=0`` yields
    one loop turn at a time, for tests that must act between two steps of a task)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {message}")
        await asyncio.sleep(interval)


def make_config(state_dir: Path, overrides: dict[str, dict[str, Any]] | None = None,
                config_path: str | None = None) -> Config:
    config = load(config_path, state_dir, overrides)
    config.state.ensure()
    return config


def runtime_for_tests(name: str, state_dir: Path, broker: LocalBroker | None = None,
                      overrides: dict[str, dict[str, Any]] | None = None,
                      clock: Any = None, local_retry: bool = False) -> Runtime:
    """A bare runtime on the in-process bus (share ``broker`` between services of one test)."""
    broker = broker or LocalBroker()
    bus = broker.bus(name)
    return Runtime(name, make_config(state_dir, overrides), bus, clock=clock,
                   middleware=default_middleware(bus, local_retry=local_retry))


async def service_for_tests(cls: type[S], state_dir: Path, broker: LocalBroker | None = None,
                            overrides: dict[str, dict[str, Any]] | None = None,
                            clock: Any = None, name: str | None = None,
                            **collaborators: Any) -> S:
    """A declared service on the in-process bus, built as in production except for the
    collaborators given (fakes), as nameko's ``worker_factory``: real config in ``state_dir``,
    set up, bus not started (``await svc.runtime.bus.start()`` or run ``svc.runtime.run()``)."""
    runtime = runtime_for_tests(name or cls.name, state_dir, broker, overrides, clock,
                                local_retry=cls.local_retry)
    return await build(cls, runtime, **collaborators)


async def stop_service(service: Service) -> None:
    """Run a service's stop hooks as SIGTERM would (for tests that never ran ``run()``)."""
    await service.runtime.run_stop_hooks()


def _runtime(x: Runtime | Service) -> Runtime:
    return x.runtime if isinstance(x, Service) else x


async def drain(*services: Runtime | Service, rounds: int = 50) -> None:
    """Run queued events of in-process services until every inbox stays empty."""
    runtimes = [_runtime(s) for s in services]
    for _ in range(rounds):
        busy = False
        for rt in runtimes:
            while not rt.bus.inbox.empty():
                busy = True
                await rt._dispatch(rt.bus.inbox.get_nowait())
        if not busy:
            return
        await asyncio.sleep(0)


class Processes:
    """Starts real processes with a state dir and env; ``kill_all()`` always tears them down.

    :meth:`service` runs a program with the command ``supervisord.conf`` gives it (the one
    source of process config), under this Python, from the checkout's root."""

    def __init__(self, state_dir: Path, env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.env = {**os.environ, "HOPE_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1",
                    **(env or {})}
        self.procs: dict[str, subprocess.Popen] = {}
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
        init_principals(state_dir / "keys", event_principals())  # as `hope keys init` in set-up

    def start(self, key: str, argv: list[str], wrap: Sequence[str] = ()) -> subprocess.Popen:
        """``argv`` under this Python; ``wrap`` runs it under a wrapper (``ip netns exec NS``)."""
        log = open(self.state_dir / "logs" / f"{key}.test.log", "ab")
        proc = subprocess.Popen([*wrap, sys.executable, *argv], cwd=self._cwd(), env=self.env,
                                stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs[key] = proc
        return proc

    def _cwd(self) -> Path:
        """The checkout (services find data/ and hope.toml there); probes, which are modules
        of the package, also run from an installed package, in the state dir."""
        try:
            return checkout()
        except FileNotFoundError:
            return self.state_dir

    def service(self, key: str, program: str, *args: str) -> subprocess.Popen:
        """Start ``program`` (its supervisord name; ``audit_writer`` means ``audit-writer``)."""
        return self.start(key, [*program_command(program.replace("_", "-")), *args])

    def proxy(self) -> subprocess.Popen:
        return self.service("proxy", "proxy")

    def probe(self, key: str, *args: str) -> subprocess.Popen:
        return self.start(key, ["-m", "hope.testing_probes", *args])

    def signal(self, key: str, sig: int) -> None:
        proc = self.procs[key]
        if proc.poll() is None:
            os.killpg(proc.pid, sig)

    def stop(self, key: str, timeout: float = 15.0) -> int:
        proc = self.procs[key]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)

    def kill(self, key: str) -> None:
        self.signal(key, signal.SIGKILL)
        self.procs[key].wait(10)

    def log_text(self, key: str) -> str:
        path = self.state_dir / "logs" / f"{key}.test.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill_all(self) -> None:
        for proc in self.procs.values():
            try:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            except Exception:
                pass


def audit_records(state_dir: str | os.PathLike[str], family: str, *,
                  unique: bool = False) -> list[dict[str, Any]]:
    """Every record of one audit family under ``state_dir``, in manifest order."""
    return list(LocalAuditReader(Path(state_dir) / "events").records(family, unique=unique))

FREE_PORT_VARS = ("HOPE_GATEWAY_PORT", "HOPE_HEALTH_PORT", "HOPE_DASHBOARD_PORT")


class Supervisord:
    """supervisord on the project's template rendered for ``state_dir`` (or on ``conf``), daemonized;
    :meth:`shutdown` always ends it: gracefully (SIGTERM: every program stops in priority order,
    within its stopwaitsecs), then SIGKILL at the deadline. ``env`` adds to this environment
    (HOPE_CONFIG only if given there). ``argv_prefix`` runs supervisord under a wrapper (a
    cluster host's network namespace: ``ip netns exec NS``). ``make_keys=False``: the state dir
    has its keys already (a cluster host's, copied by ``hope cluster render``: keys made here
    would not be the ones the other hosts know)."""

    def __init__(self, state_dir: Path, env: dict[str, str] | None = None,
                 conf: Path | None = None, argv_prefix: Sequence[str] = (),
                 make_keys: bool = True, **render_options: Any) -> None:
        self.state_dir = state_dir
        self.argv_prefix = list(argv_prefix)
        self.conf = conf or render(state_dir, **render_options)
        if make_keys:  # as `hope keys init` in set-up
            init_principals(state_dir / "keys", event_principals())
        # HTTP servers on free ports (CONVENTIONS: tests use port 0; the bound port is in the
        # registry), so a run beside the default instance, or a leftover one, cannot collide.
        self.env = {**os.environ, "HOPE_STATE_DIR": str(state_dir),
                    **dict.fromkeys(FREE_PORT_VARS, "0")}
        self.env.pop("HOPE_CONFIG", None)
        self.env.update(env or {})
        parser = configparser.RawConfigParser(inline_comment_prefixes=(";",))
        parser.read(self.conf)
        self.pidfile = Path(parser.get("supervisord", "pidfile"))
        self.pid = 0

    def start(self, timeout: float = 30.0) -> None:
        if self.pidfile.exists():
            old = int(self.pidfile.read_text().strip() or 0)
            if old and _alive(old):
                raise RuntimeError(f"a supervisord (pid {old}) already runs on {self.conf}")
            self.pidfile.unlink()
        subprocess.run([*self.argv_prefix, str(Path(sys.executable).parent / "supervisord"),
                        "-c", str(self.conf)],
                       check=True, env=self.env, cwd=checkout(), timeout=timeout,
                       stdin=subprocess.DEVNULL)
        self.pid = int(wait_for(lambda: self.pidfile.exists() and self.pidfile.read_text().strip(),
                                timeout=timeout, message=f"supervisord's pid in {self.pidfile}"))

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """``supervisorctl -c <conf> ARGS``: stdout and stderr."""
        out = subprocess.run([str(Path(sys.executable).parent / "supervisorctl"), "-c",
                              str(self.conf), *args], capture_output=True, text=True,
                             env=self.env, timeout=timeout, stdin=subprocess.DEVNULL)
        return out.stdout + out.stderr

    def status(self) -> dict[str, tuple[str, int]]:
        """program name (without ``hope:``) -> (state, pid; 0 when not running)."""
        result: dict[str, tuple[str, int]] = {}
        for line in self.ctl("status").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith("hope:"):
                pid = int(parts[3].rstrip(",")) if len(parts) > 3 and parts[2] == "pid" else 0
                result[parts[0].split(":", 1)[1]] = (parts[1], pid)
        return result

    def running_pid(self, program: str, timeout: float = 45.0) -> int:
        """The pid of ``program`` once it is RUNNING (a test about to signal it must never get
        0: ``os.kill(0, ...)`` signals the test's own process group)."""
        return wait_for(lambda: (s := self.status().get(program, ("", 0)))[0] == "RUNNING"
                        and s[1] > 0 and s[1], timeout=timeout, interval=0.1,
                        message=f"{program} RUNNING with a pid")

    def running(self, programs: list[str]) -> bool:
        status = self.status()
        return all(status.get(p, ("",))[0] == "RUNNING" for p in programs)

    def shutdown(self, timeout: float = 60.0) -> None:
        if not self.pid:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            wait_for(lambda: not _alive(self.pid), timeout=timeout, interval=0.1,
                     message=f"supervisord (pid {self.pid}) to exit")
        except AssertionError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line of a killed writer
    return out
