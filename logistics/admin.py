"""The logistics side of the console: return addresses, interceptions, carrier notifications, returned parcels,
quality inspections, write-offs and perishable claims.

Nobody edits refund-side rows here: receipt, inspection results and settlements are actions and small forms
that call ``logistics.services``, which check the user's permission and the refund's state.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from logistics import services
from logistics.models import (
    CarrierEvent,
    Condition,
    Inspection,
    InspectionRecord,
    InspectionStatus,
    Interception,
    PerishableClaim,
    Warehouse,
    WriteOff,
)
from mall.actors import signed_in
from mall.admin_base import ReadOnlyAdmin
from mall.exceptions import BusinessError
from mall.money import yuan
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
class WarehouseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
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


class MultiplePhotoInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultiplePhotoField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultiplePhotoInput(attrs={"accept": "image/jpeg,image/png,image/webp"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultiplePhotoField, self).clean(f, initial) for f in files]


class InspectionRecordForm(forms.Form):
    order_item = forms.TypedChoiceField(label=_("Item"), coerce=int, choices=())
    received_quantity = forms.DecimalField(
        label=_("Received quantity or weight (kg)"), max_digits=10, decimal_places=3, min_value=Decimal("0.001")
    )
    condition = forms.ChoiceField(label=_("Condition"), choices=Condition.choices)
    notes = forms.CharField(label=_("Notes"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    photos = MultiplePhotoField(label=_("Photos"), required=False)

    def __init__(self, *args: Any, items: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["order_item"].choices = items  # type: ignore[attr-defined]


class InspectionRecordInline(admin.TabularInline):  # type: ignore[type-arg]
    model = InspectionRecord
    extra = 0
    can_delete = False
    readonly_fields = (
        "order_item",
        "received_quantity",
        "condition",
        "disposition",
        "inspector",
        "notes",
        "photo_links",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("photos"))
    def photo_links(self, obj: InspectionRecord) -> str:
        return format_html_join(
            " ", '<a href="{}" target="_blank">{}</a>', ((p.file.url, p.pk) for p in obj.photos.all())
        )


class WriteOffInline(admin.TabularInline):  # type: ignore[type-arg]
    model = WriteOff
    fk_name = "refund"
    extra = 0
    can_delete = False
    readonly_fields = ("product", "quantity", "reason", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Inspection)
class InspectionAdmin(ReadOnlyAdmin):
    list_display = ["refund", "status", "received_at", "completed_at", "amount_before", "amount_after", "record_link"]
    list_filter = ["status"]
    search_fields = ["refund__refund_no"]
    list_select_related = ["refund"]
    readonly_fields = (
        "refund",
        "status",
        "received_at",
        "completed_at",
        "completed_by",
        "amount_before",
        "amount_after",
    )
    fields = readonly_fields
    inlines = [InspectionRecordInline]
    actions = ["complete"]

    def has_inspect_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("refunds.confirm_return"))

    @admin.display(description=_("record an item"))
    def record_link(self, obj: Inspection) -> str:
        if obj.status != InspectionStatus.OPEN:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:logistics_inspection_record", args=[obj.pk]), _("record")
        )

    @admin.action(description=_("Complete the inspection (restock, write off, refund)"), permissions=["inspect"])
    def complete(self, request: HttpRequest, queryset: QuerySet[Inspection]) -> None:
        _each(
            request,
            queryset.select_related("refund"),
            lambda row: services.inspection_complete(refund=row.refund, actor=signed_in(request.user)),
            lambda row, refund: (
                gettext("%(no)s: inspection completed, refund ¥%(amount)s")
                % {"no": refund.refund_no, "amount": f"{refund.amount:.2f}"}
            ),
        )

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<int:inspection_id>/record/",
                self.admin_site.admin_view(self.record_view),
                name="logistics_inspection_record",
            )
        ]
        return extra + super().get_urls()

    def record_view(self, request: HttpRequest, inspection_id: int) -> HttpResponse:
        if not self.has_inspect_permission(request):
            raise PermissionDenied
        inspection = get_object_or_404(Inspection.objects.select_related("refund"), pk=inspection_id)
        refund = inspection.refund
        items = [
            (item.order_item_id, f"{item.order_item.name} ({item.order_item.sku}) × {item.quantity.normalize():f}")
            for item in refund.items.select_related("order_item")
        ]
        form = InspectionRecordForm(request.POST or None, request.FILES or None, items=items)
        if request.method == "POST" and form.is_valid():
            try:
                services.inspection_record(
                    refund=refund,
                    order_item_id=form.cleaned_data["order_item"],
                    received_quantity=form.cleaned_data["received_quantity"],
                    condition=form.cleaned_data["condition"],
                    inspector=request.user,
                    notes=form.cleaned_data["notes"],
                    photos=form.cleaned_data["photos"],
                )
            except BusinessError as exc:
                messages.error(request, str(exc.message))
            else:
                messages.success(request, gettext("Recorded."))
                return HttpResponseRedirect(reverse("admin:logistics_inspection_change", args=[inspection.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Inspection of %(no)s") % {"no": refund.refund_no},
            "form": form,
            "inspection": inspection,
            "records": inspection.records.select_related("order_item").order_by("id"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/logistics/inspection/record.html", context)


@admin.register(InspectionRecord)
class InspectionRecordAdmin(ReadOnlyAdmin):
    list_display = ["refund", "order_item", "received_quantity", "condition", "disposition", "inspector", "created_at"]
    list_filter = ["condition", "disposition"]
    search_fields = ["refund__refund_no"]
    list_select_related = ["refund", "order_item", "inspector"]


@admin.register(WriteOff)
class WriteOffAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "refund", "product", "quantity", "reason"]
    list_filter = ["reason"]
    search_fields = ["refund__refund_no", "product__sku"]
    list_select_related = ["refund", "product"]


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
            (
                item.order_item_id,
                f"{item.order_item.name} ({item.order_item.sku}) × {item.quantity.normalize():f}, {yuan(item.amount)}",
            )
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
                    gettext("%(no)s settled: ¥%(amount)s. Approve it in the refund console.")
                    % {"no": settled.refund_no, "amount": f"{settled.amount:.2f}"},
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
