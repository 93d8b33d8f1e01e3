"""Disputes in the console: the list, a page per dispute with its thread of notes, and the forms that open,
annotate and resolve one. Each form posts to a view that checks the permission and calls ``refunds.disputes``.
Registered with the admin site by ``refunds/admin.py``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from mall.actors import signed_in
from mall.admin_base import object_pk
from mall.exceptions import BusinessError
from mall.models import Order
from refunds.console.forms import DisputeNoteForm, DisputeOpenForm, DisputeResolveForm
from refunds.disputes import dispute_add_note, dispute_open_by_agent, dispute_resolve
from refunds.models import Dispute, DisputeStatus, Refund
from refunds.templatetags.refund_console import shop_time, yuan


def _form_errors(request: HttpRequest, form: Any) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)


class DisputeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["dispute_no", "status", "outcome", "order", "refund", "customer", "opener", "created_at"]
    list_filter = ["status", "outcome", "opener", "created_at"]
    list_select_related = ["order", "refund", "customer"]
    search_fields = ["=dispute_no", "=order__order_no", "=refund__refund_no"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    ordering = ["status", "-created_at", "-id"]
    change_form_template = "admin/refunds/dispute/change_form.html"
    change_list_template = "admin/refunds/dispute/change_list.html"
    fields = [
        ("dispute_no", "status", "outcome"),
        ("order", "refund", "customer"),
        ("opened", "opened_at"),
        "reason",
        ("resolved_by", "resolved_at_local", "resolution_refund"),
        "resolution_note",
    ]
    readonly_fields = ["opened", "opened_at", "resolved_at_local"]

    @admin.display(description=_("opened by"))
    def opened(self, obj: Dispute) -> str:
        return f"{obj.opened_by.get_username()} ({obj.get_opener_display()})"

    @admin.display(description=_("opened at"))
    def opened_at(self, obj: Dispute) -> str:
        return shop_time(obj.created_at)

    @admin.display(description=_("resolved at"))
    def resolved_at_local(self, obj: Dispute) -> str:
        return shop_time(obj.resolved_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("open/", wrap(self.open_view), name="refunds_dispute_open"),
            path("<int:object_id>/note/", wrap(self.note_view), name="refunds_dispute_note"),
            path("<int:object_id>/resolve/", wrap(self.resolve_view), name="refunds_dispute_resolve"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {**(extra_context or {}), "can_work": request.user.has_perm("refunds.work_dispute")}
        return super().changelist_view(request, extra_context=context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        pk = object_pk(Dispute, object_id)
        dispute = (
            Dispute.objects.select_related("order", "refund", "customer", "resolution_refund")
            .prefetch_related("notes__author")
            .filter(pk=pk)
            .first()
            if pk is not None
            else None
        )
        context = dict(extra_context or {})
        if dispute is not None:
            can_work = request.user.has_perm("refunds.work_dispute")
            context.update(
                dispute=dispute,
                note_form=DisputeNoteForm() if can_work else None,
                resolve_form=DisputeResolveForm() if can_work and dispute.status == DisputeStatus.OPEN else None,
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _back(self, dispute: Dispute) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:refunds_dispute_change", args=[dispute.pk]))

    def _check(self, request: HttpRequest) -> None:
        if not request.user.has_perm("refunds.work_dispute"):
            raise PermissionDenied

    def open_view(self, request: HttpRequest) -> HttpResponse:
        """Open a dispute on an order (``?order=``) or on a refund (``?refund=``), e.g. after a phone call."""
        self._check(request)
        source = request.POST if request.method == "POST" else request.GET
        refund = Refund.objects.filter(refund_no=source.get("refund", "")).select_related("order").first()
        order = refund.order if refund else Order.objects.filter(order_no=source.get("order", "")).first()
        form = DisputeOpenForm(request.POST or None)
        if request.method == "POST" and order is not None and form.is_valid():
            try:
                dispute = dispute_open_by_agent(
                    actor=signed_in(request.user), order=order, refund=refund, reason=form.cleaned_data["reason"]
                )
            except BusinessError as exc:
                form.add_error(None, str(exc.message))
            else:
                self.log_addition(request, dispute, "opened")
                messages.success(request, gettext("Dispute %(no)s opened.") % {"no": dispute.dispute_no})
                return self._back(dispute)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Open a dispute"),
            "form": form,
            "order": order,
            "refund": refund,
            "order_missing": request.method == "POST" and order is None,
        }
        return TemplateResponse(request, "admin/refunds/dispute/open.html", context)

    def note_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._note)(request, object_id)

    def _note(self, request: HttpRequest, object_id: int) -> HttpResponse:
        self._check(request)
        dispute = get_object_or_404(Dispute, pk=object_id)
        form = DisputeNoteForm(request.POST)
        if not form.is_valid():
            _form_errors(request, form)
            return self._back(dispute)
        try:
            dispute_add_note(dispute=dispute, actor=signed_in(request.user), body=form.cleaned_data["body"])
        except BusinessError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, gettext("Note added."))
        return self._back(dispute)

    def resolve_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._resolve)(request, object_id)

    def _resolve(self, request: HttpRequest, object_id: int) -> HttpResponse:
        self._check(request)
        dispute = get_object_or_404(Dispute, pk=object_id)
        form = DisputeResolveForm(request.POST)
        if not form.is_valid():
            _form_errors(request, form)
            return self._back(dispute)
        try:
            dispute = dispute_resolve(
                dispute=dispute,
                actor=signed_in(request.user),
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
                amount=form.cleaned_data["amount"],
            )
        except BusinessError as exc:
            messages.error(request, str(exc.message))
            return self._back(dispute)
        self.log_change(request, dispute, f"resolved: {dispute.outcome}")
        refund = dispute.resolution_refund
        if refund is None:
            messages.success(
                request, gettext("Dispute resolved: %(outcome)s.") % {"outcome": dispute.get_outcome_display()}
            )
        else:
            text = gettext("Dispute resolved: refund %(no)s of %(amount)s, %(state)s.")
            messages.success(
                request,
                text % {"no": refund.refund_no, "amount": yuan(refund.amount), "state": refund.get_state_display()},
            )
        return self._back(dispute)


__all__ = ["DisputeAdmin"]
