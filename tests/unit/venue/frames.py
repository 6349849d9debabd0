"""Venue records shaped exactly as binance-spot-api-docs shows them (rest-api.md, web-socket-api.md,
user-data-stream.md), with values changed only where a test needs a trade."""

from __future__ import annotations

import copy
from typing import Any

# rest-api.md "New order (TRADE)", Response - FULL (verbatim)
ORDER_REPLY_FULL: dict[str, Any] = {
    "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1,
    "clientOrderId": "6gCrw2kRUAF9CvJDGP16IP", "transactTime": 1507725176595,
    "price": "0.00000000", "origQty": "10.00000000", "executedQty": "10.00000000",
    "origQuoteOrderQty": "0.000000", "cummulativeQuoteQty": "10.00000000", "status": "FILLED",
    "timeInForce": "GTC", "type": "MARKET", "side": "SELL", "workingTime": 1507725176595,
    "selfTradePreventionMode": "NONE",
    "fills": [
        {"price": "4000.00000000", "qty": "1.00000000", "commission": "4.00000000",
         "commissionAsset": "USDT", "tradeId": 56},
        {"price": "3999.00000000", "qty": "5.00000000", "commission": "19.99500000",
         "commissionAsset": "USDT", "tradeId": 57},
        {"price": "3998.00000000", "qty": "2.00000000", "commission": "7.99600000",
         "commissionAsset": "USDT", "tradeId": 58},
        {"price": "3997.00000000", "qty": "1.00000000", "commission": "3.99700000",
         "commissionAsset": "USDT", "tradeId": 59},
        {"price": "3995.00000000", "qty": "1.00000000", "commission": "3.99500000",
         "commissionAsset": "USDT", "tradeId": 60},
    ],
}

# user-data-stream.md "Order Update" (verbatim: a NEW report, no trade)
EXECUTION_REPORT_NEW: dict[str, Any] = {
    "subscriptionId": 0,
    "event": {
        "e": "executionReport", "E": 1499405658658, "s": "ETHBTC",
        "c": "mUvoqJxFIILMdfAW5iGSOW", "S": "BUY", "o": "LIMIT", "f": "GTC",
        "q": "1.00000000", "p": "0.10264410", "P": "0.00000000", "F": "0.00000000", "g": -1,
        "C": "", "x": "NEW", "X": "NEW", "r": "NONE", "i": 4293153, "l": "0.00000000",
        "z": "0.00000000", "L": "0.00000000", "n": "0", "N": None, "T": 1499405658657,
        "t": -1, "v": 3, "I": 8641984, "w": True, "m": False, "M": False, "O": 1499405658657,
        "Z": "0.00000000", "Y": "0.00000000", "Q": "0.00000000", "W": 1499405658657,
        "V": "NONE",
    },
}


def execution_report_trade(*, trade_id: int, last_qty: str, cum_qty: str, price: str,
                           status: str = "PARTIALLY_FILLED", commission: str = "0.00100000",
                           commission_asset: str = "ETH", event_ms: int = 1499405658700
                           ) -> dict[str, Any]:
    """The documented report as it reads when the same order trades (x = TRADE)."""
    frame = copy.deepcopy(EXECUTION_REPORT_NEW)
    ev = frame["event"]
    ev.update({"E": event_ms, "T": event_ms - 1, "x": "TRADE", "X": status, "t": trade_id,
               "l": last_qty, "z": cum_qty, "L": price, "n": commission, "N": commission_asset,
               "I": ev["I"] + trade_id})
    del ev["v"]   # only present for orders expired by self-trade prevention
    return frame


# rest-api.md "Account trade list (USER_DATA)" response row (verbatim)
MY_TRADES_ROW: dict[str, Any] = {
    "symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1,
    "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012",
    "commission": "10.10000000", "commissionAsset": "BNB", "time": 1499865549590,
    "isBuyer": True, "isMaker": False, "isBestMatch": True,
}

# rest-api.md "Current open orders (USER_DATA)" row (verbatim)
OPEN_ORDER: dict[str, Any] = {
    "symbol": "LTCBTC", "orderId": 1, "orderListId": -1, "clientOrderId": "myOrder1",
    "price": "0.1", "origQty": "1.0", "executedQty": "0.0", "cummulativeQuoteQty": "0.0",
    "status": "NEW", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY", "stopPrice": "0.0",
    "icebergQty": "0.0", "time": 1499827319559, "updateTime": 1499827319559, "isWorking": True,
    "origQuoteOrderQty": "0.000000", "workingTime": 1499827319559,
    "selfTradePreventionMode": "NONE",
}

# web-socket-api.md "userDataStream.subscribe.signature" response (verbatim)
SUBSCRIBE_OK: dict[str, Any] = {"id": "d3df8a22-98ea-4fe0-9f4e-0fcea5d418b7", "status": 200,
                                "result": {"subscriptionId": 0}}

# web-socket-api.md "Response format", failed response (verbatim, rateLimits shortened to one)
FAILED_RESPONSE: dict[str, Any] = {
    "id": "e2a85d9f-07a5-4f94-8d5f-789dc3deb097", "status": 400,
    "error": {"code": -2010, "msg": "Account has insufficient balance for requested action."},
    "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                    "limit": 6000, "count": 322}],
}

# user-data-stream.md "Event Stream Terminated" (verbatim)
STREAM_TERMINATED: dict[str, Any] = {"subscriptionId": 0,
                                     "event": {"e": "eventStreamTerminated", "E": 1728973001334}}

# web-socket-api.md "Server Shutdown" (verbatim)
SERVER_SHUTDOWN: dict[str, Any] = {"event": {"e": "serverShutdown", "E": 1770123456789}}

# user-data-stream.md "Account Update" (verbatim)
ACCOUNT_POSITION: dict[str, Any] = {
    "subscriptionId": 0,
    "event": {"e": "outboundAccountPosition", "E": 1564034571105, "u": 1564034571073,
              "B": [{"a": "ETH", "f": "10000.000000", "l": "0.000000"}]},
}
