"""Customer access to a refund's voucher (a short-lived signed link, for the owning customer only) and to their
store credit (the balance and its ledger)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.actors import signed_in
from mall.api_common import ErrorSerializer, Pagination, get_exact_or_404
from payments.models import RefundVoucher, StoreCreditEntry, StoreCreditKind
from payments.store_credit import store_credit_balance
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
        refund = get_exact_or_404(Refund.objects.filter(customer_id=request.user.pk), refund_no=refund_no)
        voucher = RefundVoucher.objects.filter(refund=refund).first()
        if voucher is None:
            raise RefundNotAllowed(state=refund.state)
        url = voucher_url(voucher)
        body = {"url": request.build_absolute_uri(url), "sha256": voucher.sha256, "expires_in": SIGNED_URL_SECONDS}
        return Response(VoucherLinkSerializer(body).data)


class StoreCreditEntrySerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="+ credited, − spent")
    refund_no = serializers.CharField(source="refund.refund_no", allow_null=True, default=None)
    note = serializers.SerializerMethodField()
    at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = StoreCreditEntry
        fields = ["amount", "refund_no", "note", "at"]
        read_only_fields = fields

    def get_note(self, entry: StoreCreditEntry) -> str:
        # Written in the reader's language when read, whoever caused the entry.
        if entry.note:
            return entry.note
        if entry.kind == StoreCreditKind.CREDIT and entry.refund is not None:
            return _("Refund %(refund_no)s credited") % {"refund_no": entry.refund.refund_no}
        return str(StoreCreditKind(entry.kind).label)


class StoreCreditPagination(Pagination):
    """The other lists' pages, with the balance on top."""

    balance = Decimal("0.00")

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        response.data = {"balance": f"{self.balance:.2f}", **response.data}
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paged = super().get_paginated_response_schema(schema)
        paged["properties"] = {
            "balance": {"type": "string", "format": "decimal", "example": "12.50"},
            **paged["properties"],
        }
        paged["required"] = ["balance", *paged.get("required", [])]
        return paged


@extend_schema_view(
    list=extend_schema(
        summary="Your store credit: the balance and every change to it, newest first",
        responses={200: StoreCreditEntrySerializer(many=True), 401: OpenApiResponse(ErrorSerializer)},
    )
)
class StoreCreditViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    serializer_class = StoreCreditEntrySerializer
    pagination_class = StoreCreditPagination

    def get_queryset(self) -> QuerySet[StoreCreditEntry]:
        return (
            StoreCreditEntry.objects.filter(account__customer_id=self.request.user.pk)
            .select_related("refund")
            .order_by("-created_at", "-id")
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        assert isinstance(self.paginator, StoreCreditPagination)
        self.paginator.balance = store_credit_balance(customer=signed_in(request.user))
        return super().list(request, *args, **kwargs)
