"""The refund queue: what agents work through, most urgent first.

It stays fast at millions of refunds: it is ordered by the generated ``queue_rank`` column and ``due_at`` (one
index scan), loads its page from the refund table alone and its orders, customers and photo ids by key (four
queries whatever the page size; a join made MariaDB sort the whole table), and never counts the whole table:
``CappedCountPaginator`` counts at most ``COUNT_CAP`` rows (exact below it, "more than" above). An estimate from
``information_schema`` was not chosen: it is wrong for every filtered view, and the queue is almost always
filtered; a count bounded by LIMIT costs at most ``COUNT_CAP`` index entries on any database.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from mall.admin_base import ConsoleModelAdmin
from mall.models import Channel, Order
from mall.shoptime import SHOP_TZ
from refunds.models import Refund, RefundEvidence, RefundReason, RefundSource, RefundState
from refunds.selectors import QUEUE_ORDER
from refunds.templatetags.refund_console import yuan

S = RefundState
COUNT_CAP = 10_000
# A search term shaped like a phone number is looked up among the orders' receiver phones (exact, indexed); the
# refunds of at most PHONE_ORDERS of its most recent orders are listed.
PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")
PHONE_ORDERS = 200


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


class SupervisorFilter(admin.SimpleListFilter):
    """Refunds in review that only a supervisor should decide: above the single-refund cap, or escalated by the
    automatic approval. One range of the ``refund_supervisor_urgency`` index, in the queue's order."""

    title = _("needs a supervisor")
    parameter_name = "supervisor"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("waiting", _("Waiting for a supervisor")), ("cap", _("Above the cap")), ("escalated", _("Escalated"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Refund]) -> QuerySet[Refund]:
        if self.value() == "waiting":
            return queryset.filter(needs_supervisor=True)
        if self.value() == "cap":
            return queryset.filter(needs_supervisor=True, requires_supervisor=True)
        if self.value() == "escalated":
            return queryset.filter(needs_supervisor=True, escalated_at__isnull=False)
        return queryset


class RefundQueueAdmin(ConsoleModelAdmin):
    """The change list: columns, filters, search and paging."""

    list_display = [
        "refund_and_order",
        "state_badge",
        "supervisor_flag",
        "reason_source",
        "photo_count",
        "amount_channel",
        "customer_name",
        "age_and_due",
    ]
    list_display_links = ["refund_and_order"]
    list_filter = ["state", OverdueFilter, SupervisorFilter, "reason", "source", "channel", "created_at"]
    # Not list_select_related: with the joins in the page query MariaDB starts from the (smaller) user table and
    # sorts the whole join (17 s at a million refunds). The page is read from the refund table alone, on its
    # urgency index, and its 50 orders and customers come in two primary-key lookups (``get_queryset``).
    list_select_related = False
    ordering = list(QUEUE_ORDER)  # the order "approve / reject and next" follows too
    sortable_by = ["refund_and_order", "age_and_due"]
    search_fields = ["refund_no"]  # replaced by get_search_results; kept so the search box shows
    search_help_text = _("Exact refund number, order number or customer phone, or the start of a customer's username.")
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    list_max_show_all = 200
    show_facets = admin.ShowFacets.NEVER  # facet counts are one COUNT per filter choice: not at this size
    change_list_template = "admin/refunds/refund/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Refund]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch("order", queryset=Order.objects.only("id", "order_no")),
                Prefetch("customer", queryset=get_user_model().objects.only("id", "username")),
                Prefetch("evidence", queryset=RefundEvidence.objects.only("id", "refund_id")),
            )
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = dict(extra_context or {})
        context["can_compensate"] = request.user.has_perm("refunds.create_staff_refund")
        if request.user.has_perm("refunds.approve_large_refund"):
            # A supervisor's preset: what waits for them, counted on its own index.
            context["supervisor_waiting"] = Refund.objects.filter(needs_supervisor=True).count()
        return super().changelist_view(request, extra_context=context)

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

    @admin.display(description=pgettext_lazy("queue column: needs a supervisor", "supervisor"))
    def supervisor_flag(self, obj: Refund) -> str:
        """Why a refund in review waits for a supervisor: above the cap, escalated (the reason as a tooltip)."""
        if not obj.needs_supervisor:
            return ""
        flags = []
        if obj.requires_supervisor:
            flags.append(format_html('<span class="flag flag-cap">{}</span>', gettext("above cap")))
        if obj.escalated_at is not None:
            flags.append(
                format_html(
                    '<span class="flag flag-escalated" title="{}">{}</span>',
                    obj.escalation_reason,
                    gettext("escalated"),
                )
            )
        return format_html_join(mark_safe("<br>"), "{}", ((flag,) for flag in flags))

    @admin.display(description=_("photos"))
    def photo_count(self, obj: Refund) -> str:
        count = len(obj.evidence.all())
        if count:
            return format_html(
                '<span class="photo-count">{}</span>', ngettext("%(n)d photo", "%(n)d photos", count) % {"n": count}
            )
        if obj.reason == RefundReason.QUALITY_ISSUE:
            return format_html('<span class="photo-count none">{}</span>', gettext("no photos"))
        return ""

    @admin.display(description=_("reason / source"))
    def reason_source(self, obj: Refund) -> str:
        return format_html(
            '{}<br><span class="quiet">{}</span>', label(RefundReason, obj.reason), label(RefundSource, obj.source)
        )

    @admin.display(description=_("amount / channel"))
    def amount_channel(self, obj: Refund) -> str:
        return format_html('{}<br><span class="quiet">{}</span>', yuan(obj.amount), label(Channel, obj.channel))

    @admin.display(description=_("customer"))
    def customer_name(self, obj: Refund) -> str:
        return obj.customer.get_username()

    @admin.display(description=_("age / due"), ordering="created_at")
    def age_and_due(self, obj: Refund) -> str:
        """How long the customer has waited; for a refund waiting for review, its SLA deadline (overdue in red)."""
        age = timesince(obj.created_at, depth=1)
        if obj.state != S.PENDING_REVIEW or obj.due_at is None:
            return age
        # The console's date and time formats, a line break allowed only between the two (never inside the date).
        local = timezone.localtime(obj.due_at, SHOP_TZ)
        due = format_html(
            '<span class="nowrap">{}</span> <span class="nowrap">{}</span>',
            date_format(local, "DATE_FORMAT"),
            date_format(local, "TIME_FORMAT"),
        )
        if obj.due_at < timezone.now():
            late = gettext("%s overdue") % timesince(obj.due_at, depth=1)
            return format_html('{}<br><span class="overdue">{}<br>{}</span>', age, due, late)
        return format_html('{}<br><span class="quiet">{}</span>', age, due)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Refund], search_term: str
    ) -> tuple[QuerySet[Refund], bool]:
        """Exact refund number; exact order number, or for a term shaped like a phone number the orders with that
        receiver phone; or a username prefix: each an index lookup. The order and customer ids are resolved first
        (two queries whatever the term) so the final filter is an OR of the refund table's own indexes. The prefix
        is case-insensitive: MySQL's ``LIKE BINARY`` (case-sensitive) cannot range-scan a ``_ci`` column's index."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if PHONE.match(term):
            orders = Order.objects.filter(receiver_phone=term).order_by("-pk")[:PHONE_ORDERS]
        else:
            orders = Order.objects.filter(order_no=term)[:1]
        order_ids = list(orders.values_list("pk", flat=True))
        user_ids = list(
            get_user_model().objects.filter(username__istartswith=term).order_by().values_list("pk", flat=True)[:50]
        )
        match = Q(refund_no=term) | Q(order_id__in=order_ids) | Q(customer_id__in=user_ids)
        return queryset.filter(match), False
