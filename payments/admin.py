"""The payment side of the console: bank transfers awaiting finance (and made), and the customers' store credit.

Nobody edits these rows. Finance records a transfer on its page through a form that calls ``payments.offline``
(maker-checker included); the store credit ledger is read-only, written only by the refunds it credits.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from mall.actors import signed_in
from mall.admin_base import ReadOnlyAdmin, object_pk
from mall.exceptions import BusinessError
from mall.money import yuan
from payments import offline
from payments.models import OfflineTransfer, StoreCreditAccount, StoreCreditEntry
from refunds.models import RefundState


class TransferConfirmForm(forms.Form):
    reference = forms.CharField(label=_("Bank reference"), max_length=offline.MAX_REFERENCE)
    proof = forms.FileField(
        label=_("Proof (PDF or photo, at most 5 MB)"),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/jpeg,image/png,image/webp"}),
    )


class TransferAbandonForm(forms.Form):
    note = forms.CharField(
        label=_("Why the transfer cannot be made"), max_length=400, widget=forms.Textarea(attrs={"rows": 2})
    )


class AwaitingFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("awaiting", _("awaiting the transfer")), ("made", _("transferred"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "awaiting":
            return queryset.filter(refund__state=RefundState.AWAITING_TRANSFER)
        if self.value() == "made":
            return queryset.filter(confirmed_at__isnull=False)
        return queryset


@admin.register(OfflineTransfer)
class OfflineTransferAdmin(ReadOnlyAdmin):
    list_display = ["refund_link", "amount_yuan", "refund_state", "payee", "requested_by", "requested_at", "reference"]
    list_filter = [AwaitingFilter]
    search_fields = ["=refund__refund_no", "=reference"]
    list_select_related = ["refund", "requested_by"]
    change_form_template = "admin/payments/offlinetransfer/change_form.html"
    fields = [
        ("refund_page", "amount_yuan", "refund_state"),
        "payee",
        ("requested_by", "requested_at"),
        ("reference", "proof_link"),
        ("confirmed_by", "confirmed_at"),
    ]
    readonly_fields = ["refund_page", "amount_yuan", "refund_state", "proof_link"]

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/confirm/", wrap(self.confirm_view), name="payments_offlinetransfer_confirm"),
            path("<int:object_id>/abandon/", wrap(self.abandon_view), name="payments_offlinetransfer_abandon"),
            path("<int:object_id>/proof/", wrap(self.proof_view), name="payments_offlinetransfer_proof"),
            *super().get_urls(),
        ]

    @admin.display(description=_("refund"), ordering="refund__refund_no")
    def refund_link(self, row: OfflineTransfer) -> str:
        url = reverse("admin:payments_offlinetransfer_change", args=[row.pk])
        return format_html('<a href="{}">{}</a>', url, row.refund.refund_no)

    @admin.display(description=_("refund"))
    def refund_page(self, row: OfflineTransfer) -> str:
        url = reverse("admin:refunds_refund_change", args=[row.refund_id])
        return format_html('<a href="{}">{}</a>', url, row.refund.refund_no)

    @admin.display(description=_("proof"))
    def proof_link(self, row: OfflineTransfer) -> str:
        if not row.proof:
            return "—"
        url = reverse("admin:payments_offlinetransfer_proof", args=[row.pk])
        return format_html('<a href="{}" id="transfer-proof">{}</a>', url, gettext("proof"))

    @admin.display(description=_("amount"), ordering="amount")
    def amount_yuan(self, row: OfflineTransfer) -> str:
        return yuan(row.amount)

    @admin.display(description=_("refund state"))
    def refund_state(self, row: OfflineTransfer) -> str:
        return str(row.refund.get_state_display())

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        pk = object_pk(OfflineTransfer, object_id)
        transfer = (
            OfflineTransfer.objects.select_related("refund__order", "refund__customer", "requested_by", "confirmed_by")
            .filter(pk=pk)
            .first()
            if pk is not None
            else None
        )
        context = dict(extra_context or {})
        if transfer is not None and self.has_view_permission(request, transfer):
            user = signed_in(request.user)
            awaiting = transfer.refund.state == RefundState.AWAITING_TRANSFER
            blocker = offline.confirm_blocker(transfer=transfer, actor=user) if awaiting else None
            context.update(
                transfer=transfer,
                awaiting=awaiting,
                blocker=blocker,
                confirm_form=TransferConfirmForm() if awaiting and blocker is None else None,
                abandon_form=TransferAbandonForm() if awaiting and user.has_perm(offline.CONFIRM_PERMISSION) else None,
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _back(self, transfer: OfflineTransfer) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:payments_offlinetransfer_change", args=[transfer.pk]))

    def confirm_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._confirm)(request, object_id)

    def _confirm(self, request: HttpRequest, object_id: int) -> HttpResponse:
        transfer = get_object_or_404(OfflineTransfer.objects.select_related("refund"), pk=object_id)
        if not request.user.has_perm(offline.CONFIRM_PERMISSION):
            raise PermissionDenied
        form = TransferConfirmForm(request.POST, request.FILES)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, str(error))
            return self._back(transfer)
        try:
            offline.offline_transfer_confirm(
                refund=transfer.refund,
                actor=signed_in(request.user),
                reference=form.cleaned_data["reference"],
                proof=form.cleaned_data["proof"],
            )
        except BusinessError as exc:
            messages.error(request, str(exc.message))
            return self._back(transfer)
        self.log_change(request, transfer, "confirmed")
        messages.success(
            request,
            gettext("Transfer of %(amount)s recorded: refund %(no)s is refunded.")
            % {"amount": yuan(transfer.amount), "no": transfer.refund.refund_no},
        )
        return self._back(transfer)

    def abandon_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._abandon)(request, object_id)

    def _abandon(self, request: HttpRequest, object_id: int) -> HttpResponse:
        transfer = get_object_or_404(OfflineTransfer.objects.select_related("refund"), pk=object_id)
        if not request.user.has_perm(offline.CONFIRM_PERMISSION):
            raise PermissionDenied
        form = TransferAbandonForm(request.POST)
        if not form.is_valid():
            messages.error(request, gettext("Say why the transfer cannot be made."))
            return self._back(transfer)
        try:
            offline.offline_transfer_abandon(
                refund=transfer.refund, actor=signed_in(request.user), note=form.cleaned_data["note"]
            )
        except BusinessError as exc:
            messages.error(request, str(exc.message))
            return self._back(transfer)
        self.log_change(request, transfer, "abandoned")
        messages.warning(
            request, gettext("Refund %(no)s is back with customer service.") % {"no": transfer.refund.refund_no}
        )
        return self._back(transfer)

    def proof_view(self, request: HttpRequest, object_id: int) -> HttpResponseBase:
        """The proof for staff: object storage's short-lived signed URL, or the file itself from local storage."""
        if not request.user.has_perm("payments.view_offlinetransfer"):
            raise PermissionDenied
        transfer = get_object_or_404(OfflineTransfer, pk=object_id)
        if not transfer.proof:
            raise PermissionDenied
        url = transfer.proof.storage.url(transfer.proof.name)
        if url.startswith(("http://", "https://")):
            return HttpResponseRedirect(url)
        response = FileResponse(transfer.proof.open("rb"), content_type=transfer.proof_content_type)
        response["Cache-Control"] = "private, max-age=300"
        return response


class StoreCreditEntryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = StoreCreditEntry
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "kind", "amount", "balance_after", "refund", "note")
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StoreCreditAccount)
class StoreCreditAccountAdmin(ReadOnlyAdmin):
    list_display = ["customer", "balance_yuan", "updated_at"]
    search_fields = ["=customer__username", "=customer__email"]
    list_select_related = ["customer"]
    fields = ["customer", "balance_yuan", "updated_at"]
    readonly_fields = ["customer", "balance_yuan", "updated_at"]
    inlines = [StoreCreditEntryInline]

    @admin.display(description=_("balance"), ordering="balance")
    def balance_yuan(self, row: StoreCreditAccount) -> str:
        return yuan(row.balance)
