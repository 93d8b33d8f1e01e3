"""The customer-service console: the refund queue, the refund page and its actions.

Nobody edits a refund row here. Every change is a button or a bulk action that posts to a view which checks
the user's permission and the refund's state and calls a service (``refunds.services`` / ``refunds.flow``),
so the rules, the row locks and the timeline are the same as everywhere else.

The queue stays fast at millions of refunds: it is ordered by the generated ``queue_rank`` column and
``due_at`` (one index scan), loads its page from the refund table alone and its orders and customers by
primary key (three queries whatever the page size; a join made MariaDB sort the whole table), and never counts the
whole table: ``CappedCountPaginator`` counts at most ``COUNT_CAP`` rows (exact below it, "more than" above).
An estimate from ``information_schema`` was not chosen: it is wrong for every filtered view, and the queue is
almost always filtered; a count bounded by LIMIT costs at most ``COUNT_CAP`` index entries on any database.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Prefetch, Q, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise, cached_property
from django.utils.html import format_html
from django.utils.module_loading import import_string
from django.utils.timesince import timesince
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from mall.admin_base import object_pk
from mall.exceptions import BusinessError
from mall.models import Channel, Order
from refunds import flow, services
from refunds.admin_forms import ApproveForm, CompensationForm, DisputeOpenForm, NoteForm, RejectForm
from refunds.compensation import compensation_create
from refunds.models import Refund, RefundEvidence, RefundReason, RefundSource, RefundState
from refunds.notes import refund_note_add
from refunds.selectors import SHOP_TZ
from refunds.templatetags.refund_console import shop_time, yuan

S = RefundState
COUNT_CAP = 10_000
BULK_LIMIT = 100


def label(choices: type[models.TextChoices], value: str) -> str:
    """A choice's label: one translation lookup, where ``get_FOO_display`` rebuilds (and translates) the whole
    choices mapping on every call, the most expensive part of rendering a queue page."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Counts at most ``COUNT_CAP`` + 1 rows: ``SELECT COUNT(*) FROM (SELECT id ... LIMIT cap+1)``."""

    capped = False

    @cached_property
    def count(self) -> int:
        rows: Any = self.object_list
        counted = int(rows.order_by().values("pk")[: COUNT_CAP + 1].count())
        self.capped = counted > COUNT_CAP
        return min(counted, COUNT_CAP)


class OverdueFilter(admin.SimpleListFilter):
    title = _("SLA")
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Overdue")), ("no", _("Waiting, within SLA"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Refund]) -> QuerySet[Refund]:
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(state=S.PENDING_REVIEW, due_at__lt=now)
        if self.value() == "no":
            return queryset.filter(state=S.PENDING_REVIEW, due_at__gte=now)
        return queryset


# --- what a user may do with a refund ----------------------------------------------------------------


@dataclass(frozen=True)
class Act:
    name: str
    label: Promise
    states: tuple[str, ...]
    perm: str
    danger: bool = False


ACTS = (
    Act("approve", _("Approve"), (S.PENDING_REVIEW,), "refunds.approve_refund"),
    Act("reject", _("Reject"), (S.PENDING_REVIEW, S.INSPECTING), "refunds.approve_refund", danger=True),
    Act("retry", _("Send to the channel again"), (S.FAILED,), "refunds.approve_refund"),
    Act("overturn", _("Overturn the rejection"), (S.REJECTED,), "refunds.override_refund", danger=True),
    Act("receive", _("Goods received"), (S.AWAITING_RETURN, S.RETURN_IN_TRANSIT), "refunds.confirm_return"),
    Act("inspection_pass", _("Inspection passed: refund"), (S.INSPECTING,), "refunds.confirm_return"),
)
# Apps that depend on refunds own parts of the refund's life when they are installed: logistics the receipt and
# the quality inspection (records, restock, write-offs), payments the channel attempts and the voucher. The
# console reaches them by dotted path (late binding, as ``mall.jobs`` does) and never imports them.
LOGISTICS_RECEIVE = "logistics.services.return_receive"
PAYMENTS_VOUCHER_URL = "payments.vouchers.voucher_url"
SECRET_HINTS = ("sign", "secret", "key", "token", "cert", "password", "serial")


def masked(raw: Any) -> Any:
    """A channel's answer for display, with anything that looks like a secret hidden (again: payments masks
    before storing; the console does not rely on it)."""
    if isinstance(raw, dict):
        return {k: "***" if any(h in str(k).lower() for h in SECRET_HINTS) else masked(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [masked(v) for v in raw]
    return raw


ACTS_BY_NAME = {act.name: act for act in ACTS}


def approve_blocker(refund: Refund, user: Any) -> str | None:
    return services.refund_approval_blocker(refund=refund, actor=user)


def allowed_acts(refund: Refund, user: Any) -> list[Act]:
    acts = [act for act in ACTS if refund.state in act.states and user.has_perm(act.perm)]
    if apps.is_installed("logistics"):
        # The inspection is completed on its own page, where the warehouse records what came back.
        acts = [act for act in acts if act.name != "inspection_pass"]
    if approve_blocker(refund, user) is not None:
        acts = [act for act in acts if act.name != "approve"]
    return acts


def _receive_service() -> Callable[..., Refund]:
    if apps.is_installed("logistics"):
        return import_string(LOGISTICS_RECEIVE)  # type: ignore[no-any-return]
    return flow.refund_return_receive


def _related_records(refund: Refund) -> dict[str, Any]:
    """Channel attempts, voucher, interception and inspection of the refund, from the apps that keep them."""
    found: dict[str, Any] = {}
    if apps.is_installed("payments"):
        found["attempts"] = [
            (a, json.dumps(masked(a.raw), ensure_ascii=False, indent=1)) for a in refund.attempts.all()
        ]
        voucher = getattr(refund, "voucher", None)
        if voucher is not None:
            found["voucher_url"] = import_string(PAYMENTS_VOUCHER_URL)(voucher)
    if apps.is_installed("logistics"):
        found["interception"] = getattr(refund, "interception", None)
        inspection = getattr(refund, "inspection", None)
        found["inspection"] = inspection
        found["inspection_records"] = list(refund.inspection_records.select_related("order_item"))
        if inspection is not None:
            with contextlib.suppress(NoReverseMatch):  # logistics without its admin
                found["inspection_url"] = reverse("admin:logistics_inspection_change", args=[inspection.pk])
    return found


def _run(name: str, refund: Refund, user: Any, note: str) -> Refund:
    calls: dict[str, Callable[[], Refund]] = {
        "approve": lambda: services.refund_approve(refund=refund, actor=user, note=note),
        "reject": lambda: services.refund_reject(refund=refund, actor=user, note=note),
        "retry": lambda: flow.refund_retry(refund=refund, actor=user, note=note),
        "overturn": lambda: services.refund_overturn(refund=refund, actor=user, note=note),
        "receive": lambda: _receive_service()(refund=refund, actor=user, note=note),
        "inspection_pass": lambda: flow.refund_inspection_pass(refund=refund, actor=user, note=note),
    }
    return calls[name]()


# --- the admin -----------------------------------------------------------------------------------------


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "refund_and_order",
        "state_badge",
        "reason_source",
        "amount_channel",
        "customer_name",
        "age_and_due",
    ]
    list_display_links = ["refund_and_order"]
    list_filter = ["state", OverdueFilter, "reason", "source", "channel", "created_at"]
    # Not list_select_related: with the joins in the page query MariaDB starts from the (smaller) user table and
    # sorts the whole join (17 s at a million refunds). The page is read from the refund table alone, on its
    # urgency index, and its 50 orders and customers come in two primary-key lookups (``get_queryset``).
    list_select_related = False
    ordering = ["queue_rank", "due_at", "id"]
    sortable_by = ["refund_and_order", "age_and_due"]
    search_fields = ["refund_no"]  # replaced by get_search_results; kept so the search box shows
    search_help_text = _("Exact refund number or order number, or the start of a customer's username.")
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    list_max_show_all = 200
    show_facets = admin.ShowFacets.NEVER  # facet counts are one COUNT per filter choice: not at this size
    actions = ["bulk_approve", "bulk_reject"]
    change_form_template = "admin/refunds/refund/change_form.html"
    change_list_template = "admin/refunds/refund/change_list.html"
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Refund]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch("order", queryset=Order.objects.only("id", "order_no")),
                Prefetch("customer", queryset=get_user_model().objects.only("id", "username")),
            )
        )

    # --- nobody edits rows ---
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("refunds.approve_refund"))

    # --- queue columns ---
    @admin.display(description=_("refund / order"), ordering="refund_no")
    def refund_and_order(self, obj: Refund) -> str:
        return format_html(
            '<span class="refund-no">{}</span><br><span class="quiet order-no">{}</span>',
            obj.refund_no,
            obj.order.order_no,
        )

    @admin.display(description=_("state"))
    def state_badge(self, obj: Refund) -> str:
        return format_html('<span class="refund-state state-{}">{}</span>', obj.state, label(RefundState, obj.state))

    @admin.display(description=_("reason / source"))
    def reason_source(self, obj: Refund) -> str:
        return format_html(
            '{}<br><span class="quiet">{}</span>', label(RefundReason, obj.reason), label(RefundSource, obj.source)
        )

    @admin.display(description=_("amount"))
    def amount_yuan(self, obj: Refund) -> str:
        return yuan(obj.amount)

    @admin.display(description=_("amount / channel"))
    def amount_channel(self, obj: Refund) -> str:
        return format_html('{}<br><span class="quiet">{}</span>', yuan(obj.amount), label(Channel, obj.channel))

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

    @admin.display(description=_("customer"))
    def customer_name(self, obj: Refund) -> str:
        return obj.customer.get_username()

    @admin.display(description=_("age / due"), ordering="created_at")
    def age_and_due(self, obj: Refund) -> str:
        """How long the customer has waited; for a refund waiting for review, its SLA deadline (overdue in red)."""
        age = timesince(obj.created_at, depth=1)
        if obj.state != S.PENDING_REVIEW or obj.due_at is None:
            return age
        due = date_format(timezone.localtime(obj.due_at, SHOP_TZ), "m-d H:i")
        if obj.due_at < timezone.now():
            late = gettext("%s overdue") % timesince(obj.due_at, depth=1)
            return format_html('{}<br><span class="overdue">{}<br>{}</span>', age, due, late)
        return format_html('{}<br><span class="quiet">{}</span>', age, due)

    # --- search on indexes only ---
    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Refund], search_term: str
    ) -> tuple[QuerySet[Refund], bool]:
        """Exact refund number, exact order number, or a username prefix: each an index lookup. The order and
        customer ids are resolved first so the final filter is an OR of the refund table's own indexes. The prefix
        is case-insensitive: MySQL's ``LIKE BINARY`` (case-sensitive) cannot range-scan a ``_ci`` column's index."""
        term = search_term.strip()
        if not term:
            return queryset, False
        order_ids = list(Order.objects.filter(order_no=term).values_list("pk", flat=True)[:1])
        user_ids = list(
            get_user_model().objects.filter(username__istartswith=term).order_by().values_list("pk", flat=True)[:50]
        )
        match = Q(refund_no=term) | Q(order_id__in=order_ids) | Q(customer_id__in=user_ids)
        return queryset.filter(match), False

    # --- the refund page ---
    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("compensate/", wrap(self.compensate_view), name="refunds_refund_compensate"),
            path("evidence/<int:evidence_id>/", wrap(self.evidence_view), name="refunds_refund_evidence"),
            path("<int:object_id>/act/<str:act>/", wrap(self.act_view), name="refunds_refund_act"),
            path("<int:object_id>/note/", wrap(self.note_view), name="refunds_refund_note"),
            *super().get_urls(),
        ]

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
                if refund.state == S.PENDING_REVIEW and user.has_perm("refunds.approve_refund")
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
                **_related_records(refund),
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _back(self, refund: Refund) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:refunds_refund_change", args=[refund.pk]))

    def act_view(self, request: HttpRequest, object_id: int, act: str) -> HttpResponse:
        return require_POST(self._act)(request, object_id, act)

    def _act(self, request: HttpRequest, object_id: int, act: str) -> HttpResponse:
        refund = get_object_or_404(Refund, pk=object_id)
        action = ACTS_BY_NAME.get(act)
        if action is None or action not in allowed_acts(refund, request.user):
            raise PermissionDenied
        form = (RejectForm if act in ("reject", "overturn") else ApproveForm)(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, str(error))
            return self._back(refund)
        try:
            refund = _run(act, refund, request.user, form.cleaned_data["note"])
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
                    actor=request.user,
                    note=form.cleaned_data["note"],
                    internal=form.cleaned_data["internal"],
                )
                messages.success(request, gettext("Note added."))
            except BusinessError as exc:
                messages.error(request, str(exc.message))
        else:
            messages.error(request, gettext("The note is empty or too long."))
        return self._back(refund)

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

    def compensate_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("refunds.create_staff_refund"):
            raise PermissionDenied
        order_no = (request.POST.get("order_no") or request.GET.get("order") or "").strip()
        order = Order.objects.filter(order_no=order_no).select_related("customer").first() if order_no else None
        form = CompensationForm(request.POST or None, order=order, initial={"order_no": order_no})
        if request.method == "POST" and order is None:
            form.add_error("order_no", gettext("No such order."))
        elif request.method == "POST" and form.is_valid():
            assert order is not None
            value = form.cleaned_data["value"]
            percent = form.cleaned_data["mode"] == CompensationForm.MODE_PERCENT
            try:
                refund = compensation_create(
                    order=order,
                    actor=request.user,
                    order_item_id=form.cleaned_data["order_item"],
                    reason=form.cleaned_data["reason"],
                    amount=None if percent else value,
                    percent=value if percent else None,
                )
            except BusinessError as exc:
                form.add_error(None, str(exc.message))
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
                return self._back(refund)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Compensation refund"),
            "form": form,
            "order": order,
            "order_items": list(order.items.all()) if order else [],
            "per_refund_cap": settings.REFUND_COMPENSATION_CAP,
            "daily_cap": settings.REFUND_COMPENSATION_DAILY_CAP,
        }
        return TemplateResponse(request, "admin/refunds/refund/compensate.html", context)

    # --- bulk actions: one service call per row, one message per row ---
    def _bulk(self, request: HttpRequest, queryset: QuerySet[Refund], act: str, note: str) -> None:
        refunds = list(queryset.order_by("id")[: BULK_LIMIT + 1])
        if len(refunds) > BULK_LIMIT:
            messages.error(request, gettext("Choose at most %(n)d refunds at a time.") % {"n": BULK_LIMIT})
            return
        for refund in refunds:
            action = ACTS_BY_NAME[act]
            if action not in allowed_acts(refund, request.user):
                blocker = approve_blocker(refund, request.user) if act == "approve" else None
                reason = blocker or _("not allowed in state “%(state)s”") % {"state": refund.get_state_display()}
                messages.error(request, f"{refund.refund_no}: {reason}")
                continue
            try:
                done = _run(act, refund, request.user, note)
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

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = dict(extra_context or {})
        context["can_compensate"] = request.user.has_perm("refunds.create_staff_refund")
        return super().changelist_view(request, extra_context=context)


__all__ = ["COUNT_CAP", "CappedCountPaginator", "RefundAdmin", "allowed_acts", "approve_blocker"]

from refunds import admin_disputes  # noqa: E402, F401  (registers the dispute admin)
