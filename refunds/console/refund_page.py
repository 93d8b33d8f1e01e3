"""The refund page: everything about one refund on one screen (the money, the review, items, evidence photos,
shipments, the timeline, disputes and the order's other refunds), the panels other apps register, the buttons the
refund's state and the user allow, notes and the evidence photos themselves. Nobody edits a refund row here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from mall.actors import signed_in
from mall.admin_base import object_pk
from mall.exceptions import BusinessError
from refunds.console import panels
from refunds.console.actions import allowed_acts, approve_blocker
from refunds.console.forms import ApproveForm, DisputeOpenForm, NoteForm, RejectForm
from refunds.models import Refund, RefundEvidence, RefundState
from refunds.notes import refund_note_add
from refunds.templatetags.refund_console import shop_time, yuan


class RefundPageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    change_form_template = "admin/refunds/refund/change_form.html"
    fieldsets = [
        (None, {"fields": [("refund_no", "state"), ("order", "customer"), ("reason", "kind", "source")]}),
        (
            _("Money"),
            {"fields": [("amount_yuan", "shipping_fee_yuan", "channel"), ("out_refund_no", "channel_refund_id")]},
        ),
        (
            _("Review"),
            {
                "fields": [
                    ("due_at_local", "requires_supervisor"),
                    ("created_by", "reviewed_by"),
                    "decision_note",
                    ("escalated_at_local", "escalation_reason"),
                    "description",
                ]
            },
        ),
        (_("Times"), {"fields": [("created_at_local", "state_changed_at_local", "refunded_at_local")]}),
    ]
    readonly_fields = [
        "amount_yuan",
        "shipping_fee_yuan",
        "due_at_local",
        "escalated_at_local",
        "created_at_local",
        "state_changed_at_local",
        "refunded_at_local",
    ]

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("evidence/<int:evidence_id>/", wrap(self.evidence_view), name="refunds_refund_evidence"),
            path("<int:object_id>/note/", wrap(self.note_view), name="refunds_refund_note"),
            *super().get_urls(),
        ]

    @admin.display(description=_("amount"))
    def amount_yuan(self, obj: Refund) -> str:
        return yuan(obj.amount)

    @admin.display(description=_("of which shipping fee"))
    def shipping_fee_yuan(self, obj: Refund) -> str:
        return yuan(obj.shipping_fee_amount)

    @admin.display(description=_("review due"))
    def due_at_local(self, obj: Refund) -> str:
        return shop_time(obj.due_at)

    @admin.display(description=_("escalated at"))
    def escalated_at_local(self, obj: Refund) -> str:
        return shop_time(obj.escalated_at)

    @admin.display(description=_("created at"))
    def created_at_local(self, obj: Refund) -> str:
        return shop_time(obj.created_at)

    @admin.display(description=_("state changed at"))
    def state_changed_at_local(self, obj: Refund) -> str:
        return shop_time(obj.state_changed_at)

    @admin.display(description=_("refunded at"))
    def refunded_at_local(self, obj: Refund) -> str:
        return shop_time(obj.refunded_at)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        pk = object_pk(Refund, object_id)
        refund = (
            Refund.objects.select_related("order__payment", "order__shipment", "customer", "created_by")
            .prefetch_related("items__order_item", "evidence", "events__actor", "disputes")
            .filter(pk=pk)
            .first()
            if pk is not None
            else None
        )
        context = dict(extra_context or {})
        if refund is not None and self.has_view_permission(request, refund):
            user = request.user
            context.update(
                refund=refund,
                acts=allowed_acts(refund, user),
                approve_blocker=approve_blocker(refund, user)
                if refund.state == RefundState.PENDING_REVIEW and user.has_perm("refunds.approve_refund")
                else None,
                approve_form=ApproveForm(),
                reject_form=RejectForm(),
                note_form=NoteForm() if user.has_perm("refunds.approve_refund") else None,
                dispute_form=DisputeOpenForm() if user.has_perm("refunds.work_dispute") else None,
                can_compensate=user.has_perm("refunds.create_staff_refund"),
                return_shipment=getattr(refund, "return_shipment", None),
                linked_refunds=list(
                    Refund.objects.filter(order_id=refund.order_id).exclude(pk=refund.pk).order_by("created_at")
                ),
                panels=panels.load_panels(refund=refund),
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def note_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._note)(request, object_id)

    def _note(self, request: HttpRequest, object_id: int) -> HttpResponse:
        refund = get_object_or_404(Refund, pk=object_id)
        if not request.user.has_perm("refunds.approve_refund"):
            raise PermissionDenied
        form = NoteForm(request.POST)
        if form.is_valid():
            try:
                refund_note_add(
                    refund=refund,
                    actor=signed_in(request.user),
                    note=form.cleaned_data["note"],
                    internal=form.cleaned_data["internal"],
                )
                messages.success(request, gettext("Note added."))
            except BusinessError as exc:
                messages.error(request, str(exc.message))
        else:
            messages.error(request, gettext("The note is empty or too long."))
        return HttpResponseRedirect(reverse("admin:refunds_refund_change", args=[refund.pk]))

    def evidence_view(self, request: HttpRequest, evidence_id: int) -> HttpResponseBase:
        """A photo for staff: object storage's short-lived signed URL, or the file itself from local storage."""
        if not request.user.has_perm("refunds.view_refundevidence"):
            raise PermissionDenied
        evidence = get_object_or_404(RefundEvidence, pk=evidence_id)
        url = evidence.file.storage.url(evidence.file.name)
        if url.startswith(("http://", "https://")):
            return HttpResponseRedirect(url)
        response = FileResponse(evidence.file.open("rb"), content_type=evidence.content_type)
        response["Cache-Control"] = "private, max-age=300"
        return response
