"""`hope keys`, `hope audit verify` and `hope trace` from the command line."""

from __future__ import annotations

import json

from hope.audit.reader import open_reader
from hope.audit.trace import trace
from hope.cli import main
from hope.envelope import new_event
from tests.helpers import ev, make_state, writer


def pinned_config(st, key_ids: list[str]) -> str:
    path = st.root / "hope.toml"
    path.write_text("[audit]\ntrusted_keys = " + json.dumps(key_ids) + "\n")
    return str(path)


def key_id_from(out: str) -> str:
    return next(line.split()[-1] for line in out.splitlines() if line.startswith("key id:"))


def test_keys_init_creates_private_key_0600_and_is_idempotent(capsys):
    """`hope keys init` writes audit-writer/audit.key (0600) and public/audit.pub once, and
    prints the key id."""
    st = make_state()
    assert main(["keys", "init", "--state-dir", str(st.root)]) == 0
    out = capsys.readouterr().out
    assert "created" in out and key_id_from(out).startswith("ed25519:")
    assert (st.keys / "audit-writer" / "audit.key").stat().st_mode & 0o777 == 0o600
    assert (st.keys / "public" / "audit.pub").exists()
    assert main(["keys", "init", "--state-dir", str(st.root)]) == 0
    assert "exists" in capsys.readouterr().out


def test_keys_init_creates_the_gateway_scope_tokens_0600_once(capsys):
    """`hope keys init` also creates one gateway token per scope (0600) and keeps them."""
    st = make_state()
    assert main(["keys", "init", "--state-dir", str(st.root)]) == 0
    capsys.readouterr()
    tokens = {}
    for scope in ("signals", "read", "control"):
        path = st.keys / f"gateway-{scope}.token"
        assert path.stat().st_mode & 0o777 == 0o600
        tokens[scope] = path.read_text()
    assert len(set(tokens.values())) == 3
    assert main(["keys", "init", "--state-dir", str(st.root)]) == 0
    assert "created" not in capsys.readouterr().out
    assert {s: (st.keys / f"gateway-{s}.token").read_text() for s in tokens} == tokens


def test_keys_init_creates_every_principals_event_key_once(capsys):
    """`hope keys init` creates keys/<principal>/event.key (0600, dir 0700) and its public part
    in keys/public/ for every principal of the authority table, and replaces none."""
    from hope.authority import event_principals
    st = make_state()
    assert main(["keys", "init", "--state-dir", str(st.root)]) == 0
    capsys.readouterr()
    secrets = {}
    for name in event_principals():
        path = st.keys / name / "event.key"
        assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
        assert (st.keys / "public" / f"{name}.event.pub").stat().st_mode & 0o777 == 0o644
        secrets[name] = path.read_bytes()
    assert main(["keys", "init", "--state-dir", str(st.root)]) == 0
    assert "created" not in capsys.readouterr().out
    assert {n: (st.keys / n / "event.key").read_bytes() for n in event_principals()} == secrets


def test_keys_rotate_keeps_the_old_public_key(capsys):
    """`hope keys rotate` prints old -> new and keeps the old public key file."""
    st = make_state()
    main(["keys", "init", "--state-dir", str(st.root)])
    old = key_id_from(capsys.readouterr().out)
    assert main(["keys", "rotate", "--state-dir", str(st.root)]) == 0
    new = key_id_from(capsys.readouterr().out)
    assert new != old
    assert (st.keys / "public" / f"audit-{old.split(':')[1]}.pub").exists()


def test_audit_verify_exit_codes_and_json(capsys):
    """verify exits 0 on a clean log, 1 on tampering, and --json gives the report."""
    st = make_state()
    main(["keys", "init", "--state-dir", str(st.root)])
    cfg = pinned_config(st, [key_id_from(capsys.readouterr().out)])
    with writer(st) as w:
        for i in range(1, 4):
            w.append(ev(i))
    args = ["audit", "verify", "--state-dir", str(st.root), "--config", cfg]
    assert main(args) == 0
    assert "audit verify: OK" in capsys.readouterr().out
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["records"] == 3
    p = st.events / "prices.jsonl"
    p.write_text(p.read_text().replace("EVXBTC", "EVXBTD", 1))
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "events/prices.jsonl:1: hash does not match" in out and "FAILED" in out


def test_audit_verify_strict_fails_on_unsealed_tail(capsys):
    """No checkpoint fails; a young unsealed tail warns, and fails with --strict."""
    st = make_state()
    main(["keys", "init", "--state-dir", str(st.root)])
    cfg = pinned_config(st, [key_id_from(capsys.readouterr().out)])
    w = writer(st)
    w.append(ev(1))
    w.sync()
    args = ["audit", "verify", "--state-dir", str(st.root), "--config", cfg]
    assert main(args) == 1  # records and no checkpoint at all: a failure, strict or not
    assert "no checkpoint covering any of them" in capsys.readouterr().out
    w.checkpoint()
    w.append(ev(2))
    w.sync()
    assert main(args) == 0  # a fresh unsealed tail: a warning
    assert main([*args, "--strict"]) == 1
    w.close()
    assert main([*args, "--strict"]) == 0


def trade(st, corr: str) -> None:
    """signal → decision → order → fill → close under one correlation id, plus noise."""
    sig = ev(1, "SIGNAL", corr=corr, payload={"symbol": "EVXBTC", "strategy": "pump",
                                              "price": 1e-5, "market_ts": 1.77e9})
    dec = new_event("DECISION", {"symbol": "EVXBTC", "action": "BUY", "confidence": 0.8,
                                 "reasons": [], "position_size": 10.0,
                                 "targets": {}, "config_hash": "cfg:x"}, source="decision-engine",
                    parent=sig, timestamp="2026-02-02T15:00:02.000000Z")
    order = new_event("ORDER", {"symbol": "EVXBTC", "order_id": "o1", "status": "NEW",
                                "quantity": 5.0}, source="executor", parent=dec,
                      timestamp="2026-02-02T15:00:03.000000Z")
    fill = new_event("FILL", {"symbol": "EVXBTC", "order_id": "o1", "filled_qty": 5.0,
                              "avg_price": 1e-5, "commission": 0.0, "commission_asset": "BTC"},
                     source="executor", parent=order, timestamp="2026-02-02T15:00:04.000000Z")
    close = new_event("CLOSE", {"symbol": "EVXBTC", "order_id": "o1", "entry_price": 1e-5,
                                "exit_price": 1.1e-5, "quantity": 5.0, "pnl": 5e-6, "fees": 0.0,
                                "reason": "take_profit", "holding_s": 30.0, "quote": "BTC"},
                      source="executor", parent=fill, timestamp="2026-02-02T15:00:05.000000Z")
    with writer(st) as w:
        for e in (close, fill, sig, order, dec, ev(9, "SIGNAL", corr="other",
                  payload={"symbol": "XBTC", "strategy": "pump", "price": 1.0, "market_ts": 1.0})):
            w.append(e)


def test_trace_follows_one_correlation_id_in_order(capsys):
    """`hope trace` lists signal → decision → order → fill → close with wall and market time."""
    st = make_state()
    trade(st, "corr-1")
    capsys.readouterr()  # drop the writer's "created a key" log line
    hops = trace(open_reader(st), "corr-1")
    assert [h.event_type for h in hops] == ["SIGNAL", "DECISION", "ORDER", "FILL", "CLOSE"]
    assert hops[0].market_ts == 1.77e9 and hops[1].market_ts is None
    assert hops[2].causation_id == hops[1].event_id
    assert main(["trace", "corr-1", "--state-dir", str(st.root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [h["event_type"] for h in data["hops"]][-1] == "CLOSE"
    assert main(["trace", "corr-1", "--state-dir", str(st.root)]) == 0
    assert "take_profit" in capsys.readouterr().out
    assert main(["trace", "nope", "--state-dir", str(st.root)]) == 1


def test_trace_takes_the_prefix_sniff_shows_and_refuses_an_ambiguous_one(capsys):
    """A prefix of one correlation id traces it (named whole); one that two ids start with
    exits 2 naming both."""
    st = make_state()
    trade(st, "c0ffee1234567890aa")
    with writer(st) as w:
        w.append(ev(10, "SIGNAL", corr="c0ffee99",
                    payload={"symbol": "YBTC", "strategy": "pump", "price": 1.0,
                             "market_ts": 2.0}))
    capsys.readouterr()
    assert main(["trace", "c0ffee123456", "--state-dir", str(st.root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("trace c0ffee1234567890aa: 5 event(s)") and "take_profit" in out
    assert main(["trace", "c0ffee", "--state-dir", str(st.root)]) == 2
    err = capsys.readouterr().err
    assert "2 correlation ids start with 'c0ffee'" in err and "c0ffee99" in err


def test_keys_init_makes_curve_keys_and_enrol_revoke_rotate_list_manage_them(capsys, tmp_path):
    """init makes a CURVE pair for every principal once; enrol --public admits another host's
    certificate, rotate --curve replaces a key, revoke withdraws it, list shows the ids."""
    import zmq

    from hope.bus import curve
    from hope.principals import principals

    st = make_state()
    args = ["--state-dir", str(st.root)]
    assert main(["keys", "init", *args]) == 0
    assert set(curve.allow_list(st).values()) == set(principals())
    capsys.readouterr()
    assert main(["keys", "init", *args]) == 0
    assert "created:" not in capsys.readouterr().out  # idempotent
    other = curve.CurveKeys("scanner-2", *zmq.curve_keypair())
    cert = tmp_path / "scanner-2.curve.key"
    cert.write_text(f'curve\n    public-key = "{other.public.decode()}"\n')
    assert main(["keys", "enrol", "scanner-2", "--public", str(cert), *args]) == 0
    old = curve.load_keys(st, "executor").public
    assert main(["keys", "rotate", "--curve", "executor", *args]) == 0
    assert curve.load_keys(st, "executor").public != old
    assert main(["keys", "revoke", "gateway", *args]) == 0
    capsys.readouterr()
    assert main(["keys", "list", *args]) == 0
    listed = capsys.readouterr().out
    assert other.key_id in listed and "gateway " not in listed
    assert curve.fingerprint(curve.load_keys(st, "executor").public) in listed


def test_keys_enrol_admits_several_principals_at_once(capsys, tmp_path):
    """`hope keys enrol A B` makes CURVE and event key pairs for each (a cluster's instances and
    host listeners); --public with two names is refused."""
    from hope.bus import curve
    from hope.eventauth.keys import public_path

    st = make_state()
    args = ["--state-dir", str(st.root)]
    names = ["health-listener-1", "health-listener-2", "scanner-3"]
    assert main(["keys", "enrol", *names, *args]) == 0
    assert set(names) <= set(curve.allow_list(st).values())
    assert len({public_path(st.keys, n).read_bytes() for n in names}) == 3
    assert main(["keys", "enrol", "a-1", "a-2", "--public", str(tmp_path / "c"), *args]) == 1
    assert "admits one principal" in capsys.readouterr().out


def test_keys_rotate_event_and_revoke_withdraw_event_keys(capsys):
    """`hope keys rotate --event P` replaces P's event key pair; `revoke P` removes it too."""
    from hope.eventauth.keys import load_public, secret_path

    st = make_state()
    args = ["--state-dir", str(st.root)]
    assert main(["keys", "init", *args]) == 0
    before = secret_path(st.keys, "executor").read_bytes()
    assert main(["keys", "rotate", "--event", "executor", *args]) == 0
    assert secret_path(st.keys, "executor").read_bytes() != before
    assert "restart hope:executor" in capsys.readouterr().out
    assert main(["keys", "revoke", "executor", *args]) == 0
    assert load_public(st.keys, "executor") is None
    assert not secret_path(st.keys, "executor").exists()
