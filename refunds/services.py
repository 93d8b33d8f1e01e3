"""Writes on refunds: creation (customer, system, staff), review, cancellation and routing.

Every service opens a transaction, locks the order row (``SELECT ... FOR UPDATE``), checks the amounts
against what the order's lines still hold, runs the transition, records a ``RefundEvent`` and schedules side
effects after commit. Amount claims live on the order lines (``refund_claimed_*``) and the database's check
constraints refuse any over-refund as a last line of defence.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from mall.jobs import job_enqueue
from mall.models import PAID_STATUSES, Order, OrderItem
from mall.numbering import new_number
from mall.services import Actor
from mall.transactions import atomic_with_retry
from refunds import policy
from refunds.exceptions import (
    AmountExceeded,
    IdempotencyConflict,
    InvalidRefundRequest,
    OrderNotFound,
    RefundNotAllowed,
    ReviewForbidden,
)
from refunds.locks import order_lock
from refunds.models import (
    CUSTOMER_REASONS,
    RELEASED_STATES,
    Refund,
    RefundEvent,
    RefundItem,
    RefundKind,
    RefundReason,
    RefundSource,
    RefundState,
)

CENT = Decimal("0.01")
QTY = Decimal("0.001")
EXECUTE_JOB = "payments.jobs.refund_execute"
INTERCEPT_JOB = "logistics.jobs.interception_request"


@dataclass(frozen=True)
class ItemRequest:
    order_item_id: int
    quantity: Decimal
    amount: Decimal | None = None  # None: the share the quantity paid


def _actor_id(actor: Actor) -> int | None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return actor.pk


def _event(
    *, refund: Refund, from_state: str, actor: Actor = None, note: Any = "", internal: bool = False
) -> RefundEvent:
    return RefundEvent(
        refund=refund,
        actor_id=_actor_id(actor),
        from_state=from_state,
        to_state=refund.state,
        note=str(note)[:500],
        internal=internal,
    )


def refund_record_event(
    *, refund: Refund, from_state: str, actor: Actor = None, note: Any = "", internal: bool = False
) -> RefundEvent:
    event = _event(refund=refund, from_state=from_state, actor=actor, note=note, internal=internal)
    event.save(force_insert=True)
    return event


def _transition(*, refund: Refund, action: Callable[[], None], actor: Actor = None, note: Any = "") -> Refund:
    if not can_proceed(action):
        raise RefundNotAllowed(state=refund.state)
    from_state = refund.state
    action()
    refund.state_changed_at = timezone.now()
    refund.save()
    refund_record_event(refund=refund, from_state=from_state, actor=actor, note=note)
    return refund


def _lock_order(order_id: int) -> Order:
    return Order.objects.select_for_update().select_related("payment", "shipment").get(pk=order_id)


def _lock_refund(refund_id: int, *, order_id: int | None = None) -> Refund:
    """Lock the order first, then the refund: the one lock order every service uses. A caller that already
    holds the refund passes its ``order_id`` (a refund never changes order) and saves the look-up."""
    if order_id is None:
        order_id = Refund.objects.values_list("order_id", flat=True).get(pk=refund_id)
    order = _lock_order(order_id)
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    refund.order = order
    return refund


# --- amounts -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    item: OrderItem
    quantity: Decimal
    amount: Decimal


def _price_lines(
    order: Order, requests: Sequence[ItemRequest], *, allow_zero_quantity: bool
) -> tuple[list[_Line], dict[int, OrderItem]]:
    """The priced lines of a request, and every line of the order (locked)."""
    if not requests:
        raise InvalidRefundRequest(_("Choose at least one item."), field="items")
    items = {item.pk: item for item in OrderItem.objects.select_for_update().filter(order=order)}
    seen: set[int] = set()
    lines = []
    for index, req in enumerate(requests):
        field = f"items[{index}]"
        item = items.get(req.order_item_id)
        if item is None:
            raise InvalidRefundRequest(_("No such item in this order."), field=f"{field}.order_item_id")
        if item.pk in seen:
            raise InvalidRefundRequest(_("Each item may appear once."), field=f"{field}.order_item_id")
        seen.add(item.pk)
        quantity = req.quantity.quantize(QTY)
        if quantity < 0 or (quantity == 0 and not allow_zero_quantity):
            raise InvalidRefundRequest(_("Quantity must be greater than zero."), field=f"{field}.quantity")
        if quantity > item.quantity:
            raise InvalidRefundRequest(_("More than was ordered."), field=f"{field}.quantity")
        if quantity > item.refundable_quantity:
            raise AmountExceeded(_("More than is still refundable of this item."), field=f"{field}.quantity")
        # The share the quantity paid; the whole remainder when the quantity is all that is left.
        if quantity == item.refundable_quantity and quantity > 0:
            share = item.refundable_amount
        else:
            share = min((item.unit_price * quantity).quantize(CENT), item.refundable_amount)
        if req.amount is None:
            amount = share
        else:
            amount = req.amount
            if amount != amount.quantize(CENT):
                raise InvalidRefundRequest(_("Amounts have at most two decimals."), field=f"{field}.amount")
            if amount <= 0:
                raise InvalidRefundRequest(_("Amount must be greater than zero."), field=f"{field}.amount")
            if quantity > 0 and amount > (item.unit_price * quantity).quantize(CENT):
                raise InvalidRefundRequest(_("More than this quantity was paid."), field=f"{field}.amount")
            if amount > item.refundable_amount:
                raise AmountExceeded(_("More than is still refundable of this item."), field=f"{field}.amount")
        if amount <= 0:
            raise AmountExceeded(_("Nothing is left to refund on this item."), field=f"{field}.order_item_id")
        lines.append(_Line(item, quantity, amount))
    return lines, items


def _shipping_fee_share(order: Order, lines: Sequence[_Line], items: dict[int, OrderItem]) -> Decimal:
    """The shipping fee goes back with a refund that leaves nothing of a not-yet-shipped order."""
    if not order.is_not_shipped():
        return Decimal("0.00")
    by_item = {line.item.pk: line for line in lines}
    for item in items.values():
        line = by_item.get(item.pk)
        left = item.refundable_amount - (line.amount if line else 0)
        if left > 0:
            return Decimal("0.00")
    return order.shipping_fee - order.shipping_fee_refund_claimed


def _shift_claims(
    refund: Refund,
    lines: Sequence[tuple[int, Decimal, Decimal]],
    sign: int,
    locked_items: dict[int, OrderItem] | None = None,
    locked_order: Order | None = None,
) -> None:
    """Add (sign=1) or give back (sign=-1) a refund's claims on its order lines and shipping fee.

    The new values are computed here from rows locked by the caller (the order row lock serialises every
    writer) and written as exact decimals: SQLite would otherwise add them as floating point. Rows the caller
    already holds locked (``locked_items``, ``locked_order``) are not read again, and are kept up to date.
    """
    items = locked_items or OrderItem.objects.select_for_update().in_bulk([item_id for item_id, _, _ in lines])
    for item_id, quantity, amount in lines:
        item = items[item_id]
        item.refund_claimed_quantity += sign * quantity
        item.refund_claimed_amount += sign * amount
        item.save(update_fields=["refund_claimed_quantity", "refund_claimed_amount"])
    if refund.shipping_fee_amount:
        order = locked_order or Order.objects.select_for_update().get(pk=refund.order_id)
        order.shipping_fee_refund_claimed += sign * refund.shipping_fee_amount
        Order.objects.filter(pk=order.pk).update(shipping_fee_refund_claimed=order.shipping_fee_refund_claimed)


def _claim(
    refund: Refund,
    lines: Sequence[tuple[int, Decimal, Decimal]],
    locked_items: dict[int, OrderItem] | None = None,
    locked_order: Order | None = None,
) -> None:
    _shift_claims(refund, lines, 1, locked_items, locked_order)


def _release(refund: Refund) -> None:
    _shift_claims(refund, list(refund.items.values_list("order_item_id", "quantity", "amount")), -1)


def _reclaim(refund: Refund) -> None:
    """Take a released refund's amounts back (a person retrying a failed one), if the order still has them."""
    lines = list(refund.items.values_list("order_item_id", "quantity", "amount"))
    current = OrderItem.objects.select_for_update().in_bulk([item_id for item_id, _, _ in lines])
    for item_id, quantity, amount in lines:
        if amount > current[item_id].refundable_amount or quantity > current[item_id].refundable_quantity:
            raise AmountExceeded()
    order = Order.objects.get(pk=refund.order_id)
    if refund.shipping_fee_amount > order.shipping_fee - order.shipping_fee_refund_claimed:
        raise AmountExceeded()
    _claim(refund, lines)


# --- creation ----------------------------------------------------------------------------------------


def _fingerprint(**parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _create(
    *,
    order: Order,
    reason: str,
    kind: str,
    source: str,
    requests: Sequence[ItemRequest],
    actor: Actor,
    description: str = "",
    idempotency_key: str | None = None,
    fingerprint: str = "",
    staff_cap_ok: bool = False,
    keep_loaded: bool = False,
) -> Refund:
    """Create a refund on ``order`` (locked by the caller), claim its amounts and apply the policy.

    The policy's decision is taken before anything is written: the refund row is inserted once, already in the
    state the decision leads to (e.g. approved and on its way to the channel), with one event per step in one
    insert. With ``keep_loaded`` the refund comes back with its items, events, evidence and return shipment
    loaded, for a caller that shows it at once and changes nothing more."""
    if order.status not in PAID_STATUSES:
        raise RefundNotAllowed(_("This order has nothing to refund."), status=order.status)
    allow_zero = source == RefundSource.STAFF or reason == RefundReason.PRICE_ANOMALY
    lines, items = _price_lines(order, requests, allow_zero_quantity=allow_zero)
    shipping = _shipping_fee_share(order, lines, items) if source != RefundSource.STAFF else Decimal("0.00")
    amount = sum((line.amount for line in lines), Decimal("0.00")) + shipping
    decision = policy.decide(order=order, source=source, reason=reason, amount=amount, within_staff_cap=staff_cap_ok)
    now = timezone.now()
    refund = Refund(
        refund_no=new_number("R"),
        order=order,
        customer_id=order.customer_id,
        reason=reason,
        kind=kind,
        source=source,
        description=description,
        amount=amount,
        shipping_fee_amount=shipping,
        channel=order.payment.channel,
        out_refund_no=new_number("RQ"),
        requires_supervisor=decision.requires_supervisor,
        created_by_id=_actor_id(actor) if source == RefundSource.STAFF else None,
        due_at=policy.review_due_at(now),
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        state_changed_at=now,
    )
    events = [_event(refund=refund, from_state="", actor=actor, note=_("submitted"))]
    route = None
    if decision.auto_approve:
        events.append(_step(refund, refund.approve, note=decision.note))
        route = route_after_approval(refund)
        events.append(_step(refund, getattr(refund, route.transition), note=route.note))
    else:
        events.append(_event(refund=refund, from_state=refund.state, note=decision.note))
    refund.save(force_insert=True)
    refund_items = RefundItem.objects.bulk_create(
        [RefundItem(refund=refund, order_item=line.item, quantity=line.quantity, amount=line.amount) for line in lines]
    )
    _claim(refund, [(line.item.pk, line.quantity, line.amount) for line in lines], items, order)
    RefundEvent.objects.bulk_create(events)
    if route is not None and route.job:
        job_enqueue(route.job, refund.pk, queue=route.queue)
    if keep_loaded:
        _keep_loaded(refund, items=refund_items, events=events)
    return refund


def _step(refund: Refund, action: Callable[[], None], *, note: Any) -> RefundEvent:
    """Run a transition of a refund not written yet (by the system: no actor) and return its event."""
    if not can_proceed(action):
        raise RefundNotAllowed(state=refund.state)
    from_state = refund.state
    action()
    return _event(refund=refund, from_state=from_state, note=note)


def _keep_loaded(refund: Refund, *, items: list[RefundItem], events: list[RefundEvent]) -> None:
    """Hold the rows just written on the new refund the way ``prefetch_related`` would (a new refund has no
    evidence and no return shipment yet)."""
    loaded: dict[str, Any] = refund.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, rows in (("items", items), ("events", events), ("evidence", [])):
        queryset = getattr(refund, name).all()
        queryset._result_cache = rows
        queryset._prefetch_done = True
        loaded[name] = queryset
    Refund.return_shipment.related.set_cached_value(refund, None)


def refund_apply(
    *,
    customer: Any,
    order_no: str,
    reason: str,
    kind: str,
    items: Sequence[ItemRequest],
    description: str = "",
    idempotency_key: str | None = None,
) -> tuple[Refund, bool]:
    """A customer applies for a refund. Returns the refund and whether it was created by this call (False when
    the same ``idempotency_key`` and body were seen before). A refund created by this call comes with its items,
    events, evidence and return shipment loaded: showing it reads nothing back."""
    if reason not in CUSTOMER_REASONS:
        raise InvalidRefundRequest(_("Customers may not use this reason."), field="reason")
    if kind not in RefundKind.values:
        raise InvalidRefundRequest(_("Unknown kind."), field="kind")
    fingerprint = _fingerprint(
        order_no=order_no,
        reason=reason,
        kind=kind,
        description=description,
        items=[(i.order_item_id, str(i.quantity), None if i.amount is None else str(i.amount)) for i in items],
    )
    if idempotency_key:
        replay = _idempotent_replay(customer, idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
    order_id = Order.objects.filter(order_no=order_no, customer=customer).values_list("pk", flat=True).first()
    if order_id is None:
        raise OrderNotFound(field="order_no")
    try:
        with order_lock(order_id):
            return _apply_to_locked_order(
                customer=customer,
                order_id=order_id,
                reason=reason,
                kind=kind,
                items=items,
                description=description,
                idempotency_key=idempotency_key or None,
                fingerprint=fingerprint,
            )
    except IntegrityError:
        # The same key on another order of the customer's, committed between our look-up and our insert.
        if idempotency_key:
            replay = _idempotent_replay(customer, idempotency_key, fingerprint)
            if replay is not None:
                return replay, False
        raise


@atomic_with_retry
def _apply_to_locked_order(
    *,
    customer: Any,
    order_id: int,
    reason: str,
    kind: str,
    items: Sequence[ItemRequest],
    description: str,
    idempotency_key: str | None,
    fingerprint: str,
) -> tuple[Refund, bool]:
    order = _lock_order(order_id)
    if idempotency_key:
        # Looked up again under the order's row lock: a request with the same key that was here first has
        # committed its refund by now, and this one answers with it instead of applying a second time (which
        # the amounts it claimed would refuse).
        replay = _idempotent_replay(customer, idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
    _check_customer_reason(order, reason, kind)
    refund = _create(
        order=order,
        reason=reason,
        kind=kind,
        source=RefundSource.CUSTOMER,
        requests=items,
        actor=customer,
        description=description,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        keep_loaded=True,
    )
    return refund, True


def _idempotent_replay(customer: Any, key: str, fingerprint: str) -> Refund | None:
    existing = Refund.objects.filter(customer=customer, idempotency_key=key).first()
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict()
    return existing


def _check_customer_reason(order: Order, reason: str, kind: str) -> None:
    if reason == RefundReason.NOT_SHIPPED:
        if not order.is_not_shipped():
            raise RefundNotAllowed(_("The order has already shipped."), field="reason")
        if kind != RefundKind.REFUND_ONLY:
            raise InvalidRefundRequest(_("Nothing to return: the order has not shipped."), field="kind")
    elif reason == RefundReason.NOT_RECEIVED:
        if not order.is_in_transit():
            raise RefundNotAllowed(_("Only an order in transit can be reported as not received."), field="reason")
    elif reason == RefundReason.QUALITY_ISSUE:
        if not order.is_delivered():
            raise RefundNotAllowed(_("Quality claims are for delivered orders."), field="reason")
        deadline = policy.after_sale_deadline(order)
        if deadline is not None and timezone.now() > deadline:
            raise RefundNotAllowed(_("The after-sale period of this order has ended."), field="order_no")


def refund_create_by_system(
    *, order: Order, reason: str, items: Sequence[ItemRequest], note: str = "", order_lock_held: bool = False
) -> Refund:
    """A refund the system starts itself (shipping timeout, out of stock, price anomaly). ``order_lock_held``:
    the caller took the order's application lock before its own transaction, which holds the order's row."""
    with nullcontext() if order_lock_held else order_lock(order.pk), transaction.atomic():
        locked = _lock_order(order.pk)
        return _create(
            order=locked,
            reason=reason,
            kind=RefundKind.REFUND_ONLY,
            source=RefundSource.SYSTEM,
            requests=items,
            actor=None,
            description=note,
        )


def refund_create_by_staff(
    *,
    order: Order,
    reason: str,
    items: Sequence[ItemRequest],
    actor: Any,
    note: str,
    within_cap: bool | Callable[[], bool],
) -> Refund:
    """A compensation or dispute refund created by customer service. ``within_cap`` is the caller's check of
    the compensation caps; above them a supervisor other than the creator must approve. A check that locks rows
    of its own is passed as a callable: it runs once the order is locked, keeping the order's lock first."""
    with order_lock(order.pk), transaction.atomic():
        locked = _lock_order(order.pk)
        return _create(
            order=locked,
            reason=reason,
            kind=RefundKind.REFUND_ONLY,
            source=RefundSource.STAFF,
            requests=items,
            actor=actor,
            description=note,
            staff_cap_ok=within_cap() if callable(within_cap) else within_cap,
        )


def full_order_items(order: Order) -> list[ItemRequest]:
    """Item requests for everything still refundable on the order."""
    return [
        ItemRequest(order_item_id=item.pk, quantity=item.refundable_quantity)
        for item in order.items.all()
        if item.refundable_amount > 0
    ]


# --- review ------------------------------------------------------------------------------------------


def _check_reviewer(refund: Refund, actor: Any) -> None:
    if not actor.has_perm("refunds.approve_refund"):
        raise ReviewForbidden()
    blocker = refund_approval_blocker(refund=refund, actor=actor)
    if blocker is not None:
        raise ReviewForbidden(blocker)


def refund_approval_blocker(*, refund: Refund, actor: Any) -> str | None:
    """Why ``actor`` may not approve ``refund`` beyond the permission itself (maker-checker, the single-refund
    cap), or None. The console shows it; ``refund_approve`` enforces it."""
    if refund.created_by_id is not None and refund.created_by_id == actor.pk:
        return _("You created this refund: another person must approve it.")
    if refund.requires_supervisor and not actor.has_perm("refunds.approve_large_refund"):
        return _("Above the cap: only a supervisor may approve it.")
    return None


@transaction.atomic
def refund_approve(*, refund: Refund, actor: Any, note: str = "") -> Refund:
    refund = _lock_refund(refund.pk)
    _check_reviewer(refund, actor)
    refund.reviewed_by_id = actor.pk
    refund.decision_note = note[:255]
    _transition(refund=refund, action=refund.approve, actor=actor, note=note or _("approved"))
    _route(refund)
    return refund


@transaction.atomic
def refund_reject(*, refund: Refund, actor: Any, note: str) -> Refund:
    if not note.strip():
        raise InvalidRefundRequest(_("A reason is required to reject."), field="note")
    refund = _lock_refund(refund.pk)
    if not actor.has_perm("refunds.approve_refund"):
        raise ReviewForbidden()
    refund.reviewed_by_id = actor.pk
    refund.decision_note = note[:255]
    _transition(refund=refund, action=refund.reject, actor=actor, note=note)
    _release(refund)
    return refund


@transaction.atomic
def refund_overturn(*, refund: Refund, actor: Any, note: str) -> Refund:
    """A supervisor reverses a rejection (override): the refund claims its amounts again, if the order still
    has them, and goes on as approved. The person who rejected it cannot overturn their own decision."""
    if not note.strip():
        raise InvalidRefundRequest(_("A reason is required to overturn a decision."), field="note")
    refund = _lock_refund(refund.pk)
    if not actor.has_perm("refunds.override_refund"):
        raise ReviewForbidden(_("Only a supervisor may overturn a decision."))
    if refund.state != RefundState.REJECTED:
        raise RefundNotAllowed(state=refund.state)
    if refund.reviewed_by_id == actor.pk:
        raise ReviewForbidden(_("Nobody overturns their own decision."))
    _reclaim(refund)
    refund.reviewed_by_id = actor.pk
    refund.decision_note = note[:255]
    _transition(refund=refund, action=refund.overturn, actor=actor, note=_("rejection overturned: %s") % note)
    _route(refund)
    return refund


@transaction.atomic
def refund_auto_approve(*, refund: Refund, rule: str) -> Refund:
    """Approval by the system after nobody handled the refund in time; ``rule`` names what decided."""
    refund = _lock_refund(refund.pk)
    _transition(refund=refund, action=refund.approve, actor=None, note=rule)
    _route(refund)
    return refund


@transaction.atomic
def refund_escalate(*, refund: Refund, reason: str) -> Refund:
    refund = _lock_refund(refund.pk)
    if refund.state != RefundState.PENDING_REVIEW:
        raise RefundNotAllowed(state=refund.state)
    refund.escalated_at = timezone.now()
    refund.escalation_reason = reason[:255]
    refund.save(update_fields=["escalated_at", "escalation_reason", "updated_at"])
    refund_record_event(refund=refund, from_state=refund.state, note=_("escalated: %s") % reason, internal=True)
    return refund


@transaction.atomic
def refund_cancel(*, refund: Refund, actor: Any, note: str = "") -> Refund:
    refund = _lock_refund(refund.pk)
    _transition(refund=refund, action=refund.cancel, actor=actor, note=note or _("withdrawn by the customer"))
    _release(refund)
    return refund


# --- routing and side effects --------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """Where an approved refund goes next: the transition to run, its event note, and the job it sets off."""

    transition: str  # the name of a transition method of Refund
    note: str
    job: str | None = None
    queue: str = "default"


def route_after_approval(refund: Refund) -> Route:
    """After approval: refund at once, stop the goods on the road, or wait for them to come back."""
    order = refund.order
    if policy.needs_interception(order=order, reason=refund.reason, kind=refund.kind):
        return Route("start_interception", _("the goods are in transit"), INTERCEPT_JOB, "default")
    if refund.kind == RefundKind.RETURN_AND_REFUND and order.is_delivered():
        return Route("await_return", _("waiting for the goods to come back"))
    return Route("start_refund", _("refunding to the original channel"), EXECUTE_JOB, "refunds")


def _route(refund: Refund) -> None:
    route = route_after_approval(refund)
    _transition(refund=refund, action=getattr(refund, route.transition), note=route.note)
    if route.job:
        job_enqueue(route.job, refund.pk, queue=route.queue)


def refund_schedule_side_effects(*, refund: Refund) -> None:
    """Hand the refund's pending work to the job queue again (the re-dispatch sweep calls this)."""
    if refund.state == RefundState.REFUNDING:
        job_enqueue(EXECUTE_JOB, refund.pk, queue="refunds")
    elif refund.state == RefundState.INTERCEPTING:
        job_enqueue(INTERCEPT_JOB, refund.pk, queue="default")


def refunded_total(*, order: Order) -> Decimal:
    total = Refund.objects.filter(order=order, state=RefundState.REFUNDED).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0.00")


def live_refund_total(*, order: Order) -> Decimal:
    total = (
        Refund.objects.filter(order=order).exclude(state__in=RELEASED_STATES).aggregate(total=Sum("amount"))["total"]
    )
    return total or Decimal("0.00")


__all__ = [
    "ItemRequest",
    "full_order_items",
    "live_refund_total",
    "refund_apply",
    "refund_approve",
    "refund_auto_approve",
    "refund_cancel",
    "refund_create_by_staff",
    "refund_create_by_system",
    "refund_escalate",
    "refund_record_event",
    "refund_reject",
    "refund_schedule_side_effects",
    "refunded_total",
    "route_after_approval",
]
