"""Customer order endpoints: a customer sees only their own orders (another's answers 404)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets

from mall.api_common import ErrorSerializer, ExactLookup
from mall.models import Order
from mall.selectors import order_list_for_customer
from mall.serializers import OrderSerializer

UNAUTHORISED = OpenApiResponse(ErrorSerializer, description="No or bad credentials.")


@extend_schema_view(
    list=extend_schema(summary="Your orders", responses={200: OrderSerializer(many=True), 401: UNAUTHORISED}),
    retrieve=extend_schema(
        summary="One of your orders, with what is still refundable",
        responses={
            200: OrderSerializer,
            401: UNAUTHORISED,
            404: OpenApiResponse(ErrorSerializer, description="No such order of yours."),
        },
    ),
)
class OrderViewSet(ExactLookup, viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    serializer_class = OrderSerializer
    lookup_field = "order_no"
    lookup_value_regex = r"[A-Za-z0-9_-]{1,32}"

    def get_queryset(self) -> QuerySet[Order]:
        return order_list_for_customer(customer=self.request.user)  # type: ignore[arg-type]
