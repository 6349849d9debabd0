"""HOPE: an event-driven trading backbone on a ZeroMQ XPUB/XSUB bus."""

__version__ = "0.1.0"
