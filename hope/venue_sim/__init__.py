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
- :mod:`~hope.venue_sim.admin`: its own ``/sim/v1`` endpoints (status, faults on demand);
- :mod:`~hope.venue_sim.server`: the lifecycle (setup/start/stop/kill);
- :mod:`~hope.venue_sim.testing`: helpers for tests that run the stand-in.

Where the venue's documentation is silent, the stand-in chooses (and says so here):
aggregate ids are assigned 1, 2, ... per symbol with ``f == l == a`` (one recorded row is one
trade); only ``@aggTrade`` and ``@trade`` carry data, other documented streams are accepted and
stay silent; ``fromId`` with ``startTime``/``endTime`` is refused (-1128) and ``limit`` above
1000 is served as 1000; a subscription past the stream limit is refused with code 2; a
connection over the message rate is closed with 1008, at its maximum age with 1000, after
``serverShutdown`` with 1001 (``shutdown_grace_s`` later); connection attempts past the limit
get HTTP 429 with -1034; bans of repeatedly disconnected IPs are not modelled; an outage answers
503 instead of refusing TCP; ``UNLISTED`` is the stand-in's own status (absent from
``exchangeInfo``).
"""
