"""Live execution on Binance spot: the venue adapter and what keeps it honest (time, rate, fills)."""
