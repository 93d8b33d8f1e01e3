"""The refund queue: what agents work through, most urgent first.

It stays fast at millions of refunds: it is ordered by the generated ``queue_rank`` column and ``due_at`` (one
index scan), loads its page from the refund table alone and its orders and customers by primary key (three queries
whatever the page size; a join made MariaDB sort the whole table), and never counts the whole table:
``CappedCountPaginator`` counts at most ``COUNT_CAP`` rows (exact below it, "more than" above). An estimate from
``information_schema`` was not chosen: it is wrong for every filtered view, and the queue is almost always
filtered; a count bounded by LIMIT costs at most ``COUNT_CAP`` index entries on any database.
"""

from __future__ import annotations

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
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from mall.models import Channel, Order
from mall.shoptime import SHOP_TZ
from refunds.models import Refund, RefundReason, RefundSource, RefundState
from refunds.selectors import QUEUE_ORDER
from refunds.templatetags.refund_console import yuan

S = RefundState
COUNT_CAP = 10_000


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


class RefundQueueAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The change list: columns, filters, search and paging."""

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
    ordering = list(QUEUE_ORDER)  # the order "approve / reject and next" follows too
    sortable_by = ["refund_and_order", "age_and_due"]
    search_fields = ["refund_no"]  # replaced by get_search_results; kept so the search box shows
    search_help_text = _("Exact refund number or order number, or the start of a customer's username.")
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
            )
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = dict(extra_context or {})
        context["can_compensate"] = request.user.has_perm("refunds.create_staff_refund")
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
        due = date_format(timezone.localtime(obj.due_at, SHOP_TZ), "m-d H:i")
        if obj.due_at < timezone.now():
            late = gettext("%s overdue") % timesince(obj.due_at, depth=1)
            return format_html('{}<br><span class="overdue">{}<br>{}</span>', age, due, late)
        return format_html('{}<br><span class="quiet">{}</span>', age, due)

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
