"""Writes of the shop's own domain. Each service opens a transaction, locks what it changes, runs the
state transition, saves, and records the event."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, DecimalField, F, Value, When
from django.utils import timezone
from django_fsm import can_proceed

from mall.actors import Actor as Actor  # the refund services record their events against the same actors
from mall.actors import Customer
from mall.exceptions import OrderTransitionNotAllowed
from mall.models import (
    CustomerProfile,
    Order,
    OrderEvent,
    OrderItem,
    OrderStatus,
    Payment,
    Product,
    Shipment,
    Stock,
    StockMovement,
)
from mall.money import CENT
from mall.numbering import new_number


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: Decimal
    unit_price: Decimal | None = None  # None: the catalogue price


def _actor_id(actor: Actor) -> int | None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return actor.pk


def order_transition(*, order: Order, action: Callable[[], None], actor: Actor = None, note: str = "") -> Order:
    """Run one transition method of ``order`` (already locked by the caller) and record it. Only the status is
    written: other columns (the refund services keep the shipping fee claimed up to date with UPDATEs of their
    own) are never overwritten with this copy's values."""
    if not can_proceed(action):
        raise OrderTransitionNotAllowed(status=order.status)
    from_status = order.status
    action()
    order.save(update_fields=["status", "updated_at"])
    OrderEvent.objects.create(
        order=order, actor_id=_actor_id(actor), from_status=from_status, to_status=order.status, note=note[:255]
    )
    return order


def _locked(order: Order) -> Order:
    return Order.objects.select_for_update().select_related("payment", "shipment").get(pk=order.pk)


@transaction.atomic
def order_create(
    *,
    customer: Customer,
    lines: Sequence[OrderLine],
    shipping_fee: Decimal = Decimal("0.00"),
    receiver_name: str = "",
    receiver_phone: str = "",
    receiver_address: str = "",
) -> Order:
    products = {p.sku: p for p in Product.objects.filter(sku__in=[line.sku for line in lines])}
    items = []
    for line in lines:
        product = products[line.sku]
        unit_price = line.unit_price if line.unit_price is not None else product.price
        items.append(
            OrderItem(
                product=product,
                sku=product.sku,
                name=product.name,
                unit=product.unit,
                quantity=line.quantity,
                unit_price=unit_price,
                amount=(unit_price * line.quantity).quantize(CENT),
            )
        )
    goods = sum((item.amount for item in items), Decimal("0.00"))
    order = Order.objects.create(
        order_no=new_number("O"),
        customer=customer,
        goods_amount=goods,
        shipping_fee=shipping_fee,
        total_amount=goods + shipping_fee,
        receiver_name=receiver_name,
        receiver_phone=receiver_phone,
        receiver_address=receiver_address,
    )
    for item in items:
        item.order = order
    OrderItem.objects.bulk_create(items)
    return order


@transaction.atomic
def order_pay(
    *, order: Order, channel: str, trade_no: str, paid_at: datetime | None = None, actor: Actor = None
) -> Order:
    """Record the channel's confirmation that the order was paid in full."""
    order = _locked(order)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise OrderTransitionNotAllowed(status=order.status)
    Payment.objects.create(
        order=order,
        channel=channel,
        out_trade_no=order.order_no,
        trade_no=trade_no,
        amount=order.total_amount,
        paid_at=paid_at or timezone.now(),
    )
    order = _locked(order)
    return order_transition(order=order, action=order.mark_paid, actor=actor, note=f"{channel} {trade_no}")


@transaction.atomic
def order_ship(
    *, order: Order, carrier: str, tracking_no: str, shipped_at: datetime | None = None, actor: Actor = None
) -> Order:
    order = _locked(order)
    if order.is_shipped() or order.status not in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED):
        raise OrderTransitionNotAllowed(status=order.status)
    Shipment.objects.create(
        order=order, carrier=carrier, tracking_no=tracking_no, shipped_at=shipped_at or timezone.now()
    )
    order = _locked(order)
    return order_transition(order=order, action=order.mark_shipped, actor=actor, note=f"{carrier} {tracking_no}")


@transaction.atomic
def order_deliver(*, order: Order, delivered_at: datetime | None = None, actor: Actor = None) -> Order:
    order = _locked(order)
    if not order.is_in_transit():
        raise OrderTransitionNotAllowed(status=order.status)
    Shipment.objects.filter(order=order).update(delivered_at=delivered_at or timezone.now())
    order = _locked(order)
    return order_transition(order=order, action=order.mark_delivered, actor=actor)


@transaction.atomic
def order_complete(*, order: Order, actor: Actor = None) -> Order:
    order = _locked(order)
    return order_transition(order=order, action=order.mark_completed, actor=actor)


@transaction.atomic
def order_close_unpaid(*, order: Order, actor: Actor = None, note: str = "") -> Order:
    order = _locked(order)
    return order_transition(order=order, action=order.close_unpaid, actor=actor, note=note)


def order_sync_refund_status(*, order: Order, refunded_total: Decimal, actor: Actor = None, note: str = "") -> Order:
    """Make the status follow the money that went back: all of it → ``refunded``, some → ``partially_refunded``.

    Called by the refund services inside their transaction, with ``order`` locked and ``refunded_total``
    the sum the channels confirmed for it.
    """
    if refunded_total <= 0:
        return order
    if refunded_total >= order.total_amount:
        if order.status == OrderStatus.REFUNDED:
            return order
        return order_transition(order=order, action=order.mark_refunded, actor=actor, note=note)
    if order.status == OrderStatus.PARTIALLY_REFUNDED:
        return order
    return order_transition(order=order, action=order.mark_partially_refunded, actor=actor, note=note)


@transaction.atomic
def stock_adjust(*, product: Product, delta: Decimal, reason: str, reference: str) -> bool:
    """Apply a stock change once per ``reference``. Returns False when that reference was applied before."""
    Stock.objects.get_or_create(product=product)
    try:
        with transaction.atomic():
            StockMovement.objects.create(product=product, delta=delta, reason=reason, reference=reference)
    except IntegrityError:
        return False
    Stock.objects.filter(product=product).update(quantity=F("quantity") + delta)
    return True


@dataclass(frozen=True)
class StockChange:
    product_id: int
    delta: Decimal
    reference: str  # unique among all movements: a change is applied once per reference, ever


@transaction.atomic(savepoint=False)
def stock_adjust_many(*, changes: Sequence[StockChange], reason: str) -> bool:
    """``stock_adjust`` for several changes at once, all or none, in two statements: one INSERT of their movements
    and one UPDATE of the stock rows (which locks them in product order, as allocation does). Returns False and
    changes nothing when any reference was applied before: a repeated or concurrent run of the same work did them.
    Inside a transaction it joins it (no savepoint of its own)."""
    if not changes:
        return True
    try:
        with transaction.atomic():
            StockMovement.objects.bulk_create(
                [
                    StockMovement(product_id=c.product_id, delta=c.delta, reason=reason, reference=c.reference)
                    for c in changes
                ]
            )
    except IntegrityError:
        return False
    per_product: dict[int, Decimal] = {}
    for change in changes:
        per_product[change.product_id] = per_product.get(change.product_id, Decimal("0")) + change.delta
    products = sorted(per_product)
    updated = Stock.objects.filter(product_id__in=products).update(
        quantity=F("quantity")
        + Case(
            *[When(product_id=product_id, then=Value(per_product[product_id])) for product_id in products],
            output_field=DecimalField(max_digits=12, decimal_places=3),
        )
    )
    if updated < len(products):  # a product without a stock row yet: made as stock_adjust makes it
        existing = set(Stock.objects.filter(product_id__in=products).values_list("product_id", flat=True))
        for product_id in products:
            if product_id not in existing:
                Stock.objects.get_or_create(product_id=product_id)
                Stock.objects.filter(product_id=product_id).update(quantity=F("quantity") + per_product[product_id])
    return True


@transaction.atomic
def order_close_refunded(*, order: Order, actor: Actor = None, note: str = "") -> Order:
    """Close an order whose money all went back. Idempotent: an order already closed is left as it is."""
    order = _locked(order)
    if order.status == OrderStatus.CLOSED:
        return order
    return order_transition(order=order, action=order.close_refunded, actor=actor, note=note)


def order_close_refunded_unshipped(*, order: Order, note: str = "") -> None:
    """Close ``order`` if all its money went back before its goods left: nothing is left to do for it."""
    if order.status == OrderStatus.REFUNDED and order.is_not_shipped():
        order_close_refunded(order=order, note=note)


# --- stock allocation ----------------------------------------------------------------------------------

ALLOCATION_REASON = "allocation"
ALLOCATION_REFERENCE_PREFIX = "allocate:"
# Orders whose goods are still in the warehouse: the only ones stock is allocated for.
ALLOCATABLE_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


def allocation_reference(order_item_id: int) -> str:
    """The StockMovement reference of one order line's allocation: at most one per line, ever."""
    return f"{ALLOCATION_REFERENCE_PREFIX}{order_item_id}"


@dataclass(frozen=True)
class AllocationLine:
    order_item_id: int
    product_id: int
    wanted: Decimal
    allocated: Decimal

    @property
    def short(self) -> Decimal:
        """What stock could not cover of this line."""
        return self.wanted - self.allocated


def _allocation_lines(order: Order, available: dict[int, Decimal]) -> list[AllocationLine]:
    """Lines of ``order`` not allocated yet, each taking what ``available`` (product id → quantity, updated
    in place) still holds. What live refunds already take back of a line is not wanted any more."""
    items = list(order.items.order_by("pk"))
    done = set(
        StockMovement.objects.filter(reference__in=[allocation_reference(item.pk) for item in items]).values_list(
            "reference", flat=True
        )
    )
    lines = []
    for item in items:
        if allocation_reference(item.pk) in done:
            continue
        wanted = item.refundable_quantity
        allocated = min(wanted, max(available.get(item.product_id, Decimal("0")), Decimal("0")))
        available[item.product_id] = available.get(item.product_id, Decimal("0")) - allocated
        lines.append(AllocationLine(item.pk, item.product_id, wanted, allocated))
    return lines


def stock_allocation_plan(*, order: Order, taken: dict[int, Decimal] | None = None) -> list[AllocationLine]:
    """What ``stock_allocate`` would do for ``order`` now, without writing or locking anything.

    ``taken`` (product id → quantity) is stock already promised to orders planned before this one; it is
    updated in place, so that a dry run over many orders sees stock run out as the real run would.
    """
    taken = taken if taken is not None else {}
    product_ids = set(order.items.values_list("product_id", flat=True))
    available = {
        product_id: quantity - taken.get(product_id, Decimal("0"))
        for product_id, quantity in Stock.objects.filter(product_id__in=product_ids).values_list(
            "product_id", "quantity"
        )
    }
    lines = _allocation_lines(order, available)
    for line in lines:
        taken[line.product_id] = taken.get(line.product_id, Decimal("0")) + line.allocated
    return lines


@transaction.atomic
def stock_allocate(*, order: Order) -> list[AllocationLine]:
    """Take a paid, unshipped order's goods out of stock, once per order line.

    Each line is allocated at most once (a ``StockMovement`` with the line's reference, even when nothing could
    be taken), so running this again changes nothing. Returns the lines allocated by this call with what
    stock could not cover (``short``): the caller acts on the shortfall in the same transaction, because a
    later call returns nothing for these lines. Locks the order, then its products' stock rows in product
    order (one lock order for every allocation).
    """
    order = _locked(order)
    if order.status not in ALLOCATABLE_STATUSES or order.is_shipped():
        return []
    product_ids = sorted(set(order.items.values_list("product_id", flat=True)))
    stocks = {
        stock.product_id: stock
        for stock in Stock.objects.select_for_update().filter(product_id__in=product_ids).order_by("product_id")
    }
    available = {product_id: stock.quantity for product_id, stock in stocks.items()}
    lines = _allocation_lines(order, available)
    for line in lines:
        StockMovement.objects.create(
            product_id=line.product_id,
            delta=-line.allocated,
            reason=ALLOCATION_REASON,
            reference=allocation_reference(line.order_item_id),
        )
    for product_id, stock in stocks.items():
        if available[product_id] != stock.quantity:
            # Written as an exact decimal computed from the locked row: SQLite would add floats.
            stock.quantity = available[product_id]
            stock.save(update_fields=["quantity", "updated_at"])
    return lines


def customer_language_remember(*, customer: Customer, language: str) -> None:
    """Remember the language a customer uses (one of the site's), to write the messages they are emailed in it.
    Written only when it changed."""
    if language not in dict(settings.LANGUAGES):
        return
    profile, created = CustomerProfile.objects.get_or_create(customer=customer, defaults={"language": language})
    if not created and profile.language != language:
        CustomerProfile.objects.filter(pk=profile.pk).update(language=language, updated_at=timezone.now())
