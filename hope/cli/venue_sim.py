"""``hope venue-sim [--data FILE...] [--port N] [--speed X] [--rebase-now] [--scenario FILE]``:
a stand-in Binance spot exchange on 127.0.0.1 serving recorded trades as a live market.

Prints one line when ready (``venue-sim listening on http://127.0.0.1:PORT ...``) and writes
the port to ``--port-file``. Streams: ``ws://127.0.0.1:PORT/stream?streams=evxbtc@aggTrade``;
REST: ``http://127.0.0.1:PORT/api/v3/aggTrades?symbol=EVXBTC``; trading (SIGNED endpoints)
with ``--keys state/keys/binance``. A bad scenario, flag or key directory exits 78 naming it. Logic in :mod:`hope.venue_sim`.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import signal
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from hope.venue_sim import scenario as scenario_mod
from hope.venue_sim.exchange_info import StatusChange
from hope.venue_sim.faults import StreamFault
from hope.venue_sim.keys import ensure_test_keys
from hope.venue_sim.server import VenueSim, VenueSimError
from hope.venue_sim.signing import ApiKey, load_key_dir

EX_CONFIG = 78
DEFAULT_PORT = 8600
REPO_DATA = Path(__file__).resolve().parent.parent.parent / "data"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("venue-sim", parents=[common],
                       help="run a stand-in Binance spot exchange on 127.0.0.1")
    p.add_argument("--data", nargs="+", metavar="FILE",
                   help="recorded trade files or a tape (default: data/*.csv.gz)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--port-file", metavar="PATH", help="write the bound port here")
    p.add_argument("--scenario", metavar="FILE", help="TOML scenario (settings and faults)")
    p.add_argument("--speed", type=float, metavar="X",
                   help="market time runs X times the wall clock (default 1)")
    p.add_argument("--rebase-now", action="store_true",
                   help="timestamps = wall time of publication (default: as recorded)")
    p.add_argument("--skip", type=float, metavar="S",
                   help="the first S market seconds of each symbol are history (REST only)")
    p.add_argument("--first-id", type=int, metavar="N",
                   help="first aggregate trade id per symbol (default 1)")
    p.add_argument("--status", action="append", default=[], metavar="SYMBOL=STATUS[@S]",
                   help="a symbol's status (TRADING, BREAK, HALT, UNLISTED...), at start or "
                        "S seconds after")
    p.add_argument("--start-delay", type=float, metavar="S",
                   help="wall seconds before the live stream starts (time to connect)")
    g = p.add_argument_group("fault knobs (ids are aggregate trade ids, every symbol)")
    g.add_argument("--drop-after", type=int, action="append", default=[], metavar="ID",
                   help="abort connections after sending trade ID")
    g.add_argument("--skip-ids", action="append", default=[], metavar="A-B",
                   help="never send trades A..B on the stream")
    g.add_argument("--duplicate-ids", action="append", default=[], metavar="A-B",
                   help="send trades A..B twice")
    g.add_argument("--reorder-ids", action="append", default=[], metavar="A-B",
                   help="send trades A..B in reverse order")
    g.add_argument("--stall-at", action="append", default=[], metavar="ID[:S]",
                   help="no data from trade ID on for S seconds (0: for good); pings go on")
    g.add_argument("--bad-json-at", type=int, action="append", default=[], metavar="ID",
                   help="a malformed frame just before trade ID")
    g.add_argument("--shutdown-at", type=int, action="append", default=[], metavar="ID",
                   help="send serverShutdown after trade ID, then close")
    g.add_argument("--outage-at", action="append", default=[], metavar="ID:S",
                   help="after trade ID the venue is unreachable for S seconds (503s)")
    g.add_argument("--max-connection-age", type=float, metavar="S", help='the "24 h"')
    g.add_argument("--ping-interval", type=float, metavar="S", help="server pings (default 20)")
    g.add_argument("--pong-timeout", type=float, metavar="S",
                   help="close without a pong for S (default 60)")
    g.add_argument("--rest-delay", type=float, metavar="S", help="every REST reply S late")
    g.add_argument("--rest-fail", type=int, metavar="N", help="the first N REST requests 503")
    g.add_argument("--weight-limit", type=int, metavar="N", help="request weight per minute")
    g.add_argument("--ban-after", type=int, metavar="N",
                   help="requests after a 429 (same minute) before the 418 ban")
    g.add_argument("--ban-seconds", type=float, metavar="S",
                   help="length of the first 418 ban (default 120, doubling)")
    _register_trading(p)
    p.set_defaults(func=run)


def _register_trading(p: argparse.ArgumentParser) -> None:
    t = p.add_argument_group("trading (the SIGNED endpoints; settings also in [trading])")
    t.add_argument("--keys", action="append", default=[], metavar="DIR[@ACCOUNT]",
                   help="an API key the venue accepts: DIR/api_key with DIR/secret (HMAC) or "
                        "DIR/ed25519_key.pub (e.g. state/keys/binance; see "
                        "hope.venue_sim.keys.generate_test_keys), for ACCOUNT (default main)")
    t.add_argument("--test-keys", metavar="STATE_DIR",
                   help="use the test key in STATE_DIR/keys/binance, generating one (HMAC) "
                        "when there is none: what HOPE's config then points at")
    t.add_argument("--balance", action="append", default=[], metavar="ASSET=AMOUNT",
                   help="starting balance of every account (replaces the default BTC=1.0)")
    t.add_argument("--commission-asset", choices=("quote", "base"),
                   help="fees in the quote (default) or in the asset received")
    t.add_argument("--enable-withdrawals", action="store_true",
                   help="apiRestrictions reports enableWithdrawals=true for every key")


def _range(text: str, flag: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    try:
        return int(lo), int(hi if sep else lo)
    except ValueError:
        raise scenario_mod.ScenarioError(f"{flag} {text!r}: expected A-B (ids)") from None


SETTING_FLAGS = (("speed", "market", "speed"), ("skip", "market", "skip_s"),
                 ("first_id", "market", "first_id"), ("start_delay", "market", "start_delay_s"),
                 ("max_connection_age", "ws", "max_connection_age_s"),
                 ("ping_interval", "ws", "ping_interval_s"),
                 ("pong_timeout", "ws", "pong_timeout_s"), ("rest_delay", "rest", "delay_s"),
                 ("rest_fail", "rest", "fail_first"), ("weight_limit", "rest", "weight_limit"),
                 ("ban_after", "rest", "ban_after"), ("ban_seconds", "rest", "ban_s"))


def build_scenario(args: argparse.Namespace) -> scenario_mod.Scenario:
    """The scenario file (if any) with the flags applied on top."""
    sc = scenario_mod.load(args.scenario) if args.scenario else scenario_mod.Scenario()
    for attr, section, key in SETTING_FLAGS:
        value = getattr(args, attr)
        if value is not None:
            setattr(getattr(sc, section), key, value)
    if args.rebase_now:
        sc.market.rebase = True
    if sc.market.speed <= 0:
        raise scenario_mod.ScenarioError("--speed: must be > 0")
    for text in args.status:
        _status_flag(sc, text)
    sc.faults += _fault_flags(args)
    _trading_flags(sc, args)
    return sc


def _trading_flags(sc: scenario_mod.Scenario, args: argparse.Namespace) -> None:
    if args.balance:
        sc.trading.balances = {}
    for text in args.balance:
        asset, _, amount = text.partition("=")
        try:
            ok = bool(asset) and Decimal(amount) >= 0
        except InvalidOperation:
            ok = False
        if not ok:
            raise scenario_mod.ScenarioError(f"--balance {text!r}: expected ASSET=AMOUNT")
        sc.trading.balances[asset] = amount
    if args.commission_asset:
        sc.trading.commission_asset = args.commission_asset
    if args.enable_withdrawals:
        sc.trading.enable_withdrawals = True


def load_keys(dirs: list[str]) -> list[ApiKey]:
    """The API keys of ``--keys``; ScenarioError naming the directory when one is unusable."""
    keys = []
    for text in dirs:
        d, _, account = text.partition("@")
        try:
            keys.append(load_key_dir(d, account or "main"))
        except (OSError, ValueError) as exc:
            raise scenario_mod.ScenarioError(f"--keys {text}: {exc}") from None
    return keys


def _status_flag(sc: scenario_mod.Scenario, text: str) -> None:
    sym, _, rest = text.partition("=")
    status, _, at = rest.partition("@")
    try:
        change = StatusChange(sym, status, float(at) if at else 0.0)
    except ValueError:
        change = None
    if change is None or not sym or not status:
        raise scenario_mod.ScenarioError(f"--status {text!r}: expected SYMBOL=STATUS[@S]")
    if at:
        sc.status_changes.append(change)
    else:
        sc.status[sym] = status


def _fault_flags(args: argparse.Namespace) -> list[StreamFault]:
    faults = [StreamFault("drop", i) for i in args.drop_after]
    faults += [StreamFault("bad_json", i) for i in args.bad_json_at]
    faults += [StreamFault("shutdown", i) for i in args.shutdown_at]
    for kind, values, flag in (("skip", args.skip_ids, "--skip-ids"),
                               ("duplicate", args.duplicate_ids, "--duplicate-ids"),
                               ("reorder", args.reorder_ids, "--reorder-ids")):
        for text in values:
            lo, hi = _range(text, flag)
            try:
                faults.append(StreamFault(kind, lo, hi))
            except ValueError as exc:
                raise scenario_mod.ScenarioError(f"{flag} {text!r}: {exc}") from None
    for kind, values, flag in (("stall", args.stall_at, "--stall-at ID[:S]"),
                               ("outage", args.outage_at, "--outage-at ID:S")):
        for text in values:
            at, _, secs = text.partition(":")
            try:
                faults.append(StreamFault(kind, int(at), seconds=float(secs or 0)))
            except ValueError as exc:
                raise scenario_mod.ScenarioError(f"{flag.split()[0]} {text!r}: expected "
                                                 f"{flag.split()[1]} ({exc})") from None
    return faults


def data_files(args: argparse.Namespace) -> list[str]:
    if args.data:
        return args.data
    found = sorted(glob.glob("data/*.csv.gz")) or sorted(glob.glob(str(REPO_DATA / "*.csv.gz")))
    return found


async def serve(sim: VenueSim) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = await sim.start()
    symbols = ",".join(sim.market.symbols) if sim.market else ""
    print(f"venue-sim listening on http://127.0.0.1:{port} (streams ws://127.0.0.1:{port}) "
          f"symbols={symbols}", flush=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def run(args: argparse.Namespace) -> int:
    try:
        sc = build_scenario(args)
        key_dirs = list(args.keys)
        if args.test_keys:
            key_dirs.append(str(ensure_test_keys(args.test_keys)))
        keys = load_keys(key_dirs)
    except scenario_mod.ScenarioError as exc:
        print(f"hope venue-sim: bad scenario: {exc}", file=sys.stderr)
        return EX_CONFIG
    if not 0 <= args.port <= 65535:
        print(f"hope venue-sim: --port {args.port}: must be 0..65535", file=sys.stderr)
        return EX_CONFIG
    sim = VenueSim(data_files(args), sc, port=args.port, port_file=args.port_file,
                   log=lambda line: print(f"venue-sim: {line}", file=sys.stderr, flush=True),
                   keys=keys)
    try:
        sim.setup()
    except VenueSimError as exc:
        print(f"hope venue-sim: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        asyncio.run(serve(sim))
    except VenueSimError as exc:
        print(f"hope venue-sim: {exc}", file=sys.stderr)
        return EX_CONFIG
    except OSError as exc:
        print(f"hope venue-sim: cannot listen on 127.0.0.1:{args.port}: {exc}",
              file=sys.stderr)
        return 1
    return 0
