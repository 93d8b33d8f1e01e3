"""Automatic approval of refunds nobody reviewed in time: the rules, as pure decisions over facts read in bulk.

A refund waiting for review past its ``due_at`` is approved by the system when it is within policy:

- rule ``auto-approve-v1`` (everyone): it does not need a supervisor, its amount is at most
  ``REFUND_AUTO_APPROVE_MAX_AMOUNT``, and its reason is one of ``REFUND_AUTO_APPROVE_REASONS``;
- rule ``auto-approve-v2`` (refund policy v2, for the customers of the gray release, ``refunds.rollout``): v1,
  and the customer's refund history is not flagged by the abuse rule: their refunds of the last
  ``REFUND_ABUSE_WINDOW_DAYS`` (refunded or still live, applied for by the customer, this one included) divided
  by their paid orders of the same window, counted as at least ``REFUND_ABUSE_MIN_ORDERS``, is at most
  ``REFUND_ABUSE_RATE``. Refunds the shop started (shipping timeout, out of stock) are the shop's doing and do
  not count against the customer.

Under either rule a quality claim without a photo is never approved automatically (PRODUCT.md: quality claims
carry photos): it is escalated to a person, as is everything else outside the rules. The refund's detail tells the
customer photos are needed (``needs``). Otherwise the refund is escalated, with the reason shown to customer
service. Either way the note names the rule that decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count

from mall.models import Payment
from mall.texts import Text
from refunds import texts
from refunds.models import RELEASED_STATES, Refund, RefundEvidence, RefundReason, RefundSource
from refunds.rollout import REFUND_POLICY_V2, policy_enabled_for

RULE_V1 = "auto-approve-v1"
RULE_V2 = "auto-approve-v2"


@dataclass(frozen=True)
class RefundHistory:
    """A customer's refunds and paid orders over the abuse window."""

    refunds: int
    orders: int

    @property
    def rate(self) -> Decimal:
        return Decimal(self.refunds) / Decimal(max(self.orders, settings.REFUND_ABUSE_MIN_ORDERS, 1))

    def flagged(self) -> bool:
        return self.rate > Decimal(settings.REFUND_ABUSE_RATE)


@dataclass(frozen=True)
class Verdict:
    approve: bool
    rule: str
    note: Text  # the approval event's note, or the escalation reason; both name the rule


def _percent(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('1'))}%"


def abuse_rule_applies(refund: Refund) -> bool:
    """The abuse rule belongs to refund policy v2: customers' own applications, for customers in the rollout."""
    return refund.source == RefundSource.CUSTOMER and policy_enabled_for(refund.customer_id, salt=REFUND_POLICY_V2)


def refund_histories(customer_ids: Iterable[int], *, now: datetime) -> dict[int, RefundHistory]:
    """Refund histories of many customers in two grouped queries (indexes: refund by customer and time, orders
    by customer)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    since = now - timedelta(days=settings.REFUND_ABUSE_WINDOW_DAYS)
    refunds = dict(
        Refund.objects.filter(customer_id__in=ids, source=RefundSource.CUSTOMER, created_at__gte=since)
        .exclude(state__in=RELEASED_STATES)
        .order_by()
        .values_list("customer_id")
        .annotate(n=Count("pk"))
        .values_list("customer_id", "n")
    )
    orders = dict(
        Payment.objects.filter(order__customer_id__in=ids, paid_at__gte=since)
        .order_by()
        .values_list("order__customer_id")
        .annotate(n=Count("pk"))
        .values_list("order__customer_id", "n")
    )
    return {cid: RefundHistory(refunds=refunds.get(cid, 0), orders=orders.get(cid, 0)) for cid in ids}


def needs_photos(refund: Refund) -> bool:
    """A quality claim is decided on its photos."""
    return refund.reason == RefundReason.QUALITY_ISSUE


def with_photos(refund_ids: Iterable[int]) -> set[int]:
    """Those of ``refund_ids`` with at least one photo, in one query (the evidence's refund index)."""
    ids = sorted(set(refund_ids))
    if not ids:
        return set()
    return set(RefundEvidence.objects.filter(refund_id__in=ids).values_list("refund_id", flat=True).distinct())


def decide(refund: Refund, *, history: RefundHistory | None, has_photos: bool) -> Verdict:
    """Approve or escalate ``refund``. ``history`` is given when the abuse rule applies to it (v2), else None;
    ``has_photos`` says whether the customer uploaded any."""
    rule = RULE_V2 if history is not None else RULE_V1
    cap = Decimal(settings.REFUND_AUTO_APPROVE_MAX_AMOUNT)
    if refund.requires_supervisor:
        return Verdict(False, rule, texts.AUTO_NEEDS_SUPERVISOR(rule=rule))
    if refund.amount > cap:
        return Verdict(False, rule, texts.AUTO_ABOVE_CAP(rule=rule, amount=refund.amount, cap=cap))
    if refund.reason not in settings.REFUND_AUTO_APPROVE_REASONS:
        return Verdict(False, rule, texts.AUTO_REASON_EXCLUDED(rule=rule, reason=refund.reason))
    if needs_photos(refund) and not has_photos:
        return Verdict(False, rule, texts.AUTO_NO_PHOTOS(rule=rule))
    limit = _percent(Decimal(settings.REFUND_ABUSE_RATE))
    if history is not None and history.flagged():
        return Verdict(
            False,
            rule,
            texts.AUTO_RATE_FLAGGED(
                rule=rule,
                rate=_percent(history.rate),
                refunds=history.refunds,
                orders=history.orders,
                days=settings.REFUND_ABUSE_WINDOW_DAYS,
                limit=limit,
            ),
        )
    hours = settings.REFUND_AUTO_APPROVE_HOURS
    if history is None:
        note = texts.AUTO_APPROVED(hours=hours, rule=rule, amount=refund.amount, cap=cap)
    else:
        note = texts.AUTO_APPROVED_RATE(
            hours=hours, rule=rule, amount=refund.amount, cap=cap, rate=_percent(history.rate), limit=limit
        )
    return Verdict(True, rule, note)
