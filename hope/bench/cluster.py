"""Row 8: the bus across hosts (network namespaces of :class:`hope.cluster.netns.Lab`, tcp).

8a, one hop across hosts: ``hope-pub`` on host a → the proxy on host p1 → ``hope-sub`` on host
b, against raw pyzmq (PUB → ``zmq.proxy`` → SUB, pre-built bytes of HOPE's size) on the same
hosts, alternating in each round, both with CurveZMQ (tcp means CURVE on HOPE's bus; the raw
peers get the same with ``--curve``).
8b, zero-loss messages/s through one proxy against two (active-active, each message then
arrives twice): the highest paced rate of a short ladder at which every message arrived within
a second (p99).
Root only (namespaces); skipped with a note otherwise.
"""

from __future__ import annotations

import os
from typing import Any

import zmq.auth

from hope.bench.common import latency_runs, ratio
from hope.bench.harness import Harness
from hope.bench.hop import HOP_TOML, _finish, _sender_args, hope_message_size
from hope.bus.curve import create_keypair
from hope.cluster.netns import Lab
from hope.paths import StatePaths

HOSTS = ("p1", "p2", "a", "b")
XSUB, XPUB = 5601, 5602
MAX_P99_US = 1_000_000  # past a second of queueing a rate is not carried, it is buffered


def _toml(lab: Lab, host: str, proxies: list[str]) -> str:
    hosts = ", ".join(f'"{lab.address(p)}"' for p in proxies)
    names = ", ".join(f'"proxy-{p}"' for p in proxies)
    return (f'[hope]\nhost = "{host}"\n\n[bus]\ntransport = "tcp"\n'
            f'tcp_host = "{lab.address(host)}"\nproxy_hosts = [{hosts}]\n'
            f'proxy_names = [{names}]\n' + HOP_TOML)


def run_hope(lab: Lab, proxies: list[str], rate: float, count: int, warmup: int
             ) -> dict[str, Any]:
    with Harness(f"cl-hope-{len(proxies)}") as h:
        for name in [*(f"proxy-{p}" for p in proxies), "bench-pub", "bench-sub"]:
            create_keypair(StatePaths.at(h.dir), name)  # tcp means CURVE
        for p in proxies:
            conf = h.dir / f"{p}.toml"
            conf.write_text(_toml(lab, p, proxies))
            h.procs.start(p, [*_proxy_argv(), "--config", str(conf), "--name", f"proxy-{p}"],
                          lab.argv(p, []))
            h.wait_log(p, "proxy_started")
        h.config.write_text(_toml(lab, "a", proxies))
        out, ready, done = h.path("sub.lines"), h.path("sub.ready"), h.path("pub.done")
        h.peer("sub", "hope-sub", "--out", out, "--ready", ready, wrap=tuple(lab.argv("b", [])))
        h.wait_file(ready, 30, "sub")
        h.peer("pub", "hope-pub", *_sender_args(rate, count, warmup, done),
               wrap=tuple(lab.argv("a", [])))
        return _finish(h, out, warmup, count, "pub", "sub", done, 60 + (warmup + count) / rate)


def _proxy_argv() -> list[str]:
    from hope.supervisor_conf import program_command
    return program_command("proxy")


def run_raw(lab: Lab, rate: float, count: int, warmup: int, size: int) -> dict[str, Any]:
    xsub, xpub = f"tcp://{lab.address('p1')}:{XSUB}", f"tcp://{lab.address('p1')}:{XPUB}"
    with Harness("cl-raw") as h:
        certs = h.dir / "curve"  # the same CurveZMQ as HOPE's bus on tcp
        certs.mkdir()
        for name in ("server", "client"):
            zmq.auth.create_certificates(str(certs), name)
        c = ("--curve", str(certs))
        h.peer("proxy", "raw-proxy", "--xsub", xsub, "--xpub", xpub, "--ready", h.path("p.rdy"),
               *c, wrap=tuple(lab.argv("p1", [])))
        h.wait_file(h.path("p.rdy"), 30, "proxy")
        out, ready, done = h.path("sub.lines"), h.path("sub.ready"), h.path("pub.done")
        h.peer("sub", "raw-sub", "--xpub", xpub, "--out", out, "--ready", ready, *c,
               wrap=tuple(lab.argv("b", [])))
        h.wait_file(ready, 30, "sub")
        h.peer("pub", "raw-pub", "--xsub", xsub, "--size", str(size), *c,
               *_sender_args(rate, count, warmup, done), wrap=tuple(lab.argv("a", [])))
        return _finish(h, out, warmup, count, "pub", "sub", done, 60 + (warmup + count) / rate)


def ladder(lab: Lab, proxies: list[str], rates: list[float], seconds: float,
           log: Any) -> dict[str, Any]:
    """The highest rate of ``rates`` at which every message arrived, with p99 under
    ``MAX_P99_US`` and the sender keeping its pace (stops at the first that fails)."""
    steps, best = [], 0.0
    for rate in rates:
        r = run_hope(lab, proxies, rate, int(rate * seconds), int(rate * 0.3))
        steps.append({"rate": rate, "lost": r["lost"], "p50": r["p50"], "p99": r["p99"],
                      "send_rate": r["send_rate"]})
        log(f"  {len(proxies)} prox{'y' if len(proxies) == 1 else 'ies'} @{rate:,.0f}/s: lost "
            f"{r['lost']}, p50 {r['p50']:.0f} p99 {r['p99']:.0f} µs, sent at {r['send_rate']}/s")
        if r["lost"] or r["send_rate"] < 0.9 * rate or r["p99"] > MAX_P99_US:
            break
        best = rate
    return {"zero_loss_rate": best, "steps": steps}


def measure(rounds: int, rate: float, seconds: float, quick: bool, log: Any = print
            ) -> dict[str, Any]:
    if os.geteuid() != 0:
        return {"skipped": "needs root (network namespaces)"}
    Lab.remove_stale()
    lab = Lab(HOSTS, tag="b")
    count, warmup = int(rate * seconds), int(rate * 0.3)
    size = hope_message_size()
    runs: dict[str, list[dict[str, Any]]] = {"hope": [], "raw_zmq": [], "hope_dual": []}
    try:
        lab.create()
        for r in range(rounds):
            runs["hope"].append(run_hope(lab, ["p1"], rate, count, warmup))
            runs["raw_zmq"].append(run_raw(lab, rate, count, warmup, size))
            runs["hope_dual"].append(run_hope(lab, ["p1", "p2"], rate, count, warmup))
            log(f"  cluster hop round {r + 1}/{rounds}: " + "; ".join(
                f"{s} p50 {v[-1]['p50']:.0f} p99 {v[-1]['p99']:.0f} µs lost {v[-1]['lost']}"
                for s, v in runs.items()))
        rates = [2000.0, 4000.0, 8000.0, 12000.0] if quick else [
            2000.0, 4000.0, 6000.0, 8000.0, 12000.0, 16000.0]
        single = ladder(lab, ["p1"], rates, 1.0 if quick else 3.0, log)
        dual = ladder(lab, ["p1", "p2"], rates, 1.0 if quick else 3.0, log)
    finally:
        lab.destroy()
    out: dict[str, Any] = {"rate": rate, "messages_per_run": count, "message_bytes": size,
                           "transport": "tcp across network namespaces", "rounds": rounds,
                           "single_ladder": single, "dual_ladder": dual}
    for system, rs in runs.items():
        out[system] = {**latency_runs(rs), "lost": sum(x["lost"] for x in rs), "runs": rs}
    for pct in ("p50", "p99"):
        out.setdefault("ratio_to_raw", {})[pct] = ratio([x[pct] for x in runs["hope"]],
                                                        [x[pct] for x in runs["raw_zmq"]])
        out.setdefault("dual_to_single", {})[pct] = ratio([x[pct] for x in runs["hope_dual"]],
                                                          [x[pct] for x in runs["hope"]])
    return out
