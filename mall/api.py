"""Customer order endpoints: a customer sees only their own orders (another's answers 404)."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import viewsets

from mall.models import Order
from mall.selectors import order_list_for_customer
from mall.serializers import OrderSerializer


class OrderViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    serializer_class = OrderSerializer
    lookup_field = "order_no"
    lookup_value_regex = r"[A-Za-z0-9_-]{1,32}"

    def get_queryset(self) -> QuerySet[Order]:
        return order_list_for_customer(customer=self.request.user)  # type: ignore[arg-type]
