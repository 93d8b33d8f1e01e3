"""Messages to customers about their refunds: each lands in the customer's inbox, stored as an event code with
parameters and rendered in the reader's language when read (``notices.catalogue``); and, where the customer has an
email address, goes out by email, a delivery with a bounded number of tries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from notices.catalogue import MessageEvent, message_body, message_title
from refunds.models import Refund


class CustomerMessage(models.Model):
    """One message to a customer about a refund, told once per refund and ``key`` (the timeline event it tells
    of, or the event itself for what is told once: the money back)."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("customer")
    )
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="messages", verbose_name=_("refund"))
    event = models.CharField(_("event"), max_length=32, choices=MessageEvent.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    key = models.CharField(_("key"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("message to the customer")
        verbose_name_plural = _("messages to customers")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["refund", "key"], name="message_once_per_refund_key")]
        # The inbox: a customer's messages, newest first.
        indexes = [models.Index(fields=["customer", "-created_at", "-id"], name="message_inbox")]

    def __str__(self) -> str:
        return f"{self.refund_id} {self.event}"

    @property
    def title(self) -> str:
        """The title in the active language."""
        return message_title(self.event, self.params)

    @property
    def body(self) -> str:
        """The body in the active language."""
        return message_body(self.event, self.params)


class Medium(models.TextChoices):
    EMAIL = "email", _("email")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENT = "sent", _("sent")
    # Every try failed (NOTIFICATION_MAX_ATTEMPTS): never tried again; the message stays in the inbox.
    UNDELIVERABLE = "undeliverable", _("undeliverable")


class MessageDelivery(models.Model):
    """A message sent to the customer's address on one medium: at most ``NOTIFICATION_MAX_ATTEMPTS`` tries."""

    message = models.ForeignKey(
        CustomerMessage, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("message")
    )
    medium = models.CharField(_("medium"), max_length=16, choices=Medium.choices, default=Medium.EMAIL)
    recipient = models.CharField(_("recipient"), max_length=254)
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)  # the one it was written in
    # When the next try is due (the sweep hands out a try that is overdue: a job lost with Redis away).
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    # A try in progress: no other worker tries the same delivery until then.
    leased_until = models.DateTimeField(_("being sent until"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("message delivery")
        verbose_name_plural = _("message deliveries")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "medium"], name="delivery_once_per_medium"),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="delivery_sent_has_time"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.message_id} {self.medium} {self.status}"
