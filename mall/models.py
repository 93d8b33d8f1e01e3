"""The shop's own domain: fruit products, stock, orders, payments and shipments.

Only what refunds need to be real. Writes go through ``mall.services``; the order's status is a protected
state machine whose transitions are recorded as ``OrderEvent`` rows.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

ZERO = Decimal("0.00")


class SaleUnit(models.TextChoices):
    PIECE = "piece", _("by piece")
    KILOGRAM = "kg", _("by weight (kg)")


class Channel(models.TextChoices):
    ALIPAY = "alipay", _("Alipay")
    WECHAT = "wechat", _("WeChat Pay")


class Product(models.Model):
    sku = models.CharField(_("SKU"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=120)
    unit = models.CharField(_("sale unit"), max_length=8, choices=SaleUnit.choices, default=SaleUnit.PIECE)
    price = models.DecimalField(_("catalogue price"), max_digits=10, decimal_places=2)
    perishable = models.BooleanField(_("perishable"), default=True)
    shelf_life_days = models.PositiveSmallIntegerField(_("shelf life (days)"), default=7)
    active = models.BooleanField(_("on sale"), default=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sku"]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative")]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Stock(models.Model):
    """Sellable stock of one SKU. Quantity is pieces or kilograms, per the product's unit."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="stock", verbose_name=_("product"))
    quantity = models.DecimalField(_("on hand"), max_digits=12, decimal_places=3, default=Decimal("0"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("stock")
        verbose_name_plural = _("stock")
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=0), name="stock_not_negative")]

    def __str__(self) -> str:
        return f"{self.product.sku}: {self.quantity}"


class StockMovement(models.Model):
    """Every change to stock, keyed so that a repeated job cannot apply the same change twice."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    delta = models.DecimalField(_("change"), max_digits=12, decimal_places=3)
    reason = models.CharField(_("reason"), max_length=32)
    reference = models.CharField(_("reference"), max_length=80, unique=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.product_id} {self.delta:+} {self.reason}"


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("pending payment")
    PAID = "paid", _("paid, not shipped")
    SHIPPED = "shipped", _("shipped, in transit")
    DELIVERED = "delivered", _("delivered")
    COMPLETED = "completed", _("completed")
    CLOSED = "closed", _("closed")
    PARTIALLY_REFUNDED = "partially_refunded", _("partially refunded")
    REFUNDED = "refunded", _("refunded")


# Statuses in which money was taken and the order is still live.
PAID_STATUSES = (
    OrderStatus.PAID,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
    OrderStatus.PARTIALLY_REFUNDED,
)


class Fulfilment(models.TextChoices):
    """Where the goods are, derived from the shipment (the status may say `partially_refunded` instead)."""

    NOT_SHIPPED = "not_shipped", _("not shipped")
    IN_TRANSIT = "in_transit", _("in transit")
    DELIVERED = "delivered", _("delivered")


class Order(FSMModelMixin, models.Model):
    order_no = models.CharField(_("order number"), max_length=32, unique=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders", verbose_name=_("customer")
    )
    status = FSMField(
        _("status"), max_length=24, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT, protected=True
    )
    goods_amount = models.DecimalField(_("goods amount"), max_digits=12, decimal_places=2)
    shipping_fee = models.DecimalField(_("shipping fee"), max_digits=10, decimal_places=2, default=ZERO)
    total_amount = models.DecimalField(_("total amount"), max_digits=12, decimal_places=2)
    # Shipping fee claimed by a live refund (only a whole-order refund before shipping claims it).
    shipping_fee_refund_claimed = models.DecimalField(
        _("shipping fee claimed by refunds"), max_digits=10, decimal_places=2, default=ZERO
    )
    receiver_name = models.CharField(_("receiver"), max_length=60, blank=True)
    receiver_phone = models.CharField(_("phone"), max_length=20, blank=True)
    receiver_address = models.CharField(_("address"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="order_customer_recent"),
            # The console finds a customer's refunds by the phone on their orders (exact match).
            models.Index(fields=["receiver_phone"], name="order_receiver_phone"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_amount=F("goods_amount") + F("shipping_fee")),
                name="order_total_is_goods_plus_shipping",
            ),
            models.CheckConstraint(
                condition=Q(shipping_fee_refund_claimed__gte=0) & Q(shipping_fee_refund_claimed__lte=F("shipping_fee")),
                name="order_shipping_refund_within_fee",
            ),
        ]

    def __str__(self) -> str:
        return self.order_no

    # --- derived facts, pure ---------------------------------------------------------------------------
    @property
    def fulfilment(self) -> str:
        shipment = getattr(self, "shipment", None)
        if shipment is None or shipment.shipped_at is None:
            return Fulfilment.NOT_SHIPPED
        if shipment.delivered_at is None:
            return Fulfilment.IN_TRANSIT
        return Fulfilment.DELIVERED

    @property
    def channel(self) -> str | None:
        payment = getattr(self, "payment", None)
        return payment.channel if payment is not None else None

    def is_shipped(self) -> bool:
        return self.fulfilment != Fulfilment.NOT_SHIPPED

    def is_delivered(self) -> bool:
        return self.fulfilment == Fulfilment.DELIVERED

    def is_not_shipped(self) -> bool:
        return self.fulfilment == Fulfilment.NOT_SHIPPED

    def is_in_transit(self) -> bool:
        return self.fulfilment == Fulfilment.IN_TRANSIT

    def has_payment(self) -> bool:
        return getattr(self, "payment", None) is not None

    # --- transitions: state only, no I/O; services record the event -----------------------------------
    @transition(field=status, source=OrderStatus.PENDING_PAYMENT, target=OrderStatus.PAID, conditions=[has_payment])  # type: ignore[list-item]
    def mark_paid(self) -> None:
        pass

    @transition(field=status, source=OrderStatus.PENDING_PAYMENT, target=OrderStatus.CLOSED)
    def close_unpaid(self) -> None:
        pass

    @transition(
        field=status,
        source=[OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED],
        target=OrderStatus.SHIPPED,
        conditions=[is_in_transit],  # type: ignore[list-item]
    )
    def mark_shipped(self) -> None:
        pass

    @transition(
        field=status,
        source=[OrderStatus.SHIPPED, OrderStatus.PARTIALLY_REFUNDED],
        target=OrderStatus.DELIVERED,
        conditions=[is_delivered],  # type: ignore[list-item]
    )
    def mark_delivered(self) -> None:
        pass

    @transition(
        field=status,
        source=[OrderStatus.DELIVERED, OrderStatus.PARTIALLY_REFUNDED],
        target=OrderStatus.COMPLETED,
        conditions=[is_delivered],  # type: ignore[list-item]
    )
    def mark_completed(self) -> None:
        pass

    @transition(field=status, source=list(PAID_STATUSES), target=OrderStatus.PARTIALLY_REFUNDED)
    def mark_partially_refunded(self) -> None:
        pass

    @transition(field=status, source=list(PAID_STATUSES), target=OrderStatus.REFUNDED)
    def mark_refunded(self) -> None:
        pass

    @transition(field=status, source=OrderStatus.REFUNDED, target=OrderStatus.CLOSED)
    def close_refunded(self) -> None:
        pass


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items", verbose_name=_("order"))
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    sku = models.CharField(_("SKU"), max_length=32)
    name = models.CharField(_("name"), max_length=120)
    unit = models.CharField(_("sale unit"), max_length=8, choices=SaleUnit.choices, default=SaleUnit.PIECE)
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=3)
    unit_price = models.DecimalField(_("unit price"), max_digits=10, decimal_places=2)
    amount = models.DecimalField(_("amount paid"), max_digits=12, decimal_places=2)
    # What live refunds (not rejected, cancelled or failed) hold of this line. Kept under the order's row
    # lock by the refund services; the check constraints make the database refuse any over-refund too.
    refund_claimed_quantity = models.DecimalField(
        _("quantity claimed by refunds"), max_digits=10, decimal_places=3, default=Decimal("0")
    )
    refund_claimed_amount = models.DecimalField(
        _("amount claimed by refunds"), max_digits=12, decimal_places=2, default=ZERO
    )

    class Meta:
        verbose_name = _("order item")
        verbose_name_plural = _("order items")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_item_quantity_positive"),
            models.CheckConstraint(
                condition=Q(refund_claimed_amount__gte=0) & Q(refund_claimed_amount__lte=F("amount")),
                name="order_item_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(refund_claimed_quantity__gte=0) & Q(refund_claimed_quantity__lte=F("quantity")),
                name="order_item_refund_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} x {self.quantity}"

    @property
    def refundable_amount(self) -> Decimal:
        return self.amount - self.refund_claimed_amount

    @property
    def refundable_quantity(self) -> Decimal:
        return self.quantity - self.refund_claimed_quantity


class Payment(models.Model):
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="payment", verbose_name=_("order"))
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    out_trade_no = models.CharField(_("merchant trade number"), max_length=64, unique=True)
    trade_no = models.CharField(_("channel trade number"), max_length=64, unique=True)
    amount = models.DecimalField(_("amount paid"), max_digits=12, decimal_places=2)
    paid_at = models.DateTimeField(_("paid at"))

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")

    def __str__(self) -> str:
        return f"{self.channel} {self.trade_no}"


class Shipment(models.Model):
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="shipment", verbose_name=_("order"))
    carrier = models.CharField(_("carrier"), max_length=32)
    tracking_no = models.CharField(_("tracking number"), max_length=64)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        constraints = [
            models.UniqueConstraint(fields=["carrier", "tracking_no"], name="shipment_unique_tracking"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_no}"


class OrderEvent(models.Model):
    """One transition of an order's status: who, when, from, to, why."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events", verbose_name=_("order"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    from_status = models.CharField(_("from"), max_length=24, choices=OrderStatus.choices)
    to_status = models.CharField(_("to"), max_length=24, choices=OrderStatus.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("order event")
        verbose_name_plural = _("order events")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} -> {self.to_status}"


class CustomerProfile(models.Model):
    """What the shop remembers of a customer beyond their account: the language they use (the Accept-Language of
    their last refund application), in which the messages they are sent by email are written."""

    customer = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shop_profile", verbose_name=_("customer")
    )
    language = models.CharField(_("language"), max_length=8, default=settings.LANGUAGE_CODE)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("customer profile")
        verbose_name_plural = _("customer profiles")

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.language}"
