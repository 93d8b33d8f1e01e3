"""The refund page: a decision view. First what the decision needs (the amount, the items with the customer's
photos and words, the customer's history, the order and its shipment, the timeline), then the buttons the refund's
state and the user allow, then the records (the panels other apps register, the details, notes, disputes and the
order's other refunds). Nobody edits a refund row here; the page reads in a fixed number of queries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from mall.actors import signed_in
from mall.admin_base import ConsoleModelAdmin, object_pk
from mall.exceptions import BusinessError
from refunds.console import panels
from refunds.console.actions import ACTS_BY_NAME, Act, allowed_acts, approve_blocker
from refunds.console.forms import ActForm, DisputeOpenForm, NoteForm
from refunds.models import Refund, RefundEvent, RefundEvidence, RefundItem, RefundState
from refunds.notes import refund_note_add
from refunds.rejections import refund_rejection_text, timeline_notes
from refunds.selectors import customer_history, next_for_review


def refund_for_page(pk: Any) -> Refund | None:
    """The refund with everything the page shows of it, in one query per kind of record."""
    return (
        Refund.objects.select_related(
            "order__payment",
            "order__shipment",
            "customer",
            "created_by",
            "reviewed_by",
            "rejection_reason",
            "return_shipment",
        )
        .prefetch_related(
            Prefetch("items", queryset=RefundItem.objects.select_related("order_item")),
            Prefetch("events", queryset=RefundEvent.objects.select_related("actor")),
            "evidence",
            "disputes",
        )
        .filter(pk=pk)
        .first()
    )


def act_forms(refund: Refund, user: Any, bound: Mapping[str, ActForm]) -> list[tuple[Act, ActForm]]:
    """Each button the user may press, with its form: as it was posted when it came back with errors."""
    return [(act, bound.get(act.name) or act.make_form()) for act in allowed_acts(refund, user)]


def log_entry_text(change_message: str) -> str | None:
    """An act recorded in the admin history (``refunds.console.actions.log_message``, or the older plain form
    "approve: refunding"), in the reader's language; None for any other entry."""
    if change_message == "compensation":  # ``refunds.console.compensation`` records a refund it created so
        return gettext("Compensation refund created")
    act = state = None
    try:
        data = json.loads(change_message)
        act, state = data[0]["refund_act"]["act"], data[0]["refund_act"]["state"]
    except (ValueError, TypeError, KeyError, IndexError):
        act, _sep, state = change_message.partition(": ")
    if act not in ACTS_BY_NAME or state not in RefundState.values:
        return None
    return gettext("%(action)s → %(state)s") % {
        "action": ACTS_BY_NAME[act].label,
        "state": RefundState(state).label,
    }


class RefundPageAdmin(ConsoleModelAdmin):
    change_form_template = "admin/refunds/refund/change_form.html"
    object_history_template = "admin/refunds/refund/object_history.html"

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("evidence/<int:evidence_id>/", wrap(self.evidence_view), name="refunds_refund_evidence"),
            path("<int:object_id>/note/", wrap(self.note_view), name="refunds_refund_note"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The decision view; Django's own view answers the rest (an unknown id, no permission, a POST)."""
        if request.method in ("GET", "HEAD"):
            pk = object_pk(Refund, object_id)
            refund = refund_for_page(pk) if pk is not None else None
            if refund is not None and self.has_view_permission(request, refund):
                return self._page(request, refund, bound={}, status=200)
        return super().change_view(request, object_id, form_url, extra_context)

    def render_refund_page(
        self, request: HttpRequest, refund: Refund, *, bound: Mapping[str, ActForm], status: int
    ) -> HttpResponse:
        loaded = refund_for_page(refund.pk)
        assert loaded is not None
        return self._page(request, loaded, bound=bound, status=status)

    def _page(self, request: HttpRequest, refund: Refund, *, bound: Mapping[str, ActForm], status: int) -> HttpResponse:
        user = request.user
        reviewer = user.has_perm("refunds.approve_refund")
        events = list(refund.events.all())
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "original": refund,
            "has_view_permission": True,
            "title": gettext("Refund %(no)s") % {"no": refund.refund_no},
            "preserved_filters": self.get_preserved_filters(request),
            "refund": refund,
            "photos": list(refund.evidence.all()),
            "history": customer_history(refund.customer_id),
            "timeline": list(zip(events, timeline_notes(refund, events), strict=True))[::-1],
            "rejection": refund_rejection_text(refund),
            "acts": act_forms(refund, user, bound),
            "approve_blocker": approve_blocker(refund, user)
            if refund.state == RefundState.PENDING_REVIEW and reviewer
            else None,
            "next_refund": next_for_review(user, after=refund if refund.state == RefundState.PENDING_REVIEW else None)
            if reviewer
            else None,
            "note_form": NoteForm() if reviewer else None,
            "dispute_form": DisputeOpenForm() if user.has_perm("refunds.work_dispute") else None,
            "can_compensate": user.has_perm("refunds.create_staff_refund"),
            "linked_refunds": list(
                Refund.objects.filter(order_id=refund.order_id).exclude(pk=refund.pk).order_by("created_at")
            ),
            "panels": panels.load_panels(refund=refund),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.change_form_template, context, status=status)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().history_view(request, object_id, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data:
            # Each entry with its text in the reader's language (the admin's own, or the refund act's).
            response.context_data["entries"] = [
                (entry, log_entry_text(entry.change_message) or entry.get_change_message())
                for entry in response.context_data.get("action_list", [])
            ]
        return response

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
