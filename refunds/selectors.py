"""Reads on refunds shared by the console (queue, dashboard) and the compensation caps.

Every figure is a bounded number of queries that hit an index, whatever the size of the table. Days are
Asia/Shanghai days: the shop's business day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Min, Q, QuerySet, Sum
from django.utils import timezone

from mall.actors import Staff
from mall.money import ZERO
from mall.shoptime import shop_day_bounds, shop_day_of, shop_today
from refunds.models import STAFF_REASONS, Refund, RefundEvent, RefundSource, RefundState

# States a person or the flow still has to move on; shown in the dashboard's "pending" table in this order.
OPEN_STATES = (
    RefundState.PENDING_REVIEW,
    RefundState.FAILED,
    RefundState.INSPECTING,
    RefundState.AWAITING_RETURN,
    RefundState.RETURN_IN_TRANSIT,
    RefundState.INTERCEPTING,
    RefundState.APPROVED,
    RefundState.REFUNDING,
)
CHART_DAYS = 14


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
