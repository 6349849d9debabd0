"""Crash points: a process SIGKILLs itself at a named place, once, when a chaos run armed it.

Off (one attribute test) unless ``HOPE_CHAOS_CRASHPOINTS`` names a directory; the chaos run
sets it in supervisord's environment. A point is armed by creating the file ``<dir>/<name>``;
the first process to reach it removes the file (so the restarted process goes on) and
SIGKILLs itself there. This is how the chaos run kills the executor *after* the venue's reply
and *before* the ledger records it, a moment no signal sent from outside can hit on purpose.

Points (named where they are): ``buy.before_send``, ``buy.after_reply``, ``exit.before_send``,
``exit.after_reply``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

ENV = "HOPE_CHAOS_CRASHPOINTS"
_DIR = os.environ.get(ENV) or None


def crash_point(name: str, detail: str = "") -> None:
    """SIGKILL this process if ``name`` is armed (never returns then); otherwise nothing.
    ``detail`` (e.g. the client order id) is left in ``<dir>/<name>.hit`` for the run."""
    if _DIR is None:
        return
    try:
        (Path(_DIR) / name).unlink()
    except FileNotFoundError:
        return
    (Path(_DIR) / f"{name}.hit").write_text(detail)
    os.kill(os.getpid(), signal.SIGKILL)


def arm(directory: Path, name: str) -> Path:
    """Arm ``name`` for the processes started with ``HOPE_CHAOS_CRASHPOINTS=directory``; the
    ``.hit`` file it returns appears when a process died there."""
    directory.mkdir(parents=True, exist_ok=True)
    hit = directory / f"{name}.hit"
    hit.unlink(missing_ok=True)
    (directory / name).write_text("")
    return hit
