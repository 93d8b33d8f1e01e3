"""What the refund console shows of the payment side: the channel attempts with their (masked) answers, the
voucher link, the bank transfer or store credit a refund was paid by; and the service behind the bank transfer's
button. Registered into ``refunds.console.panels`` from ``PaymentsConfig.ready()``; ``refunds`` never
imports this app."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mall.masking import redact
from payments.models import ChannelAttempt, OfflineTransfer, RefundVoucher, StoreCreditEntry
from payments.offline import offline_transfer_request
from refunds.console.panels import RefundPanel, register_act_service, register_panel
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


def paid_elsewhere_panel(refund: Refund) -> Mapping[str, Any]:
    """The bank transfer chosen for the refund (whom to pay, who chose it, its reference and proof once made), and
    the store credit entry of a refund paid to the customer's balance."""
    return {
        "transfer": OfflineTransfer.objects.filter(refund=refund)
        .select_related("requested_by", "confirmed_by")
        .first(),
        "credit": StoreCreditEntry.objects.filter(refund=refund).select_related("account").first(),
    }


def register() -> None:
    register_panel(
        RefundPanel(
            key="payments.paid_elsewhere",
            load=paid_elsewhere_panel,
            template="admin/payments/refund/paid_elsewhere_panel.html",
            workbench_template="admin/payments/refund/transfer_hint.html",
            order=190,
        )
    )
    # Choosing a transfer records whom to pay for finance, out of the customer's timeline.
    register_act_service(act="offline", service=offline_transfer_request)
    register_panel(
        RefundPanel(
            key="payments.channel",
            load=channel_panel,
            template="admin/payments/refund/channel_panel.html",
            order=200,
        )
    )
