"""Template helpers for quantities of goods with the unit the goods are sold in (3 件, 2.35 kg)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from mall.quantities import quantity_text, unit_label

register = template.Library()


@register.filter
def quantity(value: Decimal | None, unit: str) -> str:
    """``{{ record.received_quantity|quantity:record.order_item.unit }}`` → 2.35 kg"""
    if value is None or value == "":
        return "—"
    return quantity_text(Decimal(value), unit)


@register.filter
def unit(value: str) -> str:
    """``{{ order_item.unit|unit }}`` → kg or 件"""
    return unit_label(value)
