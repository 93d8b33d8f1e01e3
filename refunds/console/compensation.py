"""A compensation refund created by staff from the console (a share of an item, or a fixed amount), within the
caps that ``refunds.compensation`` enforces. The page lists the order's refunds and the compensation and dispute
refunds the person gave lately (each cell leading to its refund and order), with what they gave today against
their daily cap; a refusal is shown at the field it concerns, with what was typed kept."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext

from mall.actors import Staff, signed_in
from mall.admin_base import ConsoleModelAdmin
from mall.exceptions import BusinessError
from mall.models import Order
from refunds.compensation import compensation_create
from refunds.console.forms import CompensationForm
from refunds.models import STAFF_REASONS, Refund, RefundSource
from refunds.selectors import staff_refund_total_today
from refunds.templatetags.refund_console import yuan

# What the service calls a field, and what the form calls it.
SERVICE_FIELDS = {"amount": "value", "percent": "value", "order_item_id": "order_item", "reason": "reason"}
RECENT_DAYS = 30
RECENT_ROWS = 20


def recent_staff_refunds(*, actor: Staff) -> list[Refund]:
    """The compensation and dispute refunds ``actor`` created in the last 30 days, newest first (the creator's
    index)."""
    since = timezone.now() - timedelta(days=RECENT_DAYS)
    rows = Refund.objects.filter(
        created_by_id=actor.pk, created_at__gte=since, source=RefundSource.STAFF, reason__in=STAFF_REASONS
    )
    return list(rows.select_related("order").order_by("-created_at", "-id")[:RECENT_ROWS])


class RefundCompensationAdmin(ConsoleModelAdmin):
    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("compensate/", wrap(self.compensate_view), name="refunds_refund_compensate"),
            *super().get_urls(),
        ]

    def compensate_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("refunds.create_staff_refund"):
            raise PermissionDenied
        order_no = (request.POST.get("order_no") or request.GET.get("order") or "").strip()
        order = Order.objects.filter(order_no=order_no).select_related("customer").first() if order_no else None
        form = CompensationForm(request.POST or None, order=order, initial={"order_no": order_no})
        status = 200
        if request.method == "POST" and order is None:
            form.add_error("order_no", gettext("No such order."))
            status = 400
        elif request.method == "POST" and not form.is_valid():
            status = 400
        elif request.method == "POST":
            assert order is not None
            value = form.cleaned_data["value"]
            percent = form.cleaned_data["mode"] == CompensationForm.MODE_PERCENT
            try:
                refund = compensation_create(
                    order=order,
                    actor=signed_in(request.user),
                    order_item_id=form.cleaned_data["order_item"],
                    reason=form.cleaned_data["reason"],
                    amount=None if percent else value,
                    percent=value if percent else None,
                    destination=form.cleaned_data["destination"],
                )
            except BusinessError as exc:
                form.add_error(SERVICE_FIELDS.get(exc.field or ""), str(exc.message))
                status = exc.http_status
            else:
                self.log_addition(request, refund, "compensation")
                if refund.requires_supervisor:
                    text = gettext("Compensation %(no)s of %(amount)s is above the cap: it waits for a supervisor.")
                    messages.warning(request, text % {"no": refund.refund_no, "amount": yuan(refund.amount)})
                else:
                    text = gettext("Compensation %(no)s of %(amount)s created: %(state)s.")
                    messages.success(
                        request,
                        text
                        % {"no": refund.refund_no, "amount": yuan(refund.amount), "state": refund.get_state_display()},
                    )
                return HttpResponseRedirect(reverse("admin:refunds_refund_change", args=[refund.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Compensation refund"),
            "form": form,
            "order": order,
            "order_items": list(order.items.all()) if order else [],
            "order_refunds": list(Refund.objects.filter(order=order).order_by("created_at")) if order else [],
            "recent": recent_staff_refunds(actor=signed_in(request.user)),
            "given_today": staff_refund_total_today(actor=signed_in(request.user)),
            "per_refund_cap": settings.REFUND_COMPENSATION_CAP,
            "daily_cap": settings.REFUND_COMPENSATION_DAILY_CAP,
        }
        return TemplateResponse(request, "admin/refunds/refund/compensate.html", context, status=status)
