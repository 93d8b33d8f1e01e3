"""Talk to a running channel simulator: register paid trades, arm faults, read its ledger.

The shop's demo data and the tests call these; the base URL defaults to ``settings.CHANNEL_SIMULATOR_URL``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import requests
from django.conf import settings

DEFAULT_TIMEOUT = 5.0


class SimulatorError(Exception):
    """The simulator refused a setup call (bad input) or could not be reached."""


class SimulatorUnreachable(SimulatorError):
    """No simulator answered at the URL."""


def _url(base_url: str | None) -> str:
    return str(base_url or getattr(settings, "CHANNEL_SIMULATOR_URL", None) or "http://127.0.0.1:8765").rstrip("/")


def _call(method: str, path: str, base_url: str | None, payload: dict[str, Any] | None = None) -> Any:
    try:
        response = requests.request(method, _url(base_url) + path, json=payload, timeout=DEFAULT_TIMEOUT)
    except requests.RequestException as exc:
        raise SimulatorUnreachable(f"channel simulator unreachable at {_url(base_url)}: {exc}") from exc
    if response.status_code >= 400:
        raise SimulatorError(f"{method} {path}: {response.status_code} {response.text}")
    return response.json()


def register_trade(
    *,
    channel: str,
    out_trade_no: str,
    trade_no: str,
    amount: Decimal,
    notify_url: str = "",
    paid_at: datetime | None = None,
    base_url: str | None = None,
    state_path: Path | None = None,
    refund_outcome: str = "",
) -> dict[str, Any]:
    """Tell the simulator a trade was paid, so that refunds on it can be made. Idempotent.

    With ``state_path``, a simulator that is not running yet gets the trade in the ledger file it will start from
    (``manage.py channel_simulator --state``): demo data is made before the simulator starts. ``refund_outcome``
    makes the trade's original path dead (see ``set_refund_outcome``)."""
    if not isinstance(amount, Decimal):
        raise TypeError("amount must be a Decimal")
    payload: dict[str, Any] = {
        "channel": channel,
        "out_trade_no": out_trade_no,
        "trade_no": trade_no,
        "amount": f"{amount:.2f}",
        "notify_url": notify_url,
    }
    if paid_at is not None:
        payload["paid_at"] = paid_at.isoformat()
    if refund_outcome:
        payload["refund_outcome"] = refund_outcome
    try:
        return cast(dict[str, Any], _call("POST", "/sim/trades", base_url, payload))
    except SimulatorUnreachable:
        if state_path is None:
            raise
    return _book_trade(state_path, channel, out_trade_no, trade_no, amount, notify_url, paid_at, refund_outcome)


def set_refund_outcome(
    *, channel: str, out_trade_no: str, refund_outcome: str, base_url: str | None = None
) -> dict[str, Any]:
    """Make a paid trade's original path dead, as the channels report it: on WeChat Pay ``ABNORMAL`` (the payer's
    card or account is closed: refunds are booked ABNORMAL and notified REFUND.ABNORMAL) or ``CLOSED``; on Alipay
    ``TRADE_CLOSED`` (refunds refused with ACQ.TRADE_HAS_CLOSE). ``""`` makes it pay again."""
    payload = {"channel": channel, "out_trade_no": out_trade_no, "refund_outcome": refund_outcome}
    return cast(dict[str, Any], _call("POST", "/sim/trades/refund-outcome", base_url, payload))


def _book_trade(
    state_path: Path,
    channel: str,
    out_trade_no: str,
    trade_no: str,
    amount: Decimal,
    notify_url: str,
    paid_at: datetime | None,
    refund_outcome: str = "",
) -> dict[str, Any]:
    from payments.simulator.ledger import Ledger, Trade

    state_path.parent.mkdir(parents=True, exist_ok=True)
    trade = Trade(channel, out_trade_no, trade_no, amount, notify_url)
    if paid_at is not None:
        trade.paid_at = paid_at
    try:
        ledger = Ledger(state_path)
        trade = ledger.register_trade(trade)
        if refund_outcome:
            trade = ledger.set_refund_outcome(channel, out_trade_no, refund_outcome)
    except ValueError as error:
        raise SimulatorError(f"POST /sim/trades: {error}") from error
    facts = {"channel": trade.channel, "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}
    return facts | {"amount": str(trade.amount)}


def add_fault(
    *,
    channel: str,
    kind: str,
    count: int | None = 1,
    probability: float = 1.0,
    operation: str | None = None,
    base_url: str | None = None,
    **params: Any,
) -> int:
    """Arm a fault: kind is timeout, http_500, processing, business_error, bad_signature, duplicate_notify,
    out_of_order_notify or stale_notify; params such as delay, code, message, settle_after, age_seconds."""
    payload = {"channel": channel, "kind": kind, "count": count, "probability": probability, **params}
    if operation is not None:
        payload["operation"] = operation
    return int(_call("POST", "/sim/faults", base_url, payload)["id"])


def reset(*, base_url: str | None = None) -> None:
    _call("POST", "/sim/reset", base_url, {})


def ledger(*, base_url: str | None = None) -> dict[str, Any]:
    return cast(dict[str, Any], _call("GET", "/sim/ledger", base_url))


def build_notification(
    *, channel: str, out_refund_no: str, out_trade_no: str = "", age_seconds: float = 0, base_url: str | None = None
) -> tuple[dict[str, str], bytes]:
    """A correctly signed refund notification (headers, raw body) for a refund the simulator holds."""
    payload = {
        "channel": channel,
        "out_refund_no": out_refund_no,
        "out_trade_no": out_trade_no,
        "age_seconds": age_seconds,
    }
    answer = _call("POST", "/sim/notifications/build", base_url, payload)
    return dict(answer["headers"]), str(answer["body"]).encode("utf-8")


def seed_statement(*, channel: str, day: date, count: int, amount: Decimal, base_url: str | None = None) -> None:
    """Bulk paid-and-refunded trades on ``day``, to exercise large statements."""
    payload = {"channel": channel, "day": day.isoformat(), "count": count, "amount": f"{amount:.2f}"}
    _call("POST", "/sim/statements/seed", base_url, payload)
