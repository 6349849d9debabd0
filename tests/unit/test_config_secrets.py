"""Config errors name the key of a secret but never echo its value."""

from __future__ import annotations

import pytest

from hope.config import ConfigError, is_secret_key, load


@pytest.mark.parametrize("text", [
    '[telegram]\ntoken = 123456789\n',                  # wrong type: int for str
    '[telegram]\ntoken = ["123456789"]\n',              # wrong type: list for str
    '[telegram]\ntoken = true\n',
])
def test_type_errors_on_secret_keys_do_not_echo_the_value(tmp_path, text):
    """A wrongly typed secret is refused naming [telegram].token, without its value."""
    path = tmp_path / "hope.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(path, tmp_path)
    message = str(info.value)
    assert "[telegram].token" in message and "123456789" not in message
    assert "not shown" in message


def test_other_keys_still_show_the_bad_value(tmp_path):
    """Non-secret keys keep the value in the message (it helps, and it is no secret)."""
    path = tmp_path / "hope.toml"
    path.write_text("[bus]\nhwm = 'lots'\n")
    with pytest.raises(ConfigError, match="'lots'"):
        load(path, tmp_path)


@pytest.mark.parametrize("where, secret", [
    ("[telegram].token", True), ("[venue].api_key", True), ("x.secret[0]", True),
    ("[gateway].token_file", False), ("[venue].secret_file", False), ("[bus].hwm", False),
    ("[audit].trusted_keys", False), ("[x].password", True),
])
def test_secret_key_names(where, secret):
    """Keys naming a secret are recognised; keys naming where a secret lives are not."""
    assert is_secret_key(where) is secret
