"""Event-key files: created once with owner-only modes, never replaced, refused when loose."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hope.eventauth.keys import (
    EventKeyError,
    create_principal,
    init_principals,
    load_public,
    load_secret,
    public_names,
    public_path,
    secret_path,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_principal_writes_secret_0600_in_a_0700_dir_and_public_0644(tmp_path: Path):
    """The secret is owner-only in the principal's own directory; the public part is readable."""
    keys = tmp_path / "keys"
    assert create_principal(keys, "executor") is True
    secret, public = secret_path(keys, "executor"), public_path(keys, "executor")
    assert (_mode(secret), _mode(secret.parent), _mode(keys)) == (0o600, 0o700, 0o700)
    assert (_mode(public), _mode(public.parent)) == (0o644, 0o755)
    assert len(secret.read_bytes()) == 32 and load_public(keys, "executor") is not None


def test_create_principal_is_idempotent_and_never_replaces_a_key(tmp_path: Path):
    """A second init creates nothing and keeps the secret; a lost public part is rebuilt."""
    keys = tmp_path / "keys"
    create_principal(keys, "scanner")
    before = secret_path(keys, "scanner").read_bytes()
    assert create_principal(keys, "scanner") is False
    public_path(keys, "scanner").unlink()
    assert create_principal(keys, "scanner") is True
    assert secret_path(keys, "scanner").read_bytes() == before
    assert [made for _, made in init_principals(keys, ("scanner", "proxy"))] == [False, True]
    assert public_names(keys) == ["proxy", "scanner"]


def test_load_secret_names_the_file_when_missing_or_readable_by_others(tmp_path: Path):
    """A missing key says to run `hope keys init`; a group-readable one is refused."""
    keys = tmp_path / "keys"
    with pytest.raises(EventKeyError, match="hope keys init"):
        load_secret(keys, "gateway")
    create_principal(keys, "gateway")
    os.chmod(secret_path(keys, "gateway"), 0o640)
    with pytest.raises(EventKeyError, match="mode 640"):
        load_secret(keys, "gateway")


@pytest.mark.parametrize("name", ["../executor", "Executor", "", "a/b", "x" * 70])
def test_principal_names_cannot_escape_the_key_dir(tmp_path: Path, name: str):
    """Names become paths: anything but [a-z0-9_-] is refused."""
    with pytest.raises(EventKeyError, match="bad principal name"):
        create_principal(tmp_path, name)
