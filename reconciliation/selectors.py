"""Finance's figures: open discrepancies, money refunded per channel and per destination, the latest runs.

Days are the shop's business days (Asia/Shanghai). Every figure is one grouped query on an index: the money
refunded a range of the ``refund_refunded_day`` index (refunded time, state, channel, amount), the open
discrepancies the ``discrepancy_open`` index's range of unresolved rows.

Money goes back the way it came unless the refund says otherwise (``Refund.destination``: store credit, an offline
transfer); the figures are grouped by it too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from mall.models import Channel
from mall.money import ZERO, to_fen
from mall.shoptime import shop_day_bounds, shop_day_of, shop_today
from reconciliation.models import Discrepancy, DiscrepancyKind, ReconciliationRun
from refunds.models import Refund, RefundDestination, RefundState

ORIGINAL = RefundDestination.ORIGINAL.value


def channel_label(value: str) -> str:
    return str(Channel(value).label) if value in Channel.values else value


@dataclass(frozen=True)
class Subtotal:
    key: str
    label: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class RefundedDay:
    """What was refunded on one business day, per (channel, destination)."""

    day: date
    cells: dict[tuple[str, str], tuple[int, Decimal]]

    @property
    def count(self) -> int:
        return sum(count for count, _amount in self.cells.values())

    @property
    def amount(self) -> Decimal:
        return sum((amount for _count, amount in self.cells.values()), ZERO)

    def by_channel(self) -> list[Subtotal]:
        """Every channel, in the channel table's order, zeros included."""
        return self._subtotals(0, [str(c) for c in Channel.values])

    def by_destination(self) -> list[Subtotal]:
        """The original path first, then every other destination refunded to that day."""
        return self._subtotals(1, [ORIGINAL])

    def _subtotals(self, position: int, always: list[str]) -> list[Subtotal]:
        sums: dict[str, list[int | Decimal]] = {key: [0, ZERO] for key in always}
        for cell, (count, amount) in self.cells.items():
            figures = sums.setdefault(cell[position], [0, ZERO])
            figures[0] += count
            figures[1] += amount

        def label(key: str) -> str:
            if position == 0:
                return channel_label(key)
            return str(RefundDestination(key).label) if key in RefundDestination.values else key

        return [Subtotal(key, label(key), int(n), Decimal(total)) for key, (n, total) in sums.items()]


def refunded_days(days: list[date]) -> list[RefundedDay]:
    """Money refunded on each of ``days`` (consecutive business days, oldest first), per channel and destination,
    in one grouped query over the ``refund_refunded_day`` index's range (the destination read from the rows)."""
    start, _ = shop_day_bounds(days[0])
    _, end = shop_day_bounds(days[-1])
    rows = (
        Refund.objects.filter(state=RefundState.REFUNDED, refunded_at__gte=start, refunded_at__lt=end)
        .annotate(day=shop_day_of("refunded_at"))
        .order_by()
        .values("day", "channel", "destination")
        .annotate(n=Count("id"), total=Sum("amount"))
    )
    cells: dict[date, dict[tuple[str, str], tuple[int, Decimal]]] = defaultdict(dict)
    for row in rows:
        cells[row["day"]][(row["channel"], row["destination"])] = (row["n"], to_fen(row["total"] or ZERO))
    return [RefundedDay(day=day, cells=dict(cells[day])) for day in days]


@dataclass(frozen=True)
class Comparison:
    key: str
    label: str
    today: Subtotal
    yesterday: Subtotal


def side_by_side(today: list[Subtotal], yesterday: list[Subtotal]) -> list[Comparison]:
    """One row per key of either day (today's order first), zero where a day had none."""
    before = {row.key: row for row in yesterday}

    def none(row: Subtotal) -> Subtotal:
        return Subtotal(row.key, row.label, 0, ZERO)

    rows = [
        Comparison(row.key, row.label, row, before.pop(row.key) if row.key in before else none(row)) for row in today
    ]
    return rows + [Comparison(row.key, row.label, none(row), row) for row in before.values()]


@dataclass(frozen=True)
class OpenDiscrepancies:
    total: int
    by_kind: list[Subtotal]  # every kind, zeros included; amount unused
    by_channel: list[Subtotal]
    oldest_day: date | None


def open_discrepancies() -> OpenDiscrepancies:
    """Unresolved discrepancies per kind and channel, and the oldest business day that still has one."""
    rows = list(
        Discrepancy.objects.filter(resolved_at__isnull=True)
        .order_by()
        .values("kind", "run__channel")
        .annotate(n=Count("id"), oldest=Min("run__business_day"))
    )
    kinds = {kind: 0 for kind in DiscrepancyKind.values}
    channels = {channel: 0 for channel in Channel.values}
    for row in rows:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + row["n"]
        channels[row["run__channel"]] = channels.get(row["run__channel"], 0) + row["n"]
    labels = dict(DiscrepancyKind.choices)
    return OpenDiscrepancies(
        total=sum(row["n"] for row in rows),
        by_kind=[Subtotal(k, str(labels.get(k, k)), n, ZERO) for k, n in kinds.items()],
        by_channel=[Subtotal(c, channel_label(c), n, ZERO) for c, n in channels.items()],
        oldest_day=min((row["oldest"] for row in rows), default=None),
    )


@dataclass(frozen=True)
class FinanceDashboard:
    today: RefundedDay
    yesterday: RefundedDay
    discrepancies: OpenDiscrepancies
    runs: Sequence[ReconciliationRun]  # the runs of the last three business days, with ``open_count``

    def per_channel(self) -> list[Comparison]:
        return side_by_side(self.today.by_channel(), self.yesterday.by_channel())

    def per_destination(self) -> list[Comparison]:
        return side_by_side(self.today.by_destination(), self.yesterday.by_destination())


def finance_dashboard(now: datetime | None = None) -> FinanceDashboard:
    """The finance page in three queries."""
    today = shop_today(now or timezone.now())
    yesterday, today_figures = refunded_days([today - timedelta(days=1), today])
    runs = list(
        ReconciliationRun.objects.filter(business_day__gte=today - timedelta(days=2))
        .annotate(open_count=Count("discrepancies", filter=Q(discrepancies__resolved_at__isnull=True)))
        .order_by("-business_day", "channel")
    )
    return FinanceDashboard(today=today_figures, yesterday=yesterday, discrepancies=open_discrepancies(), runs=runs)


@dataclass(frozen=True)
class FinanceSummary:
    open_discrepancies: int
    today: RefundedDay
    yesterday: RefundedDay


def finance_summary(now: datetime | None = None) -> FinanceSummary:
    """The admin index's finance block: open discrepancies and money refunded today and yesterday, two queries."""
    today = shop_today(now or timezone.now())
    yesterday, today_figures = refunded_days([today - timedelta(days=1), today])
    total = Discrepancy.objects.filter(resolved_at__isnull=True).count()
    return FinanceSummary(open_discrepancies=total, today=today_figures, yesterday=yesterday)
