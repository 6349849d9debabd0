"""A small blocking client of the stand-in's own ``/sim/v1`` endpoints (standard library only),
for tests, chaos and rehearsals that count from the venue's books or turn its knobs::

    sim = SimAdmin(port)
    sim.hold()                               # the next order's reply is held
    held = sim.wait_held(30)                 # ... once the client has sent it
    os.kill(client_pid, signal.SIGKILL)
    sim.release(action="reply")
    assert [o["clientOrderId"] for o in sim.orders()].count(cid) == 1

Every method is one request; a refusal (HTTP 400 ``{"error": ...}``) raises
:class:`SimAdminError` with the stand-in's message.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen


class SimAdminError(RuntimeError):
    """The stand-in refused an admin request (the message says why)."""


class SimAdmin:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout_s: float = 30.0) -> None:
        self.base = f"http://{host}:{port}/sim/v1"
        self.timeout_s = timeout_s

    def _call(self, path: str, body: dict[str, Any] | None = None,
              timeout_s: float | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = Request(self.base + path, data=data, method="GET" if body is None else "POST",
                      headers={"Content-Type": "application/json"})
        try:
            with urlopen(req, timeout=timeout_s or self.timeout_s) as resp:
                return json.loads(resp.read())
        except HTTPError as exc:
            try:
                reason = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                reason = exc.reason
            raise SimAdminError(f"{path}: {reason}") from None

    @staticmethod
    def _query(**params: Any) -> str:
        given = {k: v for k, v in params.items() if v is not None}
        return f"?{urlencode(given)}" if given else ""

    # --- the books -------------------------------------------------------------------------
    def orders(self, account: str | None = None, symbol: str | None = None) -> list[dict]:
        return self._call("/orders" + self._query(account=account, symbol=symbol))["orders"]

    def trades(self, account: str | None = None, symbol: str | None = None) -> list[dict]:
        return self._call("/trades" + self._query(account=account, symbol=symbol))["trades"]

    def accounts(self) -> dict[str, list[dict]]:
        return self._call("/accounts")["accounts"]

    def status(self) -> dict[str, Any]:
        return self._call("/status")

    def sent(self, symbol: str, from_id: int, to_id: int) -> dict[int, int]:
        """Aggregate id -> wall µs its frame went out (tick-to-order's start)."""
        body = self._call("/sent" + self._query(symbol=symbol, from_id=from_id, to_id=to_id))
        return {int(k): v for k, v in body["sent_us"].items()}

    # --- knobs -----------------------------------------------------------------------------
    def fault(self, kind: str, **params: Any) -> dict[str, Any]:
        """One trading fault knob (``reply_5xx``, ``not_found``, ``ban``, ...)."""
        return self._call("/trading-fault", {"kind": kind, **params})

    def stream_fault(self, kind: str, seconds: float = 0.0) -> dict[str, Any]:
        """A market-stream fault now (``drop``, ``outage``, ``stall``, ...)."""
        return self._call("/fault", {"kind": kind, "seconds": seconds})

    def close_market(self) -> dict[str, int]:
        """No trade after now is published (for good); per symbol, the trades published."""
        return self._call("/market", {"state": "closed"})["published"]

    def hold(self, count: int = 1, when: str = "after") -> None:
        self.fault("hold", count=count, when=when)

    def wait_held(self, timeout_s: float = 30.0) -> list[dict]:
        """The held replies, waiting up to ``timeout_s`` (at most 60) for the first."""
        return self._call("/held" + self._query(wait_s=timeout_s),
                          timeout_s=timeout_s + self.timeout_s)["held"]

    def release(self, hold_id: int | None = None, action: str = "reply") -> int:
        body: dict[str, Any] = {"action": action}
        if hold_id is not None:
            body["hold_id"] = hold_id
        return self._call("/release", body)["released"]

    def reset(self) -> int:
        """A testnet reset; how many orders were wiped."""
        return self._call("/reset", {})["orders_wiped"]

    def skew(self, ms: float) -> None:
        self._call("/clock", {"skew_ms": ms})
