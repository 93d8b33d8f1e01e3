"""The customer's side of disputes: contest a decision on one of their refunds, and follow the outcome.

``/api/v1/refunds/{refund_no}/dispute/``: POST opens a dispute, GET lists the refund's disputes. Another
customer's refund answers 404, as everywhere in the API.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from mall.actors import signed_in
from mall.api_common import get_exact_or_404
from refunds.api import ERRORS, errors
from refunds.disputes import dispute_open_by_customer
from refunds.models import Dispute, DisputeOutcome, Refund


class DisputeInSerializer(serializers.Serializer):  # type: ignore[type-arg]
    reason = serializers.CharField(max_length=1000)


class DisputeSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A dispute of a refund decision, and how customer service resolved it."""

    # Empty while the dispute is open.
    outcome = serializers.ChoiceField(choices=DisputeOutcome.choices, allow_blank=True, read_only=True)
    refund_no = serializers.CharField(source="refund.refund_no", read_only=True)
    resolution_refund_no = serializers.CharField(
        source="resolution_refund.refund_no", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Dispute
        fields = [
            "dispute_no",
            "refund_no",
            "status",
            "outcome",
            "reason",
            "resolution_note",
            "resolution_refund_no",
            "created_at",
            "resolved_at",
        ]
        read_only_fields = fields


class RefundDisputeViewSet(viewsets.ViewSet):
    def _refund(self, request: Request, refund_no: str) -> Refund:
        return get_exact_or_404(Refund.objects.filter(customer_id=request.user.pk), refund_no=refund_no)

    @extend_schema(
        summary="Disputes of one of your refunds", responses={200: DisputeSerializer(many=True), **errors(401, 404)}
    )
    def list(self, request: Request, refund_no: str) -> Response:
        refund = self._refund(request, refund_no)
        disputes = Dispute.objects.filter(refund=refund).select_related("refund", "resolution_refund")
        return Response(DisputeSerializer(disputes, many=True).data)

    @extend_schema(
        summary="Contest the decision on a rejected or partly refunded refund",
        request=DisputeInSerializer,
        responses={201: DisputeSerializer, **ERRORS},
    )
    def create(self, request: Request, refund_no: str) -> Response:
        refund = self._refund(request, refund_no)
        data = DisputeInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dispute = dispute_open_by_customer(
            customer=signed_in(request.user), refund=refund, reason=data.validated_data["reason"]
        )
        body: Any = DisputeSerializer(dispute).data
        return Response(body, status=status.HTTP_201_CREATED)
