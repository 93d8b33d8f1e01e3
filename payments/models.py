"""What the payment side records: each channel attempt with its (masked) answer, the voucher of each completed
refund, the customers' store credit ledgers, and bank transfers made by hand (the customer's messages are
``notices``')."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from refunds.models import Refund


class AttemptOutcome(models.TextChoices):
    SUCCESS = "success", _("success")
    PROCESSING = "processing", _("processing")
    NOT_FOUND = "not_found", _("not found at the channel")
    TEMPORARY_ERROR = "temporary_error", _("temporary error")
    REJECTED = "rejected", _("rejected by the channel")
    CLOSED = "closed", _("closed by the channel")
    FAILED = "failed", _("failed at the channel")


class AttemptOperation(models.TextChoices):
    REFUND = "refund", _("refund request")
    QUERY = "query", _("status query")
    NOTIFICATION = "notification", _("channel notification")


class ChannelAttempt(models.Model):
    """One call to a channel about a refund: a refund request or a query."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="attempts", verbose_name=_("refund"))
    operation = models.CharField(_("operation"), max_length=16, choices=AttemptOperation.choices)
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


class StoreCreditAccount(models.Model):
    """A customer's shop balance: the sum of their ledger, kept on one row that every change updates under its
    row lock. The database refuses a negative balance."""

    customer = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="store_credit", verbose_name=_("customer")
    )
    balance = models.DecimalField(_("balance"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("store credit account")
        verbose_name_plural = _("store credit accounts")
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="store_credit_balance_not_negative")]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.balance}"


class StoreCreditKind(models.TextChoices):
    CREDIT = "credit", _("refund credited")
    SPEND = "spend", _("spent")


class StoreCreditEntry(models.Model):
    """One change of a customer's balance: + a refund credited, − money spent in the shop."""

    account = models.ForeignKey(
        StoreCreditAccount, on_delete=models.PROTECT, related_name="entries", verbose_name=_("account")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=StoreCreditKind.choices)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    balance_after = models.DecimalField(_("balance after"), max_digits=12, decimal_places=2)
    refund = models.ForeignKey(
        Refund,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="store_credit_entries",
        verbose_name=_("refund"),
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("store credit entry")
        verbose_name_plural = _("store credit entries")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at", "-id"], name="store_credit_entry_recent")]
        constraints = [
            # A refund is credited once, whoever tries it and however often (a refund may be NULL: spending).
            models.UniqueConstraint(fields=["refund", "kind"], name="store_credit_once_per_refund"),
            models.CheckConstraint(
                condition=(Q(kind="credit", amount__gt=0, refund__isnull=False) | Q(kind="spend", amount__lt=0)),
                name="store_credit_entry_sign",
            ),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="store_credit_entry_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.kind} {self.amount}"


def transfer_proof_path(instance: OfflineTransfer, filename: str) -> str:
    return f"refunds/transfers/{timezone.localtime():%Y/%m}/{filename}"


class OfflineTransfer(models.Model):
    """A refund the channel could not pay, paid by bank transfer: who chose it, for whom (the payee's details,
    for finance only), and once it is made, its bank reference and proof, confirmed by another person."""

    refund = models.OneToOneField(
        Refund, on_delete=models.PROTECT, related_name="offline_transfer", verbose_name=_("refund")
    )
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    payee = models.CharField(_("payee and account"), max_length=255)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("chosen by")
    )
    requested_at = models.DateTimeField(_("chosen at"))
    reference = models.CharField(_("bank reference"), max_length=64, blank=True)
    proof = models.FileField(_("proof"), upload_to=transfer_proof_path, max_length=255, blank=True)
    proof_sha256 = models.CharField(_("proof SHA-256"), max_length=64, blank=True)
    proof_content_type = models.CharField(_("proof type"), max_length=32, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("confirmed by"),
    )
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("offline transfer")
        verbose_name_plural = _("offline transfers")
        ordering = ["-requested_at", "-id"]
        permissions = [("confirm_offline_transfer", _("Can record offline transfers"))]
        indexes = [models.Index(fields=["confirmed_at", "requested_at"], name="offline_transfer_open")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="offline_transfer_amount_positive"),
            # Maker-checker: the person who chose the transfer never confirms it.
            models.CheckConstraint(
                condition=Q(confirmed_by__isnull=True) | ~Q(confirmed_by=F("requested_by")),
                name="offline_transfer_other_person_confirms",
            ),
            models.CheckConstraint(
                condition=Q(confirmed_at__isnull=True)
                | (~Q(reference="") & ~Q(proof="") & Q(confirmed_by__isnull=False)),
                name="offline_transfer_confirmed_with_proof",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.refund_id} {self.amount}"
