"""Finance's side of the console: reconciliation runs with their counts and reports, discrepancies to resolve.

Nobody edits these rows: runs are started through a form (a job on the reconciliation queue), discrepancies
are resolved through an action that asks for a note and calls ``reconciliation.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from mall.actors import signed_in
from mall.admin_base import ReadOnlyAdmin
from mall.exceptions import BusinessError
from mall.models import Channel
from mall.shoptime import shop_today
from reconciliation import reports, services
from reconciliation.jobs import reconciliation_enqueue
from reconciliation.models import COUNT_FIELDS, Discrepancy, ReconciliationRun, RunStatus
from reconciliation.selectors import finance_dashboard
from refunds.templatetags.refund_console import shop_time

BULK_LIMIT = 200
RUN_PERMISSION = "reconciliation.run_reconciliation"


def flattened(fields: Sequence[str | Sequence[str]]) -> list[str]:
    """The names of an admin's ``fields``, rows of several fields spread out."""
    return [name for entry in fields for name in ((entry,) if isinstance(entry, str) else entry)]


# --- runs -------------------------------------------------------------------------------------------------
class StartRunForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices)
    day = forms.DateField(label=_("Business day"), help_text=_("The Asia/Shanghai day, YYYY-MM-DD."))
    force = forms.BooleanField(
        label=_("Replace the results of a day reconciled already"),
        required=False,
        help_text=_("Resolutions already made are kept for the same request number and class."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        day, channel = data.get("day"), data.get("channel")
        if day is None or channel is None:
            return data
        if day > shop_today():
            self.add_error("day", _("A business day that has not begun cannot be reconciled."))
            return data
        run = ReconciliationRun.objects.filter(channel=channel, business_day=day).first()
        if run is not None and run.status == RunStatus.SUCCEEDED and not data.get("force"):
            self.add_error(
                "force",
                _("This day was already reconciled for this channel; run it again with force to replace it."),
            )
        return data


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    # Nine short columns: at 1440 px, beside the filters, the open count and the reports fit without scrolling.
    # The count of each class of discrepancy is on the run's page (and in the tooltip of "discrepancies").
    list_display = [
        "day",
        "channel",
        "status",
        "statement",
        "matched_count",
        "found",
        "still_open",
        "finished",
        "reports",
    ]
    list_display_links = ["day"]
    list_filter = ["channel", "status"]
    date_hierarchy = "business_day"
    fields = [
        ("channel", "business_day", "status"),
        ("started_at", "finished_at", "started_by"),
        ("statement_lines", "statement_total_yuan"),
        ("matched_count", "missing_at_channel_count", "missing_with_us_count"),
        ("amount_differs_count", "status_differs_count", "listed_twice_count"),
        "open_discrepancies",
        "refunded_per_destination",
        "error",
        "reports",
    ]
    readonly_fields = flattened(fields)  # everything shown is read-only
    list_select_related = ["started_by"]

    @admin.display(description=_("refunded per destination"))
    def refunded_per_destination(self, run: ReconciliationRun) -> str:
        return " · ".join(f"{label} {reports.yuan(amount)}" for label, amount in reports.destination_rows(run))

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReconciliationRun]:
        runs: QuerySet[ReconciliationRun] = super().get_queryset(request)
        return runs.annotate(open_count=Count("discrepancies", filter=Q(discrepancies__resolved_at__isnull=True)))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return list(self.fields)

    @admin.display(description=_("statement total"), ordering="statement_total")
    def statement_total_yuan(self, run: ReconciliationRun) -> str:
        return reports.yuan(run.statement_total)

    # The list's headers are short (they do not wrap); the run's page keeps the fields' full names.
    @admin.display(description=pgettext_lazy("run list column", "day"), ordering="business_day")
    def day(self, run: ReconciliationRun) -> str:
        return date_format(run.business_day, "DATE_FORMAT")

    @admin.display(description=pgettext_lazy("run list column", "finished"), ordering="finished_at")
    def finished(self, run: ReconciliationRun) -> str:
        return shop_time(run.finished_at)

    @admin.display(description=pgettext_lazy("run list column", "open"), ordering="open_count")
    def still_open(self, run: ReconciliationRun) -> str:
        return self.open_discrepancies(run)

    @admin.display(description=_("statement"), ordering="statement_total")
    def statement(self, run: ReconciliationRun) -> str:
        lines = ngettext("%(n)s line", "%(n)s lines", run.statement_lines) % {"n": intcomma(run.statement_lines)}
        return format_html('{}<br><span class="quiet">{}</span>', reports.yuan(run.statement_total), lines)

    @admin.display(description=pgettext_lazy("run list column", "found"))
    def found(self, run: ReconciliationRun) -> str:
        """All the discrepancies the run found; each class's count as the tooltip."""
        classes = "; ".join(
            f"{reports.kind_label(kind)}: {getattr(run, field)}" for kind, field in COUNT_FIELDS.items()
        )
        return format_html('<span title="{}">{}</span>', classes, run.discrepancy_count)

    @admin.display(description=_("open discrepancies"), ordering="open_count")
    def open_discrepancies(self, run: ReconciliationRun) -> str:
        url = reverse("admin:reconciliation_discrepancy_changelist")
        count = getattr(run, "open_count", 0)
        return format_html(
            '<a class="open-count{}" href="{}?run__id__exact={}&amp;resolved=no">{}</a>',
            " alert" if count else "",
            url,
            run.pk,
            count,
        )

    @admin.display(description=_("report"))
    def reports(self, run: ReconciliationRun) -> str:
        return format_html(
            '<a class="report-csv" href="{}">CSV</a> | <a class="report-xlsx" href="{}">XLSX</a>',
            reverse("admin:reconciliation_run_csv", args=[run.pk]),
            reverse("admin:reconciliation_run_xlsx", args=[run.pk]),
        )

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path("start/", self.admin_site.admin_view(self.start_view), name="reconciliation_run_start"),
            path(
                "dashboard/", self.admin_site.admin_view(self.dashboard_view), name="reconciliation_finance_dashboard"
            ),
            path("<int:run_id>/report.csv", self.admin_site.admin_view(self.csv_view), name="reconciliation_run_csv"),
            path(
                "<int:run_id>/report.xlsx", self.admin_site.admin_view(self.xlsx_view), name="reconciliation_run_xlsx"
            ),
        ]
        return extra + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_start": request.user.has_perm(RUN_PERMISSION)}
        return super().changelist_view(request, extra_context)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """Finance's page: open discrepancies, money refunded per channel and destination, the latest runs."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Finance dashboard"),
            "dash": finance_dashboard(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/reconciliation/finance_dashboard.html", context)

    def _run_for_report(self, request: HttpRequest, run_id: int) -> ReconciliationRun:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(ReconciliationRun, pk=run_id)

    def csv_view(self, request: HttpRequest, run_id: int) -> HttpResponseBase:
        run = self._run_for_report(request, run_id)
        response = StreamingHttpResponse(
            (chunk.encode("utf-8") for chunk in reports.csv_chunks(run)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{reports.filename(run, "csv")}"'
        return response

    def xlsx_view(self, request: HttpRequest, run_id: int) -> HttpResponseBase:
        run = self._run_for_report(request, run_id)
        return FileResponse(
            reports.xlsx_file(run),
            as_attachment=True,
            filename=reports.filename(run, "xlsx"),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )

    def start_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied
        initial = {"day": shop_today() - timedelta(days=1)}
        form = StartRunForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            day: date = form.cleaned_data["day"]
            channel = form.cleaned_data["channel"]
            reconciliation_enqueue(channel=channel, day=day, force=form.cleaned_data["force"], user_id=request.user.pk)
            messages.success(
                request,
                gettext("Reconciliation of %(channel)s for %(day)s started; its run appears in this list.")
                % {"channel": Channel(channel).label, "day": day.isoformat()},
            )
            return HttpResponseRedirect(reverse("admin:reconciliation_reconciliationrun_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Start a reconciliation run"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/reconciliation/reconciliationrun/start.html", context)


# --- discrepancies ----------------------------------------------------------------------------------------
class ResolvedFilter(admin.SimpleListFilter):
    title = _("resolved")
    parameter_name = "resolved"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("no", _("Open")), ("yes", _("Resolved"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class ResolveForm(forms.Form):
    note = forms.CharField(
        label=_("How it was resolved"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Kept with each discrepancy and shown in the reports."),
    )


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    # Both amounts, both states and the resolved flag fit at 1440 px beside the filters: the two long numbers share
    # a column, the class and the run another, the states a third; who resolved it and when are on its page.
    list_display = [
        "request_and_refund",
        "kind_and_run",
        "our_amount_yuan",
        "channel_amount_yuan",
        "states",
        "is_resolved",
    ]
    list_display_links = ["kind_and_run"]
    list_filter = ["kind", "run__channel", ResolvedFilter, "run__business_day"]
    search_fields = ["=out_refund_no", "=refund__refund_no"]
    list_select_related = ["run", "refund", "resolved_by"]
    actions = ["resolve_selected"]
    fields = [
        "run",
        ("kind", "out_refund_no"),
        ("refund_link", "our_amount_yuan", "our_state_label"),
        ("channel_amount_yuan", "channel_status_label", "channel_refund_id", "channel_time"),
        ("resolved_by", "resolved_at"),
        "resolution_note",
    ]
    readonly_fields = flattened(fields)  # everything shown is read-only

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(services.RESOLVE_PERMISSION))

    @admin.display(description=pgettext_lazy("discrepancy list column", "request / refund"), ordering="out_refund_no")
    def request_and_refund(self, row: Discrepancy) -> str:
        return format_html('{}<br><span class="quiet">{}</span>', row.out_refund_no, self.refund_link(row))

    @admin.display(description=_("class / run"), ordering="kind")
    def kind_and_run(self, row: Discrepancy) -> str:
        return format_html('{}<br><span class="quiet">{}</span>', reports.kind_label(row.kind), str(row.run))

    @admin.display(description=pgettext_lazy("discrepancy list column", "states: ours / channel's"))
    def states(self, row: Discrepancy) -> str:
        return format_html("{} / {}", self.our_state_label(row), self.channel_status_label(row))

    @admin.display(description=_("our refund"), ordering="refund__refund_no")
    def refund_link(self, row: Discrepancy) -> str:
        if row.refund is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:refunds_refund_change", args=[row.refund.pk]), row.refund.refund_no
        )

    @admin.display(description=_("our amount"), ordering="our_amount")
    def our_amount_yuan(self, row: Discrepancy) -> str:
        return reports.yuan(row.our_amount) or "—"

    @admin.display(description=_("our state"))
    def our_state_label(self, row: Discrepancy) -> str:
        return reports.state_label(row.our_state) if row.our_state else "—"

    @admin.display(description=_("channel amount"), ordering="channel_amount")
    def channel_amount_yuan(self, row: Discrepancy) -> str:
        return reports.yuan(row.channel_amount) or "—"

    @admin.display(description=_("channel status"))
    def channel_status_label(self, row: Discrepancy) -> str:
        return reports.channel_status_label(row.channel_status) if row.channel_status else "—"

    @admin.display(description=_("resolved"), boolean=True, ordering="resolved_at")
    def is_resolved(self, row: Discrepancy) -> bool:
        return row.resolved

    @admin.action(description=_("Resolve with a note"), permissions=["resolve"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> HttpResponse | None:
        if queryset.count() > BULK_LIMIT:
            messages.error(request, gettext("Choose at most %(n)d rows at a time.") % {"n": BULK_LIMIT})
            return None
        form = ResolveForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            resolved = 0
            for row in queryset:
                try:
                    services.discrepancy_resolve(
                        discrepancy=row, actor=signed_in(request.user), note=form.cleaned_data["note"]
                    )
                except BusinessError as exc:
                    messages.error(request, f"{row.out_refund_no}: {exc.message}")
                else:
                    resolved += 1
            if resolved:
                messages.success(request, gettext("%(n)d discrepancies resolved.") % {"n": resolved})
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Resolve discrepancies"),
            "form": form,
            "rows": queryset.select_related("run", "refund"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/reconciliation/discrepancy/resolve.html", context)
