"""Quantities of goods as people read them: with the unit the product is sold in (3 件, 2.35 kg).

Fruit is sold by piece or by weight (``SaleUnit``); a quantity printed without its unit is ambiguous, so every page
and message that shows one goes through here. The number keeps its significant decimals only (2.350 → 2.35).
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _

from mall.models import SaleUnit
from mall.texts import Text, text_code


def unit_label(unit: str) -> str:
    """kg for goods sold by weight, 件 (pcs) for pieces."""
    return _("kg") if unit == SaleUnit.KILOGRAM else _("pcs")


def quantity_number(quantity: Decimal) -> str:
    """2.350 → 2.35, 4.000 → 4, 100.000 → 100 (never 1E+2)."""
    return f"{quantity.normalize():f}"


def quantity_text(quantity: Decimal, unit: str) -> str:
    """3 件, 2.35 kg."""
    return f"{quantity_number(quantity)} {unit_label(unit)}"


# A quantity inside a stored text (a timeline note): the unit is worded in the reader's language when read.
QUANTITY = text_code("quantity", "%(n)s %(unit)s", unit=unit_label)


def quantity_note(quantity: Decimal, unit: str) -> Text:
    """3 件 / 3 pcs, 2.35 kg: for a text stored as a code (``mall.texts``)."""
    return QUANTITY(n=quantity_number(quantity), unit=unit)
