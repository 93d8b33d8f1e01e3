"""What the refund console shows and does through logistics: the interception, the replacement's parcel, the
inspection with its records and a link to the inspection's page, and the receipt of returned goods (which opens the
inspection). The inspection is
completed on its own page, where the warehouse records what came back, so the refund page offers no button for it.
Registered into ``refunds.console.panels`` from ``LogisticsConfig.ready()``; ``refunds`` never imports this app."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from django.urls import NoReverseMatch, reverse

from logistics.models import Inspection, InspectionRecord, Interception
from logistics.services import return_receive
from refunds.console.panels import RefundPanel, register_act_elsewhere, register_act_service, register_panel
from refunds.models import Refund, ReplacementShipment


def warehouse_panel(refund: Refund) -> Mapping[str, Any]:
    inspection = Inspection.objects.filter(refund=refund).first()
    inspection_url = None
    if inspection is not None:
        with contextlib.suppress(NoReverseMatch):  # logistics without its admin
            inspection_url = reverse("admin:logistics_inspection_change", args=[inspection.pk])
    return {
        "interception": Interception.objects.filter(refund=refund).first(),
        "replacement": ReplacementShipment.objects.filter(refund=refund).first(),
        "inspection": inspection,
        "inspection_records": list(InspectionRecord.objects.filter(refund=refund).select_related("order_item")),
        "inspection_url": inspection_url,
    }


def register() -> None:
    register_panel(
        RefundPanel(
            key="logistics.warehouse",
            load=warehouse_panel,
            template="admin/logistics/refund/warehouse_panel.html",
            workbench_template="admin/logistics/refund/inspection_hint.html",
            order=100,
        )
    )
    register_act_service(act="receive", service=return_receive)
    register_act_elsewhere(act="inspection_pass")
