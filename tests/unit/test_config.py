"""The config loader: defaults, typed sections, refusals naming file and key."""

from __future__ import annotations

import pytest

from hope.config import ConfigError, load


def write(tmp_path, text: str):
    path = tmp_path / "hope.toml"
    path.write_text(text)
    return path


def test_defaults_load_without_a_file(tmp_path, monkeypatch):
    """With no file every section has its built-in defaults; the state dir is honoured."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOPE_CONFIG", raising=False)
    config = load(None, tmp_path / "st")
    assert config.bus.transport == "ipc"
    assert config.state.root == (tmp_path / "st").absolute()


def test_values_override_defaults_and_ints_widen_to_float(tmp_path):
    """A TOML value replaces the default; an int where a float is expected is accepted."""
    config = load(write(tmp_path, "[bus]\nhwm = 10\nreplay_timeout_s = 2\n"), tmp_path)
    assert config.bus.hwm == 10 and config.bus.replay_timeout_s == 2.0


@pytest.mark.parametrize("text,match", [
    ("[bus]\nhwm = 'lots'\n", r"\[bus\]\.hwm: expected int"),
    ("[bus]\nhwmm = 1\n", r"\[bus\]\.hwmm: unknown key"),
    ("[nope]\nx = 1\n", r"\[nope\]: unknown section"),
    ("[bus\nhwm = 1\n", "not valid TOML"),
    ("[bus]\nhwm = true\n", r"\[bus\]\.hwm: expected int, got bool"),
    ("[health]\nlink_gap_s = 6.0\n", r"link_gap_s: must be < down_after_s"),
])
def test_bad_config_is_refused_naming_file_and_key(tmp_path, text, match):
    """Wrong types, unknown keys or sections and broken TOML raise ConfigError with file and key."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load(path, tmp_path)
    assert str(path) in str(info.value)


def test_missing_config_file_is_refused(tmp_path):
    """A --config that does not exist is an error, not silently the defaults."""
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "absent.toml", tmp_path)


def test_env_selects_config_and_state_dir(tmp_path, monkeypatch):
    """HOPE_CONFIG and HOPE_STATE_DIR are used when no flag is given."""
    monkeypatch.setenv("HOPE_CONFIG", str(write(tmp_path, "[bus]\nhwm = 7\n")))
    monkeypatch.setenv("HOPE_STATE_DIR", str(tmp_path / "s2"))
    config = load()
    assert config.bus.hwm == 7 and config.state.root.name == "s2"


def test_config_hash_changes_with_values(tmp_path):
    """The config hash that goes into DECISIONs changes when a value changes."""
    a = load(write(tmp_path, "[bus]\nhwm = 1\n"), tmp_path).hash("bus")
    b = load(write(tmp_path, "[bus]\nhwm = 2\n"), tmp_path).hash("bus")
    assert a != b and a.startswith("cfg:")


def test_port_variables_override_the_file(tmp_path, monkeypatch):
    """HOPE_GATEWAY_PORT and HOPE_HEALTH_PORT replace the ports the file sets."""
    monkeypatch.setenv("HOPE_GATEWAY_PORT", "18780")
    monkeypatch.setenv("HOPE_HEALTH_PORT", "0")
    config = load(write(tmp_path, "[gateway]\nport = 8780\n[health]\nport = 8470\n"), tmp_path)
    assert (config.gateway.port, config.health.port) == (18780, 0)


@pytest.mark.parametrize("value,match", [
    ("eighty", r"\$HOPE_GATEWAY_PORT: not a TOML value"),
    ("70000", r"\[gateway\]\.port: must be 0\.\.65535"),
])
def test_bad_port_variable_is_refused_naming_it(tmp_path, monkeypatch, value, match):
    """A port variable that is no port refuses the config, naming the variable or the key."""
    monkeypatch.setenv("HOPE_GATEWAY_PORT", value)
    with pytest.raises(ConfigError, match=match):
        load(write(tmp_path, ""), tmp_path)


def test_shared_hash_is_computed_once_per_config(tmp_path):
    """The heartbeat's config hash is the same value every beat, without walking the sections
    again, and differs between configs that differ."""
    a = load(write(tmp_path, "[bus]\nhwm = 1\n"), tmp_path)
    first = a.shared_hash()
    a.sections.clear()  # a walk now would hash nothing
    assert a.shared_hash() == first
    b = load(write(tmp_path, "[bus]\nhwm = 2\n"), tmp_path)
    assert b.shared_hash() != first and first.startswith("cfg:")
