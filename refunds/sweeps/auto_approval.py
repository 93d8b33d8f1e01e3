"""The automatic approval of refunds nobody reviewed in time: within policy approved, the others escalated
(the rules: ``refunds.auto_approval``). Pages are decided as a whole, in one transaction each, for speed."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from mall.models import Order
from mall.sweeps import ITEM_ERRORS, KeepAlive, Planned, SweepOutcome, page_size, sweep_run
from mall.texts import Text
from refunds import auto_approval, texts
from refunds.lifecycle import TransitionBatch, lock_orders_then_refunds
from refunds.models import Refund, RefundState
from refunds.services import route_after_approval

logger = logging.getLogger(__name__)

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
    "destination",  # where routing sends an approved refund's money
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

    def approve(self, refund: Refund, note: Text) -> bool:
        """Approve and route ``refund`` in memory, through its state machine's transition table and guards."""
        route = route_after_approval(refund)
        return self.batch.advance(refund, [("approve", note), (route.transition, route.note)])

    def escalate(self, refund: Refund, reason: Text) -> None:
        self.escalations.setdefault(str(reason)[:255], []).append(refund.pk)
        self.batch.record(refund, texts.ESCALATED(reason=reason), internal=True)

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
    size = page_size(batch_size)

    def body(outcome: SweepOutcome, keep_alive: KeepAlive) -> None:
        for page in _overdue_pages(now, size):
            v2 = {refund.pk for refund in page if auto_approval.abuse_rule_applies(refund)}
            histories = auto_approval.refund_histories(
                (refund.customer_id for refund in page if refund.pk in v2), now=now
            )
            photographed = auto_approval.with_photos(refund.pk for refund in page if auto_approval.needs_photos(refund))
            verdicts = {
                refund.pk: auto_approval.decide(
                    refund,
                    history=histories[refund.customer_id] if refund.pk in v2 else None,
                    has_photos=refund.pk in photographed,
                )
                for refund in page
            }
            keep_alive()
            if dry_run:
                for refund in page:
                    verdict = verdicts[refund.pk]
                    action = "approve" if verdict.approve else "escalate"
                    outcome.record(Planned(refund.pk, refund.refund_no, action, str(verdict.note)))
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

    return sweep_run("auto_approval", dry_run=dry_run, body=body, log=logger)
