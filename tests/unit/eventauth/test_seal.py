"""The MAC vector: each consumer checks its own entry; nobody can make another's."""

from __future__ import annotations

from pathlib import Path

import pytest

from hope.eventauth.keys import create_principal, load_secret, revoke_principal
from hope.eventauth.seal import ENTRY, AuthError, PairKeys, tag_of


def _keys(keys_dir: Path, *names: str) -> dict[str, PairKeys]:
    for n in names:
        create_principal(keys_dir, n)
    return {n: PairKeys(keys_dir, n, load_secret(keys_dir, n)) for n in names}


def test_every_principal_opens_what_another_sealed(tmp_path: Path):
    """Sealed by the scanner, opened by each consumer (and the scanner itself) as the scanner."""
    k = _keys(tmp_path, "scanner", "executor", "audit-writer")
    body = b"\x81\xa1a\x01"
    auth = k["scanner"].seal(body)
    assert len(auth) == 2 + len("scanner") + 3 * ENTRY
    assert {n: pk.open(body, auth) for n, pk in k.items()} == dict.fromkeys(k, "scanner")


def test_a_changed_body_or_mac_is_refused(tmp_path: Path):
    """One flipped byte of the body or of the MAC: auth_bad_mac."""
    k = _keys(tmp_path, "scanner", "executor")
    auth = k["scanner"].seal(b"body")
    with pytest.raises(AuthError) as err:
        k["executor"].open(b"bodY", auth)
    assert err.value.reason == "auth_bad_mac"
    at = auth.index(tag_of("executor")) + ENTRY - 1  # the last byte of the executor's MAC
    flipped = auth[:at] + bytes([auth[at] ^ 1]) + auth[at + 1:]
    assert k["scanner"].open(b"body", flipped) == "scanner"  # the other entries still hold
    with pytest.raises(AuthError) as err:
        k["executor"].open(b"body", flipped)
    assert err.value.reason == "auth_bad_mac"


def test_a_consumer_cannot_forge_the_publisher_to_another_consumer(tmp_path: Path):
    """The executor holds its pair key with the scanner; a vector it builds under the scanner's
    name with that key (its best try) convinces nobody else."""
    k = _keys(tmp_path, "scanner", "executor", "decision-engine")
    body = b"forged PRICE"
    genuine = k["scanner"].seal(b"genuine")
    header = genuine[:2 + len("scanner")]
    assert k["executor"].open(b"genuine", genuine) == "scanner"
    mac = k["executor"]._open_from[b"scanner"].copy()  # the executor's pair key with the scanner
    mac.update(body)
    entries = genuine[len(header):]
    forged = header + b"".join(entries[i:i + 4] + mac.digest()
                               for i in range(0, len(entries), ENTRY))
    assert k["executor"].open(body, forged) == "scanner"  # it can fool only itself
    with pytest.raises(AuthError) as err:
        k["decision-engine"].open(body, forged)
    assert err.value.reason == "auth_bad_mac"


def test_unknown_signer_and_no_entry_for_us_are_refused(tmp_path: Path):
    """A signer without a public key, a vector sealed before we enrolled, garbage."""
    k = _keys(tmp_path, "scanner")
    early = k["scanner"].seal(b"x")
    k.update(_keys(tmp_path, "late"))
    with pytest.raises(AuthError) as err:
        k["late"].open(b"x", early)
    assert err.value.reason == "auth_not_for_us"
    k["scanner"].rescan(force=True)
    assert k["late"].open(b"x", k["scanner"].seal(b"x")) == "scanner"
    stranger = bytes((1, 5)) + b"ghost" + b"\0" * ENTRY
    for auth, reason in ((stranger, "auth_unknown_principal"), (b"", "auth_malformed"),
                         (bytes((9, 0)), "auth_malformed"),
                         (bytes((1, 3)) + b"../", "auth_malformed")):
        with pytest.raises(AuthError) as err:
            k["late"].open(b"x", auth)
        assert err.value.reason == reason


def test_no_mac_is_made_for_a_principal_that_receives_nothing(tmp_path: Path):
    """The proxy signs its heartbeats (others open them) but gets no entry in anyone's vector."""
    k = _keys(tmp_path, "scanner", "proxy", "executor")
    auth = k["scanner"].seal(b"x")
    assert len(auth) == 2 + len("scanner") + 2 * ENTRY and tag_of("proxy") not in auth
    assert k["executor"].open(b"hb", k["proxy"].seal(b"hb")) == "proxy"


def test_a_rotated_key_is_picked_up_and_the_old_one_refused(tmp_path: Path):
    """After `hope keys rotate --event scanner` the executor opens the restarted scanner's
    events and refuses those sealed with the old secret, without a restart of its own."""
    k = _keys(tmp_path, "scanner", "executor")
    old_auth = k["scanner"].seal(b"body")
    assert k["executor"].open(b"body", old_auth) == "scanner"
    create_principal(tmp_path, "scanner", force=True)
    k["executor"].rescan(force=True)
    with pytest.raises(AuthError) as err:
        k["executor"].open(b"body", old_auth)
    assert err.value.reason == "auth_bad_mac"
    restarted = PairKeys(tmp_path, "scanner", load_secret(tmp_path, "scanner"))
    assert k["executor"].open(b"body", restarted.seal(b"body")) == "scanner"


def test_a_revoked_principal_is_refused_from_the_next_scan(tmp_path: Path):
    """With its public key gone, the scanner's events are refused as from an unknown
    principal and nothing is sealed for it any more."""
    k = _keys(tmp_path, "scanner", "executor")
    auth = k["scanner"].seal(b"body")
    assert k["executor"].open(b"body", auth) == "scanner"
    revoke_principal(tmp_path, "scanner")
    k["executor"].rescan(force=True)
    with pytest.raises(AuthError) as err:
        k["executor"].open(b"body", auth)
    assert err.value.reason == "auth_unknown_principal"
    assert not k["executor"].knows("scanner")
