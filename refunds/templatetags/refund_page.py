"""Template helpers of the refund page."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.translation import gettext as _

from mall.models import SaleUnit

register = template.Library()


@register.filter
def with_unit(quantity: Decimal | None, unit: str) -> str:
    """``2 件`` for pieces, ``1.5 kg`` by weight: no trailing zeros."""
    if quantity is None:
        return "—"
    number = f"{Decimal(quantity).normalize():f}"
    if unit == SaleUnit.KILOGRAM:
        return _("%(n)s kg") % {"n": number}
    return _("%(n)s pc") % {"n": number}
