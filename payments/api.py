"""Customer access to a refund's voucher: a short-lived signed link, for the owning customer only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.api_common import ErrorSerializer
from payments.models import RefundVoucher
from payments.vouchers import SIGNED_URL_SECONDS, voucher_url
from refunds.exceptions import RefundNotAllowed
from refunds.models import Refund


class VoucherLinkSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Where to download the voucher, its SHA-256, and for how many seconds the link works."""

    url = serializers.URLField()
    sha256 = serializers.CharField()
    expires_in = serializers.IntegerField()


class RefundVoucherView(APIView):
    @extend_schema(
        summary="Download link of the refund's voucher (PDF), valid for five minutes",
        responses={
            200: VoucherLinkSerializer,
            401: OpenApiResponse(ErrorSerializer, description="No or bad credentials."),
            404: OpenApiResponse(ErrorSerializer, description="No such refund of yours."),
            409: OpenApiResponse(ErrorSerializer, description="The refund has no voucher yet."),
        },
    )
    def get(self, request: Request, refund_no: str) -> Response:
        refund = Refund.objects.filter(refund_no=refund_no, customer_id=request.user.pk).first()
        if refund is None:
            raise NotFound()
        voucher = RefundVoucher.objects.filter(refund=refund).first()
        if voucher is None:
            raise RefundNotAllowed(state=refund.state)
        url = voucher_url(voucher)
        body = {"url": request.build_absolute_uri(url), "sha256": voucher.sha256, "expires_in": SIGNED_URL_SECONDS}
        return Response(VoucherLinkSerializer(body).data)
