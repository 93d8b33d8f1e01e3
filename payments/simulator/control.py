"""``/sim/*``: the simulator's own endpoints, for the demo and the tests (no real gateway has them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from payments.simulator.alipay import new_notify_id
from payments.simulator.common import CHANNELS, CHINA_TZ, Reply, json_reply, parse_yuan
from payments.simulator.ledger import Trade
from payments.simulator.notifier import Delivery
from payments.simulator.statements import file_chunks

if TYPE_CHECKING:
    from payments.simulator.server import ChannelSimulator

MAX_SEEDED_REFUNDS = 2_000_000

Query = dict[str, list[str]]
Body = dict[str, Any]


class BadRequest(Exception):
    pass


class ControlApi:
    def __init__(self, simulator: ChannelSimulator) -> None:
        self.simulator = simulator
        self.ledger = simulator.ledger
        self.routes: dict[tuple[str, str], Callable[[Query, Body], Reply]] = {
            ("GET", "/sim/health"): self.health,
            ("GET", "/sim/ledger"): self.read_ledger,
            ("POST", "/sim/reset"): self.reset,
            ("POST", "/sim/trades"): self.register_trade,
            ("POST", "/sim/trades/refund-outcome"): self.set_refund_outcome,
            ("POST", "/sim/faults"): self.add_fault,
            ("POST", "/sim/notifications/build"): self.build_notification,
            ("POST", "/sim/statements/seed"): self.seed_statement,
            ("GET", "/sim/alipay/bills"): self.alipay_bill,
        }

    def handle(self, method: str, path: str, query: Query, body: bytes) -> Reply:
        route = self.routes.get((method, path))
        if route is None:
            return json_reply(404, {"error": f"no such endpoint: {method} {path}"})
        try:
            data = json.loads(body or b"{}") if method == "POST" else {}
            if not isinstance(data, dict):
                raise BadRequest("the body must be a JSON object")
            return route(query, data)
        except (BadRequest, ValueError, TypeError) as error:
            return json_reply(400, {"error": str(error) or type(error).__name__})
        except KeyError as error:
            return json_reply(400, {"error": f"missing field {error}"})

    # --- endpoints ------------------------------------------------------------------------------------------
    def health(self, query: Query, data: Body) -> Reply:
        return json_reply(200, {"status": "ok"})

    def read_ledger(self, query: Query, data: Body) -> Reply:
        return json_reply(200, self.ledger.snapshot())

    def reset(self, query: Query, data: Body) -> Reply:
        self.ledger.reset()
        self.simulator.notifier.clear()
        return json_reply(200, {"status": "reset"})

    def register_trade(self, query: Query, data: Body) -> Reply:
        amount = parse_yuan(str(data["amount"]))
        if amount is None:
            raise BadRequest("amount must be a positive yuan amount with at most two decimals")
        trade = Trade(_channel(data), str(data["out_trade_no"]), str(data["trade_no"]), amount)
        trade.notify_url = str(data.get("notify_url") or "")
        if data.get("paid_at"):
            paid_at = datetime.fromisoformat(str(data["paid_at"]))
            trade.paid_at = paid_at if paid_at.tzinfo else paid_at.replace(tzinfo=CHINA_TZ)
        trade = self.ledger.register_trade(trade)
        if data.get("refund_outcome"):
            trade = self.ledger.set_refund_outcome(trade.channel, trade.out_trade_no, str(data["refund_outcome"]))
        facts = {"channel": trade.channel, "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}
        return json_reply(201, facts | {"amount": str(trade.amount), "refund_outcome": trade.refund_outcome})

    def set_refund_outcome(self, query: Query, data: Body) -> Reply:
        """The original path of a paid trade dies (or lives again): its refunds are answered so from now on."""
        outcome = data.get("refund_outcome")
        if not isinstance(outcome, str):
            raise BadRequest("refund_outcome must be a string")
        trade = self.ledger.set_refund_outcome(_channel(data), str(data["out_trade_no"]), outcome)
        return json_reply(
            200, {"channel": trade.channel, "out_trade_no": trade.out_trade_no, "refund_outcome": outcome}
        )

    def add_fault(self, query: Query, data: Body) -> Reply:
        spec = dict(data)
        fault = self.ledger.add_fault(
            channel=str(spec.pop("channel", "*")),
            kind=str(spec.pop("kind")),
            operation=spec.pop("operation", None),
            count=spec.pop("count", 1),
            probability=float(spec.pop("probability", 1.0)),
            **spec,
        )
        return json_reply(201, {"id": fault.id})

    def build_notification(self, query: Query, data: Body) -> Reply:
        channel = _channel(data)
        refund = self.ledger.find_refund(channel, str(data["out_refund_no"]), str(data.get("out_trade_no", "")))
        trade = self.ledger.find_trade(channel, out_trade_no=refund.out_trade_no) if refund else None
        if refund is None or trade is None:
            raise BadRequest("no such refund")
        age = float(data.get("age_seconds", 0))
        delivery = Delivery(channel, refund, trade, refund.notify_url, new_notify_id(), age=age)
        headers, body = self.simulator.notifier.build(delivery)
        return json_reply(200, {"url": delivery.url, "headers": headers, "body": body.decode("utf-8")})

    def seed_statement(self, query: Query, data: Body) -> Reply:
        amount = parse_yuan(str(data["amount"]))
        count = int(data["count"])
        if amount is None or not 0 < count <= MAX_SEEDED_REFUNDS:
            raise BadRequest(f"count must be 1..{MAX_SEEDED_REFUNDS} and amount a positive yuan amount")
        self.ledger.seed_refunds(_channel(data), date.fromisoformat(str(data["day"])), count, amount)
        return json_reply(201, {"seeded": count})

    def alipay_bill(self, query: Query, data: Body) -> Reply:
        """Alipay's bill download: an unsigned, short-lived URL, like the real dwbillcenter links."""
        bill = self.simulator.bills.get(query.get("token", [""])[0])
        if bill is None:
            return Reply(404, b"bill expired", {"Content-Type": "text/plain"})
        headers = {"Content-Type": bill.content_type, "Content-Disposition": f'attachment; filename="{bill.filename}"'}
        return Reply(200, headers=headers, chunks=file_chunks(bill.path), content_length=bill.path.stat().st_size)


def _channel(data: Body) -> str:
    channel = str(data.get("channel", ""))
    if channel not in CHANNELS:
        raise BadRequest(f"channel must be one of {', '.join(CHANNELS)}")
    return channel
