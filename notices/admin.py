"""The customers' messages in the console, read-only: what each customer was told and how each email went."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from mall.admin_base import ReadOnlyAdmin
from notices.models import CustomerMessage, MessageDelivery


class DeliveryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = MessageDelivery
    fields = readonly_fields = (
        "medium",
        "recipient",
        "status",
        "attempts",
        "last_error",
        "language",
        "sent_at",
        "next_attempt_at",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(CustomerMessage)
class CustomerMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "refund", "customer", "event", "title_shown", "read_at"]
    list_filter = ["event"]
    search_fields = ["refund__refund_no", "customer__username", "customer__email"]
    list_select_related = ["refund", "customer"]
    fields = readonly_fields = ("refund", "customer", "event", "title_shown", "body_shown", "created_at", "read_at")
    inlines = [DeliveryInline]
    show_full_result_count = False

    @admin.display(description=_("title"))
    def title_shown(self, obj: CustomerMessage) -> str:
        return obj.title

    @admin.display(description=_("body"))
    def body_shown(self, obj: CustomerMessage) -> str:
        return obj.body


@admin.register(MessageDelivery)
class MessageDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "message", "medium", "recipient", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "medium"]
    search_fields = ["recipient", "message__refund__refund_no"]
    list_select_related = ["message"]
    show_full_result_count = False
