"""Customer endpoint: where to send the goods of a refund back. Another customer's refund answers 404."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from logistics import services
from logistics.exceptions import NoReturnAddress, ReturnNotNeeded
from mall.api_common import get_exact_or_404
from refunds.models import Refund, RefundKind, RefundState
from refunds.serializers import ErrorSerializer

# States in which the goods are on their way back, or about to be.
RETURN_STATES = (RefundState.AWAITING_RETURN, RefundState.RETURN_IN_TRANSIT, RefundState.INSPECTING)


class AddressSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    contact = serializers.CharField()
    phone = serializers.CharField()
    address = serializers.CharField()


class ReturnAddressSerializer(serializers.Serializer):  # type: ignore[type-arg]
    refund_no = serializers.CharField()
    state = serializers.CharField()
    return_address = AddressSerializer()


def needs_return(refund: Refund) -> bool:
    if refund.state in RETURN_STATES:
        return True
    return refund.kind == RefundKind.RETURN_AND_REFUND and refund.state in (
        RefundState.PENDING_REVIEW,
        RefundState.APPROVED,
    )


class ReturnAddressView(APIView):
    @extend_schema(
        summary="Where to send the goods back",
        responses={
            200: ReturnAddressSerializer,
            401: OpenApiResponse(ErrorSerializer, description="No or bad credentials."),
            404: OpenApiResponse(ErrorSerializer, description="No such refund of yours."),
            409: OpenApiResponse(ErrorSerializer, description="This refund does not need the goods back."),
        },
    )
    def get(self, request: Request, refund_no: str) -> Response:
        refund = get_exact_or_404(
            Refund.objects.only("refund_no", "state", "kind"), refund_no=refund_no, customer=request.user
        )
        if not needs_return(refund):
            raise ReturnNotNeeded(state=refund.state)
        warehouse = services.return_address()
        if warehouse is None:
            raise NoReturnAddress()
        data: dict[str, Any] = {
            "refund_no": refund.refund_no,
            "state": refund.state,
            "return_address": {
                "name": warehouse.name,
                "contact": warehouse.contact,
                "phone": warehouse.phone,
                "address": warehouse.address,
            },
        }
        return Response(ReturnAddressSerializer(data).data)
