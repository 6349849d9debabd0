"""Audit keys and the [audit] config section."""

from __future__ import annotations

import pytest

from hope.audit.config import AuditConfig
from hope.audit.keys import (
    AuditKeyError,
    current_key_id,
    init_keys,
    load_signer,
    local_key_ids,
    verify_signature,
)
from hope.audit.verify import verify
from hope.config import ConfigError, load
from tests.helpers import make_state


def test_signatures_verify_only_for_the_signed_message():
    """A signature verifies with the public key and fails for another message."""
    signer, created = init_keys(make_state().keys)
    assert created
    sig = signer.sign(b"note")
    assert verify_signature(signer.public_b64, b"note", sig)
    assert not verify_signature(signer.public_b64, b"note!", sig)
    assert not verify_signature(signer.public_b64, b"note", "not base64!")


def test_key_files_are_private_and_ids_are_fingerprints():
    """keys/ and keys/audit-writer/ are 0700, audit.key 0600 in the writer's own directory,
    the public keys 0644 in keys/public/, and every local public key is listed by its id."""
    st = make_state()
    signer, _ = init_keys(st.keys)
    assert st.keys.stat().st_mode & 0o777 == 0o700
    assert (st.keys / "audit-writer").stat().st_mode & 0o777 == 0o700
    assert (st.keys / "audit-writer" / "audit.key").stat().st_mode & 0o777 == 0o600
    assert (st.keys / "public" / "audit.pub").stat().st_mode & 0o777 == 0o644
    assert not (st.keys / "audit.key").exists()
    assert current_key_id(st.keys) == signer.key_id
    assert signer.key_id in local_key_ids(st.keys)
    assert load_signer(st.keys).key_id == signer.key_id


def test_a_broken_private_key_is_named_in_the_error():
    """An unreadable audit.key raises AuditKeyError naming the file."""
    st = make_state()
    (st.keys / "audit-writer").mkdir(mode=0o700)
    (st.keys / "audit-writer" / "audit.key").write_text("garbage")
    with pytest.raises(AuditKeyError, match="audit.key: unreadable"):
        load_signer(st.keys)
    with pytest.raises(AuditKeyError, match="hope keys init"):
        load_signer(make_state().keys / "none")


def test_a_legacy_root_level_key_moves_with_its_id_and_its_pin_keeps_working():
    """An older state dir's keys/audit.key and keys/audit*.pub move into keys/audit-writer/
    and keys/public/; the key id is unchanged, so a pinned verify still trusts the log."""
    st = make_state()
    signer, _ = init_keys(st.keys)
    for name in ("audit-writer/audit.key", "public/audit.pub",
                 f"public/audit-{signer.key_id.split(':')[1]}.pub"):  # back to the old layout
        (st.keys / name).rename(st.keys / name.split("/")[1])
    assert current_key_id(st.keys) == signer.key_id  # read from an unmigrated root too
    assert load_signer(st.keys).key_id == signer.key_id  # migrates
    assert (st.keys / "audit-writer" / "audit.key").exists()
    assert not list(st.keys.glob("audit*.pub")) and not (st.keys / "audit.key").exists()
    assert local_key_ids(st.keys) == {signer.key_id: f"audit-{signer.key_id.split(':')[1]}.pub"}
    again, created = init_keys(st.keys)
    assert not created and again.key_id == signer.key_id
    assert verify(st, trusted_keys=[signer.key_id]).ok


def test_config_section_validates_keys_and_intervals(tmp_path):
    """Bad [audit] values are refused naming the key; good ones load."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[audit]\ntrusted_keys = ["rsa:abc"]\n')
    with pytest.raises(ConfigError, match="trusted_keys"):
        load(bad, tmp_path / "s")
    bad.write_text("[audit]\nfsync_interval_ms = 0\n")
    with pytest.raises(ConfigError, match="fsync_interval_ms"):
        load(bad, tmp_path / "s")
    assert AuditConfig().checkpoint_every_records == 1024


def test_verify_of_an_empty_state_is_ok():
    """A state dir with no audit log yet verifies (nothing to check), with the fallback warning."""
    st = make_state()
    init_keys(st.keys)
    r = verify(st)
    assert r.ok and r.records == 0
