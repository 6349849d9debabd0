"""CURVE key files per principal, the allow-list, revocation, and the handshake ALERT limiter."""

from __future__ import annotations

import pytest
import zmq

from hope.bus import curve
from hope.health.bus_auth import HandshakeAlerts
from hope.principals import PrincipalError
from hope.testing import make_config
from tests.helpers import make_state


def test_keypairs_are_private_enrolled_and_created_once():
    """A key pair's secret is 0600 in keys/<p>/ (0700), its public half 0644 in keys/public/,
    and a second call keeps it."""
    st = make_state()
    keys, created = curve.create_keypair(st, "executor")
    assert created and keys.key_id.startswith("curve:")
    assert curve.secret_path(st, "executor").stat().st_mode & 0o777 == 0o600
    assert (st.keys / "executor").stat().st_mode & 0o777 == 0o700
    assert curve.public_path(st, "executor").stat().st_mode & 0o777 == 0o644
    again, created = curve.create_keypair(st, "executor")
    assert not created and again == keys
    assert curve.allow_list(st) == {keys.public: "executor"}
    assert zmq.auth.load_certificate(curve.secret_path(st, "executor")) == (keys.public,
                                                                            keys.secret)


def test_revoke_and_rotate_change_the_allow_list():
    """revoke removes both halves; rotate replaces the key under the same principal."""
    st = make_state()
    old, _ = curve.create_keypair(st, "scanner")
    new, created = curve.create_keypair(st, "scanner", force=True)
    assert created and new.public != old.public and curve.allow_list(st) == {new.public: "scanner"}
    assert len(curve.revoke(st, "scanner")) == 2 and curve.allow_list(st) == {}
    with pytest.raises(curve.CurveKeyError, match="scanner/curve.key_secret: CURVE key missing"):
        curve.load_keys(st, "scanner")


def test_principal_names_are_checked():
    """A principal that is no directory name (or is 'public') is refused."""
    with pytest.raises(PrincipalError):
        curve.secret_path(make_state(), "../proxy")
    with pytest.raises(PrincipalError):
        curve.public_path(make_state(), "public")


def test_secure_client_is_a_noop_on_ipc_and_needs_keys_on_tcp(state_dir):
    """ipc sockets stay plain; on tcp a client without its key is refused naming the file."""
    sock = zmq.Context.instance().socket(zmq.SUB)
    try:
        curve.secure_client(sock, make_config(state_dir), "nobody")
        tcp = make_config(state_dir, {"bus": {"transport": "tcp", "tcp_host": "0.0.0.0"}})
        with pytest.raises(curve.CurveKeyError, match="nobody/curve.key_secret"):
            curve.secure_client(sock, tcp, "nobody")
        with pytest.raises(curve.CurveKeyError) as err:
            curve.check_principal(tcp, "nobody")
        assert "tcp_host = '0.0.0.0' is not a loopback address" in curve.refusal(tcp, err.value)
    finally:
        sock.close(linger=0)


def test_handshake_alerts_are_rate_limited_and_survive_a_proxy_restart():
    """A rising failure count gives one ALERT per interval, the rest is summed into the next;
    a restarted proxy (new epoch) counts from zero without a negative jump."""
    alerts = HandshakeAlerts(interval_s=10.0)

    def beat(epoch: str, auth: int) -> dict:
        return {"epoch": epoch, "handshake_failures": {"xsub": {"auth": auth}},
                "zap_last_denied": "curve:abc"}

    assert alerts.observe(beat("a", 0), now=0.0) is None
    first = alerts.observe(beat("a", 2), now=1.0)
    assert first["new"] == 2 and first["last_denied_key"] == "curve:abc"
    assert alerts.observe(beat("a", 5), now=2.0) is None  # within the interval: held
    assert alerts.observe(beat("b", 1), now=12.0)["new"] == 4  # 3 held + 1 after the restart
    assert alerts.observe(beat("b", 1), now=30.0) is None
