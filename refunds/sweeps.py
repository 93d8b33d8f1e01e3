"""Refunds the system starts by itself, and the automatic approval of refunds nobody reviewed in time.

Each sweep reads the database for what is due (the database is the only truth: nothing is remembered between
runs), walks it in keyset pages of ``SWEEP_BATCH_SIZE`` ids, and handles each order or refund in its own
transaction. So a sweep

- is idempotent: what it did is in the database and excluded from the next run (an order with a shipping-timeout
  refund, an order line with its allocation, a refund no longer waiting or already escalated);
- works in bounded memory, whatever the size of the tables;
- survives being killed half way: each finished item is committed, the next run does the rest.

Only one run of a sweep at a time (a Redis lock, when Redis is configured): two overlapping runs would both
see the same order as due. ``dry_run=True`` writes nothing and returns what would be done.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from mall.exceptions import BusinessError
from mall.models import PAID_STATUSES, Order, OrderItem, OrderStatus, StockMovement
from mall.services import (
    ALLOCATABLE_STATUSES,
    AllocationLine,
    allocation_reference,
    order_close_refunded,
    stock_allocate,
    stock_allocation_plan,
)
from refunds import auto_approval
from refunds.lifecycle import TransitionBatch, lock_orders_then_refunds, refund_record_event
from refunds.locks import order_lock
from refunds.models import Refund, RefundReason, RefundState
from refunds.services import ItemRequest, full_order_items, refund_create_by_system, route_after_approval

logger = logging.getLogger(__name__)
CENT = Decimal("0.01")
SWEEP_LOCK_SECONDS = 300  # a killed run frees the sweep after this
SWEEP_LOCK_RENEW_SECONDS = 30  # a live run renews it this often (checked after every item)
# Per-item failures the sweep counts and leaves for the next run; anything else is a bug and stops it.
ITEM_ERRORS = (BusinessError, DatabaseError)


# --- what a run did ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    object_id: int
    label: str  # order or refund number
    action: str
    detail: str = ""


@dataclass
class SweepOutcome:
    sweep: str
    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    planned: list[Planned] = field(default_factory=list)  # filled by dry runs only
    locked_out: bool = False

    @property
    def ids(self) -> list[int]:
        """The ids a dry run would act on."""
        return [item.object_id for item in self.planned]

    def record(self, item: Planned) -> None:
        self.counts[item.action] += 1
        if self.dry_run:
            self.planned.append(item)

    def __str__(self) -> str:
        if self.locked_out:
            return _("%(sweep)s: another run is in progress; nothing done") % {"sweep": self.sweep}
        counts = ", ".join(f"{action} {n}" for action, n in sorted(self.counts.items())) or _("nothing to do")
        head = (
            _("%(sweep)s (dry run, nothing changed): %(counts)s") if self.dry_run else _("%(sweep)s: %(counts)s")
        ) % {
            "sweep": self.sweep,
            "counts": counts,
        }
        lines = [head] + [
            f"  {item.action} {item.label} (#{item.object_id}){': ' + item.detail if item.detail else ''}"
            for item in self.planned
        ]
        return "\n".join(lines)


# --- shared machinery ----------------------------------------------------------------------------------------


def _batch_size(batch_size: int | None) -> int:
    return batch_size or settings.SWEEP_BATCH_SIZE


def _pages(queryset: QuerySet[Any], fields: Sequence[str], batch_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Rows (pk first, then ``fields``) in primary-key order, one page per query: keyset pagination, so each
    query is an index range and nothing but one page is ever in memory."""
    last = 0
    while True:
        page = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", *fields)[:batch_size])
        if not page:
            return
        yield page
        last = page[-1][0]


@contextmanager
def _sweep_lock(name: str) -> Iterator[Callable[[], None] | None]:
    """Yield a keep-alive to call after each item, or None when another run holds the sweep."""
    if not settings.REDIS_URL:
        yield lambda: None
        return
    from django_redis import get_redis_connection

    lock = get_redis_connection("default").lock(f"mall:lock:sweep:{name}", timeout=SWEEP_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        yield None
        return
    renewed = time.monotonic()

    def keep_alive() -> None:
        nonlocal renewed
        if time.monotonic() - renewed > SWEEP_LOCK_RENEW_SECONDS:
            lock.reacquire()
            renewed = time.monotonic()

    try:
        yield keep_alive
    finally:
        if lock.owned():
            lock.release()


def _run(name: str, *, dry_run: bool, body: Callable[[SweepOutcome, Callable[[], None]], None]) -> SweepOutcome:
    outcome = SweepOutcome(sweep=name, dry_run=dry_run)
    if dry_run:
        body(outcome, lambda: None)
        return outcome
    with _sweep_lock(name) as keep_alive:
        if keep_alive is None:
            outcome.locked_out = True
            logger.info("%s: another run is in progress", name)
            return outcome
        body(outcome, keep_alive)
    if outcome.counts:
        logger.info("%s: %s", name, dict(outcome.counts))
    return outcome


def _not_shipped() -> Q:
    return Q(shipment__isnull=True) | Q(shipment__shipped_at__isnull=True)


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f")


# --- shipping timeout ----------------------------------------------------------------------------------------


def shipping_timeout_due(*, now: datetime) -> QuerySet[Order]:
    """Paid orders not shipped within ``SHIPPING_TIMEOUT_HOURS`` of payment that have no shipping-timeout refund
    (in any state: a failed one is a person's to retry, not the sweep's to repeat)."""
    cutoff = now - timedelta(hours=settings.SHIPPING_TIMEOUT_HOURS)
    return (
        Order.objects.filter(status__in=ALLOCATABLE_STATUSES, payment__paid_at__lte=cutoff)
        .filter(_not_shipped())
        .filter(~Exists(Refund.objects.filter(order=OuterRef("pk"), reason=RefundReason.SHIPPING_TIMEOUT)))
    )


def shipping_timeout_closable() -> QuerySet[Order]:
    """Orders a shipping-timeout refund gave all the money back for, not closed yet."""
    refunded = Refund.objects.filter(
        order=OuterRef("pk"), reason=RefundReason.SHIPPING_TIMEOUT, state=RefundState.REFUNDED
    )
    return Order.objects.filter(status=OrderStatus.REFUNDED).filter(_not_shipped()).filter(Exists(refunded))


def order_refund_shipping_timeout(*, order_id: int) -> Refund | None:
    """Refund everything still refundable of an order that was not shipped in time (approved by the system)."""
    order = Order.objects.get(pk=order_id)
    items = full_order_items(order)
    if not items:
        return None
    note = _("Not shipped within %(hours)d hours of payment: the whole order is refunded.") % {
        "hours": settings.SHIPPING_TIMEOUT_HOURS
    }
    return refund_create_by_system(order=order, reason=RefundReason.SHIPPING_TIMEOUT, items=items, note=note)


def order_close_after_timeout_refund(*, refund: Refund) -> None:
    """Close the order once a shipping-timeout refund has given all of its money back.

    Meant to run inside ``refunds.flow.refund_mark_refunded``, after the order's status followed the money;
    the shipping-timeout sweep closes any order this missed.
    """
    if refund.reason != RefundReason.SHIPPING_TIMEOUT or refund.state != RefundState.REFUNDED:
        return
    order = refund.order
    if order.status == OrderStatus.REFUNDED and order.is_not_shipped():
        order_close_refunded(order=order, note=refund.refund_no)


def shipping_timeout_sweep(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int | None = None
) -> SweepOutcome:
    now = now or timezone.now()
    size = _batch_size(batch_size)

    def body(outcome: SweepOutcome, keep_alive: Callable[[], None]) -> None:
        for page in _pages(shipping_timeout_due(now=now), ["order_no"], size):
            for order_id, order_no in page:
                keep_alive()
                if dry_run:
                    outcome.record(Planned(order_id, order_no, "refund"))
                    continue
                try:
                    refund = order_refund_shipping_timeout(order_id=order_id)
                except ITEM_ERRORS:
                    logger.exception("shipping timeout: order %s left for the next run", order_no)
                    outcome.counts["failed"] += 1
                    continue
                outcome.record(Planned(order_id, order_no, "refund" if refund else "nothing_left"))
        for page in _pages(shipping_timeout_closable(), ["order_no"], size):
            for order_id, order_no in page:
                keep_alive()
                if not dry_run:
                    try:
                        order_close_refunded(order=Order(pk=order_id), note=_("not shipped in time; refunded"))
                    except ITEM_ERRORS:
                        logger.exception("shipping timeout: order %s not closed, left for the next run", order_no)
                        outcome.counts["failed"] += 1
                        continue
                outcome.record(Planned(order_id, order_no, "close"))

    return _run("shipping_timeout", dry_run=dry_run, body=body)


# --- out of stock --------------------------------------------------------------------------------------------


def stock_allocation_due() -> QuerySet[Order]:
    """Paid orders whose goods are still in the warehouse: those with a line not allocated yet are due
    (``_unallocated``). They leave this set when shipped, refunded or closed, so it stays small."""
    return Order.objects.filter(status__in=ALLOCATABLE_STATUSES, payment__isnull=False).filter(_not_shipped())


def _unallocated(order_ids: Sequence[int]) -> set[int]:
    """Those of ``order_ids`` with a line that has no allocation movement: two queries for a page."""
    lines = list(OrderItem.objects.filter(order_id__in=order_ids).values_list("pk", "order_id"))
    done = set(
        StockMovement.objects.filter(reference__in=[allocation_reference(pk) for pk, _ in lines]).values_list(
            "reference", flat=True
        )
    )
    return {order_id for pk, order_id in lines if allocation_reference(pk) not in done}


def _short_lines(lines: Sequence[AllocationLine]) -> list[AllocationLine]:
    return [line for line in lines if line.short > 0]


def order_stock_allocate(*, order_id: int) -> Refund | None:
    """Allocate stock to a paid order; refund at once, in the same transaction, the lines stock cannot cover
    (reason ``out_of_stock``, approved by the system), and tell the customer on the refund's timeline.

    The order's application lock is taken before the transaction that locks the order's row: waiting for it
    while holding the row would stall an application that holds it and waits for the row."""
    with order_lock(order_id), transaction.atomic():
        order = Order.objects.get(pk=order_id)
        short = _short_lines(stock_allocate(order=order))
        if not short:
            return None
        names = dict(OrderItem.objects.filter(pk__in=[line.order_item_id for line in short]).values_list("pk", "name"))
        missing = "; ".join(f"{names[line.order_item_id]} × {_quantity(line.short)}" for line in short)
        refund = refund_create_by_system(
            order=order,
            reason=RefundReason.OUT_OF_STOCK,
            items=[ItemRequest(order_item_id=line.order_item_id, quantity=line.short) for line in short],
            note=_("Out of stock at allocation: %(items)s") % {"items": missing},
            order_lock_held=True,
        )
        refund_record_event(
            refund=refund,
            from_state=refund.state,
            note=_("Sorry, we could not supply %(items)s: it is out of stock. Its price is refunded to you.")
            % {"items": missing},
        )
        return refund


def out_of_stock_sweep(*, dry_run: bool = False, batch_size: int | None = None) -> SweepOutcome:
    """Allocate stock to paid orders waiting for it, refunding what stock cannot cover."""
    size = _batch_size(batch_size)
    taken: dict[int, Decimal] = {}  # dry run: stock promised to the orders planned so far, per product

    def body(outcome: SweepOutcome, keep_alive: Callable[[], None]) -> None:
        for page in _pages(stock_allocation_due(), ["order_no"], size):
            due = _unallocated([order_id for order_id, _ in page])
            for order_id, order_no in page:
                keep_alive()
                if order_id not in due:
                    continue
                if dry_run:
                    short = _short_lines(stock_allocation_plan(order=Order.objects.get(pk=order_id), taken=taken))
                    detail = ", ".join(f"#{line.order_item_id} short {_quantity(line.short)}" for line in short)
                    outcome.record(Planned(order_id, order_no, "refund" if short else "allocate", detail))
                    continue
                try:
                    refund = order_stock_allocate(order_id=order_id)
                except ITEM_ERRORS:
                    logger.exception("stock allocation: order %s left for the next run", order_no)
                    outcome.counts["failed"] += 1
                    continue
                outcome.record(Planned(order_id, order_no, "refund" if refund else "allocate"))

    return _run("out_of_stock", dry_run=dry_run, body=body)


# --- price anomaly -------------------------------------------------------------------------------------------


def _is_anomalous(unit_price: Decimal, catalogue_price: Decimal) -> bool:
    return abs(unit_price - catalogue_price) > catalogue_price * Decimal(settings.PRICE_ANOMALY_RATIO)


def price_anomaly_due(*, now: datetime) -> QuerySet[Order]:
    """Orders paid within ``PRICE_ANOMALY_LOOKBACK_HOURS`` with a line whose unit price may deviate from the
    catalogue beyond ``PRICE_ANOMALY_RATIO`` (the exact test is made in Decimal on each candidate) and no
    price-anomaly refund yet (in any state: a rejected one was a person's decision)."""
    ratio = Decimal(settings.PRICE_ANOMALY_RATIO)
    since = now - timedelta(hours=settings.PRICE_ANOMALY_LOOKBACK_HOURS)
    suspicious = OrderItem.objects.filter(order=OuterRef("pk")).filter(
        Q(unit_price__gte=F("product__price") * Value(1 + ratio))
        | Q(unit_price__lte=F("product__price") * Value(1 - ratio))
    )
    return (
        Order.objects.filter(status__in=PAID_STATUSES, payment__paid_at__gte=since, payment__paid_at__lte=now)
        .filter(Exists(suspicious))
        .filter(~Exists(Refund.objects.filter(order=OuterRef("pk"), reason=RefundReason.PRICE_ANOMALY)))
    )


def price_anomaly_requests(order: Order) -> tuple[list[ItemRequest], list[str]]:
    """What to refund of an order's mispriced lines, with a note per line.

    Charged too much: the difference on what is still refundable goes back, the goods stay (quantity 0).
    Charged too little: the line is cancelled and what was paid goes back, while the goods are still in the
    warehouse; once shipped, there is nothing left to cancel.
    """
    requests, notes = [], []
    for item in order.items.select_related("product").order_by("pk"):
        catalogue = item.product.price
        if not _is_anomalous(item.unit_price, catalogue):
            continue
        line = _("%(name)s: paid ¥%(paid)s, catalogue ¥%(catalogue)s") % {
            "name": item.name,
            "paid": item.unit_price,
            "catalogue": catalogue,
        }
        if item.unit_price > catalogue:
            amount = min(
                ((item.unit_price - catalogue) * item.refundable_quantity).quantize(CENT), item.refundable_amount
            )
            if amount > 0:
                requests.append(ItemRequest(order_item_id=item.pk, quantity=Decimal("0"), amount=amount))
                notes.append(line)
        elif order.is_not_shipped() and item.refundable_quantity > 0:
            requests.append(ItemRequest(order_item_id=item.pk, quantity=item.refundable_quantity))
            notes.append(line)
    return requests, notes


def order_refund_price_anomaly(*, order_id: int) -> Refund | None:
    """Open a price-anomaly refund for review (approved at once when ``PRICE_ANOMALY_AUTO_APPROVE``)."""
    order = Order.objects.select_related("shipment").get(pk=order_id)
    requests, notes = price_anomaly_requests(order)
    if not requests:
        return None
    return refund_create_by_system(
        order=order, reason=RefundReason.PRICE_ANOMALY, items=requests, note="; ".join(notes)
    )


def price_anomaly_sweep(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int | None = None
) -> SweepOutcome:
    now = now or timezone.now()
    size = _batch_size(batch_size)

    def body(outcome: SweepOutcome, keep_alive: Callable[[], None]) -> None:
        for page in _pages(price_anomaly_due(now=now), ["order_no"], size):
            for order_id, order_no in page:
                keep_alive()
                # A candidate without requests sat exactly on the ratio, or has nothing left to refund: no action.
                if dry_run:
                    requests, notes = price_anomaly_requests(Order.objects.select_related("shipment").get(pk=order_id))
                    if requests:
                        outcome.record(Planned(order_id, order_no, "refund", "; ".join(notes)))
                    continue
                try:
                    refund = order_refund_price_anomaly(order_id=order_id)
                except ITEM_ERRORS:
                    logger.exception("price anomaly: order %s left for the next run", order_no)
                    outcome.counts["failed"] += 1
                    continue
                if refund is not None:
                    outcome.record(Planned(order_id, order_no, "refund"))

    return _run("price_anomaly", dry_run=dry_run, body=body)


# --- automatic approval --------------------------------------------------------------------------------------

_CANDIDATE_FIELDS = (
    "pk",
    "refund_no",
    "order_id",
    "state",
    "kind",
    "customer_id",
    "amount",
    "reason",
    "source",
    "requires_supervisor",
    "due_at",
)


def auto_approval_due(*, now: datetime) -> QuerySet[Refund]:
    """Refunds waiting for review whose ``due_at`` has come, not escalated yet (index ``refund_queue``)."""
    return Refund.objects.filter(state=RefundState.PENDING_REVIEW, due_at__lte=now, escalated_at__isnull=True)


def _overdue_pages(now: datetime, batch_size: int) -> Iterator[list[Refund]]:
    """Overdue refunds, most overdue first, in keyset pages on (due_at, id): the order of the index."""
    due = auto_approval_due(now=now).only(*_CANDIDATE_FIELDS).order_by("due_at", "pk")
    cursor: tuple[datetime, int] | None = None
    while True:
        page_qs = due
        if cursor is not None:
            page_qs = due.filter(Q(due_at__gt=cursor[0]) | Q(due_at=cursor[0], pk__gt=cursor[1]))
        page = list(page_qs[:batch_size])
        if not page:
            return
        yield page
        last = page[-1]
        assert last.due_at is not None  # the filter excludes refunds without one
        cursor = (last.due_at, last.pk)


@dataclass
class _PageWrites:
    """What one page of decisions writes: the refunds' transitions and events (``refunds.lifecycle``) and the
    escalations."""

    batch: TransitionBatch
    escalations: dict[str, list[int]] = field(default_factory=dict)  # escalation reason -> refund ids

    def approve(self, refund: Refund, note: str) -> bool:
        """Approve and route ``refund`` in memory, through its state machine's transition table and guards."""
        route = route_after_approval(refund)
        return self.batch.advance(refund, [("approve", note), (route.transition, route.note)])

    def escalate(self, refund: Refund, reason: str) -> None:
        reason = reason[:255]
        self.escalations.setdefault(reason, []).append(refund.pk)
        self.batch.record(refund, _("escalated: %s") % reason, internal=True)

    def write(self) -> None:
        now = self.batch.now
        for reason, ids in self.escalations.items():
            Refund.objects.filter(pk__in=ids).update(escalated_at=now, escalation_reason=reason, updated_at=now)
        self.batch.write()


def _decide_page(page: Sequence[Refund], verdicts: dict[int, auto_approval.Verdict]) -> dict[int, str]:
    """Approve or escalate a page of overdue refunds in one transaction; the action taken for each refund.

    The orders and then the refunds are locked (the one lock order every service uses) and each refund is
    re-checked under its lock: one a person decided in the meantime, or that was escalated already, is
    ``skipped``. Every transition still goes through the state machine's table and guards and writes its event,
    as ``refund_auto_approve`` and ``refund_escalate`` do for one refund, but the page's writes are a few
    statements (``refunds.lifecycle.TransitionBatch``): one UPDATE per new state and per escalation reason, one
    INSERT of the events, and what entering the new states sets off handed to the queue in pipelines after commit.
    """
    actions = dict.fromkeys((refund.pk for refund in page), "skipped")
    with transaction.atomic():
        # The routing needs each order's shipment only; the page's refunds carry what the rules read.
        order_of, waiting = lock_orders_then_refunds(
            orders=Order.objects.select_related("shipment")
            .only("pk", "shipment__shipped_at", "shipment__delivered_at")
            .filter(pk__in=sorted({refund.order_id for refund in page})),
            refunds=Refund.objects.filter(
                pk__in=list(actions), state=RefundState.PENDING_REVIEW, escalated_at__isnull=True
            ),
        )
        writes = _PageWrites(batch=TransitionBatch(now=timezone.now()))
        for refund in page:
            if refund.pk not in waiting:
                continue
            refund.order = order_of[refund.order_id]
            verdict = verdicts[refund.pk]
            if verdict.approve:
                if writes.approve(refund, verdict.note):
                    actions[refund.pk] = "approve"
            else:
                writes.escalate(refund, verdict.note)
                actions[refund.pk] = "escalate"
        writes.write()
    return actions


def auto_approval_sweep(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int | None = None
) -> SweepOutcome:
    """Approve the overdue refunds within policy, escalate the others (``refunds.auto_approval``)."""
    now = now or timezone.now()
    size = _batch_size(batch_size)

    def body(outcome: SweepOutcome, keep_alive: Callable[[], None]) -> None:
        for page in _overdue_pages(now, size):
            v2 = {refund.pk for refund in page if auto_approval.abuse_rule_applies(refund)}
            histories = auto_approval.refund_histories(
                (refund.customer_id for refund in page if refund.pk in v2), now=now
            )
            verdicts = {
                refund.pk: auto_approval.decide(
                    refund, history=histories[refund.customer_id] if refund.pk in v2 else None
                )
                for refund in page
            }
            keep_alive()
            if dry_run:
                for refund in page:
                    verdict = verdicts[refund.pk]
                    action = "approve" if verdict.approve else "escalate"
                    outcome.record(Planned(refund.pk, refund.refund_no, action, verdict.note))
                continue
            try:
                actions = _decide_page(page, verdicts)
            except ITEM_ERRORS:
                # A page that failed as a whole (a lock wait timed out, say) is left for the next run.
                logger.exception("auto-approval: a page of %d refunds left for the next run", len(page))
                outcome.counts["failed"] += len(page)
                continue
            for refund in page:
                outcome.record(Planned(refund.pk, refund.refund_no, actions[refund.pk]))

    return _run("auto_approval", dry_run=dry_run, body=body)
