"""What the refund console shows and does through logistics: the interception, the replacement's parcel, the
inspection with its records (quantities in their unit, photos as pictures) and, while the goods are being inspected,
what the refund will pay and the form that records what arrived, next to the refund's buttons. Recording leads to the
inspection's page, where the amount is confirmed and the inspection completed, so the refund page offers no button
that completes it unseen. Registered into ``refunds.console.panels`` from ``LogisticsConfig.ready()``; ``refunds``
never imports this app."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from django.urls import NoReverseMatch, reverse

from logistics.inspection_forms import InspectionForm
from logistics.models import Inspection, InspectionStatus, Interception
from logistics.selectors import inspection_preview, inspection_records
from logistics.services import return_receive
from refunds.console.panels import RefundPanel, register_act_elsewhere, register_act_service, register_panel
from refunds.models import Refund, RefundState, ReplacementShipment


def warehouse_panel(refund: Refund) -> Mapping[str, Any]:
    inspection = Inspection.objects.filter(refund=refund).first()
    inspection_url = None
    if inspection is not None:
        with contextlib.suppress(NoReverseMatch):  # logistics without its admin
            inspection_url = reverse("admin:logistics_inspection_change", args=[inspection.pk])
    records = inspection_records(refund) if inspection is not None else []
    plan = record_form = None
    if inspection is not None and inspection.status == InspectionStatus.OPEN and refund.state == RefundState.INSPECTING:
        plan = inspection_preview(refund=refund, records=records)
        record_form = InspectionForm(plan=plan) if inspection_url else None
    return {
        "interception": Interception.objects.filter(refund=refund).first(),
        "replacement": ReplacementShipment.objects.filter(refund=refund).first(),
        "inspection": inspection,
        "inspection_records": records,
        "inspection_url": inspection_url,
        "plan": plan,
        "record_form": record_form,
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
