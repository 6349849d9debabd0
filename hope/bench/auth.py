"""Row 6: what authenticating one event costs, µs, on this machine.

HOPE's scheme (hope/eventauth): the publisher seals a body with one keyed BLAKE2b-128 MAC per
principal (``seal``, the recipients being every principal ``hope keys init`` creates) and each
consumer checks its own entry (``open``; ``admit``: that and the rest of the receive path's
checks: signer named as publisher, authority table, replay rule). The alternative considered, Ed25519 (``cryptography``,
OpenSSL) signing and verifying the same body, is measured beside it; so is the one-off X25519
pair-key derivation a consumer pays per publisher. Rows 1 and 2 carry the end-to-end cost: each
round also runs HOPE with ``[bus] authenticate = false``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hope import codec
from hope.authority import NOT_RECEIVING, Authority, event_principals
from hope.bench.common import fmt_range, ratio, summary
from hope.bench.common import lat_cell as _lat
from hope.bench.common import ratio_cell as _ratio
from hope.envelope import new_event
from hope.eventauth.freshness import Freshness
from hope.eventauth.gate import EventGate
from hope.eventauth.keys import init_principals, load_public, load_secret
from hope.eventauth.seal import PairKeys, pair_key


def _us(fn: Callable[[], Any], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def _price_body() -> bytes:
    env = new_event("PRICE", {"symbol": "EVXBTC", "price": 1.234e-5, "market_ts": 1.7e9},
                    source="scanner")
    env.publisher, env.epoch, env.seq, env.tseq = "scanner", "0123456789ab", 42, 42
    return codec.encode(env)


def measure(rounds: int = 3, n: int = 5_000, log: Any = print) -> dict[str, Any]:
    body = _price_body()
    with tempfile.TemporaryDirectory(prefix="hb-auth-") as tmp:
        keys = Path(tmp)
        init_principals(keys, event_principals())
        scanner = PairKeys(keys, "scanner", load_secret(keys, "scanner"))
        executor = PairKeys(keys, "executor", load_secret(keys, "executor"))
        auth = scanner.seal(body)
        executor.open(body, auth)
        ed = Ed25519PrivateKey.generate()
        sig, pub = ed.sign(body), ed.public_key()
        secret, peer = load_secret(keys, "executor"), load_public(keys, "scanner")
        gate = EventGate("executor", executor, Authority(["scanner"]), Freshness(30.0, 300.0))
        env = codec.decode(body)
        cases: dict[str, Callable[[], Any]] = {
            "seal": lambda: scanner.seal(body),
            "open": lambda: executor.open(body, auth),
            "admit": lambda: gate.admit(body, auth, env),
            "ed25519_sign": lambda: ed.sign(body),
            "ed25519_verify": lambda: pub.verify(sig, body),
            "pair_key": lambda: pair_key(secret, peer, "scanner", "executor"),
        }
        runs: dict[str, list[float]] = {k: [] for k in cases}
        for r in range(rounds):
            for name, fn in cases.items():
                runs[name].append(_us(fn, n if name != "pair_key" else max(100, n // 20)))
            log(f"  auth round {r + 1}/{rounds}: " + ", ".join(
                f"{k} {v[-1]:.2f} µs" for k, v in runs.items()))
    recipients = [p for p in event_principals() if p not in NOT_RECEIVING]
    out: dict[str, Any] = {"recipients": len(recipients), "body_bytes": len(body),
                           "auth_bytes": len(auth)}
    out.update({k: summary(v) for k, v in runs.items()})
    out["ratio_seal_to_sign"] = ratio(runs["seal"], runs["ed25519_sign"])
    out["ratio_open_to_verify"] = ratio(runs["open"], runs["ed25519_verify"])
    return out


NOAUTH = "baseline: the same HOPE with [bus] authenticate = false"


def hop_rows(h: dict[str, Any]) -> list[list[str]]:
    """Row 1's authenticated-vs-not lines (the round's ``hope_noauth`` runs)."""
    if "hope_noauth" not in h:
        return []
    return [[f"1 hop {pct} µs, authenticated vs not", _lat(h["hope"], pct),
             _lat(h["hope_noauth"], pct), _ratio(h["ratio_to_noauth"].get(pct)), NOAUTH]
            for pct in ("p50", "p99")]


def pipeline_rows(p: dict[str, Any]) -> list[list[str]]:
    """Row 2's authenticated-vs-not lines."""
    if "ratio_to_noauth" not in p.get("hope", {}):
        return []
    return [[f"2 signal→order {pct} µs @{p['rate']:,.0f}/s, authenticated vs not",
             _lat(p["hope"], pct), _lat(p["hope_noauth"], pct),
             _ratio(p["hope"]["ratio_to_noauth"].get(pct)), NOAUTH] for pct in ("p50", "p99")]


def render_rows(res: dict[str, Any]) -> list[list[str]]:
    """Row 6: seal and open against Ed25519 sign and verify."""
    x = res.get("auth")
    if not x:
        return []
    return [[f"6 seal µs per event ({x['recipients']} MACs)", fmt_range(x["seal"], 2),
             fmt_range(x["ed25519_sign"], 2), _ratio(x["ratio_seal_to_sign"]),
             f"baseline: Ed25519 sign; {x['body_bytes']} B PRICE, auth frame "
             f"{x['auth_bytes']} B"],
            ["6 open µs per event (1 MAC)", fmt_range(x["open"], 2),
             fmt_range(x["ed25519_verify"], 2), _ratio(x["ratio_open_to_verify"]),
             f"baseline: Ed25519 verify; all receive checks {fmt_range(x['admit'], 2)} µs; "
             f"pair key once per peer {fmt_range(x['pair_key'], 1)} µs"]]
