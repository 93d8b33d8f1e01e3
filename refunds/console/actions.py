"""What a person may do to a refund from the console, and the views that do it.

The buttons are not a second state machine: each act names the ``Refund`` transition it runs, and a refund offers
an act when the model's transition table allows that transition from the refund's state (conditions included),
the user holds the act's permission, the review's own rules let them (``refund_approval_blocker``), and no app has
taken the step over (``refunds.console.panels``). The act's view asks the same question again before it calls the
service, so a button never shown is refused when posted; the service then checks everything once more under the
row locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from django_fsm import FSMField, get_available_FIELD_transitions

from mall.exceptions import BusinessError
from refunds import flow, remedies, services
from refunds.console import panels
from refunds.console.forms import ApproveForm, PayeeForm, RejectForm
from refunds.console.panels import ActService
from refunds.models import Refund

BULK_LIMIT = 100


@dataclass(frozen=True)
class Act:
    name: str  # the button's and the URL's
    transition: str  # the ``Refund`` transition the service runs
    label: Promise
    perm: str
    service: ActService  # unless an app registers its own (``panels.register_act_service``)
    danger: bool = False
    needs_reason: bool = False
    note_form: type[forms.Form] | None = None  # the form of the act's note, when it is neither optional nor a reason


# In the order the buttons are shown.
ACTS = (
    Act("approve", "approve", _("Approve"), "refunds.approve_refund", services.refund_approve),
    Act(
        "reject",
        "reject",
        _("Reject"),
        "refunds.approve_refund",
        services.refund_reject,
        danger=True,
        needs_reason=True,
    ),
    Act("retry", "retry", _("Send to the channel again"), "refunds.approve_refund", flow.refund_retry),
    # The other ways to pay a refund the channel could not: the customer's balance, or a bank transfer by finance.
    Act(
        "store_credit",
        "pay_to_store_credit",
        _("Pay to store credit"),
        remedies.CHOOSE_PERMISSION,
        remedies.refund_pay_to_store_credit,
    ),
    Act(
        "offline",
        "choose_offline_transfer",
        _("Pay by bank transfer"),
        remedies.CHOOSE_PERMISSION,
        remedies.refund_choose_offline_transfer,
        note_form=PayeeForm,
    ),
    Act(
        "overturn",
        "overturn",
        _("Overturn the rejection"),
        "refunds.override_refund",
        services.refund_overturn,
        danger=True,
        needs_reason=True,
    ),
    Act("receive", "return_received", _("Goods received"), "refunds.confirm_return", flow.refund_return_receive),
    Act(
        "inspection_pass",
        "inspection_passed",
        _("Inspection passed: refund"),
        "refunds.confirm_return",
        flow.refund_inspection_pass,
    ),
)
ACTS_BY_NAME = {act.name: act for act in ACTS}


def available_transitions(refund: Refund) -> frozenset[str]:
    """The transitions the model allows from the refund's state, their conditions met."""
    field = Refund._meta.get_field("state")
    assert isinstance(field, FSMField)
    return frozenset(transition.name for transition in get_available_FIELD_transitions(refund, field))


def approve_blocker(refund: Refund, user: Any) -> str | None:
    return services.refund_approval_blocker(refund=refund, actor=user)


def allowed_acts(refund: Refund, user: Any) -> list[Act]:
    available = available_transitions(refund)
    acts = [
        act
        for act in ACTS
        if act.transition in available and user.has_perm(act.perm) and not panels.act_elsewhere(act.name)
    ]
    if any(act.name == "approve" for act in acts) and approve_blocker(refund, user) is not None:
        acts = [act for act in acts if act.name != "approve"]
    return acts


def run_act(act: Act, *, refund: Refund, user: Any, note: str) -> Refund:
    service = panels.act_service(act.name) or act.service
    return service(refund=refund, actor=user, note=note)


class RefundActionsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The refund page's buttons and the queue's bulk approve and reject: one service call per refund."""

    actions = ["bulk_approve", "bulk_reject"]

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/act/<str:act>/", wrap(self.act_view), name="refunds_refund_act"),
            *super().get_urls(),
        ]

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("refunds.approve_refund"))

    def _back(self, refund: Refund) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:refunds_refund_change", args=[refund.pk]))

    def act_view(self, request: HttpRequest, object_id: int, act: str) -> HttpResponse:
        return require_POST(self._act)(request, object_id, act)

    def _act(self, request: HttpRequest, object_id: int, act: str) -> HttpResponse:
        refund = get_object_or_404(Refund, pk=object_id)
        action = ACTS_BY_NAME.get(act)
        if action is None or action not in allowed_acts(refund, request.user):
            raise PermissionDenied
        form = (action.note_form or (RejectForm if action.needs_reason else ApproveForm))(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, str(error))
            return self._back(refund)
        try:
            refund = run_act(action, refund=refund, user=request.user, note=form.cleaned_data["note"])
        except BusinessError as exc:
            messages.error(request, str(exc.message))
            return self._back(refund)
        self.log_change(request, refund, f"{act}: {refund.state}")
        messages.success(
            request,
            gettext("%(action)s: refund %(no)s is now “%(state)s”.")
            % {"action": action.label, "no": refund.refund_no, "state": refund.get_state_display()},
        )
        return self._back(refund)

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Refund], act: str, note: str) -> None:
        refunds: Sequence[Refund] = list(queryset.order_by("id")[: BULK_LIMIT + 1])
        if len(refunds) > BULK_LIMIT:
            messages.error(request, gettext("Choose at most %(n)d refunds at a time.") % {"n": BULK_LIMIT})
            return
        action = ACTS_BY_NAME[act]
        for refund in refunds:
            if action not in allowed_acts(refund, request.user):
                blocker = approve_blocker(refund, request.user) if act == "approve" else None
                reason = blocker or _("not allowed in state “%(state)s”") % {"state": refund.get_state_display()}
                messages.error(request, f"{refund.refund_no}: {reason}")
                continue
            try:
                done = run_act(action, refund=refund, user=request.user, note=note)
            except BusinessError as exc:
                messages.error(request, f"{refund.refund_no}: {exc.message}")
                continue
            self.log_change(request, done, f"{act}: {done.state}")
            messages.success(request, f"{done.refund_no}: {done.get_state_display()}")

    @admin.action(description=_("Approve the selected refunds"), permissions=["approve"])
    def bulk_approve(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        self._bulk(request, queryset, "approve", "")

    @admin.action(description=_("Reject the selected refunds…"), permissions=["approve"])
    def bulk_reject(self, request: HttpRequest, queryset: QuerySet[Refund]) -> HttpResponse | None:
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self._bulk(request, queryset, "reject", form.cleaned_data["note"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Reject refunds"),
            "form": form,
            "refunds": list(queryset.select_related("customer")[:BULK_LIMIT]),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action": "bulk_reject",
        }
        return TemplateResponse(request, "admin/refunds/refund/bulk_reject.html", context)
