"""Disputes in the console: the list (its cells lead to the order and the refund), a page per dispute with what
the decision needs (the contested refund's amount, items, photos, rejection reason and the customer's own words)
and its thread of notes, and the forms that open, annotate and resolve one. Each form posts to a view that checks
the permission and calls ``refunds.disputes``; a refusal shows the page again with the error at its field and
what was chosen and typed kept. Registered with the admin site by ``refunds/admin.py``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from mall.actors import signed_in
from mall.admin_base import ConsoleModelAdmin, object_pk
from mall.exceptions import BusinessError
from mall.models import Order
from refunds.console.forms import DisputeNoteForm, DisputeOpenForm, DisputeResolveForm
from refunds.disputes import dispute_add_note, dispute_open_by_agent, dispute_resolve
from refunds.models import Dispute, DisputeStatus, Refund
from refunds.templatetags.refund_console import shop_time, yuan


def _show_error(form: forms.Form, error: BusinessError) -> None:
    """A service's refusal at the form's field it names, or above the form."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, str(error.message))


class DisputeAdmin(ConsoleModelAdmin):
    list_display = ["dispute_no", "status_outcome", "refund_and_order", "customer_opener", "opened_at"]
    list_filter = ["status", "outcome", "opener", "created_at"]
    list_select_related = ["order", "refund", "customer"]
    search_fields = ["=dispute_no", "=order__order_no", "=refund__refund_no"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    ordering = ["status", "-created_at", "-id"]
    change_list_template = "admin/refunds/dispute/change_list.html"

    @admin.display(description=_("status / outcome"), ordering="status")
    def status_outcome(self, obj: Dispute) -> str:
        if not obj.outcome:
            return str(obj.get_status_display())
        return format_html('{}<br><span class="quiet">{}</span>', obj.get_status_display(), obj.get_outcome_display())

    @admin.display(description=_("refund / order"))
    def refund_and_order(self, obj: Dispute) -> str:
        """Each number leads to its own page (the row's first cell leads to the dispute)."""
        order = format_html(
            '<a href="{}" class="dispute-order">{}</a>',
            reverse("admin:mall_order_change", args=[obj.order_id]),
            obj.order.order_no,
        )
        if obj.refund is None:
            return order
        return format_html(
            '<a href="{}" class="dispute-refund">{}</a> <span class="quiet">{}</span><br>{}',
            reverse("admin:refunds_refund_change", args=[obj.refund_id]),
            obj.refund.refund_no,
            yuan(obj.refund.amount),
            order,
        )

    @admin.display(description=_("customer / opened by"))
    def customer_opener(self, obj: Dispute) -> str:
        return format_html('{}<br><span class="quiet">{}</span>', obj.customer.get_username(), obj.get_opener_display())

    @admin.display(description=_("opened at"), ordering="created_at")
    def opened_at(self, obj: Dispute) -> str:
        return shop_time(obj.created_at)

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
        dispute = self._dispute(pk) if pk is not None else None
        if dispute is None or not self.has_view_permission(request, dispute):
            # Django's own answer: "not found" for an id no dispute has, 403 for those who may not look.
            return super().change_view(request, object_id, form_url, extra_context)
        return self._page(request, dispute)

    def _dispute(self, pk: Any) -> Dispute | None:
        query = Dispute.objects.select_related(
            "order", "customer", "opened_by", "resolved_by", "resolution_refund", "refund__reviewed_by"
        ).prefetch_related("notes__author", "refund__evidence", "refund__items__order_item")
        return query.filter(pk=pk).first()

    def _page(
        self,
        request: HttpRequest,
        dispute: Dispute,
        *,
        note_form: DisputeNoteForm | None = None,
        resolve_form: DisputeResolveForm | None = None,
        error: str = "",
        status: int = 200,
    ) -> HttpResponse:
        can_work = request.user.has_perm("refunds.work_dispute")
        is_open = dispute.status == DisputeStatus.OPEN
        others = Refund.objects.filter(order_id=dispute.order_id)
        if dispute.refund_id is not None:
            others = others.exclude(pk=dispute.refund_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Dispute %(no)s") % {"no": dispute.dispute_no},
            "dispute": dispute,
            "refund": dispute.refund,
            "order_refunds": list(others.order_by("created_at")),
            "can_see_evidence": request.user.has_perm("refunds.view_refundevidence"),
            "note_form": (note_form or DisputeNoteForm()) if can_work else None,
            "resolve_form": (resolve_form or DisputeResolveForm()) if can_work and is_open else None,
            "error": error,
        }
        return TemplateResponse(request, "admin/refunds/dispute/dispute.html", context, status=status)

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
        dispute = self._dispute(object_id)
        if dispute is None:
            raise Http404
        form = DisputeNoteForm(request.POST)
        if form.is_valid():
            try:
                dispute_add_note(dispute=dispute, actor=signed_in(request.user), body=form.cleaned_data["body"])
            except BusinessError as exc:
                _show_error(form, exc)
                return self._page(request, dispute, note_form=form, status=exc.http_status)
            messages.success(request, gettext("Note added."))
            return self._back(dispute)
        return self._page(request, dispute, note_form=form, status=400)

    def resolve_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._resolve)(request, object_id)

    def _resolve(self, request: HttpRequest, object_id: int) -> HttpResponse:
        self._check(request)
        dispute = self._dispute(object_id)
        if dispute is None:
            raise Http404
        form = DisputeResolveForm(request.POST)
        if not form.is_valid():
            return self._page(request, dispute, resolve_form=form, status=400)
        try:
            dispute = dispute_resolve(
                dispute=dispute,
                actor=signed_in(request.user),
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
                amount=form.cleaned_data["amount"],
            )
        except BusinessError as exc:
            _show_error(form, exc)
            fresh = self._dispute(object_id)
            assert fresh is not None
            # Resolved meanwhile: there is no form left to show the refusal at.
            error = "" if fresh.status == DisputeStatus.OPEN else str(exc.message)
            return self._page(request, fresh, resolve_form=form, error=error, status=exc.http_status)
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
