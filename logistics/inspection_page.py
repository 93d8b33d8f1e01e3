"""The inspection's page in the console: the returned items with their units, the customer's and the warehouse's
photos, a row per item to record what arrived (pre-filled with what was claimed), and, once something is recorded,
the confirmation that shows what the refund will pay before completing it.

Open, record, confirm: three clicks from the refund page. Every form posts to a view that checks the permission
and calls ``logistics.inspection``; a refusal is shown at its field and changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from logistics.inspection import inspection_complete, inspection_record_lines
from logistics.inspection_forms import InspectionCompleteForm, InspectionForm
from logistics.models import Inspection, InspectionPhoto, InspectionStatus
from logistics.selectors import inspection_preview, inspection_records
from mall.actors import signed_in
from mall.admin_base import ReadOnlyAdmin, object_pk
from mall.exceptions import BusinessError
from mall.money import yuan
from refunds.models import RefundState

INSPECT_PERMISSION = "refunds.confirm_return"


def may_inspect(user: Any, inspection: Inspection) -> bool:
    """Whether ``user`` may record and complete ``inspection`` now."""
    return (
        inspection.status == InspectionStatus.OPEN
        and inspection.refund.state == RefundState.INSPECTING
        and bool(user.has_perm(INSPECT_PERMISSION))
    )


class InspectionAdmin(ReadOnlyAdmin):
    list_display = ["refund", "status", "received_at", "completed_at", "claimed", "paid", "inspect_link"]
    list_filter = ["status"]
    search_fields = ["refund__refund_no"]
    list_select_related = ["refund"]

    @admin.display(description=_("refund amount claimed"))
    def claimed(self, obj: Inspection) -> str:
        return yuan(obj.amount_before) if obj.amount_before is not None else "—"

    @admin.display(description=_("refund amount after inspection"))
    def paid(self, obj: Inspection) -> str:
        return yuan(obj.amount_after) if obj.amount_after is not None else "—"

    @admin.display(description=_("inspection"))
    def inspect_link(self, obj: Inspection) -> str:
        if obj.status != InspectionStatus.OPEN:
            return "—"
        url = reverse("admin:logistics_inspection_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Record and complete the inspection"))

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:inspection_id>/record/", wrap(self.record_view), name="logistics_inspection_record"),
            path("<int:inspection_id>/complete/", wrap(self.complete_view), name="logistics_inspection_complete"),
            path("photo/<int:photo_id>/", wrap(self.photo_view), name="logistics_inspection_photo"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        pk = object_pk(Inspection, object_id)
        inspection = self._inspection(pk) if pk is not None else None
        if inspection is None or not self.has_view_permission(request, inspection):
            # Django's own answer: "not found" for an id no inspection has, 403 for those who may not look.
            return super().change_view(request, object_id, form_url, extra_context)
        return self._page(request, inspection)

    def _inspection(self, pk: Any) -> Inspection | None:
        query = Inspection.objects.select_related("refund__order", "refund__customer", "completed_by")
        return query.filter(pk=pk).first()

    def _found(self, request: HttpRequest, inspection_id: int) -> Inspection:
        if not request.user.has_perm(INSPECT_PERMISSION):
            raise PermissionDenied
        inspection = self._inspection(inspection_id)
        if inspection is None:
            raise Http404
        return inspection

    def _page(
        self,
        request: HttpRequest,
        inspection: Inspection,
        *,
        record_form: InspectionForm | None = None,
        complete_form: InspectionCompleteForm | None = None,
        complete_error: str = "",
        error: str = "",
        status: int = 200,
    ) -> HttpResponse:
        refund = inspection.refund
        records = inspection_records(refund)
        plan = inspection_preview(refund=refund, records=records)
        inspecting = may_inspect(request.user, inspection)
        if inspecting and record_form is None:
            record_form = InspectionForm(plan=plan)
        if inspecting and complete_form is None:
            complete_form = InspectionCompleteForm(initial={"expected_amount": plan.amount_after})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Inspection of %(no)s") % {"no": refund.refund_no},
            "inspection": inspection,
            "refund": refund,
            "plan": plan,
            "open": inspection.status == InspectionStatus.OPEN,
            "record_form": record_form if inspecting else None,
            "complete_form": complete_form if inspecting else None,
            "complete_error": complete_error,
            "error": error,
            # Completing is offered once something is recorded, and only to who may make the cut it implies.
            "blocked": not records
            or plan.nothing_left
            or (plan.needs_supervisor and not request.user.has_perm("refunds.approve_large_refund")),
            "evidence": list(refund.evidence.all()),
            "can_see_evidence": request.user.has_perm("refunds.view_refundevidence"),
        }
        return TemplateResponse(request, "admin/logistics/inspection/inspect.html", context, status=status)

    def _back(self, inspection: Inspection, anchor: str = "") -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:logistics_inspection_change", args=[inspection.pk]) + anchor)

    def record_view(self, request: HttpRequest, inspection_id: int) -> HttpResponse:
        inspection = self._found(request, inspection_id)
        if request.method != "POST":
            return self._back(inspection)  # the form lives on the inspection's page
        if not may_inspect(request.user, inspection):
            error = gettext("This inspection is already completed.")
            return self._page(request, inspection, error=error, status=409)
        form = InspectionForm(request.POST, request.FILES, plan=inspection_preview(refund=inspection.refund))
        status = 400
        if form.is_valid():
            try:
                records = inspection_record_lines(
                    refund=inspection.refund, lines=form.lines(), inspector=signed_in(request.user)
                )
            except BusinessError as exc:
                form.add_service_error(exc)
                status = exc.http_status
            else:
                text = gettext("Recorded %(n)d line(s). Check the amount and complete the inspection.")
                messages.success(request, text % {"n": len(records)})
                return self._back(inspection, "#inspection-confirm")
        return self._page(request, inspection, record_form=form, status=status)

    def complete_view(self, request: HttpRequest, inspection_id: int) -> HttpResponse:
        return require_POST(self._complete)(request, inspection_id)

    def _complete(self, request: HttpRequest, inspection_id: int) -> HttpResponse:
        inspection = self._found(request, inspection_id)
        form = InspectionCompleteForm(request.POST)
        if not form.is_valid():
            error = gettext("The page was out of date: check the amount and confirm again.")
            return self._page(request, inspection, complete_error=error, status=400)
        try:
            refund = inspection_complete(
                refund=inspection.refund,
                actor=signed_in(request.user),
                note=form.cleaned_data["note"],
                expected_amount=form.cleaned_data["expected_amount"],
            )
        except BusinessError as exc:
            fresh = self._inspection(inspection.pk)
            assert fresh is not None
            if may_inspect(request.user, fresh):
                return self._page(request, fresh, complete_error=str(exc.message), status=exc.http_status)
            return self._page(request, fresh, error=str(exc.message), status=exc.http_status)
        messages.success(
            request,
            gettext("%(no)s: inspection completed, refund %(amount)s")
            % {"no": refund.refund_no, "amount": yuan(refund.amount)},
        )
        return HttpResponseRedirect(reverse("admin:refunds_refund_change", args=[refund.pk]))

    def photo_view(self, request: HttpRequest, photo_id: int) -> HttpResponseBase:
        """An inspection photo for staff: object storage's short-lived signed URL, or the file from local storage."""
        if not request.user.has_perm("logistics.view_inspectionphoto"):
            raise PermissionDenied
        photo = get_object_or_404(InspectionPhoto, pk=photo_id)
        url = photo.file.storage.url(photo.file.name)
        if url.startswith(("http://", "https://")):
            return HttpResponseRedirect(url)
        response = FileResponse(photo.file.open("rb"), content_type=photo.content_type)
        response["Cache-Control"] = "private, max-age=300"
        return response
