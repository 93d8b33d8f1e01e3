"""Shapes of the customer order API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mall.models import Order, OrderItem
from mall.selectors import order_refundable_amount


class OrderItemSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """An order line, and how much of it may still be refunded."""

    refundable_quantity = serializers.DecimalField(max_digits=10, decimal_places=3, read_only=True)
    refundable_amount = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = OrderItem
        fields = [
            "id",
            "sku",
            "name",
            "unit",
            "quantity",
            "unit_price",
            "amount",
            "refundable_quantity",
            "refundable_amount",
        ]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """One of your orders, and how much of it may still be refunded."""

    channel = serializers.CharField(read_only=True, allow_null=True)
    fulfilment = serializers.CharField(read_only=True)
    refundable_amount = serializers.SerializerMethodField()
    items = OrderItemSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "order_no",
            "status",
            "fulfilment",
            "channel",
            "goods_amount",
            "shipping_fee",
            "total_amount",
            "refundable_amount",
            "created_at",
            "items",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2))
    def get_refundable_amount(self, order: Order) -> str:
        return f"{order_refundable_amount(order=order):.2f}"
