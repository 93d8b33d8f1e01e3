"""Reconciliation runs (one per channel and business day) and the discrepancies each found.

Matched statement lines are only counted on the run: a day of a million matched refunds adds one row here,
not a million.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from mall.models import Channel
from refunds.models import Refund


class RunStatus(models.TextChoices):
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", pgettext_lazy("reconciliation run", "failed")


class DiscrepancyKind(models.TextChoices):
    MISSING_AT_CHANNEL = "missing_at_channel", _("missing at the channel")
    MISSING_WITH_US = "missing_with_us", _("missing with us")
    AMOUNT_DIFFERS = "amount_differs", _("amount differs")
    STATUS_DIFFERS = "status_differs", _("status differs")
    # The statement lists one request number more than once: the money may have gone out twice.
    LISTED_TWICE = "listed_twice", _("listed twice by the channel")


# Counter field on the run for each kind of discrepancy.
COUNT_FIELDS: dict[str, str] = {
    DiscrepancyKind.MISSING_AT_CHANNEL: "missing_at_channel_count",
    DiscrepancyKind.MISSING_WITH_US: "missing_with_us_count",
    DiscrepancyKind.AMOUNT_DIFFERS: "amount_differs_count",
    DiscrepancyKind.STATUS_DIFFERS: "status_differs_count",
    DiscrepancyKind.LISTED_TWICE: "listed_twice_count",
}


class ReconciliationRun(models.Model):
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    business_day = models.DateField(_("business day"), help_text=_("The Asia/Shanghai day of the statement."))
    status = models.CharField(_("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Moves with every batch: a run that is `running` but has not moved for a while was killed.
    heartbeat_at = models.DateTimeField(_("last progress"))
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    statement_lines = models.PositiveIntegerField(_("statement lines"), default=0)
    statement_total = models.DecimalField(_("statement total"), max_digits=16, decimal_places=2, default=0)
    matched_count = models.PositiveIntegerField(_("matched"), default=0)
    missing_at_channel_count = models.PositiveIntegerField(_("missing at the channel"), default=0)
    missing_with_us_count = models.PositiveIntegerField(_("missing with us"), default=0)
    amount_differs_count = models.PositiveIntegerField(_("amount differs"), default=0)
    status_differs_count = models.PositiveIntegerField(_("status differs"), default=0)
    listed_twice_count = models.PositiveIntegerField(_("listed twice"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ["-business_day", "channel"]
        constraints = [models.UniqueConstraint(fields=["channel", "business_day"], name="reconciliation_run_once")]
        permissions = [("run_reconciliation", _("Can start reconciliation runs"))]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.business_day:%Y-%m-%d}"

    @property
    def discrepancy_count(self) -> int:
        return sum(getattr(self, name) for name in COUNT_FIELDS.values())


class Discrepancy(models.Model):
    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.CASCADE, related_name="discrepancies", verbose_name=_("run")
    )
    kind = models.CharField(_("class"), max_length=24, choices=DiscrepancyKind.choices)
    out_refund_no = models.CharField(_("channel request number"), max_length=64)
    refund = models.ForeignKey(
        Refund,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("our refund"),
    )
    our_amount = models.DecimalField(_("our amount"), max_digits=12, decimal_places=2, null=True, blank=True)
    our_state = models.CharField(_("our state"), max_length=24, blank=True)
    channel_amount = models.DecimalField(_("channel amount"), max_digits=12, decimal_places=2, null=True, blank=True)
    channel_status = models.CharField(_("channel status"), max_length=16, blank=True)
    channel_refund_id = models.CharField(_("channel refund id"), max_length=64, blank=True)
    channel_time = models.DateTimeField(_("channel time"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution_note = models.CharField(_("resolution note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("discrepancy")
        verbose_name_plural = _("discrepancies")
        ordering = ["run", "kind", "out_refund_no", "id"]
        indexes = [
            models.Index(fields=["run", "kind", "out_refund_no"], name="discrepancy_run_kind"),
            models.Index(fields=["resolved_at", "run"], name="discrepancy_open"),
            models.Index(fields=["out_refund_no"], name="discrepancy_request_no"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | ~Q(resolution_note=""), name="discrepancy_resolved_with_note"
            )
        ]
        permissions = [("resolve_discrepancy", _("Can resolve discrepancies"))]

    def __str__(self) -> str:
        return f"{self.out_refund_no} {self.get_kind_display()}"

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None
