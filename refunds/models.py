"""Refunds: one protected state machine per refund, its items, its recorded events and its evidence.

Transitions change only the state and are guarded by pure conditions; ``refunds.lifecycle`` runs them: it
locks, records a ``RefundEvent`` for every transition and sets off what entering the new state sets off.
The models stay in one module, as Django expects of an app, which makes it a little over 400 lines.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from mall.models import Channel, Order, OrderItem
from mall.texts import Text, text_render
from refunds.rejections import RejectionReason

ZERO = Decimal("0.00")


class RefundState(models.TextChoices):
    PENDING_REVIEW = "pending_review", _("pending review")
    APPROVED = "approved", _("approved")
    INTERCEPTING = "intercepting", _("intercepting shipment")
    AWAITING_RETURN = "awaiting_return", _("awaiting return")
    RETURN_IN_TRANSIT = "return_in_transit", _("return in transit")
    INSPECTING = "inspecting", _("quality inspection")
    REFUNDING = "refunding", _("refunding")
    REFUNDED = "refunded", _("refunded")
    REJECTED = "rejected", _("rejected")
    CANCELLED = "cancelled", _("cancelled")
    FAILED = "failed", _("failed, needs attention")
    REPLACING = "replacing", _("shipping a replacement")
    REPLACED = "replaced", _("replacement shipped")
    # The channel could not pay and a person chose a bank transfer: finance pays it and records the proof.
    AWAITING_TRANSFER = "awaiting_transfer", _("awaiting offline transfer")


S = RefundState
# A refund in one of these states no longer holds any of the order's money.
RELEASED_STATES = (S.REJECTED, S.CANCELLED, S.FAILED)
FINAL_STATES = (S.REFUNDED, S.REJECTED, S.CANCELLED, S.REPLACED)
# States in which the customer may still withdraw: the money has not been asked of the channel.
CANCELLABLE_STATES = (S.PENDING_REVIEW, S.APPROVED, S.INTERCEPTING, S.AWAITING_RETURN)


class RefundReason(models.TextChoices):
    NOT_SHIPPED = "not_shipped", _("order not shipped")
    NOT_RECEIVED = "not_received", _("shipped but not received")
    QUALITY_ISSUE = "quality_issue", _("quality problem")
    SHIPPING_TIMEOUT = "shipping_timeout", _("not shipped in time")
    OUT_OF_STOCK = "out_of_stock", _("out of stock")
    PRICE_ANOMALY = "price_anomaly", _("price anomaly")
    DISPUTE = "dispute", _("dispute outcome")
    COMPENSATION = "compensation", _("compensation")


CUSTOMER_REASONS = (RefundReason.NOT_SHIPPED, RefundReason.NOT_RECEIVED, RefundReason.QUALITY_ISSUE)
SYSTEM_REASONS = (RefundReason.SHIPPING_TIMEOUT, RefundReason.OUT_OF_STOCK, RefundReason.PRICE_ANOMALY)
STAFF_REASONS = (RefundReason.DISPUTE, RefundReason.COMPENSATION)


class RefundKind(models.TextChoices):
    REFUND_ONLY = "refund_only", _("refund only")
    RETURN_AND_REFUND = "return_and_refund", _("return and refund")
    # 补发: the listed quantities are shipped again; no money moves unless stock cannot cover them.
    REPLACEMENT = "replacement", _("replacement")


class RefundDestination(models.TextChoices):
    """Where the money goes: back on the order's channel, to the customer's shop balance (at once, no channel
    call), or by a bank transfer finance makes when the channel cannot pay."""

    ORIGINAL = "original", _("original payment")
    STORE_CREDIT = "store_credit", _("store credit")
    OFFLINE = "offline", _("offline bank transfer")


# What a customer may choose when applying; offline is a person's remedy for a refund the channel could not pay.
CUSTOMER_DESTINATIONS = (RefundDestination.ORIGINAL, RefundDestination.STORE_CREDIT)


class RefundSource(models.TextChoices):
    CUSTOMER = "customer", _("customer")
    SYSTEM = "system", _("system")
    STAFF = "staff", _("customer service")


# The work queue's order of urgency: a person must decide, then something is wrong, then the flow is moving
# on its own, then nothing is left to do. Stored as a generated column so that the queue's ORDER BY
# (queue_rank, due_at) is an index scan even at millions of refunds; the database keeps it in step with state.
QUEUE_RANK = models.Case(
    models.When(state=S.PENDING_REVIEW, then=models.Value(0)),
    models.When(state__in=[S.FAILED, S.INSPECTING, S.AWAITING_TRANSFER], then=models.Value(1)),
    models.When(state__in=[S.REFUNDED, S.REJECTED, S.CANCELLED, S.REPLACED], then=models.Value(3)),
    default=models.Value(2),
    output_field=models.PositiveSmallIntegerField(),
)
# Waiting for a supervisor: a refund in review that is above the single-refund cap, or that the automatic approval
# escalated. Stored (and indexed with the queue's order) so that a supervisor's view and its count read only the
# refunds that wait for them, however many others the table holds.
NEEDS_SUPERVISOR = models.Case(
    models.When(
        Q(state=S.PENDING_REVIEW) & (Q(requires_supervisor=True) | Q(escalated_at__isnull=False)),
        then=models.Value(True),
    ),
    default=models.Value(False),
    output_field=models.BooleanField(),
)


class Refund(FSMModelMixin, models.Model):
    refund_no = models.CharField(_("refund number"), max_length=32, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("order"))
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("customer")
    )
    state = FSMField(
        _("state"), max_length=24, choices=RefundState.choices, default=RefundState.PENDING_REVIEW, protected=True
    )
    reason = models.CharField(_("reason"), max_length=24, choices=RefundReason.choices)
    kind = models.CharField(_("kind"), max_length=24, choices=RefundKind.choices, default=RefundKind.REFUND_ONLY)
    source = models.CharField(_("source"), max_length=16, choices=RefundSource.choices)
    description = models.TextField(_("description"), blank=True, max_length=1000)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    shipping_fee_amount = models.DecimalField(_("of which shipping fee"), max_digits=10, decimal_places=2, default=ZERO)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    # With a database default too: rows written without it (bulk loads, earlier releases' code) go back the way
    # they came.
    destination = models.CharField(
        _("paid to"),
        max_length=16,
        choices=RefundDestination.choices,
        default=RefundDestination.ORIGINAL,
        db_default=RefundDestination.ORIGINAL,
    )
    # The channel's request number (Alipay out_request_no / WeChat out_refund_no): fixed at creation and
    # reused on every retry and query, so that one refund moves money at most once.
    out_refund_no = models.CharField(_("channel request number"), max_length=64, unique=True)
    channel_refund_id = models.CharField(_("channel refund id"), max_length=64, blank=True)
    requires_supervisor = models.BooleanField(_("needs a supervisor"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    decision_note = models.CharField(_("decision note"), max_length=255, blank=True)
    # Of a rejection: the preset reason (its label is rendered in the reader's language), with ``decision_note``
    # holding the reviewer's own words.
    rejection_reason = models.ForeignKey(
        RejectionReason,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("rejection reason"),
    )
    due_at = models.DateTimeField(_("review due"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    escalation_reason = models.CharField(_("escalation reason"), max_length=255, blank=True)
    # NULL, not "", when absent: the unique constraint must ignore refunds applied without a key.
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    state_changed_at = models.DateTimeField(_("state changed at"), null=True, blank=True)
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    queue_rank = models.GeneratedField(
        expression=QUEUE_RANK, output_field=models.PositiveSmallIntegerField(), db_persist=True, editable=False
    )
    needs_supervisor = models.GeneratedField(
        expression=NEEDS_SUPERVISOR,
        output_field=models.BooleanField(_("needs a supervisor")),
        db_persist=True,
        editable=False,
    )

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("approve_refund", _("Can approve or reject refunds")),
            ("approve_large_refund", _("Can approve refunds above the single-refund cap")),
            ("create_staff_refund", _("Can create compensation and dispute refunds")),
            ("override_refund", _("Can override refund decisions")),
            ("confirm_return", _("Can confirm returned goods and inspection results")),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="refund_queue"),
            models.Index(fields=["customer", "-created_at"], name="refund_customer_recent"),
            models.Index(fields=["order", "state"], name="refund_order_state"),
            models.Index(fields=["queue_rank", "due_at"], name="refund_urgency"),
            models.Index(fields=["state", "queue_rank", "due_at"], name="refund_state_urgency"),
            # The queue's filters combined with a state: the capped count reads these indexes alone.
            models.Index(fields=["channel", "state"], name="refund_channel_state"),
            models.Index(fields=["reason", "state"], name="refund_reason_state"),
            models.Index(fields=["source", "state"], name="refund_source_state"),
            # Covers the dashboards' refunded-per-day sums (in total and per channel) without reading the rows.
            models.Index(fields=["refunded_at", "state", "channel", "amount"], name="refund_refunded_day"),
            # A supervisor's view: only the refunds waiting for one, in the queue's order.
            models.Index(fields=["needs_supervisor", "queue_rank", "due_at"], name="refund_supervisor_urgency"),
            models.Index(fields=["created_by", "created_at"], name="refund_creator_day"),
            # Reconciliation reads a channel's refunds of a day by one query: on a table of many days, the day is a
            # range of this index with channel and state checked in it (the optimiser may scan the table instead
            # when the day is most of it).
            models.Index(fields=["refunded_at", "channel", "state"], name="refund_day_channel"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"], name="refund_unique_idempotency_key_per_customer"
            ),
        ]

    def __str__(self) -> str:
        return self.refund_no

    # --- pure conditions ---------------------------------------------------------------------------
    def goods_need_return(self) -> bool:
        return self.kind == RefundKind.RETURN_AND_REFUND

    def can_pay_out_now(self) -> bool:
        """Approved money goes straight back unless goods are on the road or must come back first (or the remedy
        is a replacement, which moves no money)."""
        if self.is_replacement():
            return False
        return not self.goods_need_return() or self.order.is_not_shipped()

    def is_replacement(self) -> bool:
        return self.kind == RefundKind.REPLACEMENT

    def order_in_transit(self) -> bool:
        return self.order.is_in_transit()

    def order_delivered(self) -> bool:
        return self.order.is_delivered()

    def paid_to_store_credit(self) -> bool:
        return self.destination == RefundDestination.STORE_CREDIT

    # --- transitions ----------------------------------------------------------------------------------
    @transition(field=state, source=S.PENDING_REVIEW, target=S.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=state, source=[S.PENDING_REVIEW, S.INSPECTING], target=S.REJECTED)
    def reject(self) -> None:
        pass

    @transition(field=state, source=list(CANCELLABLE_STATES), target=S.CANCELLED)
    def cancel(self) -> None:
        pass

    @transition(field=state, source=S.APPROVED, target=S.REFUNDING, conditions=[can_pay_out_now])  # type: ignore[list-item]
    def start_refund(self) -> None:
        pass

    @transition(field=state, source=S.APPROVED, target=S.INTERCEPTING, conditions=[order_in_transit])  # type: ignore[list-item]
    def start_interception(self) -> None:
        pass

    @transition(field=state, source=S.INTERCEPTING, target=S.REFUNDING)
    def interception_succeeded(self) -> None:
        pass

    @transition(field=state, source=S.INTERCEPTING, target=S.AWAITING_RETURN)
    def interception_failed(self) -> None:
        pass

    @transition(field=state, source=S.APPROVED, target=S.AWAITING_RETURN, conditions=[order_delivered])  # type: ignore[list-item]
    def await_return(self) -> None:
        pass

    @transition(field=state, source=S.AWAITING_RETURN, target=S.RETURN_IN_TRANSIT)
    def return_shipped(self) -> None:
        pass

    @transition(field=state, source=[S.AWAITING_RETURN, S.RETURN_IN_TRANSIT], target=S.INSPECTING)
    def return_received(self) -> None:
        pass

    @transition(field=state, source=S.INSPECTING, target=S.REFUNDING)
    def inspection_passed(self) -> None:
        pass

    # Awaiting a transfer too: money the channel paid late after all must not be transferred a second time.
    @transition(field=state, source=[S.REFUNDING, S.AWAITING_TRANSFER], target=S.REFUNDED)
    def channel_succeeded(self) -> None:
        pass

    @transition(field=state, source=S.REFUNDING, target=S.REFUNDED, conditions=[paid_to_store_credit])  # type: ignore[list-item]
    def store_credit_paid(self) -> None:
        """The customer's balance was credited (no channel call)."""

    @transition(field=state, source=S.REFUNDING, target=S.FAILED)
    def channel_failed(self) -> None:
        pass

    @transition(field=state, source=S.FAILED, target=S.REFUNDING)
    def retry(self) -> None:
        pass

    # A person's remedies for a refund the channel could not pay, besides sending it again.
    @transition(field=state, source=S.FAILED, target=S.REFUNDING)
    def pay_to_store_credit(self) -> None:
        pass

    @transition(field=state, source=S.FAILED, target=S.AWAITING_TRANSFER)
    def choose_offline_transfer(self) -> None:
        pass

    @transition(field=state, source=S.AWAITING_TRANSFER, target=S.REFUNDED)
    def transfer_confirmed(self) -> None:
        """Finance made the bank transfer and recorded its reference and proof."""

    @transition(field=state, source=S.AWAITING_TRANSFER, target=S.FAILED)
    def transfer_abandoned(self) -> None:
        """Finance could not make the transfer: a person chooses again."""

    @transition(field=state, source=S.REJECTED, target=S.APPROVED)
    def overturn(self) -> None:
        """A supervisor reverses a rejection."""

    @transition(field=state, source=S.APPROVED, target=S.REPLACING, conditions=[is_replacement])  # type: ignore[list-item]
    def start_replacement(self) -> None:
        pass

    @transition(field=state, source=S.REPLACING, target=S.REPLACED)
    def replacement_shipped(self) -> None:
        pass

    @transition(field=state, source=S.REPLACING, target=S.REFUNDING)
    def replacement_unavailable(self) -> None:
        """Stock cannot cover the replacement: the money goes back instead (the service makes it a refund)."""


class RefundItem(models.Model):
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="items", verbose_name=_("refund"))
    order_item = models.ForeignKey(
        OrderItem, on_delete=models.PROTECT, related_name="refund_items", verbose_name=_("order item")
    )
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=3)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("refund item")
        verbose_name_plural = _("refund items")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="refund_item_quantity_not_negative"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="refund_item_amount_not_negative"),
            models.UniqueConstraint(fields=["refund", "order_item"], name="refund_item_once_per_line"),
        ]

    def __str__(self) -> str:
        return f"{self.order_item_id} x {self.quantity}"


class RefundEvent(models.Model):
    """One transition (or a recorded fact, when from and to are equal): who, when, from, to, why."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="events", verbose_name=_("refund"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    from_state = models.CharField(_("from"), max_length=24, choices=RefundState.choices, blank=True)
    to_state = models.CharField(_("to"), max_length=24, choices=RefundState.choices)
    # The note as a text code and its parameters (``mall.texts``), rendered in the reader's language when read;
    # words a person typed are the code ``text``.
    note_code = models.CharField(_("note"), max_length=48, blank=True)
    note_params = models.JSONField(_("note parameters"), default=dict, blank=True)
    # Staff-only notes (escalations, internal remarks) stay out of the customer's timeline.
    internal = models.BooleanField(_("internal"), default=False)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("refund event")
        verbose_name_plural = _("refund events")
        ordering = ["created_at", "id"]
        # The dashboard's failure rate reads the channel outcomes of the last 24 hours.
        indexes = [models.Index(fields=["to_state", "created_at"], name="refund_event_outcome_time")]

    def __str__(self) -> str:
        return f"{self.refund_id}: {self.from_state} -> {self.to_state}"

    @property
    def note(self) -> str:
        """The note in the active language (the API's Accept-Language, the console user's language)."""
        return text_render(self.note_code, self.note_params)

    @property
    def note_text(self) -> Text:
        return Text(self.note_code, self.note_params)

    @property
    def actor_label(self) -> str:
        return str(self.actor) if self.actor_id else str(_("system"))


def evidence_path(instance: RefundEvidence, filename: str) -> str:
    return f"refunds/evidence/{instance.refund.refund_no}/{filename}"


class RefundEvidence(models.Model):
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="evidence", verbose_name=_("refund"))
    file = models.FileField(_("file"), upload_to=evidence_path, max_length=255)
    content_type = models.CharField(_("content type"), max_length=32)
    size = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("uploaded by")
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("evidence photo")
        verbose_name_plural = _("evidence photos")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.file.name or ""


class ReturnShipment(models.Model):
    """Goods the customer sends back, with the carrier and tracking number they gave."""

    refund = models.OneToOneField(
        Refund, on_delete=models.CASCADE, related_name="return_shipment", verbose_name=_("refund")
    )
    carrier = models.CharField(_("carrier"), max_length=32)
    tracking_no = models.CharField(_("tracking number"), max_length=64)
    submitted_at = models.DateTimeField(_("submitted at"), auto_now_add=True)
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)

    class Meta:
        verbose_name = _("return shipment")
        verbose_name_plural = _("return shipments")

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_no}"


class ReplacementShipment(models.Model):
    """The goods of a replacement (补发), shipped again: created once stock is allocated, shipped when the carrier
    picks them up. The carrier gives the tracking number."""

    refund = models.OneToOneField(
        Refund, on_delete=models.CASCADE, related_name="replacement", verbose_name=_("refund")
    )
    carrier = models.CharField(_("carrier"), max_length=32, blank=True)
    tracking_no = models.CharField(_("tracking number"), max_length=64, blank=True, db_index=True)
    carrier_shipment_id = models.CharField(_("carrier shipment id"), max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(_("requests sent"), default=0)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("stock allocated at"), auto_now_add=True)
    requested_at = models.DateTimeField(_("accepted by the carrier at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    refused_at = models.DateTimeField(_("refused by the carrier at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("replacement shipment")
        verbose_name_plural = _("replacement shipments")

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_no}".strip() or str(self.refund_id)


class DisputeStatus(models.TextChoices):
    OPEN = "open", _("open")
    RESOLVED = "resolved", _("resolved")


class DisputeOutcome(models.TextChoices):
    UPHOLD = "uphold", _("upheld: the customer gets what they asked")
    PARTIAL = "partial", _("partly upheld: a compensation refund")
    REJECT = "reject", _("rejected: the decision stands")


class DisputeOpener(models.TextChoices):
    CUSTOMER = "customer", _("customer")
    AGENT = "agent", _("customer service")


class Dispute(models.Model):
    """A customer contests a refund decision (or an agent opens a case on an order); an agent arbitrates."""

    dispute_no = models.CharField(_("dispute number"), max_length=32, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="disputes", verbose_name=_("order"))
    refund = models.ForeignKey(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="disputes", verbose_name=_("refund")
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="disputes", verbose_name=_("customer")
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("opened by")
    )
    opener = models.CharField(_("opened by"), max_length=16, choices=DisputeOpener.choices)
    reason = models.TextField(_("reason"), max_length=1000)
    status = models.CharField(_("status"), max_length=16, choices=DisputeStatus.choices, default=DisputeStatus.OPEN)
    outcome = models.CharField(_("outcome"), max_length=16, choices=DisputeOutcome.choices, blank=True)
    resolution_note = models.CharField(_("resolution"), max_length=500, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution_refund = models.OneToOneField(
        Refund,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="resolved_dispute",
        verbose_name=_("resolution refund"),
    )
    created_at = models.DateTimeField(_("opened at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")
        ordering = ["-created_at", "-id"]
        permissions = [("work_dispute", _("Can open, annotate and resolve disputes"))]
        indexes = [models.Index(fields=["status", "created_at"], name="dispute_queue")]

    def __str__(self) -> str:
        return self.dispute_no


class DisputeNote(models.Model):
    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="notes", verbose_name=_("dispute"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("author")
    )
    body = models.TextField(_("note"), max_length=2000)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("dispute note")
        verbose_name_plural = _("dispute notes")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.dispute_id}: {self.body[:40]}"
