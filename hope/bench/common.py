"""Shared benchmark machinery: percentiles, run summaries, ratios, pacing, tables, JSON, machine.

Every figure is a list of per-run values summarised as median with min-max; latencies are
nanosecond samples from ``time.monotonic_ns()`` (CLOCK_MONOTONIC is one clock for every process on
a Linux machine, so a send stamp taken in one process and a receive stamp in another subtract).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PERCENTILES = (("p50", 50.0), ("p99", 99.0), ("p99.9", 99.9))


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (the value at rank ceil(pct/100 * n))."""
    if not sorted_values:
        raise ValueError("percentile of no samples")
    if not 0 < pct <= 100:
        raise ValueError(f"percentile {pct} outside (0, 100]")
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def latency_us(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p99/p99.9 in microseconds (one decimal) plus the sample count."""
    s = sorted(samples_ns)
    out: dict[str, float] = {name: round(percentile(s, pct) / 1000, 1) for name, pct in PERCENTILES}
    out["n"] = len(s)
    return out


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of per-run values, keeping the runs themselves."""
    if not values:
        raise ValueError("summary of no runs")
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": list(values)}


def ratio(values: Sequence[float], baseline: Sequence[float]) -> dict[str, Any]:
    """Ratio of paired runs (run i of both measured back to back): median with min-max."""
    if len(values) != len(baseline) or not values:
        raise ValueError(f"ratio needs paired runs, got {len(values)} and {len(baseline)}")
    per_run = [v / b if b else math.inf for v, b in zip(values, baseline, strict=True)]
    return {**summary(per_run), "median": round(statistics.median(per_run), 2)}


def latency_runs(runs: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Per-percentile summaries over runs given as :func:`latency_us` dicts."""
    return {name: summary([r[name] for r in runs]) for name, _ in PERCENTILES}


class Pacer:
    """Fixed-rate schedule on the monotonic clock: message i is due at start + i / rate.

    ``wait(i)`` sleeps until message i is due; a sender that fell behind does not sleep and
    catches up, so the achieved average rate is the asked one whenever the sender can keep up.
    Every benchmark peer (HOPE, raw pyzmq, Redis) paces with this same class.
    """

    def __init__(self, rate: float, start: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.rate = rate
        self.start = time.monotonic() if start is None else start

    def due(self, i: int) -> float:
        return self.start + i / self.rate

    def wait(self, i: int) -> None:
        delay = self.due(i) - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def fmt_range(s: dict[str, Any], digits: int = 0) -> str:
    """``median (min-max)`` of a summary."""
    f = f"{{:,.{digits}f}}"
    return f"{f.format(s['median'])} ({f.format(s['min'])}-{f.format(s['max'])})"


def lat_cell(s: dict[str, Any], pct: str) -> str:
    """A latency table cell: ``median (min-max)`` of one percentile, or n/a."""
    return fmt_range(s[pct]) if pct in s else "n/a"


def ratio_cell(r: dict[str, Any] | None) -> str:
    """A ratio table cell: ``1.23x (1.10-1.40)``, or n/a."""
    return f"{r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})" if r else "n/a"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table (also valid Markdown), columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths,  # noqa: E731
                                                                           strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def machine() -> dict[str, Any]:
    """What the figures came from: cores, CPU model, kernel, Python, pyzmq/libzmq, Redis."""
    import msgspec
    import zmq

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                               timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        redis = "not installed"
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version(), "pyzmq": zmq.__version__,
            "libzmq": zmq.zmq_version(), "msgspec": msgspec.__version__, "redis": redis,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
