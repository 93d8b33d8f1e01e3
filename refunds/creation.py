"""Refunds come into being here: a customer's application (idempotent by its key), and the refunds the system
(shipping timeout, out of stock, price anomaly) and customer service (compensation, disputes) create.

Each creation locks the order's row, prices the request against what the order's lines still hold, applies the
policy and writes the refund once, already in the state the decision leads to, with one event per step, its
items and its claims. What entering that state sets off is handed to the job queue after commit.
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
from django.utils import timezone
from django.utils.translation import gettext as _

from mall.actors import Staff
from mall.models import PAID_STATUSES, Order, OrderItem
from mall.money import CENT
from mall.numbering import new_number
from mall.services import Actor
from mall.transactions import atomic_with_retry
from refunds import policy, texts
from refunds.claims import claims_reserve
from refunds.exceptions import (
    AmountExceeded,
    IdempotencyConflict,
    InvalidRefundRequest,
    OrderNotFound,
    RefundNotAllowed,
)
from refunds.lifecycle import (
    actor_pk,
    event_build,
    lock_customer_order,
    lock_order,
    refund_events_write,
    refund_step,
)
from refunds.locks import order_lock
from refunds.models import (
    CUSTOMER_DESTINATIONS,
    CUSTOMER_REASONS,
    Refund,
    RefundDestination,
    RefundEvent,
    RefundItem,
    RefundKind,
    RefundReason,
    RefundSource,
)
from refunds.routing import route_after_approval

QTY = Decimal("0.001")


@dataclass(frozen=True)
class ItemRequest:
    order_item_id: int
    quantity: Decimal
    amount: Decimal | None = None  # None: the share the quantity paid


# --- amounts --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    item: OrderItem
    quantity: Decimal
    amount: Decimal


def _price_lines(
    order: Order, requests: Sequence[ItemRequest], *, allow_zero_quantity: bool, locked: dict[int, OrderItem] | None
) -> tuple[list[_Line], dict[int, OrderItem]]:
    """The priced lines of a request, and every line of the order (locked here, unless ``locked`` holds them)."""
    if not requests:
        raise InvalidRefundRequest(_("Choose at least one item."), field="items")
    if locked is None:
        items = {item.pk: item for item in OrderItem.objects.select_for_update().filter(order=order)}
    else:
        items = locked
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
                raise AmountExceeded(_("More than the amount still refundable of this item."), field=f"{field}.amount")
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
    destination: str = RefundDestination.ORIGINAL,
    locked_lines: dict[int, OrderItem] | None = None,
) -> Refund:
    """Create a refund on ``order`` (locked by the caller), claim its amounts and apply the policy.

    The policy's decision is taken before anything is written: the refund row is inserted once, already in the
    state the decision leads to (e.g. approved and on its way to the channel), with one event per step in one
    insert. With ``keep_loaded`` the refund comes back with its items, events, evidence and return shipment
    loaded, for a caller that shows it at once and changes nothing more. ``locked_lines``: the order's lines by
    id, when the caller locked them with the order."""
    if order.status not in PAID_STATUSES:
        raise RefundNotAllowed(_("This order has nothing to refund."), status=order.status)
    allow_zero = source == RefundSource.STAFF or reason == RefundReason.PRICE_ANOMALY
    lines, items = _price_lines(order, requests, allow_zero_quantity=allow_zero, locked=locked_lines)
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
        destination=destination,
        out_refund_no=new_number("RQ"),
        requires_supervisor=decision.requires_supervisor,
        created_by_id=actor_pk(actor) if source == RefundSource.STAFF else None,
        due_at=policy.review_due_at(now),
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        state_changed_at=now,
    )
    events = [event_build(refund=refund, from_state="", actor=actor, note=texts.SUBMITTED())]
    if decision.auto_approve:
        events.append(refund_step(refund=refund, action=refund.approve, note=decision.note))
        route = route_after_approval(refund)
        events.append(refund_step(refund=refund, action=getattr(refund, route.transition), note=route.note))
    else:
        events.append(event_build(refund=refund, from_state=refund.state, note=decision.note))
    refund.save(force_insert=True)
    refund_items = RefundItem.objects.bulk_create(
        [RefundItem(refund=refund, order_item=line.item, quantity=line.quantity, amount=line.amount) for line in lines]
    )
    claims_reserve(
        refund=refund,
        lines=[(line.item.pk, line.quantity, line.amount) for line in lines],
        locked_items=items,
        locked_order=order,
    )
    refund_events_write(refund=refund, events=events)
    if keep_loaded:
        _keep_loaded(refund, items=refund_items, events=events)
    return refund


def _keep_loaded(refund: Refund, *, items: list[RefundItem], events: list[RefundEvent]) -> None:
    """Hold the rows just written on the new refund the way ``prefetch_related`` would (a new refund has no
    evidence, no return shipment and no replacement shipment yet)."""
    loaded: dict[str, Any] = refund.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, rows in (("items", items), ("events", events), ("evidence", [])):
        queryset = getattr(refund, name).all()
        queryset._result_cache = rows
        queryset._prefetch_done = True
        loaded[name] = queryset
    Refund.return_shipment.related.set_cached_value(refund, None)
    Refund.replacement.related.set_cached_value(refund, None)


def refund_apply(
    *,
    customer: Any,
    order_no: str,
    reason: str,
    kind: str,
    items: Sequence[ItemRequest],
    description: str = "",
    idempotency_key: str | None = None,
    destination: str = RefundDestination.ORIGINAL,
) -> tuple[Refund, bool]:
    """A customer applies for a refund. Returns the refund and whether it was created by this call (False when
    the same ``idempotency_key`` and body were seen before). A refund created by this call comes with its items,
    events, evidence and return shipment loaded: showing it reads nothing back. ``destination``: the money back
    on the order's channel, or to the customer's store credit."""
    if reason not in CUSTOMER_REASONS:
        raise InvalidRefundRequest(_("Customers may not use this reason."), field="reason")
    if kind not in RefundKind.values:
        raise InvalidRefundRequest(_("Unknown kind."), field="kind")
    if destination not in CUSTOMER_DESTINATIONS:
        raise InvalidRefundRequest(_("Customers may choose the original payment or store credit."), field="destination")
    # The destination joins the fingerprint only when it is not the default: keys stored before it existed keep
    # matching their retries.
    choice = {} if destination == RefundDestination.ORIGINAL else {"destination": destination}
    fingerprint = _fingerprint(
        order_no=order_no,
        reason=reason,
        kind=kind,
        description=description,
        items=[(i.order_item_id, str(i.quantity), None if i.amount is None else str(i.amount)) for i in items],
        **choice,
    )
    if idempotency_key:
        replay = _idempotent_replay(customer, idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
    try:
        # Locked by the number the customer sent, before anything is read: the order itself is found (another
        # customer's is not found) under its row lock, in the transaction.
        with order_lock(order_no):
            return _apply_to_locked_order(
                customer=customer,
                order_no=order_no,
                reason=reason,
                kind=kind,
                items=items,
                description=description,
                idempotency_key=idempotency_key or None,
                fingerprint=fingerprint,
                destination=destination,
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
    order_no: str,
    reason: str,
    kind: str,
    items: Sequence[ItemRequest],
    description: str,
    idempotency_key: str | None,
    fingerprint: str,
    destination: str,
) -> tuple[Refund, bool]:
    locked = lock_customer_order(customer=customer, order_no=order_no)
    if locked is None:
        raise OrderNotFound(field="order_no")
    order, lines = locked
    if idempotency_key:
        # Looked up again under the order's row lock: a request with the same key that was here first has
        # committed its refund by now, and this one answers with it instead of applying a second time (which
        # the amounts it claimed would refuse).
        replay = _idempotent_replay(customer, idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
    _check_replacement(order, reason, kind, items)
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
        destination=destination,
        locked_lines=lines,
    )
    return refund, True


def _idempotent_replay(customer: Any, key: str, fingerprint: str) -> Refund | None:
    existing = Refund.objects.filter(customer=customer, idempotency_key=key).first()
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict()
    return existing


def _check_replacement(order: Order, reason: str, kind: str, items: Sequence[ItemRequest]) -> None:
    """A replacement (补发) ships quantities again: only for a quality problem with goods already delivered."""
    if kind != RefundKind.REPLACEMENT:
        return
    if reason != RefundReason.QUALITY_ISSUE or not order.is_delivered():
        raise InvalidRefundRequest(_("A replacement is for a quality problem with delivered goods."), field="kind")
    for index, req in enumerate(items):
        if req.amount is not None:
            raise InvalidRefundRequest(
                _("A replacement ships quantities: leave the amount out."), field=f"items[{index}].amount"
            )


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
    with nullcontext() if order_lock_held else order_lock(order.order_no), transaction.atomic():
        locked = lock_order(order.pk)
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
    actor: Staff,
    note: str,
    within_cap: bool | Callable[[], bool],
    destination: str = RefundDestination.ORIGINAL,
) -> Refund:
    """A compensation or dispute refund created by customer service. ``within_cap`` is the caller's check of
    the compensation caps; above them a supervisor other than the creator must approve. A check that locks rows
    of its own is passed as a callable: it runs once the order is locked, keeping the order's lock first.
    ``destination``: the order's channel or the customer's store credit."""
    if destination not in CUSTOMER_DESTINATIONS:
        raise InvalidRefundRequest(_("Pay to the original payment or to store credit."), field="destination")
    with order_lock(order.order_no), transaction.atomic():
        locked = lock_order(order.pk)
        return _create(
            order=locked,
            reason=reason,
            kind=RefundKind.REFUND_ONLY,
            source=RefundSource.STAFF,
            requests=items,
            actor=actor,
            description=note,
            staff_cap_ok=within_cap() if callable(within_cap) else within_cap,
            destination=destination,
        )


def full_order_items(order: Order) -> list[ItemRequest]:
    """Item requests for everything still refundable on the order."""
    return [
        ItemRequest(order_item_id=item.pk, quantity=item.refundable_quantity)
        for item in order.items.all()
        if item.refundable_amount > 0
    ]


__all__ = [
    "ItemRequest",
    "full_order_items",
    "refund_apply",
    "refund_create_by_staff",
    "refund_create_by_system",
]
