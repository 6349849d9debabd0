"""The local pin file: which audit key ids ``hope audit verify`` trusts, per state dir.

``hope.local.toml`` beside the config file (or ``$HOPE_PINS_FILE``), untracked and git-ignored:
``hope.toml`` is shared through git, a key id is this machine's. Written by ``hope keys init``
and ``hope keys rotate``; read by ``hope audit verify``, ``hope audit status`` and the audit
writer (which then trusts only pinned keys for the checkpoints it builds on)::

    ["/abs/path/to/state"]
    trusted_keys = ["ed25519:…", "ed25519:…"]
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from hope.config import Config
from hope.files import atomic_write_bytes

FILE = "hope.local.toml"
HEADER = ("# Local audit key pins (untracked; written by `hope keys init` / `hope keys rotate`).\n"
          "# `hope audit verify` trusts these key ids for the state dir named by each table.\n")


def pin_path(config: Config) -> Path:
    env = os.environ.get("HOPE_PINS_FILE")
    if env:
        return Path(env)
    return (config.path.parent if config.path else Path.cwd()) / FILE


def _read(path: Path) -> dict[str, dict[str, list[str]]]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def read_pins(config: Config) -> list[str]:
    """Key ids pinned for this instance's state dir (config's ``[audit] trusted_keys`` first)."""
    table = _read(pin_path(config)).get(str(config.state.root), {})
    keys = table.get("trusted_keys", [])
    extra = [k for k in keys if isinstance(k, str) and k not in config.audit.trusted_keys]
    return [*config.audit.trusted_keys, *extra]


def add_pin(config: Config, key_id: str) -> tuple[Path, bool]:
    """Pin ``key_id`` for this state dir (kept beside earlier ones); (file, whether it changed)."""
    path = pin_path(config)
    data = _read(path)
    table = data.setdefault(str(config.state.root), {})
    keys = list(table.get("trusted_keys", []))
    if key_id in keys:
        return path, False
    table["trusted_keys"] = [*keys, key_id]
    text = HEADER + "".join(
        f"\n[{json.dumps(root)}]\ntrusted_keys = [{', '.join(json.dumps(k) for k in t.get('trusted_keys', []))}]\n"
        for root, t in sorted(data.items()))
    # Key ids are public; what matters is who may write the file (root, under privilege
    # separation): every program reads it, the audit writer to trust only pinned keys.
    atomic_write_bytes(path, text.encode(), mode=0o644)
    return path, True
