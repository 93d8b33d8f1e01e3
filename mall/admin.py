from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group, User
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from mall.admin_base import ConsoleModelAdmin
from mall.models import Order, OrderEvent, OrderItem, Payment, Product, Shipment, Stock, StockMovement


class StockInline(admin.StackedInline):  # type: ignore[type-arg]
    model = Stock
    can_delete = False


@admin.register(Product)
class ProductAdmin(ConsoleModelAdmin):
    list_display = ["sku", "name", "unit", "price", "perishable", "shelf_life_days", "active"]
    list_filter = ["unit", "perishable", "active"]
    search_fields = ["sku", "name"]
    inlines = [StockInline]


@admin.register(StockMovement)
class StockMovementAdmin(ConsoleModelAdmin):
    list_display = ["created_at", "product", "delta", "reason", "reference"]
    list_filter = ["reason"]
    search_fields = ["reference", "product__sku"]
    list_select_related = ["product"]
    readonly_fields = ["product", "delta", "reason", "reference", "created_at"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


class OrderItemInline(admin.TabularInline):  # type: ignore[type-arg]
    model = OrderItem
    extra = 0
    can_delete = False
    readonly_fields = (
        "sku",
        "name",
        "unit",
        "quantity",
        "unit_price",
        "amount",
        "refund_claimed_quantity",
        "refund_claimed_amount",
    )
    fields = readonly_fields

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


class PaymentInline(admin.StackedInline):  # type: ignore[type-arg]
    model = Payment
    can_delete = False
    readonly_fields = ["channel", "out_trade_no", "trade_no", "amount", "paid_at"]

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


class ShipmentInline(admin.StackedInline):  # type: ignore[type-arg]
    model = Shipment
    can_delete = False
    readonly_fields = ["carrier", "tracking_no", "shipped_at", "delivered_at"]

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


class OrderEventInline(admin.TabularInline):  # type: ignore[type-arg]
    model = OrderEvent
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "from_status", "to_status", "actor", "note")
    fields = readonly_fields

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ConsoleModelAdmin):
    list_display = ["order_no", "customer", "status", "total_amount", "created_at"]
    # Dates filter by ranges computed in Python ("created_at"), not by a date hierarchy: that one converts time zones
    # in SQL, which MySQL cannot do without its time zone tables loaded (the console then answered 500).
    list_filter = ["status", "payment__channel", "created_at"]
    search_fields = ["order_no", "customer__username", "payment__trade_no"]
    list_select_related = ["customer"]
    readonly_fields = [
        "order_no",
        "customer",
        "status",
        "goods_amount",
        "shipping_fee",
        "total_amount",
        "shipping_fee_refund_claimed",
        "receiver_name",
        "receiver_phone",
        "receiver_address",
        "created_at",
        "updated_at",
    ]
    inlines = [OrderItemInline, PaymentInline, ShipmentInline, OrderEventInline]
    show_full_result_count = False

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


# Django's and DRF's own lists (superusers) check a bulk action's selection like the console's.
class UserAdmin(ConsoleModelAdmin, auth_admin.UserAdmin):  # type: ignore[type-arg]
    pass


class GroupAdmin(ConsoleModelAdmin, auth_admin.GroupAdmin):
    pass


class ApiTokenAdmin(ConsoleModelAdmin, TokenAdmin):
    pass


for _model, _admin in ((User, UserAdmin), (Group, GroupAdmin), (TokenProxy, ApiTokenAdmin)):
    admin.site.unregister(_model)
    admin.site.register(_model, _admin)

admin.site.site_header = _("Fruit mall refund console")
admin.site.site_title = _("Fruit mall refunds")
admin.site.index_title = _("Refund back office")

# Failed-login lockouts: the login form, the lists a supervisor or an operator unlocks from.
from mall import login_lockout  # noqa: E402

admin.site.login_form = login_lockout.ConsoleLoginForm
