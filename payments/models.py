"""What the payment side records: each channel attempt with its (masked) answer, and the voucher of each
completed refund (the customer's messages are ``notices``')."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from refunds.models import Refund


class AttemptOutcome(models.TextChoices):
    SUCCESS = "success", _("success")
    PROCESSING = "processing", _("processing")
    NOT_FOUND = "not_found", _("not found at the channel")
    TEMPORARY_ERROR = "temporary_error", _("temporary error")
    REJECTED = "rejected", _("rejected by the channel")
    CLOSED = "closed", _("closed by the channel")


class ChannelAttempt(models.Model):
    """One call to a channel about a refund: a refund request or a query."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="attempts", verbose_name=_("refund"))
    operation = models.CharField(_("operation"), max_length=16)  # refund | query | notification
    outcome = models.CharField(_("outcome"), max_length=16, choices=AttemptOutcome.choices)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    message = models.CharField(_("message"), max_length=255, blank=True)
    raw = models.JSONField(_("channel answer"), default=dict, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("channel attempt")
        verbose_name_plural = _("channel attempts")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["refund", "operation"], name="attempt_refund_operation")]

    def __str__(self) -> str:
        return f"{self.refund_id} {self.operation} {self.outcome}"


class RefundVoucher(models.Model):
    """The electronic receipt of a completed refund (PDF) and its SHA-256."""

    refund = models.OneToOneField(Refund, on_delete=models.CASCADE, related_name="voucher", verbose_name=_("refund"))
    file = models.FileField(_("file"), upload_to="refunds/vouchers/%Y/%m/", max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveIntegerField(_("size (bytes)"))
    created_at = models.DateTimeField(_("issued at"), auto_now_add=True)

    class Meta:
        verbose_name = _("refund voucher")
        verbose_name_plural = _("refund vouchers")

    def __str__(self) -> str:
        return self.file.name or ""
