"""Key files must be owner-only and are never shown; the [execution.binance] table validates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hope.config import ConfigError, load
from hope.venue.config import BinanceVenueConfig
from hope.venue.keys import KeyFileError, load_keys, write_key_file


def test_keys_load_from_the_default_dir(tmp_path: Path) -> None:
    """api_key and secret under <keys>/binance/, 0600, load; the repr shows no key."""
    write_key_file(tmp_path / "binance" / "api_key", "KEY123\n")
    write_key_file(tmp_path / "binance" / "secret", "S3CRET")
    keys = load_keys(BinanceVenueConfig(), tmp_path)
    assert keys.api_key == "KEY123" and keys.signer.kind == "hmac-sha256"
    assert "KEY123" not in repr(keys) and "S3CRET" not in repr(keys)


def test_group_readable_key_file_is_refused_naming_it(tmp_path: Path) -> None:
    """A secret file with mode 0644 refuses, naming the file and not its content."""
    write_key_file(tmp_path / "binance" / "api_key", "KEY123")
    secret = tmp_path / "binance" / "secret"
    write_key_file(secret, "S3CRET")
    os.chmod(secret, 0o644)
    with pytest.raises(KeyFileError) as err:
        load_keys(BinanceVenueConfig(), tmp_path)
    assert str(secret) in str(err.value) and "0644" in str(err.value)
    assert "S3CRET" not in str(err.value)


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    """A missing api_key file is named."""
    with pytest.raises(KeyFileError, match="api_key_file: .*api_key does not exist"):
        load_keys(BinanceVenueConfig(), tmp_path)


def test_config_table_and_refusals(tmp_path: Path) -> None:
    """[execution] exchange = "binance" with [execution.binance] loads; plain http is loopback only."""
    good = tmp_path / "good.toml"
    good.write_text('[execution]\nexchange = "binance"\n[execution.binance]\n'
                    'rest_url = "http://127.0.0.1:8600"\nrecv_window_ms = 6000\n')
    cfg = load(good, tmp_path / "state")
    assert cfg.execution.exchange == "binance"
    assert cfg.execution.binance.recv_window_ms == 6000
    bad = tmp_path / "bad.toml"
    bad.write_text('[execution.binance]\nrest_url = "http://example.com"\n')
    with pytest.raises(ConfigError, match=r"\[execution\].binance.*rest_url"):
        load(bad, tmp_path / "state")
    bad.write_text('[execution]\nexchange = "kraken"\n')
    with pytest.raises(ConfigError, match="exchange"):
        load(bad, tmp_path / "state")
    bad.write_text('[execution.binance]\nrecv_window_ms = 60001\n')
    with pytest.raises(ConfigError, match="recv_window_ms"):
        load(bad, tmp_path / "state")
