"""Shapes of the customer refund API. Parsing and presentation only: the rules live in the services."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mall.api_common import ErrorSerializer, PlainDecimalField
from mall.money import CENT
from refunds.models import (
    CUSTOMER_DESTINATIONS,
    CUSTOMER_REASONS,
    Refund,
    RefundDestination,
    RefundEvent,
    RefundEvidence,
    RefundItem,
    RefundKind,
    RefundReason,
    RefundState,
)
from refunds.rejections import refund_rejection_text, timeline_notes
from refunds.selectors import NEEDS, refund_needs
from refunds.services import ItemRequest


# A serializer works its fields out for every instance: it deep-copies the declared ones, and a ModelSerializer
# reads the model (verbose names, choices, decimal places). The ones below, built for every application and every
# refund shown, work them out once per class. Each instance gets shallow copies: binding sets only the copy's own
# attributes, and no field keeps anything of a request while it validates or presents (errors are raised, not
# stored on fields). A nested list (``many=True``) is copied the same way and shares its child serializer, itself
# built once: the child keeps the fields it bound on first use. (A comment, not a docstring: the API schema takes a
# serializer's docstring, inherited ones included, as its public description.)
class FieldsBuiltOnce:
    def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
        built: dict[str, serializers.Field] | None = type(self).__dict__.get("_built_fields")  # type: ignore[type-arg]
        if built is None:
            built = super().get_fields()  # type: ignore[misc]
            for name, field in built.items():
                if isinstance(field, serializers.BaseSerializer) and not (
                    isinstance(field, serializers.ListSerializer) and isinstance(field.child, FieldsBuiltOnce)
                ):
                    raise TypeError(f"{type(self).__name__}.{name}: only lists of FieldsBuiltOnce serializers nest")
            type(self)._built_fields = built  # type: ignore[attr-defined]
        return {name: copy.copy(field) for name, field in built.items()}


class ItemRequestSerializer(FieldsBuiltOnce, serializers.Serializer):  # type: ignore[type-arg]
    order_item_id = serializers.IntegerField(min_value=1)
    quantity = PlainDecimalField(max_digits=10, decimal_places=3, min_value=Decimal("0.001"))
    amount = PlainDecimalField(max_digits=12, decimal_places=2, min_value=CENT, required=False, allow_null=True)


class RefundApplySerializer(FieldsBuiltOnce, serializers.Serializer):  # type: ignore[type-arg]
    order_no = serializers.CharField(max_length=32)
    reason = serializers.ChoiceField(
        choices=[(r.value, r.label) for r in CUSTOMER_REASONS],
        error_messages={"invalid_choice": _("“{input}” is not a reason a customer may give.")},
    )
    kind = serializers.ChoiceField(choices=RefundKind.choices)
    items = ItemRequestSerializer(many=True, allow_empty=False, max_length=100)  # type: ignore[call-arg]
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    destination = serializers.ChoiceField(
        choices=[(d.value, d.label) for d in CUSTOMER_DESTINATIONS],
        default=RefundDestination.ORIGINAL,
        help_text="`original`: back on the order's channel; `store_credit`: to your shop balance at once.",
    )

    def item_requests(self) -> list[ItemRequest]:
        return [
            ItemRequest(order_item_id=i["order_item_id"], quantity=i["quantity"], amount=i.get("amount"))
            for i in self.validated_data["items"]
        ]


class ReturnShipmentInSerializer(serializers.Serializer):  # type: ignore[type-arg]
    carrier = serializers.CharField(max_length=32)
    tracking_no = serializers.RegexField(r"^[A-Za-z0-9-]{4,64}$", max_length=64)


class EvidenceInSerializer(serializers.Serializer):  # type: ignore[type-arg]
    file = serializers.FileField()


# The label of a model field's value in the current language, as ``get_<field>_display`` gives it, from a mapping
# made once (Django rebuilds its mapping on every call, and DRF inspects the method each time).
class ChoiceLabelField(serializers.CharField):
    def __init__(self, *, labels: type[models.Choices], **kwargs: Any) -> None:
        self.labels = dict(labels.choices)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return str(self.labels.get(value, value))


class RefundItemSerializer(FieldsBuiltOnce, serializers.ModelSerializer):  # type: ignore[type-arg]
    """An order line the refund takes back: the quantity and the money for it."""

    sku = serializers.CharField(source="order_item.sku")
    name = serializers.CharField(source="order_item.name")

    class Meta:
        model = RefundItem
        fields = ["order_item_id", "sku", "name", "quantity", "amount"]
        read_only_fields = fields


class TimelineEntrySerializer(FieldsBuiltOnce, serializers.ModelSerializer):  # type: ignore[type-arg]
    """One step of the refund: the state it reached, when, and why."""

    state = serializers.CharField(source="to_state")
    state_display = ChoiceLabelField(source="to_state", labels=RefundState)
    at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = RefundEvent
        fields = ["state", "state_display", "at", "note"]
        read_only_fields = fields


# One entry serializer presents every refund's timeline (read-only, its fields built once).
TIMELINE_ENTRY = TimelineEntrySerializer()


class EvidenceSerializer(FieldsBuiltOnce, serializers.ModelSerializer):  # type: ignore[type-arg]
    """A photo the customer uploaded."""

    uploaded_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = RefundEvidence
        fields = ["id", "content_type", "size", "uploaded_at"]
        read_only_fields = fields


# A parcel, or null: written out rather than a nullable reference to a component, which OpenAPI 3.0.3 does not
# allow to be null ("nullable" needs a "type" beside it).
SHIPMENT_OR_NULL = {
    "type": "object",
    "nullable": True,
    "properties": {"carrier": {"type": "string"}, "tracking_no": {"type": "string"}},
    "required": ["carrier", "tracking_no"],
}


class RefundSerializer(FieldsBuiltOnce, serializers.ModelSerializer):  # type: ignore[type-arg]
    """A refund request (or a replacement) and where it stands."""

    order_no = serializers.CharField(source="order.order_no")
    state_display = ChoiceLabelField(source="state", labels=RefundState)
    reason_display = ChoiceLabelField(source="reason", labels=RefundReason)
    destination_display = ChoiceLabelField(source="destination", labels=RefundDestination)
    items = RefundItemSerializer(many=True)
    timeline = serializers.SerializerMethodField()
    evidence = EvidenceSerializer(many=True)
    return_shipment = serializers.SerializerMethodField()
    rejection = serializers.SerializerMethodField()
    replacement = serializers.SerializerMethodField()
    needs = serializers.SerializerMethodField()

    class Meta:
        model = Refund
        fields = [
            "refund_no",
            "order_no",
            "state",
            "state_display",
            "reason",
            "reason_display",
            "kind",
            "source",
            "amount",
            "shipping_fee_amount",
            "channel",
            "destination",
            "destination_display",
            "description",
            "items",
            "created_at",
            "updated_at",
            "refunded_at",
            "timeline",
            "evidence",
            "return_shipment",
            "rejection",
            "replacement",
            "needs",
        ]
        read_only_fields = fields

    @extend_schema_field(TimelineEntrySerializer(many=True))
    def get_timeline(self, refund: Refund) -> list[dict[str, Any]]:
        # Events are prefetched (customer-visible only) by the selector.
        events = [event for event in refund.events.all() if not event.internal]
        entries = [TIMELINE_ENTRY.to_representation(event) for event in events]
        # A rejection's note reads as its preset reason in the reader's language, then the reviewer's words.
        for entry, note in zip(entries, timeline_notes(refund, events), strict=True):
            entry["note"] = note
        return entries

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "description": "Why the refund stands rejected (null unless its state is rejected).",
            "properties": {
                "reason": {"type": "string", "nullable": True, "description": "The preset reason's code."},
                "reason_display": {"type": "string", "description": "Its label in the reader's language."},
                "note": {"type": "string", "description": "The reviewer's own words."},
                "text": {"type": "string", "description": "The reason and the words, as one sentence."},
            },
        }
    )
    def get_rejection(self, refund: Refund) -> dict[str, Any] | None:
        if refund.state != RefundState.REJECTED:
            return None
        reason = refund.rejection_reason
        return {
            "reason": reason.code if reason is not None else None,
            "reason_display": reason.label() if reason is not None else "",
            "note": refund.decision_note,
            "text": refund_rejection_text(refund),
        }

    @extend_schema_field(SHIPMENT_OR_NULL)
    def get_return_shipment(self, refund: Refund) -> dict[str, Any] | None:
        shipment = getattr(refund, "return_shipment", None)
        if shipment is None:
            return None
        return {"carrier": shipment.carrier, "tracking_no": shipment.tracking_no}

    @extend_schema_field(SHIPMENT_OR_NULL)
    def get_replacement(self, refund: Refund) -> dict[str, Any] | None:
        shipment = getattr(refund, "replacement", None)
        if shipment is None or not shipment.tracking_no:
            return None
        return {"carrier": shipment.carrier, "tracking_no": shipment.tracking_no}

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=NEEDS)))
    def get_needs(self, refund: Refund) -> list[str]:
        return refund_needs(refund)


__all__ = [
    "ErrorSerializer",
    "EvidenceInSerializer",
    "EvidenceSerializer",
    "ItemRequestSerializer",
    "RefundApplySerializer",
    "RefundItemSerializer",
    "RefundSerializer",
    "ReturnShipmentInSerializer",
    "TimelineEntrySerializer",
]
