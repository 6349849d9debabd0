"""Live execution on Binance spot: signing, REST, filters, the error taxonomy, reconciliation.

Socket-free modules (``signing``, ``errors``, ``filters``, ``reconcile``, ``unknown``) hold the
logic; ``rest`` is the one aiohttp client and ``adapter`` the venue as the executor sees it.
Nothing here imports :mod:`hope.execution` (the executor depends on this package, not back).
"""
