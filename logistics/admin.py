"""The logistics side of the console: return addresses, interceptions, carrier notifications, returned parcels,
quality inspections (their page: ``logistics.inspection_page``), write-offs and perishable claims.

Nobody edits refund-side rows here: receipt, inspection results and settlements are actions and small forms
that call ``logistics.services``, which check the user's permission and the refund's state.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from logistics import services
from logistics.inspection_page import InspectionAdmin
from logistics.models import (
    CarrierEvent,
    Inspection,
    InspectionRecord,
    Interception,
    PerishableClaim,
    Warehouse,
    WriteOff,
)
from mall.actors import signed_in
from mall.admin_base import ConsoleModelAdmin, ReadOnlyAdmin
from mall.exceptions import BusinessError
from mall.models import OrderItem
from mall.money import yuan
from mall.quantities import quantity_text
from refunds.models import RefundKind, RefundReason, RefundState, ReturnShipment

BULK_LIMIT = 100


def _each(request: HttpRequest, queryset: QuerySet[Any], call: Any, done: Any) -> None:
    """Run ``call`` on each selected row, reporting each success or refusal."""
    if queryset.count() > BULK_LIMIT:
        messages.error(request, gettext("Choose at most %(n)d rows at a time.") % {"n": BULK_LIMIT})
        return
    for row in queryset:
        try:
            result = call(row)
        except BusinessError as exc:
            messages.error(request, f"{row}: {exc.message}")
        else:
            messages.success(request, done(row, result))


# --- return addresses ------------------------------------------------------------------------------------


@admin.register(Warehouse)
class WarehouseAdmin(ConsoleModelAdmin):
    list_display = ["name", "contact", "phone", "address", "active", "is_default"]
    list_filter = ["active", "is_default"]
    search_fields = ["name", "address"]
    fields = ["name", "contact", "phone", "address", "active", "is_default"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("logistics.manage_warehouse"))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("logistics.manage_warehouse"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: past returns keep their address

    def save_model(self, request: HttpRequest, obj: Warehouse, form: Any, change: bool) -> None:
        services.warehouse_save(warehouse=obj, actor=signed_in(request.user))


# --- interceptions and carrier notifications -------------------------------------------------------------


@admin.register(Interception)
class InterceptionAdmin(ReadOnlyAdmin):
    list_display = ["refund", "carrier", "tracking_no", "status", "attempts", "deadline_at", "answered_at"]
    list_filter = ["status", "carrier"]
    search_fields = ["tracking_no", "refund__refund_no"]
    list_select_related = ["refund"]
    actions = ["check_now"]

    def has_check_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("refunds.confirm_return"))

    @admin.action(description=_("Ask the carrier now"), permissions=["check"])
    def check_now(self, request: HttpRequest, queryset: QuerySet[Interception]) -> None:
        _each(
            request,
            queryset.filter(status="pending"),
            lambda row: services.interception_check(interception=row),
            lambda row, result: f"{row}: {result.get_status_display()}",
        )


@admin.register(CarrierEvent)
class CarrierEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "kind", "carrier", "tracking_no", "status", "outcome"]
    list_filter = ["kind", "status"]
    search_fields = ["tracking_no", "event_id"]


# --- returned parcels --------------------------------------------------------------------------------------


def _confirm_receipt(request: HttpRequest, refunds: list[Any]) -> None:
    for refund in refunds:
        try:
            refund = services.return_receive(refund=refund, actor=signed_in(request.user))
        except BusinessError as exc:
            messages.error(request, f"{refund.refund_no}: {exc.message}")
        else:
            messages.success(request, f"{refund.refund_no}: {refund.get_state_display()}")


@admin.register(ReturnShipment)
class ReturnShipmentAdmin(ReadOnlyAdmin):
    list_display = ["refund", "refund_state", "carrier", "tracking_no", "submitted_at", "received_at"]
    list_filter = ["refund__state", "carrier"]
    search_fields = ["tracking_no", "refund__refund_no"]
    list_select_related = ["refund"]
    actions = ["confirm_receipt"]

    def has_confirm_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("refunds.confirm_return"))

    @admin.display(description=_("refund state"))
    def refund_state(self, obj: ReturnShipment) -> str:
        return str(obj.refund.get_state_display())

    @admin.action(description=_("Confirm the goods were received"), permissions=["confirm"])
    def confirm_receipt(self, request: HttpRequest, queryset: QuerySet[ReturnShipment]) -> None:
        if queryset.count() > BULK_LIMIT:
            messages.error(request, gettext("Choose at most %(n)d rows at a time.") % {"n": BULK_LIMIT})
            return
        _confirm_receipt(request, [row.refund for row in queryset.select_related("refund")])


# --- inspection ------------------------------------------------------------------------------------------


admin.site.register(Inspection, InspectionAdmin)


@admin.register(InspectionRecord)
class InspectionRecordAdmin(ReadOnlyAdmin):
    list_display = ["refund", "order_item", "received", "condition", "disposition", "inspector", "created_at"]
    list_filter = ["condition", "disposition"]
    search_fields = ["refund__refund_no"]
    list_select_related = ["refund", "order_item", "inspector"]

    @admin.display(description=_("received quantity or weight"))
    def received(self, obj: InspectionRecord) -> str:
        return quantity_text(obj.received_quantity, obj.order_item.unit)


@admin.register(WriteOff)
class WriteOffAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "refund", "product", "written_off", "reason"]
    list_filter = ["reason"]
    search_fields = ["refund__refund_no", "product__sku"]
    list_select_related = ["refund", "product"]

    @admin.display(description=_("quantity"))
    def written_off(self, obj: WriteOff) -> str:
        return quantity_text(obj.quantity, obj.product.unit)


# --- perishable claims without a return --------------------------------------------------------------------


class PerishableSettleForm(forms.Form):
    order_item = forms.TypedChoiceField(label=_("Item"), coerce=int, choices=())
    spoiled_quantity = forms.DecimalField(
        label=_("Spoiled quantity or weight (kg)"),
        max_digits=10,
        decimal_places=3,
        min_value=Decimal("0.001"),
        required=False,
    )
    share = forms.DecimalField(
        label=_("Or a share of the item (0–1)"),
        max_digits=4,
        decimal_places=3,
        min_value=Decimal("0.001"),
        max_value=Decimal("1"),
        required=False,
    )
    note = forms.CharField(label=_("Note to the customer (optional)"), max_length=200, required=False)

    def __init__(self, *args: Any, items: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["order_item"].choices = items  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("spoiled_quantity") is None) == (data.get("share") is None):
            raise forms.ValidationError(_("Give either the spoiled quantity or a share."))
        return data


def _item_choice(line: OrderItem, quantity: Decimal, amount: Decimal) -> str:
    return f"{line.name} ({line.sku}) × {quantity_text(quantity, line.unit)}, {yuan(amount)}"


@admin.register(PerishableClaim)
class PerishableClaimAdmin(ReadOnlyAdmin):
    """Refund-only quality claims waiting for review; settle one for its spoiled part, then approve it in the
    refund console."""

    list_display = ["refund_no", "order", "amount", "created_at"]
    list_select_related = ["order"]
    search_fields = ["refund_no"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PerishableClaim]:
        return (
            super()
            .get_queryset(request)
            .filter(kind=RefundKind.REFUND_ONLY, reason=RefundReason.QUALITY_ISSUE, state=RefundState.PENDING_REVIEW)
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        refund = self.get_object(request, unquote(object_id))
        if refund is None or not request.user.has_perm("refunds.approve_refund"):
            # Django's own page: read-only for those who may not settle, "not found" for an id no claim has.
            return super().change_view(request, object_id, form_url, extra_context)
        items = [
            (item.order_item_id, _item_choice(item.order_item, item.quantity, item.amount))
            for item in refund.items.select_related("order_item")
        ]
        form = PerishableSettleForm(request.POST or None, items=items)
        if request.method == "POST" and form.is_valid():
            try:
                settled = services.perishable_claim_settle(
                    refund=refund,
                    order_item_id=form.cleaned_data["order_item"],
                    actor=signed_in(request.user),
                    spoiled_quantity=form.cleaned_data["spoiled_quantity"],
                    share=form.cleaned_data["share"],
                    note=form.cleaned_data["note"],
                )
            except BusinessError as exc:
                messages.error(request, str(exc.message))
            else:
                messages.success(
                    request,
                    gettext("%(no)s settled: %(amount)s. Approve it in the refund console.")
                    % {"no": settled.refund_no, "amount": yuan(settled.amount)},
                )
                return HttpResponseRedirect(reverse("admin:refunds_refund_change", args=[settled.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Settle %(no)s for the spoiled part") % {"no": refund.refund_no},
            "form": form,
            "refund": refund,
            "evidence": refund.evidence.all(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/logistics/perishableclaim/settle.html", context)
