"""Each venue answer maps to a definitive refusal or an unknown outcome."""

from __future__ import annotations

import pytest

from hope.venue.errors import REFUSED, UNKNOWN, VenueRefused, VenueUnknown, classify, error_for


@pytest.mark.parametrize(("status", "code", "msg", "outcome"), [
    (400, -1013, "Filter failure: LOT_SIZE", REFUSED),
    (400, -1013, "Filter failure: NOTIONAL", REFUSED),
    (400, -2010, "Account has insufficient balance for requested action.", REFUSED),
    (400, -1100, "Illegal characters found in parameter 'quantity'", REFUSED),
    (400, -1102, "Mandatory parameter 'symbol' was not sent", REFUSED),
    (400, -1022, "Signature for this request is not valid.", REFUSED),
    (401, -2014, "API-key format invalid.", REFUSED),
    (401, -2015, "Invalid API-key, IP, or permissions for action.", REFUSED),
    (400, -1021, "Timestamp for this request is outside of the recvWindow.", REFUSED),
    (429, -1003, "Too many requests", REFUSED),
    (418, -1003, "Way too many requests; IP banned", REFUSED),
    (500, None, "Internal error", UNKNOWN),
    (503, -1008, "Server is currently overloaded", UNKNOWN),
    (504, None, "Gateway timeout", UNKNOWN),
    (400, -1007, "Timeout waiting for response from backend server. Send status unknown; "
                 "execution status unknown.", UNKNOWN),
    (400, -1006, "An unexpected response was received from the message bus.", UNKNOWN),
    (400, -1001, "Internal error; unable to process your request.", UNKNOWN),
    (400, -2010, "Duplicate order sent.", UNKNOWN),
    (None, None, "timeout after sending", UNKNOWN),
])
def test_taxonomy(status: int | None, code: int | None, msg: str, outcome: str) -> None:
    """Every row of the taxonomy table (hope/venue/errors.py) maps as documented."""
    assert classify(status, code, msg) == outcome
    exc = error_for(status, code, msg)
    assert isinstance(exc, VenueRefused if outcome == REFUSED else VenueUnknown)


def test_describe_names_code_and_message() -> None:
    """An ORDER's reason carries the venue's code and message."""
    exc = error_for(400, -2010, "Account has insufficient balance for requested action.")
    assert exc.describe() == ("venue -2010 (HTTP 400): Account has insufficient balance "
                              "for requested action.")
