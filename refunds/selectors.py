"""Reads on refunds shared by the console (queue, review order, refund page, dashboard), the compensation caps and
the customer API.

Every figure is a bounded number of queries that hit an index, whatever the size of the table. Days are
Asia/Shanghai days: the shop's business day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Min, Q, QuerySet, Sum
from django.utils import timezone

from mall.actors import Staff
from mall.models import Order
from mall.money import CENT, ZERO
from mall.shoptime import shop_day_bounds, shop_day_of, shop_today
from refunds.models import (
    STAFF_REASONS,
    Refund,
    RefundDestination,
    RefundEvent,
    RefundReason,
    RefundSource,
    RefundState,
)

# States a person or the flow still has to move on; shown in the dashboard's "pending" table in this order.
OPEN_STATES = (
    RefundState.PENDING_REVIEW,
    RefundState.FAILED,
    RefundState.AWAITING_TRANSFER,
    RefundState.INSPECTING,
    RefundState.AWAITING_RETURN,
    RefundState.RETURN_IN_TRANSIT,
    RefundState.INTERCEPTING,
    RefundState.APPROVED,
    RefundState.REFUNDING,
    RefundState.REPLACING,
)
CHART_DAYS = 14
# The work queue's order (most urgent first): the console's queue and "approve / reject and next" both use it.
QUEUE_ORDER = ("queue_rank", "due_at", "id")


def review_queue(user: Any) -> QuerySet[Refund]:
    """The refunds waiting for ``user``'s decision, in the queue's order: waiting for review, and ones they may
    approve, not only reject (above the cap only for supervisors; never a refund they created themselves)."""
    if not user.has_perm("refunds.approve_refund"):
        return Refund.objects.none()
    waiting = Refund.objects.filter(state=RefundState.PENDING_REVIEW).exclude(created_by_id=user.pk)
    if not user.has_perm("refunds.approve_large_refund"):
        waiting = waiting.filter(requires_supervisor=False)
    return waiting.order_by(*QUEUE_ORDER)


def next_for_review(user: Any, *, after: Refund | None = None) -> Refund | None:
    """The refund ``user`` decides next: the first in the queue's order after ``after`` (the one just decided or
    skipped), else the first from the top that is not ``after``. One index range scan (``refund_queue``)."""
    waiting = review_queue(user)
    if after is None:
        return waiting.first()
    waiting = waiting.exclude(pk=after.pk)
    # Every refund waiting for review has queue_rank 0: the order is (due_at, id), NULL deadlines first.
    if after.due_at is None:
        later = Q(due_at__isnull=False) | Q(due_at__isnull=True, pk__gt=after.pk)
    else:
        later = Q(due_at__gt=after.due_at) | Q(due_at=after.due_at, pk__gt=after.pk)
    return waiting.filter(later).first() or waiting.first()


@dataclass(frozen=True)
class CustomerHistory:
    orders: int  # paid orders
    refunds: int  # refund requests, except those the customer withdrew
    orders_with_refund: int
    refunded: int
    refunded_amount: Decimal

    @property
    def refund_rate(self) -> Decimal | None:
        """Paid orders with a refund request, in percent; None without paid orders."""
        if not self.orders:
            return None
        return (Decimal(self.orders_with_refund) * 100 / Decimal(self.orders)).quantize(Decimal("0.1"))


def customer_history(customer_id: int) -> CustomerHistory:
    """What a reviewer weighs about the customer: two queries on the customer's indexes, whatever their history."""
    orders = Order.objects.filter(customer_id=customer_id, payment__isnull=False).count()
    refunds = (
        Refund.objects.filter(customer_id=customer_id)
        .exclude(state=RefundState.CANCELLED)
        .aggregate(
            n=Count("id"),
            orders=Count("order_id", distinct=True),
            refunded=Count("id", filter=Q(state=RefundState.REFUNDED)),
            amount=Sum("amount", filter=Q(state=RefundState.REFUNDED)),
        )
    )
    return CustomerHistory(
        orders=orders,
        refunds=refunds["n"],
        orders_with_refund=refunds["orders"],
        refunded=refunds["refunded"],
        refunded_amount=refunds["amount"] or ZERO,
    )


# What a customer may still have to provide for a refund to go on (the API's ``needs``).
NEED_PHOTOS = "photos"
NEED_RETURN_SHIPMENT = "return_shipment"
NEEDS = (NEED_PHOTOS, NEED_RETURN_SHIPMENT)


def refund_needs(refund: Refund) -> list[str]:
    """What the customer must still provide: photos of a quality claim under review (without them it is never
    approved automatically), the return shipment of goods to send back. Reads the refund's evidence as loaded."""
    needs = []
    if (
        refund.reason == RefundReason.QUALITY_ISSUE
        and refund.state == RefundState.PENDING_REVIEW
        and not refund.evidence.all()
    ):
        needs.append(NEED_PHOTOS)
    if refund.state == RefundState.AWAITING_RETURN:
        needs.append(NEED_RETURN_SHIPMENT)
    return needs


def overdue_refunds(now: datetime | None = None) -> QuerySet[Refund]:
    """Refunds waiting for a person past their review deadline (index ``refund_queue``: state, due_at)."""
    return Refund.objects.filter(state=RefundState.PENDING_REVIEW, due_at__lt=now or timezone.now())


@dataclass(frozen=True)
class SupervisorQueue:
    """What waits for a supervisor: refunds in review above the single-refund cap or escalated."""

    total: int
    above_cap: int
    escalated: int
    overdue: int
    oldest_due: datetime | None


def supervisor_queue(now: datetime | None = None) -> SupervisorQueue:
    """One aggregate over the refunds that wait for a supervisor (index ``refund_supervisor_urgency``): it reads
    those rows only, however large the table."""
    figures = Refund.objects.filter(needs_supervisor=True).aggregate(
        total=Count("id"),
        above_cap=Count("id", filter=Q(requires_supervisor=True)),
        escalated=Count("id", filter=Q(escalated_at__isnull=False)),
        overdue=Count("id", filter=Q(due_at__lt=now or timezone.now())),
        oldest_due=Min("due_at"),
    )
    return SupervisorQueue(**figures)


def staff_refund_total_today(*, actor: Staff, now: datetime | None = None) -> Decimal:
    """What ``actor`` gave back today on their own authority (staff refunds within the caps), still live."""
    start, end = shop_day_bounds(shop_today(now))
    total = (
        Refund.objects.filter(
            created_by_id=actor.pk,
            created_at__gte=start,
            created_at__lt=end,
            source=RefundSource.STAFF,
            reason__in=STAFF_REASONS,
            requires_supervisor=False,
        )
        .exclude(state__in=(RefundState.REJECTED, RefundState.CANCELLED))
        .aggregate(total=Sum("amount"))["total"]
    )
    return total or ZERO


@dataclass(frozen=True)
class DestinationTotal:
    destination: str
    label: str
    count: int
    amount: Decimal


def refunded_by_destination(*, day: date, channel: str | None = None) -> list[DestinationTotal]:
    """What went back on the shop's business ``day`` (of orders paid through ``channel``, or all), per destination:
    the original payment, store credit, bank transfer. Every destination is listed, zeros included; one query on
    the index ``refund_refunded_day``."""
    start, end = shop_day_bounds(day)
    refunded = Refund.objects.filter(state=RefundState.REFUNDED, refunded_at__gte=start, refunded_at__lt=end)
    if channel is not None:
        refunded = refunded.filter(channel=channel)
    sums = {
        row["destination"]: (row["count"], row["amount"])
        for row in refunded.order_by().values("destination").annotate(count=Count("id"), amount=Sum("amount"))
    }
    totals = []
    for value, label in RefundDestination.choices:
        count, amount = sums.get(value, (0, ZERO))
        totals.append(DestinationTotal(value, str(label), count, (amount or ZERO).quantize(CENT)))
    return totals


@dataclass(frozen=True)
class ChartDay:
    day: date
    applied: int
    refunded: int
    refunded_amount: Decimal


@dataclass(frozen=True)
class Dashboard:
    pending_by_state: list[tuple[str, str, int]]  # (state, label, count), in OPEN_STATES order, zeros included
    overdue: int
    refunded_today_count: int
    refunded_today_amount: Decimal
    outcomes_24h: int  # channel outcomes (refunded + failed) in the last 24 hours
    failed_24h: int
    days: list[ChartDay]

    @property
    def pending_total(self) -> int:
        return sum(count for _state, _label, count in self.pending_by_state)

    @property
    def failure_rate_24h(self) -> Decimal | None:
        """Failed channel outcomes over all channel outcomes of the last 24 hours, in percent; None when none."""
        if not self.outcomes_24h:
            return None
        return (Decimal(self.failed_24h) * 100 / Decimal(self.outcomes_24h)).quantize(Decimal("0.1"))


def dashboard(now: datetime | None = None) -> Dashboard:
    """The admin index's figures in five queries, each an index range scan (index-only for the chart)."""
    now = now or timezone.now()
    counts = dict(
        Refund.objects.filter(state__in=OPEN_STATES)
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    labels = dict(RefundState.choices)
    pending = [(str(state), str(labels[state]), counts.get(state, 0)) for state in OPEN_STATES]

    overdue = overdue_refunds(now).count()

    today = shop_today(now)
    first_day = today - timedelta(days=CHART_DAYS - 1)
    window_start, _ = shop_day_bounds(first_day)

    refunded = {
        row["day"]: (row["n"], row["total"])
        for row in Refund.objects.filter(state=RefundState.REFUNDED, refunded_at__gte=window_start)
        .annotate(day=shop_day_of("refunded_at"))
        .order_by()
        .values("day")
        .annotate(n=Count("id"), total=Sum("amount"))
    }
    applied = dict(
        Refund.objects.filter(created_at__gte=window_start)
        .annotate(day=shop_day_of("created_at"))
        .order_by()
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    days = [
        ChartDay(
            day=day,
            applied=applied.get(day, 0),
            refunded=refunded.get(day, (0, ZERO))[0],
            refunded_amount=refunded.get(day, (0, ZERO))[1] or ZERO,
        )
        for day in (first_day + timedelta(days=i) for i in range(CHART_DAYS))
    ]

    outcomes = dict(
        RefundEvent.objects.filter(
            to_state__in=(RefundState.REFUNDED, RefundState.FAILED),
            from_state=RefundState.REFUNDING,
            created_at__gte=now - timedelta(hours=24),
        )
        .order_by()
        .values_list("to_state")
        .annotate(n=Count("id"))
        .values_list("to_state", "n")
    )
    return Dashboard(
        pending_by_state=pending,
        overdue=overdue,
        refunded_today_count=days[-1].refunded,
        refunded_today_amount=days[-1].refunded_amount,
        outcomes_24h=outcomes.get(RefundState.REFUNDED, 0) + outcomes.get(RefundState.FAILED, 0),
        failed_24h=outcomes.get(RefundState.FAILED, 0),
        days=days,
    )
