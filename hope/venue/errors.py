"""What a venue answer means for an order: definitively refused, or of unknown outcome.

The venue's documentation: a 4XX is the sender's problem (the request was not executed), a 5XX
"must not be treated as a failure: the execution status is UNKNOWN and could have been a
success". HOPE's table (:func:`classify`):

======================================  ===========  =====================================
answer                                  outcome      why
======================================  ===========  =====================================
HTTP 5XX (any code)                     unknown      the venue may have executed it
-1007 timeout, -1006, -1001             unknown      "execution status unknown"
-2010 "Duplicate order sent."           unknown      an open order with this id *exists*
-1013 filter failure, -2010 (other),    refused      the order does not exist
-1100, -1102, -1022, -2014, -2015,
-1021, any other 4XX (429/418 too)
a timeout or reset after sending        unknown      the request may have arrived
a connection refused before sending     refused      nothing left this machine
======================================  ===========  =====================================

``-2013`` NO_SUCH_ORDER on a *query* is an answer, not an error (see :mod:`hope.venue.unknown`).
"""

from __future__ import annotations

REFUSED, UNKNOWN = "refused", "unknown"
UNKNOWN_CODES = frozenset({-1001, -1006, -1007})
NO_SUCH_ORDER = -2013
DUPLICATE_ORDER = "duplicate order sent"


class VenueError(Exception):
    """A venue answer that is not a success; ``outcome`` says what it means for an order."""

    outcome = UNKNOWN

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.retry_after_s = retry_after_s

    def describe(self) -> str:
        """``venue -2010: Account has insufficient balance ...`` (what an ORDER's reason says)."""
        code = f" {self.code}" if self.code is not None else ""
        status = f" (HTTP {self.http_status})" if self.http_status else ""
        return f"venue{code}{status}: {self.message}"


class VenueRefused(VenueError):
    """Definitive: the venue did not (and will not) execute this request."""

    outcome = REFUSED


class VenueUnknown(VenueError):
    """The request may have been executed: query, never resubmit."""

    outcome = UNKNOWN


def classify(http_status: int | None, code: int | None, message: str) -> str:
    """REFUSED or UNKNOWN for an answer (``http_status`` None: no answer after sending)."""
    if http_status is None:
        return UNKNOWN
    if http_status >= 500:
        return UNKNOWN
    if code in UNKNOWN_CODES:
        return UNKNOWN
    if code == -2010 and DUPLICATE_ORDER in message.lower():
        return UNKNOWN
    if 400 <= http_status < 500:
        return REFUSED
    return UNKNOWN  # an error shape on a 1XX/2XX/3XX: nothing is known


def error_for(http_status: int | None, code: int | None, message: str, *,
              retry_after_s: float | None = None) -> VenueError:
    """The exception for an answer, typed by :func:`classify`."""
    kind = VenueRefused if classify(http_status, code, message) == REFUSED else VenueUnknown
    return kind(message, code=code, http_status=http_status, retry_after_s=retry_after_s)


class NotSent(VenueRefused):
    """Raised before any byte left (a refused connection, a local budget): nothing exists."""
