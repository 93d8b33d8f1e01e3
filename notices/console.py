"""What the refund console shows of the customer's messages: what they were told, when, whether they read it,
and how each email went. Registered into ``refunds.console.panels`` from ``NoticesConfig.ready()``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notices.models import CustomerMessage
from refunds.console.panels import RefundPanel, register_panel
from refunds.models import Refund


def messages_panel(refund: Refund) -> Mapping[str, Any]:
    messages = CustomerMessage.objects.filter(refund=refund).prefetch_related("deliveries").order_by("created_at", "id")
    return {"messages": list(messages)}


def register() -> None:
    register_panel(
        RefundPanel(
            key="notices.messages",
            load=messages_panel,
            template="admin/notices/refund/messages_panel.html",
            order=300,
        )
    )
