"""Spot accounts of the stand-in: per asset a ``free`` and a ``locked`` balance (Decimal).

An order first locks what it may spend (a resting LIMIT BUY locks price x quantity of the
quote, a SELL its quantity of the base), then each fill moves the assets; a cancel or an
expiry unlocks the rest. Insufficient free balance is the venue's ``-2010`` "Account has
insufficient balance for requested action."
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from hope.venue_sim.rest import ApiError

ZERO = Decimal(0)
INSUFFICIENT = "Account has insufficient balance for requested action."


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


@dataclass
class Account:
    name: str
    balances: dict[str, Balance] = field(default_factory=dict)
    update_ms: int = 0

    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    def lock(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from free to locked; -2010 when free is short."""
        bal = self.balance(asset)
        if amount > bal.free:
            raise ApiError(-2010, INSUFFICIENT)
        bal.free -= amount
        bal.locked += amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        bal = self.balance(asset)
        amount = min(amount, bal.locked)
        bal.locked -= amount
        bal.free += amount

    def settle(self, pay_asset: str, pay_locked: Decimal, get_asset: str, get: Decimal,
               fee_asset: str, fee: Decimal, now_ms: int) -> None:
        """One fill: ``pay_locked`` leaves the locked ``pay_asset``, ``get`` arrives free,
        the fee is taken from the free balance of ``fee_asset`` (what arrived, or the quote)."""
        paid = self.balance(pay_asset)
        paid.locked -= pay_locked
        self.balance(get_asset).free += get
        self.balance(fee_asset).free -= fee
        self.update_ms = now_ms

    def rows(self, omit_zero: bool = False) -> list[dict[str, str]]:
        out = []
        for asset, bal in sorted(self.balances.items()):
            if omit_zero and bal.free == 0 and bal.locked == 0:
                continue
            out.append({"asset": asset, "free": f"{bal.free.quantize(Decimal('1e-8')):f}",
                        "locked": f"{bal.locked.quantize(Decimal('1e-8')):f}"})
        return out


class Accounts:
    """Every account by name, each starting from the configured balances."""

    def __init__(self, starting: Mapping[str, str | float | int] | None = None) -> None:
        self.starting = {asset: Decimal(str(v)) for asset, v in (starting or {}).items()}
        self.accounts: dict[str, Account] = {}

    def get(self, name: str) -> Account:
        acct = self.accounts.get(name)
        if acct is None:
            acct = self.accounts[name] = Account(
                name, {asset: Balance(amount) for asset, amount in self.starting.items()})
        return acct

    def wipe(self) -> None:
        """A testnet reset: every account back to the starting balances."""
        names = list(self.accounts)
        self.accounts.clear()
        for name in names:
            self.get(name)
