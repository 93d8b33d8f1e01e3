"""Work waiting for each role, made through the shop's own services as customers and staff would make it.

- customer service: claims to review (one with photos, one to turn down), one above the single-refund cap that only
  a supervisor approves, one past its review deadline, an open dispute, a returned box waiting for inspection;
- finance: the reconciliation of the demo's day for each channel, which matches every refund the demo paid back
  through the channel and finds one real discrepancy: a refund someone made by hand in the Alipay merchant console,
  which the shop has no record of.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from logistics.models import Inspection, InspectionStatus
from logistics.services import return_receive
from mall.actors import Customer, Staff
from mall.demo import gateway
from mall.demo.photos import fruit_photo
from mall.demo.shop import delivered_order, paid_order
from mall.models import Channel, Order
from mall.numbering import new_number
from mall.services import OrderLine
from reconciliation.exceptions import RunInProgress
from reconciliation.models import Discrepancy, ReconciliationRun
from reconciliation.services import reconciliation_run
from refunds import flow, policy
from refunds import services as refund_services
from refunds.disputes import dispute_open_by_customer
from refunds.evidence import refund_add_evidence
from refunds.models import (
    Dispute,
    DisputeStatus,
    Refund,
    RefundEvent,
    RefundEvidence,
    RefundKind,
    RefundReason,
    RefundState,
)

logger = logging.getLogger(__name__)
# How long ago the overdue claim was made: its review deadline passed an hour ago.
OVERDUE_BY = timedelta(hours=1)
BY_HAND_AMOUNT = Decimal("10.00")


@dataclass(frozen=True)
class Staffing:
    """Who decided what the demo shows as decided."""

    agent: Staff
    supervisor: Staff


def _claim(
    order: Order, customer: Customer, sku: str, quantity: str, description: str, kind: str = RefundKind.REFUND_ONLY
) -> Refund:
    item = order.items.get(sku=sku)
    refund, _ = refund_services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason=RefundReason.QUALITY_ISSUE,
        kind=kind,
        items=[refund_services.ItemRequest(order_item_id=item.pk, quantity=Decimal(quantity))],
        description=description,
    )
    return refund


def _strawberries_with_photos(customer: Customer, staff: Staffing) -> Order:
    order = delivered_order(
        customer, Channel.ALIPAY, [OrderLine("STR-DD-500", Decimal("2")), OrderLine("MNG-HN-KG", Decimal("3.000"))]
    )
    refund = _claim(order, customer, "STR-DD-500", "1", "两盒草莓里有一盒压坏出水了，照片已上传")
    for seed in (1, 2):
        refund_add_evidence(refund=refund, actor=customer, upload=fruit_photo("strawberry", seed=seed))
    return order


def _hard_kiwis(customer: Customer, staff: Staffing) -> Order:
    order = delivered_order(customer, Channel.WECHAT, [OrderLine("KIW-XA-12", Decimal("2"))])
    _claim(order, customer, "KIW-XA-12", "1", "猕猴桃很硬，咬不动")
    return order


def _gift_box_above_the_cap(customer: Customer, staff: Staffing) -> Order:
    order = delivered_order(customer, Channel.ALIPAY, [OrderLine("GFT-LUX-1", Decimal("1"))], carrier="SF")
    refund = _claim(order, customer, "GFT-LUX-1", "1", "礼盒里一半的水果已经腐烂，送不了人")
    refund_add_evidence(refund=refund, actor=customer, upload=fruit_photo("gift"))
    return order


def _overdue_durians(customer: Customer, staff: Staffing) -> Order:
    order = delivered_order(customer, Channel.WECHAT, [OrderLine("DUR-MSW-1", Decimal("2"))], hours_ago=30)
    refund = _claim(order, customer, "DUR-MSW-1", "2", "两个榴莲开口都发酸了")
    refund_add_evidence(refund=refund, actor=customer, upload=fruit_photo("durian"))
    # Made before its review deadline, which passed an hour ago; above the automatic approval cap, so the
    # automatic approval escalates it and it stays with customer service.
    now = timezone.now()
    created = now - (policy.review_due_at(now) - now) - OVERDUE_BY
    due = policy.review_due_at(created)
    Refund.objects.filter(pk=refund.pk).update(created_at=created, state_changed_at=created, due_at=due)
    RefundEvent.objects.filter(refund=refund).update(created_at=created)
    RefundEvidence.objects.filter(refund=refund).update(created_at=created)
    return order


def _disputed_cherries(customer: Customer, staff: Staffing) -> Order:
    order = delivered_order(customer, Channel.ALIPAY, [OrderLine("CHR-JL-KG", Decimal("2.000"))])
    refund = _claim(order, customer, "CHR-JL-KG", "1.000", "一半车厘子裂口发霉")
    refund_add_evidence(refund=refund, actor=customer, upload=fruit_photo("cherry"))
    refund = refund_services.refund_reject(
        refund=refund, actor=staff.supervisor, note="照片中的车厘子完好，无法确认质量问题"
    )
    dispute_open_by_customer(customer=customer, refund=refund, reason="有一半车厘子裂口发霉，客服没有看清照片")
    return order


def _apples_sent_back(customer: Customer, staff: Staffing) -> Order:
    order = delivered_order(customer, Channel.WECHAT, [OrderLine("APL-FUJI-5", Decimal("2"))])
    refund = _claim(order, customer, "APL-FUJI-5", "2", "苹果磕碰严重，整箱退回", kind=RefundKind.RETURN_AND_REFUND)
    refund_add_evidence(refund=refund, actor=customer, upload=fruit_photo("apple"))
    refund = refund_services.refund_approve(refund=refund, actor=staff.supervisor)
    refund = flow.refund_return_submit(
        refund=refund, actor=customer, carrier="SF", tracking_no=f"SF{secrets.randbelow(10**12):012d}"
    )
    return_receive(refund=refund, actor=staff.agent)
    return order


def _refunded_before_shipping(customer: Customer, staff: Staffing) -> Order:
    order = paid_order(customer, Channel.ALIPAY, [OrderLine("KIW-XA-12", Decimal("1"))], shipping_fee="6.00")
    with transaction.atomic():
        refund, _ = refund_services.refund_apply(
            customer=customer,
            order_no=order.order_no,
            reason=RefundReason.NOT_SHIPPED,
            kind=RefundKind.REFUND_ONLY,
            items=refund_services.full_order_items(order),
            description="买重复了",
        )
    gateway.refund_pay_out(refund)
    order.refresh_from_db()
    return order


def _refunded_by_hand_at_the_channel(customer: Customer, staff: Staffing) -> Order:
    order = delivered_order(customer, Channel.ALIPAY, [OrderLine("KIW-XA-12", Decimal("1"))])
    gateway.refund_by_hand(
        order=order,
        out_refund_no=new_number("HAND"),
        amount=BY_HAND_AMOUNT,
        reason="运费补偿（商家后台手工退款）",
    )
    return order


WorkItem = Callable[[Customer, Staffing], Order]
WORK: Sequence[WorkItem] = (
    _strawberries_with_photos,
    _hard_kiwis,
    _gift_box_above_the_cap,
    _overdue_durians,
    _disputed_cherries,
    _apples_sent_back,
    _refunded_before_shipping,
    _refunded_by_hand_at_the_channel,
)


def staff_work(*, customers: Sequence[Customer], staff: Staffing) -> dict[int, list[Order]]:
    """The work, each piece for the next customer in turn; returns the orders made, by customer id."""
    made: dict[int, list[Order]] = {customer.pk: [] for customer in customers}
    for index, piece in enumerate(WORK):
        customer = customers[index % len(customers)]
        made[customer.pk].append(piece(customer, staff))
    return made


def reconcile(*, days: Sequence[date]) -> list[ReconciliationRun]:
    """Reconcile each channel's statement of each day, replacing earlier results (resolutions are kept). A day
    someone else is reconciling at this moment is left to them: a second seeding must not fail on it."""
    runs = []
    for day in sorted(set(days)):
        for channel in Channel.values:
            try:
                runs.append(reconciliation_run(channel=channel, day=day, force=True))
            except RunInProgress:
                logger.info("demo: %s %s is being reconciled by another process; left to it", channel, day)
    return runs


@dataclass(frozen=True)
class WorkWaiting:
    to_review: int
    above_the_cap: int
    overdue: int
    open_disputes: int
    to_inspect: int
    open_discrepancies: int
    reconciled_day: date | None


def work_waiting() -> WorkWaiting:
    """What the console's queues hold right now, as the demo's summary says it."""
    now = timezone.now()
    reviews = Refund.objects.filter(state=RefundState.PENDING_REVIEW).aggregate(
        total=Count("pk"),
        capped=Count("pk", filter=Q(requires_supervisor=True)),
        overdue=Count("pk", filter=Q(due_at__lt=now)),
    )
    latest = ReconciliationRun.objects.order_by("-business_day").values_list("business_day", flat=True).first()
    return WorkWaiting(
        to_review=reviews["total"],
        above_the_cap=reviews["capped"],
        overdue=reviews["overdue"],
        open_disputes=Dispute.objects.filter(status=DisputeStatus.OPEN).count(),
        to_inspect=Inspection.objects.filter(status=InspectionStatus.OPEN).count(),
        open_discrepancies=Discrepancy.objects.filter(resolved_at__isnull=True).count(),
        reconciled_day=latest,
    )
