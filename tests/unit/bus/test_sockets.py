"""The one socket seam: tcp sockets get ZMTP heartbeats, keepalive and reconnect back-off from
[bus]; ipc ones only the back-off; clients connect to every proxy of proxy_hosts."""

from pathlib import Path

import pytest
import zmq

from hope.bus import curve
from hope.bus.sockets import configure, endpoints, proxy_endpoints, proxy_principals
from hope.config import ConfigError
from hope.testing import make_config


def test_tcp_sockets_get_heartbeats_keepalive_and_reconnect_from_the_config(state_dir: Path):
    """Every [bus] network key lands on the socket in libzmq's units."""
    config = make_config(state_dir, {"bus": {
        "transport": "tcp", "zmtp_heartbeat_ivl_s": 0.5, "zmtp_heartbeat_timeout_s": 2.0,
        "zmtp_heartbeat_ttl_s": 4.0, "tcp_keepalive_idle_s": 7, "tcp_keepalive_intvl_s": 3,
        "tcp_keepalive_cnt": 4, "reconnect_ivl_s": 0.2, "reconnect_ivl_max_s": 5.0}})
    for principal in ("executor", "proxy"):  # tcp means CURVE: the client's and the server's
        curve.create_keypair(config.state, principal)
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.SUB)
        configure(sock, config, "executor", "tcp://10.0.0.1:5602")
        got = {o: sock.getsockopt(o) for o in (
            zmq.HEARTBEAT_IVL, zmq.HEARTBEAT_TIMEOUT, zmq.HEARTBEAT_TTL, zmq.TCP_KEEPALIVE,
            zmq.TCP_KEEPALIVE_IDLE, zmq.TCP_KEEPALIVE_INTVL, zmq.TCP_KEEPALIVE_CNT,
            zmq.RECONNECT_IVL, zmq.RECONNECT_IVL_MAX)}
        assert list(got.values()) == [500, 2000, 4000, 1, 7, 3, 4, 200, 5000]
        ipc = ctx.socket(zmq.SUB)
        configure(ipc, config, "executor", "ipc:///tmp/x.sock")
        assert ipc.getsockopt(zmq.HEARTBEAT_IVL) == 0 and ipc.getsockopt(zmq.RECONNECT_IVL) == 200
        sock.close(0)
        ipc.close(0)
    finally:
        ctx.term()


def test_clients_connect_to_every_proxy_and_a_proxy_binds_its_own_address(state_dir: Path):
    """proxy_hosts: one (xsub, xpub) pair per proxy; endpoints() stays this host's own."""
    config = make_config(state_dir, {"bus": {"transport": "tcp", "tcp_host": "10.0.0.2",
                                             "proxy_hosts": ["10.0.0.1", "10.0.0.2"]}})
    assert proxy_endpoints(config) == [("tcp://10.0.0.1:5601", "tcp://10.0.0.1:5602"),
                                       ("tcp://10.0.0.2:5601", "tcp://10.0.0.2:5602")]
    assert endpoints(config) == ("tcp://10.0.0.2:5601", "tcp://10.0.0.2:5602")
    assert proxy_endpoints(make_config(state_dir)) == [endpoints(make_config(state_dir))]
    assert proxy_principals(config) == ["proxy", "proxy"]
    named = make_config(state_dir, {"bus": {"transport": "tcp", "proxy_hosts": ["a", "b"],
                                            "proxy_names": ["proxy", "proxy-2"]}})
    assert proxy_principals(named) == ["proxy", "proxy-2"]


@pytest.mark.parametrize("bus, key", [
    ({"proxy_hosts": ["10.0.0.1"]}, "proxy_hosts"),
    ({"transport": "tcp", "proxy_hosts": ["10.0.0.1", "10.0.0.1"]}, "proxy_hosts"),
    ({"zmtp_heartbeat_timeout_s": 0}, "zmtp_heartbeat_timeout_s"),
    ({"reconnect_ivl_s": 2.0, "reconnect_ivl_max_s": 1.0}, "reconnect_ivl_max_s"),
    ({"transport": "udp"}, "transport")])
def test_bad_network_keys_are_refused_by_name(state_dir: Path, bus: dict, key: str):
    """Several proxies without tcp, a proxy twice, a zero timeout, a back-off cap below its
    start, an unknown transport: each refused naming the key."""
    with pytest.raises(ConfigError, match=key):
        make_config(state_dir, {"bus": bus})
