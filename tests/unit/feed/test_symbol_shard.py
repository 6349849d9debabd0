"""Symbol shards: stable, every symbol owned once, bad specs refused by name."""

import subprocess
import sys

import pytest

from hope.feed.symbol_shard import SymbolShard, owned
from hope.market.config import ScannerConfig

SYMBOLS = [f"S{i}BTC" for i in range(200)] + ["NASBTC", "EVXBTC", "GVTBTC"]


def test_every_symbol_has_exactly_one_owner_among_n_shards():
    """Four shards partition the symbol list: no symbol twice, none left out, none empty."""
    shards = [SymbolShard(k, 4) for k in range(1, 5)]
    parts = [owned(s, SYMBOLS) for s in shards]
    assert sorted(sum(parts, [])) == sorted(SYMBOLS)
    assert all(parts)


def test_the_owner_is_the_same_in_another_process():
    """The hash is not Python's salted str hash: another interpreter gives the same split."""
    code = ("from hope.feed.symbol_shard import SymbolShard, owned; "
            f"print(owned(SymbolShard(2, 3), {SYMBOLS!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "12345"})
    assert out.stdout.strip() == repr(owned(SymbolShard(2, 3), SYMBOLS))


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "2/0", "1/2/3"])
def test_bad_shard_is_refused_naming_the_key(text):
    """A shard that is not k/n with 1 <= k <= n is refused, naming ``shard``."""
    with pytest.raises(ValueError, match="shard"):
        ScannerConfig(shard=text).validate()


def test_no_shard_owns_everything():
    """An empty shard means this scanner owns every symbol."""
    assert SymbolShard.parse("") is None and owned(None, SYMBOLS) == SYMBOLS
    assert str(SymbolShard.parse(" 2/4 ")) == "2/4"


async def test_the_live_feed_resolves_only_its_shards_symbols(tmp_path):
    """Two live feeds with shards 1/2 and 2/2 over the same exchangeInfo: each symbol to one."""
    from hope.feed.config import BinanceConfig
    from hope.feed.feed import LiveFeed

    symbols = ["NASBTC", "EVXBTC", "GVTBTC", "VIBBTC", "RCNBTC", "IDEXBTC"]
    info = {"symbols": [{"symbol": s, "status": "TRADING", "quoteAsset": "BTC"} for s in symbols]}

    class Rest:
        async def exchange_info(self) -> dict:
            return info

    got = []
    for k in (1, 2):
        feed = LiveFeed(BinanceConfig(quote="BTC"), tmp_path / f"tape{k}",
                        symbol_shard=SymbolShard(k, 2))
        feed.rest = Rest()
        got.append(set(await feed._resolve()))
    assert got[0] | got[1] == set(symbols) and not got[0] & got[1] and got[0] and got[1]
