"""Template helpers of the refund console: money as ¥ with two decimals, times in Asia/Shanghai in the console's one
format (``DATETIME_FORMAT`` of ``mall/formats``), and the admin index's dashboard with its 14-day chart drawn as
inline SVG (no CDN, no script) and a supervisor's block of what waits for them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from mall import money
from mall.shoptime import shop_localtime
from refunds.selectors import ChartDay, Dashboard, SupervisorQueue, dashboard, supervisor_queue

register = template.Library()


@register.filter
def yuan(value: Decimal | int | None) -> str:
    if value is None or value == "":
        return "—"
    return money.yuan(value)


@register.filter
def shop_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    return date_format(shop_localtime(value), "DATETIME_FORMAT")


@register.simple_tag(takes_context=True)
def refund_dashboard(context: dict[str, Any]) -> Dashboard | None:
    request = context.get("request")
    if request is None or not request.user.has_perm("refunds.view_refund"):
        return None
    return dashboard()


@register.simple_tag(takes_context=True)
def refund_supervisor_queue(context: dict[str, Any]) -> SupervisorQueue | None:
    """For those who may approve above the cap (supervisors): what waits for them."""
    request = context.get("request")
    if request is None or not request.user.has_perm("refunds.approve_large_refund"):
        return None
    return supervisor_queue()


CHART_W, CHART_H = 640, 220
PAD_L, PAD_B, PAD_T = 36, 28, 12


@register.simple_tag
def refund_chart(days: list[ChartDay]) -> SafeString:
    """Applications and refunds per day as paired bars; every bar carries its figures as a tooltip."""
    top = max([1, *(d.applied for d in days), *(d.refunded for d in days)])
    plot_h = CHART_H - PAD_B - PAD_T
    slot = (CHART_W - PAD_L) / len(days)
    bar = slot * 0.36
    bars = []
    for index, day in enumerate(days):
        x = PAD_L + index * slot + slot * 0.12
        for offset, count, css, what in (
            (0.0, day.applied, "applied", _("applied")),
            (bar, day.refunded, "refunded", _("refunded")),
        ):
            height = plot_h * count / top
            tip = f"{day.day:%m-%d} {what}: {count}"
            if css == "refunded":
                tip += f" ({yuan(day.refunded_amount)})"
            bars.append(
                (css, f"{x + offset:.1f}", f"{PAD_T + plot_h - height:.1f}", f"{bar:.1f}", f"{height:.1f}", tip)
            )
    labels = [(f"{PAD_L + i * slot + slot / 2:.1f}", CHART_H - 8, f"{d.day:%m-%d}") for i, d in enumerate(days)]
    return format_html(
        '<svg class="refund-chart" viewBox="0 0 {w} {h}" role="img" aria-label="{aria}" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<line x1="{pl}" y1="{base}" x2="{w}" y2="{base}" class="axis"/>'
        '<text x="{tx}" y="{ty}" class="tick">{top}</text>'
        '<text x="{tx}" y="{base}" class="tick">0</text>'
        "{bars}{labels}</svg>",
        w=CHART_W,
        h=CHART_H,
        aria=_("Refunds of the last 14 days"),
        pl=PAD_L,
        base=PAD_T + plot_h,
        tx=PAD_L - 6,
        ty=PAD_T + 4,
        top=top,
        bars=format_html_join(
            "",
            '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            bars,
        ),
        labels=format_html_join("", '<text x="{}" y="{}" class="day">{}</text>', labels),
    )
