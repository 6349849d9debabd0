"""Render supervisord.conf for another state dir (tests, a second instance): same template."""

from __future__ import annotations

import sys
from pathlib import Path

from hope.paths import StatePaths

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "supervisord.conf"


def render(state_dir: Path, python: str | None = None, template: Path = TEMPLATE) -> Path:
    """Write ``<state>/run/supervisord.conf`` pointing every path at ``state_dir``."""
    StatePaths.at(state_dir).ensure()
    text = template.read_text()
    text = text.replace("%(here)s/state", str(state_dir))
    text = text.replace("%(here)s/.venv/bin/python", python or sys.executable)
    text = text.replace("%(here)s", str(template.parent))
    out = state_dir / "run" / "supervisord.conf"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out
