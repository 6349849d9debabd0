"""``hope venue-sim``: a stand-in for Binance spot's public API on 127.0.0.1, serving recorded
trades as a live market, held to the venue's documented protocol (binance-spot-api-docs).

One module per concern:

- :mod:`~hope.venue_sim.market`: the recorded trades as a live stream (ids, clock, speed);
- :mod:`~hope.venue_sim.ws` and :mod:`~hope.venue_sim.control`: the stream server and its
  control messages; :mod:`~hope.venue_sim.publisher`: trades to connections when due;
- :mod:`~hope.venue_sim.rest`: ``/api/v3/ping``, ``time``, ``exchangeInfo``, ``aggTrades``;
  :mod:`~hope.venue_sim.exchange_info`: symbols, filters, ``rateLimits``;
- :mod:`~hope.venue_sim.limits`: request weight, 429/418, message and connection rates;
- :mod:`~hope.venue_sim.faults` and :mod:`~hope.venue_sim.scenario`: fault knobs, settings;
- :mod:`~hope.venue_sim.server`: the lifecycle (setup/start/stop/kill);
- :mod:`~hope.venue_sim.testing`: helpers for tests that run the stand-in.
"""
