"""Logistics: return addresses, interceptions of goods in transit, carrier notifications, and the quality
inspection (质检入库) of returned goods with what it restocked or wrote off.

Writes go through ``logistics.services``; the refund's own state only moves through ``refunds.flow``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from mall.models import OrderItem, Product
from refunds.models import Refund


class Warehouse(models.Model):
    """Where customers send goods back. The default active warehouse is the address shown to them."""

    name = models.CharField(_("name"), max_length=60)
    contact = models.CharField(_("contact person"), max_length=60)
    phone = models.CharField(_("phone"), max_length=20)
    address = models.CharField(_("address"), max_length=255)
    active = models.BooleanField(_("active"), default=True)
    is_default = models.BooleanField(_("default return address"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["-is_default", "name", "id"]
        permissions = [("manage_warehouse", _("Can manage warehouses and return addresses"))]

    def __str__(self) -> str:
        return self.name


class InterceptionStatus(models.TextChoices):
    PENDING = "pending", _("waiting for the carrier")
    SUCCEEDED = "succeeded", _("intercepted")
    FAILED = "failed", _("not intercepted")
    TIMED_OUT = "timed_out", _("no answer in time")


class Interception(models.Model):
    """One request to stop a refunded order's parcel on the road; at most one per refund."""

    refund = models.OneToOneField(
        Refund, on_delete=models.CASCADE, related_name="interception", verbose_name=_("refund")
    )
    carrier = models.CharField(_("carrier"), max_length=32)
    tracking_no = models.CharField(_("tracking number"), max_length=64, db_index=True)
    status = models.CharField(
        _("status"), max_length=16, choices=InterceptionStatus.choices, default=InterceptionStatus.PENDING
    )
    carrier_request_id = models.CharField(_("carrier request id"), max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(_("requests sent"), default=0)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    carrier_note = models.CharField(_("carrier's note"), max_length=255, blank=True)
    requested_at = models.DateTimeField(_("accepted by the carrier at"), null=True, blank=True)
    deadline_at = models.DateTimeField(_("answer due by"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("interception")
        verbose_name_plural = _("interceptions")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "deadline_at"], name="interception_open")]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_no}"


class CarrierEventKind(models.TextChoices):
    INTERCEPTION = "interception", _("interception result")
    DELIVERED = "delivered", _("delivered")
    SHIPPED = "shipped", _("replacement picked up")


class CarrierEvent(models.Model):
    """Every verified carrier notification, once: a repeated delivery of the same event changes nothing."""

    event_id = models.CharField(_("event id"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=CarrierEventKind.choices)
    carrier = models.CharField(_("carrier"), max_length=32, blank=True)
    tracking_no = models.CharField(_("tracking number"), max_length=64)
    status = models.CharField(_("status"), max_length=16, blank=True)
    outcome = models.CharField(_("what it did"), max_length=255, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("carrier notification")
        verbose_name_plural = _("carrier notifications")
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.tracking_no}"


class InspectionStatus(models.TextChoices):
    OPEN = "open", _("inspecting")
    COMPLETED = "completed", _("completed")


class Inspection(models.Model):
    """The quality inspection of one refund's returned goods: opened on receipt, completed once."""

    refund = models.OneToOneField(Refund, on_delete=models.CASCADE, related_name="inspection", verbose_name=_("refund"))
    status = models.CharField(
        _("status"), max_length=16, choices=InspectionStatus.choices, default=InspectionStatus.OPEN
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("completed by"),
    )
    amount_before = models.DecimalField(_("refund amount claimed"), max_digits=12, decimal_places=2, null=True)
    amount_after = models.DecimalField(_("refund amount after inspection"), max_digits=12, decimal_places=2, null=True)

    class Meta:
        verbose_name = _("inspection")
        verbose_name_plural = _("inspections")
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return str(self.refund)


class Condition(models.TextChoices):
    RESELLABLE = "resellable", _("resellable")
    DISCOUNT = "discount", _("sell at a discount")
    SPOILED = "spoiled", _("spoiled: dispose")


class Disposition(models.TextChoices):
    PENDING = "pending", _("not decided yet")
    RESTOCK = "restock", _("back to stock")
    WRITE_OFF = "write_off", _("written off")


class InspectionRecord(models.Model):
    """What the warehouse found of one returned item: a quantity (pieces or kg) in one condition.

    An item that came back partly good and partly rotten has one record per condition.
    """

    inspection = models.ForeignKey(
        Inspection, on_delete=models.CASCADE, related_name="records", verbose_name=_("inspection")
    )
    refund = models.ForeignKey(
        Refund, on_delete=models.CASCADE, related_name="inspection_records", verbose_name=_("refund")
    )
    order_item = models.ForeignKey(
        OrderItem, on_delete=models.PROTECT, related_name="inspection_records", verbose_name=_("order item")
    )
    received_quantity = models.DecimalField(_("received quantity or weight"), max_digits=10, decimal_places=3)
    condition = models.CharField(_("condition"), max_length=16, choices=Condition.choices)
    disposition = models.CharField(
        _("disposition"), max_length=16, choices=Disposition.choices, default=Disposition.PENDING
    )
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("inspector")
    )
    notes = models.CharField(_("notes"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("inspected at"), auto_now_add=True)

    class Meta:
        verbose_name = _("inspection record")
        verbose_name_plural = _("inspection records")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(received_quantity__gt=0), name="inspection_record_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.order_item_id} x {self.received_quantity} ({self.condition})"


def inspection_photo_path(instance: InspectionPhoto, filename: str) -> str:
    return f"logistics/inspections/{instance.record.refund.refund_no}/{filename}"


class InspectionPhoto(models.Model):
    record = models.ForeignKey(
        InspectionRecord, on_delete=models.CASCADE, related_name="photos", verbose_name=_("inspection record")
    )
    file = models.ImageField(_("photo"), upload_to=inspection_photo_path, max_length=255)
    content_type = models.CharField(_("content type"), max_length=32)
    size = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("inspection photo")
        verbose_name_plural = _("inspection photos")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.file.name or ""


class WriteOffReason(models.TextChoices):
    SPOILED = "spoiled", _("spoiled")
    DISCOUNT = "discount", _("sold at a discount")
    EXPIRED = "expired", _("past its shelf life")


class WriteOff(models.Model):
    """Returned goods that do not go back to sellable stock, and why."""

    record = models.OneToOneField(
        InspectionRecord, on_delete=models.PROTECT, related_name="write_off", verbose_name=_("inspection record")
    )
    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="write_offs", verbose_name=_("refund"))
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=3)
    reason = models.CharField(_("reason"), max_length=16, choices=WriteOffReason.choices)
    created_at = models.DateTimeField(_("written off at"), auto_now_add=True)

    class Meta:
        verbose_name = _("write-off")
        verbose_name_plural = _("write-offs")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.product_id} x {self.quantity} ({self.reason})"


class PerishableClaim(Refund):
    """Refund-only quality claims on fruit, as customer service settles them for the spoiled part (admin only)."""

    class Meta:
        proxy = True
        verbose_name = _("perishable claim")
        verbose_name_plural = _("perishable claims")
