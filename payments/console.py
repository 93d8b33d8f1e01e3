"""What the refund console shows of the payment side: the channel attempts with their (masked) answers and the
voucher link. Registered into ``refunds.console.panels`` from ``PaymentsConfig.ready()``; ``refunds`` never
imports this app."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mall.masking import redact
from payments.models import ChannelAttempt, RefundVoucher
from refunds.console.panels import RefundPanel, register_panel
from refunds.models import Refund


def channel_panel(refund: Refund) -> Mapping[str, Any]:
    attempts = [
        (attempt, json.dumps(redact(attempt.raw), ensure_ascii=False, indent=1))
        for attempt in ChannelAttempt.objects.filter(refund=refund)
    ]
    voucher = RefundVoucher.objects.filter(refund=refund).first()
    if voucher is None:
        return {"attempts": attempts, "voucher_url": None}
    # Here, not at the top: the vouchers module loads reportlab, which no process needs until a voucher is shown.
    from payments.vouchers import voucher_url

    return {"attempts": attempts, "voucher_url": voucher_url(voucher)}


def register() -> None:
    register_panel(
        RefundPanel(
            key="payments.channel",
            load=channel_panel,
            template="admin/payments/refund/channel_panel.html",
            order=200,
        )
    )
