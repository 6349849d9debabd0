"""Chaos under load: an injector with its own ledger, faults through supervisord and signals, and
a table that proves nothing was lost or doubled (``scripts/chaos``, ``python -m hope.chaos``)."""
