"""Small builders for the payment channel tests."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.test import Client

from payments.channels import RefundRequest
from payments.simulator import client
from payments.simulator.server import ChannelSimulator


def paid_trade(simulator: ChannelSimulator, channel: str, amount: str = "100.00") -> tuple[str, str]:
    """A trade paid on ``channel`` and known to the simulator; returns (out_trade_no, trade_no)."""
    tag = uuid.uuid4().hex[:12].upper()
    out_trade_no, trade_no = f"ORD{tag}", f"2026{tag}"
    client.register_trade(
        channel=channel, out_trade_no=out_trade_no, trade_no=trade_no, amount=Decimal(amount), base_url=simulator.url
    )
    return out_trade_no, trade_no


def refund_request(trade: tuple[str, str], amount: str, *, total: str = "100.00", number: str = "") -> RefundRequest:
    return RefundRequest(
        out_trade_no=trade[0],
        trade_no=trade[1],
        out_refund_no=number or f"RF{uuid.uuid4().hex[:16].upper()}",
        amount=Decimal(amount),
        total_amount=Decimal(total),
        reason="果品腐烂",
    )


def ledger_refunds(simulator: ChannelSimulator, out_trade_no: str) -> list[tuple[str, str, str]]:
    """(out_refund_no, amount, status) of every refund the simulator booked on a trade."""
    refunds: list[dict[str, Any]] = client.ledger(base_url=simulator.url)["refunds"]
    return sorted((r["out_refund_no"], r["amount"], r["status"]) for r in refunds if r["out_trade_no"] == out_trade_no)


def refunded_total(simulator: ChannelSimulator, out_trade_no: str) -> str:
    trades: list[dict[str, Any]] = client.ledger(base_url=simulator.url)["trades"]
    return str(next(t["refunded"] for t in trades if t["out_trade_no"] == out_trade_no))


def console(user: Any, language: str = "zh-hans") -> Client:
    """A signed-in console client in the console's default language (Chinese), or the one given."""
    client = Client(headers={"accept-language": language})
    client.force_login(user)
    return client


def said(client: Client, url: str, data: dict[str, Any]) -> list[str]:
    """Post ``data`` to ``url`` and follow the redirect: the messages the console shows the user."""
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]
