"""What a person may do to a refund from the console, and the views that do it.

The buttons are not a second state machine: each act names the ``Refund`` transition it runs, and a refund offers
an act when the model's transition table allows that transition from the refund's state (conditions included),
the user holds the act's permission, the review's own rules let them (``refund_approval_blocker``), and no app has
taken the step over (``refunds.console.panels``). The act's view asks the same question again before it calls the
service, so a button never shown is refused when posted; the service then checks everything once more under the
row locks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
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

from mall.admin_base import ConsoleModelAdmin
from mall.exceptions import BusinessError
from refunds import flow, remedies, services
from refunds.console import panels
from refunds.console.forms import ActForm, ApproveForm, OverturnForm, PayeeForm, RejectForm
from refunds.console.panels import ActService
from refunds.models import Refund
from refunds.selectors import next_for_review

BULK_LIMIT = 100


@dataclass(frozen=True)
class Act:
    name: str  # the button's and the URL's
    transition: str  # the ``Refund`` transition the service runs
    label: Promise
    perm: str
    service: ActService  # unless an app registers its own (``panels.register_act_service``)
    danger: bool = False
    form: type[ActForm] = ApproveForm
    # The label of the button that acts and then opens the next refund waiting for the same person.
    and_next: Promise | None = None

    def make_form(self, data: Any = None) -> ActForm:
        """The button's form (field ids of their own: the page holds several forms)."""
        return self.form(data, auto_id=f"id_{self.name}_%s")


# In the order the buttons are shown.
ACTS = (
    Act(
        "approve",
        "approve",
        _("Approve"),
        "refunds.approve_refund",
        services.refund_approve,
        and_next=_("Approve and next"),
    ),
    Act(
        "reject",
        "reject",
        _("Reject"),
        "refunds.approve_refund",
        services.refund_reject,
        danger=True,
        form=RejectForm,
        and_next=_("Reject and next"),
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
        form=PayeeForm,
    ),
    Act(
        "overturn",
        "overturn",
        _("Overturn the rejection"),
        "refunds.override_refund",
        services.refund_overturn,
        danger=True,
        form=OverturnForm,
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
AND_NEXT = "and_next"  # the name of the "… and next" submit buttons


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


def run_act(act: Act, *, refund: Refund, user: Any, form: ActForm) -> Refund:
    service = panels.act_service(act.name) or act.service
    return service(refund=refund, actor=user, **form.service_kwargs())


def log_message(act: str, state: str) -> str:
    """The admin history's record of an act, as data: the history page draws it in its reader's language."""
    return json.dumps([{"refund_act": {"act": act, "state": state}}])


class RefundActionsAdmin(ConsoleModelAdmin):
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

    def render_refund_page(
        self, request: HttpRequest, refund: Refund, *, bound: Mapping[str, ActForm], status: int
    ) -> HttpResponse:
        """The refund page with a button's form as posted (its errors at its fields); drawn by the page's admin."""
        raise NotImplementedError

    def _with_filters(self, request: HttpRequest, url: str) -> str:
        """``url`` carrying the queue's filters the person came from, so "back to the queue" returns to them."""
        context: dict[str, Any] = {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}
        return str(add_preserved_filters(context, url))

    def _back(self, request: HttpRequest, refund: Refund) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            self._with_filters(request, reverse("admin:refunds_refund_change", args=[refund.pk]))
        )

    def _next(self, request: HttpRequest, refund: Refund) -> HttpResponseRedirect:
        """The next refund waiting for this person in the queue's order, or the queue when none is left."""
        following = next_for_review(request.user, after=refund)
        if following is not None:
            return self._back(request, following)
        messages.info(request, gettext("No other refund is waiting for your decision."))
        return HttpResponseRedirect(self._with_filters(request, reverse("admin:refunds_refund_changelist")))

    def act_view(self, request: HttpRequest, object_id: int, act: str) -> HttpResponse:
        return require_POST(self._act)(request, object_id, act)

    def _act(self, request: HttpRequest, object_id: int, act: str) -> HttpResponse:
        refund = get_object_or_404(Refund, pk=object_id)
        action = ACTS_BY_NAME.get(act)
        if action is None or action not in allowed_acts(refund, request.user):
            raise PermissionDenied
        form = action.make_form(request.POST)
        if not form.is_valid():
            return self.render_refund_page(request, refund, bound={action.name: form}, status=400)
        try:
            refund = run_act(action, refund=refund, user=request.user, form=form)
        except BusinessError as exc:
            if exc.field in form.fields:
                # The form shown again as it was posted, the service's objection at the field it names.
                form.add_error(exc.field, str(exc.message))
                return self.render_refund_page(request, refund, bound={action.name: form}, status=exc.http_status)
            messages.error(request, str(exc.message))
            return self._back(request, refund)
        self.log_change(request, refund, log_message(act, refund.state))
        messages.success(
            request,
            gettext("%(action)s: refund %(no)s is now “%(state)s”.")
            % {"action": action.label, "no": refund.refund_no, "state": refund.get_state_display()},
        )
        if action.and_next is not None and AND_NEXT in request.POST:
            return self._next(request, refund)
        return self._back(request, refund)

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Refund], act: str, form: ActForm) -> None:
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
                done = run_act(action, refund=refund, user=request.user, form=form)
            except BusinessError as exc:
                messages.error(request, f"{refund.refund_no}: {exc.message}")
                continue
            self.log_change(request, done, log_message(act, done.state))
            messages.success(request, f"{done.refund_no}: {done.get_state_display()}")

    @admin.action(description=_("Approve the selected refunds"), permissions=["approve"])
    def bulk_approve(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        form = ApproveForm({})
        form.is_valid()
        self._bulk(request, queryset, "approve", form)

    @admin.action(description=_("Reject the selected refunds…"), permissions=["approve"])
    def bulk_reject(self, request: HttpRequest, queryset: QuerySet[Refund]) -> HttpResponse | None:
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self._bulk(request, queryset, "reject", form)
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
        return TemplateResponse(
            request, "admin/refunds/refund/bulk_reject.html", context, status=400 if form.is_bound else 200
        )
