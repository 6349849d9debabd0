"""The live market-data feed: Binance spot aggregate trades, every trade exactly once, in order."""
